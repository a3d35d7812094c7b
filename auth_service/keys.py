"""Signing keys: generate, load from PEM or from a key set, and publish as a JWKS.

A key bundle is one or more PEM blocks. The first must be a private key: it signs. Any further
blocks (private or public) are retired keys that still verify, so rotation logs nobody out.
A key set document (auth_service.key_set) says the same with states, and may name KMS keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from authorizer.errors import ConfigurationError
from authorizer.tokens.keys import MIN_RSA_BITS, SUPPORTED_ALGORITHMS, KeySet, jwk_thumbprint

if TYPE_CHECKING:
    from auth_service.key_set import KeySetDocument
    from auth_service.kms_signing import KmsKey
    from auth_service.live_keys import Reloading

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    private_key: PrivateKey | None  # None for a KMS key, or a retired key kept only to verify
    kms: KmsKey | None = None  # signs in AWS KMS
    secret: bytes | None = field(default=None, repr=False)  # a KMS key's secret (key_set)

    @property
    def can_sign(self) -> bool:
        return self.private_key is not None or self.kms is not None

    def material(self) -> bytes | None:
        """What the keys derived from this one (sealing, the login throttle) are derived from:
        a private key's PKCS8 DER, or a KMS key's secret; None for a public key alone."""
        if self.private_key is not None:
            return self.private_key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        return self.secret

    def sign(self, claims: dict[str, Any], headers: dict[str, Any]) -> str:
        """A compact JWS of `claims` with this key (PyJWT; for a KMS key, kms:Sign)."""
        if self.kms is not None:
            from auth_service.kms_signing import sign_jwt

            return sign_jwt(self.kms, claims, {**headers, "kid": self.kid})
        if self.private_key is None:
            raise ValueError(f"key {self.kid} is public only: it cannot sign")
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers={**headers, "kid": self.kid})


@dataclass(frozen=True)
class KeyRing:
    current: SigningKey
    keys: tuple[SigningKey, ...]  # current first, then the next key and retired keys

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(key.public_jwk) for key in self.keys]}

    def key_set(self) -> KeySet:
        return KeySet.from_jwks(self.jwks())


class SigningKeys(Protocol):
    """A `KeyRing`, or one that is re-read as it ages (`LiveKeyRing`)."""

    @property
    def current(self) -> SigningKey: ...

    @property
    def keys(self) -> tuple[SigningKey, ...]: ...

    def jwks(self) -> dict[str, Any]: ...


class LiveKeyRing:
    """The ring as last read: each access answers from the newest one (auth_service.live_keys).
    Read `current` once per token: its key, kid and algorithm belong together."""

    def __init__(self, rings: Reloading[KeyRing]) -> None:
        self._rings = rings

    @property
    def current(self) -> SigningKey:
        return self._rings.get().current

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        return self._rings.get().keys

    def jwks(self) -> dict[str, Any]:
        return self._rings.get().jwks()


def generate_private_key_pem(alg: str = "RS256") -> str:
    key: PrivateKey
    if alg == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"unsupported algorithm {alg!r}; choose one of {', '.join(SUPPORTED_ALGORITHMS)}")
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def load_key_ring(pem_text: str) -> KeyRing:
    # Environment values and some secret stores carry newlines as literal "\n".
    text = pem_text.replace("\\n", "\n")
    blocks = [match.group(0) for match in _PEM_BLOCK.finditer(text)]
    if not blocks:
        raise ConfigurationError("the signing key holds no PEM block")
    keys = [_signing_key(block, index) for index, block in enumerate(blocks)]
    if keys[0].private_key is None:
        raise ConfigurationError("the first PEM block of the signing key must be a private key")
    if len({key.kid for key in keys}) != len(keys):
        raise ConfigurationError("the signing key bundle holds the same key twice")
    return KeyRing(current=keys[0], keys=tuple(keys))


def _signing_key(block: str, index: int) -> SigningKey:
    data = block.encode("ascii")
    private: PrivateKey | None = None
    try:
        if "PRIVATE KEY" in block:
            loaded_private: Any = serialization.load_pem_private_key(data, password=None)
            private = loaded_private
            public: Any = loaded_private.public_key()
        else:
            public = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"PEM block #{index} cannot be loaded: {exc}") from None
    alg, jwk = _public_jwk(public, index)
    kid = jwk_thumbprint(jwk)
    return SigningKey(
        kid=kid, alg=alg, public_jwk={**jwk, "kid": kid, "alg": alg, "use": "sig"}, private_key=private
    )


def _public_jwk(public: Any, index: int) -> tuple[str, dict[str, Any]]:
    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size < MIN_RSA_BITS:
            raise ConfigurationError(f"PEM block #{index}: RSA keys need at least {MIN_RSA_BITS} bits")
        return "RS256", RSAAlgorithm.to_jwk(public, as_dict=True)
    if isinstance(public, ec.EllipticCurvePublicKey):
        if not isinstance(public.curve, ec.SECP256R1):
            raise ConfigurationError(f"PEM block #{index}: EC keys must be on P-256 (ES256)")
        return "ES256", ECAlgorithm.to_jwk(public, as_dict=True)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "EdDSA", OKPAlgorithm.to_jwk(public, as_dict=True)
    raise ConfigurationError(f"PEM block #{index}: only RSA, EC P-256 and Ed25519 keys are supported")


def key_ring_from_document(document: KeySetDocument, kms_client: Callable[[], Any]) -> KeyRing:
    """The ring of a key set: its current key signs; `kms_client()` is called once if any key is
    in KMS (a boto3 KMS client)."""
    from auth_service.key_set import KeyState, secret_bytes

    client: list[Any] = []
    keys = []
    order = {KeyState.CURRENT: 0, KeyState.NEXT: 1, KeyState.RETIRED: 2}
    for index, entry in enumerate(sorted(document.keys, key=lambda entry: order[entry.state])):
        if entry.private_pem is not None:
            key = _signing_key(entry.private_pem, index)
            if key.private_key is None or key.kid != entry.kid:
                raise ConfigurationError(f"key {entry.kid} of the key set: its PEM is not its private key")
        else:
            from auth_service.kms_signing import KmsKey

            if not client:
                client.append(kms_client())
            public: Any = _public_key(entry.public_jwk)
            kms = KmsKey(key_id=str(entry.kms_key_id), alg=entry.alg, public_key=public, client=client[0])
            key = SigningKey(
                kid=entry.kid,
                alg=entry.alg,
                public_jwk=dict(entry.public_jwk),
                private_key=None,
                kms=kms,
                secret=secret_bytes(entry),
            )
        keys.append(key)
    return KeyRing(current=keys[0], keys=tuple(keys))


def _public_key(jwk: Any) -> Any:
    if jwk.get("kty") == "RSA":
        return RSAAlgorithm.from_jwk(jwk)
    if jwk.get("kty") == "EC":
        return ECAlgorithm.from_jwk(jwk)
    raise ConfigurationError(f"key {jwk.get('kid')}: KMS keys are RSA or EC P-256")
