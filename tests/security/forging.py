"""Forging material for the attack catalogue: our keys, attacker keys, a trusted pool, JOSE by hand.

Nothing here uses a JWT library to *build* tokens: libraries refuse to make most of what an
attacker makes (HMAC keyed with a PEM, `alg: none`, duplicate members, DER signatures...), so the
compact serialization is assembled from bytes. Keys are generated at run time, never stored.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from auth_service.denylist import Denylist
from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from auth_service.tokens import TokenIssuer

KEY_TYPES = ("RS256", "ES256", "EdDSA")
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


#: Pass as a claim or header value to leave that member out.
DROP: Any = _Drop()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def as_bytes(part: Mapping[str, Any] | str | bytes) -> bytes:
    """A header or payload: a dict (compact JSON), raw JSON text, or raw bytes."""
    if isinstance(part, bytes):
        return part
    if isinstance(part, str):
        return part.encode("utf-8", "surrogatepass")
    return compact_json(dict(part))


def with_changes(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**base, **changes}
    return {name: value for name, value in merged.items() if value is not DROP}


def jose_sign(alg: str, key: Any, message: bytes) -> bytes:
    """A JWS signature of `message` with `key` as `alg` says, whatever the key really is for."""
    family, size = alg[:2], alg[2:]
    if family == "HS":
        digest = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}[size]
        return hmac.new(key, message, digest).digest()
    if family == "RS":
        return bytes(key.sign(message, padding.PKCS1v15(), _HASHES[size]()))
    if family == "PS":
        hash_algorithm = _HASHES[size]()
        pss = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
        return bytes(key.sign(message, pss, hash_algorithm))
    if family == "ES":
        hash_name = "256" if alg == "ES256K" else size
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(_HASHES[hash_name]())))
        width = (key.curve.key_size + 7) // 8
        return r.to_bytes(width, "big") + s.to_bytes(width, "big")
    if alg in ("EdDSA", "Ed25519"):
        return bytes(key.sign(message))
    raise ValueError(f"cannot sign as {alg}")


def family_of(alg: str) -> str:
    """Which kind of key a JWS `alg` needs: RSA, EC (P-256 for our purposes), K1, OKP, oct."""
    if alg.startswith(("RS", "PS")):
        return "RSA"
    if alg == "ES256K":
        return "K1"
    if alg.startswith("ES"):
        return "EC"
    if alg in ("EdDSA", "Ed25519"):
        return "OKP"
    return "oct"


FAMILY_OF_KEY_TYPE = {"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}


@dataclass(frozen=True)
class Victim:
    """Whose session the forged tokens claim (over HTTP: a real, live session)."""

    sub: str
    sid: str
    jti: str


@dataclass(frozen=True)
class Pool:
    """A trusted Cognito user pool: the unit-level authorizer trusts its access tokens only."""

    issuer: str
    client_id: str
    ring: KeyRing


@dataclass
class Material:
    """Everything a forger may use: our key (for tokens a trusted signer made), attackers' keys,
    the trusted pool's key, the denylist (to set up revoked tokens) and a valid baseline."""

    alg: str
    ring: KeyRing
    issuer: str
    audience: str
    client_id: str
    scope: str
    victim: Victim
    attackers: Mapping[str, KeyRing]
    k1_key: ec.EllipticCurvePrivateKey
    pool: Pool
    denylist: Denylist
    leeway: int = 30
    max_token_bytes: int = 8192
    # "access", or "refresh": the same forgeries shaped as refresh tokens (`typ: rt+jwt`,
    # `token_use: refresh`; make its `audience` the issuer), for the refresh endpoint's own checks.
    kind: str = "access"
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_refresh_tokens(self, victim: Victim) -> Material:
        """This material forging refresh tokens of `victim`'s session instead."""
        return dataclasses.replace(self, kind="refresh", audience=self.issuer, victim=victim, _cache={})

    # ------------------------------------------------------------------ keys

    @property
    def kid(self) -> str:
        return self.ring.current.kid

    @property
    def private_key(self) -> Any:
        return self.ring.current.private_key

    @property
    def public_key(self) -> Any:
        return self.private_key.public_key()

    @property
    def public_jwk(self) -> dict[str, Any]:
        return dict(self.ring.current.public_jwk)

    @property
    def family(self) -> str:
        return FAMILY_OF_KEY_TYPE[self.alg]

    def attacker(self, family: str) -> KeyRing:
        return self.attackers[{"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA"}[family]]

    def key_for(self, alg: str) -> Any:
        """A private key that can sign as `alg`: ours when it is of that family, else an attacker's."""
        family = family_of(alg)
        if family == self.family:
            return self.private_key
        if family == "K1":
            return self.k1_key
        return self.attacker(family).current.private_key

    # ------------------------------------------------------------------ claims and headers

    def now(self) -> int:
        return int(time.time())

    @property
    def typ(self) -> str:
        return "rt+jwt" if self.kind == "refresh" else "at+jwt"

    def claims(self, **changes: Any) -> dict[str, Any]:
        """The claims of a valid token (of `kind`) of the victim's session, with `changes`."""
        now = self.now()
        base = {
            "iss": self.issuer,
            "sub": self.victim.sub,
            "aud": self.audience,
            "iat": now,
            "exp": now + 600,
            "jti": self.victim.jti,
            "scope": self.scope,
            "sid": self.victim.sid,
            "client_id": self.client_id,
            "auth_time": now,
        }
        if self.kind == "refresh":
            base["token_use"] = "refresh"
        return with_changes(base, changes)

    def fresh_claims(self, **changes: Any) -> dict[str, Any]:
        """Valid claims of a session of its own (for tokens that get revoked on purpose)."""
        ids = {"sub": f"sec-{uuid.uuid4()}", "sid": str(uuid.uuid4()), "jti": str(uuid.uuid4())}
        return self.claims(**{**ids, **changes})

    def header(self, **changes: Any) -> dict[str, Any]:
        return with_changes({"alg": self.alg, "typ": self.typ, "kid": self.kid}, changes)

    # ------------------------------------------------------------------ assembling tokens

    def encode(
        self,
        header: Mapping[str, Any] | str | bytes,
        payload: Mapping[str, Any] | str | bytes,
        *,
        key: Any = None,
        alg: str | None = None,
        signature: bytes | None = None,
    ) -> str:
        """header.payload.signature, signed as `alg` (default: the header's own asymmetric alg,
        else ours) with `key` (default: ours if the alg fits our key, else an attacker's of that
        family); or with the given raw `signature` bytes."""
        signing_input = f"{b64(as_bytes(header))}.{b64(as_bytes(payload))}"
        if signature is None:
            signature = self.signature(signing_input.encode("ascii"), header, key=key, alg=alg)
        return f"{signing_input}.{b64(signature)}"

    def signature(
        self, signing_input: bytes, header: Mapping[str, Any] | str | bytes, *, key: Any, alg: str | None
    ) -> bytes:
        if alg is None:
            named = header.get("alg") if isinstance(header, Mapping) else None
            alg = named if isinstance(named, str) and family_of(named) != "oct" else self.alg
        return jose_sign(alg, self.key_for(alg) if key is None else key, signing_input)

    def sign(self, claims: Mapping[str, Any] | None = None, **header_changes: Any) -> str:
        """A token signed with our key: valid unless `claims` or the header changes make it not."""
        return self.encode(self.header(**header_changes), self.claims() if claims is None else claims)

    def baseline(self) -> str:
        """The control: a valid token (of `kind`) of the victim's session. Never revoked."""
        return self.sign()

    def token_issuer(self) -> TokenIssuer:
        """Our real token issuer, as the issuing functions have it."""
        return TokenIssuer(
            self.ring,
            issuer=self.issuer,
            audience=self.audience,
            client_id=self.client_id,
            access_ttl=600,
            refresh_ttl=3600,
        )

    def refresh_token(self, sid: str, sub: str) -> str:
        """A real refresh token of ours (of a session of its own)."""
        return self.token_issuer().issue(sub, self.scope, sid=sid).refresh_token

    # ------------------------------------------------------------------ the trusted pool

    def pool_claims(self, **changes: Any) -> dict[str, Any]:
        now = self.now()
        base = {
            "iss": self.pool.issuer,
            "sub": f"pool-{uuid.uuid4()}",
            "client_id": self.pool.client_id,
            "token_use": "access",
            "scope": "profile",
            "auth_time": now,
            "iat": now,
            "exp": now + 600,
            "jti": str(uuid.uuid4()),
            "origin_jti": str(uuid.uuid4()),
            "username": "pool-user",
        }
        return with_changes(base, changes)

    def pool_token(self, claims: Mapping[str, Any] | None = None, **header_changes: Any) -> str:
        header = with_changes({"kid": self.pool.ring.current.kid, "alg": "RS256"}, header_changes)
        return self.encode(
            header, self.pool_claims() if claims is None else claims, key=self.pool.ring.current.private_key
        )

    # ------------------------------------------------------------------ our public key, as bytes

    def public_key_forms(self) -> dict[str, bytes]:
        """Every byte form of our public key an HMAC forger might try as the secret."""
        cached = self._cache.get("forms")
        if cached is not None:
            return dict(cached)
        public = self.public_key
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        ssh = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        jwk = self.public_jwk
        forms = {
            "pem-spki": pem,
            "pem-spki-nonl": pem.rstrip(b"\n"),
            "der-spki": der,
            "b64-der": base64.b64encode(der),
            "openssh": ssh,
            "openssh-nl": ssh + b"\n",
            "jwk-json": json.dumps(jwk).encode(),
            "jwk-json-compact": json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode(),
            "jwks-json": json.dumps(self.ring.jwks()).encode(),  # byte for byte what jwks.json serves
            "kid": self.kid.encode(),
            "empty": b"",
        }
        if isinstance(public, rsa.RSAPublicKey):
            pkcs1 = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
            numbers = public.public_numbers()
            forms |= {
                "pem-pkcs1": pkcs1,
                "pem-pkcs1-nonl": pkcs1.rstrip(b"\n"),
                "der-pkcs1": public.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.PKCS1
                ),
                "raw-n": numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"),
                "raw-e": numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"),
            }
        elif isinstance(public, ec.EllipticCurvePublicKey):
            point = public.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
            forms |= {
                "raw-x": point[1:33],
                "raw-y": point[33:],
                "raw-xy": point[1:],
                "point-uncompressed": point,
                "point-compressed": public.public_bytes(
                    serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
                ),
            }
        elif isinstance(public, ed25519.Ed25519PublicKey):
            forms["raw-ed25519"] = public.public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        self._cache["forms"] = forms
        return dict(forms)


#: Which key types each byte form exists for (the rest exist for all three).
FORM_KEY_TYPES = {
    "pem-pkcs1": {"RS256"},
    "pem-pkcs1-nonl": {"RS256"},
    "der-pkcs1": {"RS256"},
    "raw-n": {"RS256"},
    "raw-e": {"RS256"},
    "raw-x": {"ES256"},
    "raw-y": {"ES256"},
    "raw-xy": {"ES256"},
    "point-uncompressed": {"ES256"},
    "point-compressed": {"ES256"},
    "raw-ed25519": {"EdDSA"},
}
HMAC_FORMS = (
    "pem-spki", "pem-spki-nonl", "pem-pkcs1", "pem-pkcs1-nonl", "der-spki", "der-pkcs1", "b64-der",
    "openssh", "openssh-nl", "jwk-json", "jwk-json-compact", "jwks-json", "raw-n", "raw-e", "raw-x",
    "raw-y", "raw-xy", "point-uncompressed", "point-compressed", "raw-ed25519", "kid", "empty",
)  # fmt: skip


def attacker_rings() -> dict[str, KeyRing]:
    return {alg: load_key_ring(generate_private_key_pem(alg)) for alg in KEY_TYPES}


def k1_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256K1())


def new_pool(issuer: str, client_id: str) -> Pool:
    return Pool(issuer=issuer, client_id=client_id, ring=load_key_ring(generate_private_key_pem("RS256")))
