"""The attack catalogue (issue #5): every forged, tampered or misused token we must refuse.

Built from RFC 8725 (JWT BCP) and published JWT attacks and CVEs. Each `Attack` says what it is,
where it comes from, what stops it, and how to make it: `forge(material)` builds the token from
the test's key material (ours, attackers', a trusted Cognito pool's) and a valid baseline.

Tokens a trusted key signed (expired, wrong audience, wrong type...) stand for real tokens an
attacker obtained; the rest use no key of ours at all. Every case is run against the authorizer
handler (tests/security/test_authorizer_attacks.py, all event formats, all key types) and over
HTTP against `auth-service serve` (tests/security/test_http_attacks.py). README.md in this
directory is the catalogue as a table; `python -m tests.security.catalogue` prints it.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.x509.oid import NameOID

from tests.security.forging import (
    DROP,
    ED25519_ORDER,
    FORM_KEY_TYPES,
    HMAC_FORMS,
    KEY_TYPES,
    P256_ORDER,
    Material,
    b64,
    compact_json,
    jose_sign,
    unb64,
)

ALL = frozenset(KEY_TYPES)

# The HTTP checks a token can be put through (tests/security/test_http_attacks.py).
HTTP_CHECKS = ("me", "logout", "refresh", "introspect-caller", "introspect-token", "revoke")


@dataclass(frozen=True)
class Forged:
    """A forged token, and tokens to present first (to poison a cache), whatever their answer."""

    token: str
    prelude: tuple[str, ...] = ()


Forge = Callable[[Material], "str | Forged"]


@dataclass(frozen=True)
class Attack:
    id: str
    group: str
    title: str
    reference: str
    defence: str
    forge: Forge = field(repr=False, compare=False)
    key_types: frozenset[str] = ALL
    # HTTP checks for which the token is a genuine one (a real refresh token is one at /refresh).
    legitimate_at: frozenset[str] = frozenset()
    # Known vulnerabilities: target ("authorizer" or an HTTP check name) -> what goes wrong.
    vulns: Mapping[str, str] = field(default_factory=dict, compare=False)

    def build(self, material: Material) -> Forged:
        forged = self.forge(material)
        return forged if isinstance(forged, Forged) else Forged(forged)


CATALOGUE: list[Attack] = []

# What stops each family of attack (the README's "what we do" column).
PIN = (
    "the `kid` selects one of our keys and pins its one algorithm; the header `alg` must equal it "
    "(`AlgorithmNotAllowedError`), so the header never chooses the algorithm"
)
HEADER_POLICY = (
    "header members other than `alg`, `kid`, `typ` are refused before any key lookup "
    "(`MalformedTokenError`); keys come only from configuration"
)
SIGNATURE = "signature verified over the exact received bytes with the pinned key (`InvalidSignatureError`)"
SHAPE = "only compact JWS: three non-empty base64url parts of JSON objects, checked before anything else"


def attack(
    id: str,
    group: str,
    title: str,
    reference: str,
    defence: str,
    forge: Forge,
    *,
    key_types: Iterable[str] = ALL,
    legitimate_at: Iterable[str] = (),
    vulns: Mapping[str, str] | None = None,
) -> None:
    if any(existing.id == id for existing in CATALOGUE):
        raise ValueError(f"duplicate attack id {id!r}")
    CATALOGUE.append(
        Attack(
            id,
            group,
            title,
            reference,
            defence,
            forge,
            frozenset(key_types),
            frozenset(legitimate_at),
            vulns or {},
        )
    )


# --------------------------------------------------------------------------- helpers


def _parts(token: str) -> tuple[str, str, str]:
    head, body, sig = token.split(".")
    return head, body, sig


def _flip(part: str, fraction: float, *, letter: bool) -> str:
    """One bit of the byte nearest `fraction` of the way through the decoded part flipped: with
    `letter`, the case bit of the nearest ASCII letter, so that JSON stays valid JSON and only the
    signature can tell; else the lowest bit of that byte."""
    data = bytearray(unb64(part))
    index = round(fraction * (len(data) - 1))
    if letter:
        letters = [i for i, byte in enumerate(data) if chr(byte).isascii() and chr(byte).isalpha()]
        index = min(letters, key=lambda i: abs(i - index))
    data[index] ^= 0x20 if letter else 0x01
    return b64(bytes(data))


def _with_signature(m: Material, token: str, signature: bytes) -> str:
    head, body, _ = _parts(token)
    return f"{head}.{body}.{b64(signature)}"


def _signed_as(m: Material, alg: str) -> str:
    """A token of the victim's claims, header alg `alg`, our kid, signed by a key of that family."""
    return m.encode(m.header(alg=alg), m.claims())


def _raw_claims(m: Material, placeholders: Mapping[str, str], **changes: Any) -> str:
    """Compact JSON claims with some values replaced by raw JSON text (NaN, huge numbers...)."""
    text = compact_json(m.claims(**{name: f"@@{name}@@" for name in placeholders}, **changes)).decode()
    for name, raw in placeholders.items():
        text = text.replace(f'"@@{name}@@"', raw)
    return text


def _raw_header(m: Material, raw: str) -> str:
    return raw.replace("@ALG@", m.alg).replace("@KID@", m.kid).replace("@TYP@", m.typ)


def _host_swap(issuer: str) -> str:
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    if parts.port is None:
        default = 443 if parts.scheme == "https" else 80
        return issuer.replace(host, f"{host}:{default}", 1)
    alias = "localhost" if host == "127.0.0.1" else "127.0.0.1"
    return issuer.replace(host, alias, 1)


_CYRILLIC = {
    "a": "\u0430",
    "e": "\u0435",
    "o": "\u043e",
    "c": "\u0441",
    "p": "\u0440",
    "x": "\u0445",
    "h": "\u04bb",
}


def _homoglyph(issuer: str) -> str:
    """The issuer with one Latin letter of its host (else of its scheme) swapped for Cyrillic."""
    host = urlsplit(issuer).hostname or ""
    start = issuer.index(host) if host else 0
    for index in [*range(start, start + len(host)), *range(len(issuer))]:
        char = issuer[index]
        if char in _CYRILLIC:
            return issuer[:index] + _CYRILLIC[char] + issuer[index + 1 :]
    raise ValueError(f"no homoglyph for {issuer!r}")


def _fullwidth(issuer: str) -> str:
    """The issuer with the first character of its host in fullwidth form (NFKC folds it back)."""
    host = urlsplit(issuer).hostname or ""
    index = issuer.index(host)
    return issuer[:index] + chr(ord(issuer[index]) + 0xFEE0) + issuer[index + 1 :]


def _percent(issuer: str) -> str:
    host = urlsplit(issuer).hostname or ""
    index = issuer.index(host)
    return issuer[:index] + f"%{ord(issuer[index]):02X}" + issuer[index + 1 :]


def _scheme_swap(issuer: str) -> str:
    if issuer.startswith("https://"):
        return "http://" + issuer.removeprefix("https://")
    return "https://" + issuer.removeprefix("http://")


def _self_signed_cert(private_key: Any) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker.example")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
    )
    algorithm = None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(private_key, algorithm).public_bytes(serialization.Encoding.DER)


def _jwe_to_our_key(m: Material) -> str:
    """A real JWE of the victim's claims encrypted to OUR public key (anyone can make one)."""
    claims = compact_json(m.claims(scope="admin " + m.scope))
    public = m.public_key
    cek = AESGCM.generate_key(bit_length=256)
    if isinstance(public, rsa.RSAPublicKey):
        header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": m.kid}
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        encrypted_key = public.encrypt(cek, oaep)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        ephemeral = ec.generate_private_key(ec.SECP256R1())
        numbers = ephemeral.public_key().public_numbers()
        epk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64(numbers.x.to_bytes(32, "big")),
            "y": b64(numbers.y.to_bytes(32, "big")),
        }
        header = {"alg": "ECDH-ES", "enc": "A256GCM", "kid": m.kid, "epk": epk}
        shared = ephemeral.exchange(ec.ECDH(), public)
        enc = b"A256GCM"
        other = len(enc).to_bytes(4, "big") + enc + bytes(8) + (256).to_bytes(4, "big")
        cek = ConcatKDFHash(hashes.SHA256(), 32, other).derive(shared)
        encrypted_key = b""
    else:  # Ed25519 keys cannot encrypt: a direct-key JWE of the same shape
        header = {"alg": "dir", "enc": "A256GCM", "kid": m.kid}
        encrypted_key = b""
    protected = b64(compact_json(header))
    iv = os.urandom(12)
    sealed = AESGCM(cek).encrypt(iv, claims, protected.encode("ascii"))
    return f"{protected}.{b64(encrypted_key)}.{b64(iv)}.{b64(sealed[:-16])}.{b64(sealed[-16:])}"


def _five_parts(header: Mapping[str, Any]) -> str:
    return ".".join(
        [
            b64(compact_json(dict(header))),
            b64(os.urandom(32)),
            b64(os.urandom(12)),
            b64(os.urandom(64)),
            b64(os.urandom(16)),
        ]
    )


def just_over_limit(m: Material, extra: int = 1) -> str:
    """A token of ours exactly `max_token_bytes + extra` characters long."""
    target = m.max_token_bytes + extra
    signature_length = len(_parts(m.baseline())[2])
    claims_length = len(b64(compact_json(m.claims(pad=""))))
    for spaces in range(4):  # base64 lengths skip some values: pad the header JSON if needed
        header = compact_json(m.header()).decode().replace(",", ", ", spaces)
        fixed = len(b64(header.encode())) + 2 + signature_length
        for pad in range(max(0, (target - fixed - claims_length) * 3 // 4 - 4), target):
            claims = m.claims(pad="p" * pad)
            length = fixed + len(b64(compact_json(claims)))
            if length == target:
                token = m.encode(header, claims)
                assert len(token) == target
                return token
            if length > target:
                break
    raise AssertionError("no padding gives the exact length")


def _revoke(m: Material, how: str, claims: dict[str, Any]) -> None:
    if how == "jti":
        m.denylist.revoke_token(claims["jti"], claims["exp"], "security catalogue")
    elif how == "sid":
        m.denylist.revoke_session(claims["sid"], "security catalogue")
    elif how == "user":
        m.denylist.revoke_user(claims["sub"], "security catalogue")
    elif how == "origin":
        m.denylist.revoke_origin(claims["origin_jti"], "security catalogue")
    elif how == "rotated":
        assert m.denylist.claim_refresh_token(claims["jti"], claims["exp"])
    else:
        raise ValueError(how)


def _revoked(how: str, **changes: Any) -> Forge:
    def forge(m: Material) -> str:
        claims = m.fresh_claims(**({"origin_jti": str(uuid.uuid4())} if how == "origin" else {}), **changes)
        _revoke(m, how, claims)
        return m.sign(claims)

    return forge


def _revoked_pool(how: str) -> Forge:
    def forge(m: Material) -> str:
        claims = m.pool_claims()
        _revoke(m, how, claims)
        return m.pool_token(claims)

    return forge


# =========================================================================== alg: none

NONE_REF = "RFC 8725 §2.1, §3.1; CVE-2015-9235 (jsonwebtoken `alg: none`)"
for spelling in ("none", "None", "NONE", "nOnE"):
    for variant, title in (
        ("empty-sig", "and an empty signature"),
        ("real-sig", "keeping the real signature"),
        ("junk-sig", "and a junk signature"),
    ):

        def _none_forge(m: Material, spelling: str = spelling, variant: str = variant) -> str:
            head = b64(compact_json(m.header(alg=spelling)))
            body = b64(compact_json(m.claims(scope="admin " + m.scope)))
            sig = {"empty-sig": "", "real-sig": _parts(m.baseline())[2], "junk-sig": b64(b"\x00" * 8)}[
                variant
            ]
            return f"{head}.{body}.{sig}"

        attack(
            f"alg-{spelling}-{variant}",
            "alg none",
            f"`alg: {spelling}` {title}, scope escalated",
            NONE_REF,
            PIN + "; `none` is never an algorithm of a key",
            _none_forge,
        )

attack(
    "alg-none-no-kid",
    "alg none",
    "`alg: none`, no `kid`, two-part unsecured JWS (`header.payload.`)",
    NONE_REF,
    "a `kid` naming one of our keys is required; an empty signature part is malformed",
    lambda m: f"{b64(compact_json({'alg': 'none', 'typ': m.typ}))}.{b64(compact_json(m.claims()))}.",
)
for odd_id, odd_value, odd_title in (
    ("empty", "", "an empty string"),
    ("null", None, "null"),
    ("missing", DROP, "absent"),
    ("list", ["@ALG@"], "a list holding our algorithm"),
    ("lowercase", "@alg@", "our algorithm in lower case"),
    ("uppercase", "@ALG_UPPER@", "our algorithm in upper case"),
    ("trailing-space", "@ALG@ ", "our algorithm with a trailing space"),
    ("trailing-nul", "@ALG@\u0000", "our algorithm with a trailing NUL"),
):

    def _odd_alg(m: Material, value: Any = odd_value) -> str:
        if isinstance(value, str):
            value = (
                value.replace("@ALG@", m.alg)
                .replace("@alg@", m.alg.lower())
                .replace("@ALG_UPPER@", m.alg.upper())
            )
        elif isinstance(value, list):
            value = [m.alg]
        return m.encode(m.header(alg=value), m.claims(), alg=m.alg)

    attack(
        f"alg-{odd_id}",
        "alg none",
        f"`alg` {odd_title}, real signature by our key",
        "RFC 8725 §3.1; RFC 7515 §4.1.1 (alg is case-sensitive)",
        PIN + " (exact string comparison)",
        _odd_alg,
        # An upper-case ES256 or RS256 is the algorithm itself: only EdDSA has another case.
        key_types={"EdDSA"} if odd_id == "uppercase" else ALL,
    )

# =========================================================================== HMAC with our public key

for hs in ("HS256", "HS384", "HS512"):
    for form in HMAC_FORMS:

        def _hmac(m: Material, hs: str = hs, form: str = form) -> str:
            secret = m.public_key_forms()[form]
            return m.encode(m.header(alg=hs), m.claims(scope="admin " + m.scope), key=secret, alg=hs)

        attack(
            f"hmac-{hs.lower()}-{form}",
            "HMAC key confusion",
            f"{hs} keyed with our public key as {form}",
            "RFC 8725 §2.1, §3.1; CVE-2015-9235; CVE-2022-29217 (PyJWT key formats); "
            "CVE-2026-48526 (PyJWT HMAC with a JWK)",
            PIN + "; HMAC is never an algorithm of a key (signing is asymmetric only)",
            _hmac,
            key_types=FORM_KEY_TYPES.get(form, ALL),
        )

# =========================================================================== algorithm switching

SWITCH_REF = "RFC 8725 §3.1, §3.2; CVE-2022-29217 (algorithm confusion)"
for target in (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "ES256K", "EdDSA", "Ed25519",
):  # fmt: skip

    def _switch(m: Material, target: str = target) -> str:
        return _signed_as(m, target)

    attack(
        f"alg-switch-{target.lower()}",
        "algorithm switching",
        f"header `alg: {target}` with our `kid`, signed by our key where it can sign {target}, "
        "else by an attacker key of that family",
        SWITCH_REF,
        PIN,
        _switch,
        key_types={key_type for key_type in KEY_TYPES if key_type != target},
    )
attack(
    "attacker-key-our-kid",
    "algorithm switching",
    "an attacker key of our key's type signs, claiming our `kid`",
    "RFC 8725 §3.1 (key substitution)",
    SIGNATURE,
    lambda m: m.encode(m.header(), m.claims(), key=m.attacker(m.family).current.private_key),
)
attack(
    "attacker-key-own-kid",
    "algorithm switching",
    "an attacker key of our key's type signs, with its own `kid`",
    "RFC 8725 §3.1",
    "an unknown `kid` is refused (`KidNotFoundError`); keys come only from configuration",
    lambda m: m.encode(
        m.header(kid=m.attacker(m.family).current.kid),
        m.claims(),
        key=m.attacker(m.family).current.private_key,
    ),
)

# =========================================================================== tampering

TAMPER_REF = "RFC 7515 §5.2 (validation); RFC 8725 §3.3"
for where, index in (("header", 0), ("payload", 1), ("signature", 2)):
    for position, fraction in (("first", 0.0), ("third", 1 / 3), ("middle", 0.5), ("last", 1.0)):
        if where == "signature" and position == "third":
            continue

        def _bitflip(m: Material, index: int = index, fraction: float = fraction) -> str:
            parts = list(_parts(m.baseline()))
            parts[index] = _flip(parts[index], fraction, letter=index < 2)
            return ".".join(parts)

        flipped = "the lowest bit of its" if where == "signature" else "the case of the letter nearest its"
        attack(
            f"tamper-{where}-bit-{position}",
            "tampering",
            f"{flipped} {position} byte flipped in the {where}",
            TAMPER_REF,
            SIGNATURE
            if where == "signature"
            else SIGNATURE + " (or the changed header value itself is refused)",
            _bitflip,
        )


def _reencoded(index: int) -> Forge:
    def forge(m: Material) -> str:
        parts = list(_parts(m.baseline()))
        value = json.loads(unb64(parts[index]))
        parts[index] = b64(json.dumps(value, indent=1).encode())  # same JSON value, other bytes
        return ".".join(parts)

    return forge


def _escalated(**changes: Any) -> Forge:
    def forge(m: Material) -> str:
        head, _, sig = _parts(m.baseline())
        return f"{head}.{b64(compact_json(m.claims(**changes)))}.{sig}"

    return forge


attack(
    "tamper-header-reencoded",
    "tampering",
    "same header JSON value, re-serialized (other whitespace)",
    "RFC 8725 §2.6; RFC 7515 §5.2",
    SIGNATURE + " (the signature covers the bytes, not the JSON value)",
    _reencoded(0),
)
attack(
    "tamper-payload-reencoded",
    "tampering",
    "same claims, re-serialized (other whitespace)",
    "RFC 8725 §2.6; RFC 7515 §5.2",
    SIGNATURE + " (the signature covers the bytes, not the JSON value)",
    _reencoded(1),
)
attack(
    "tamper-payload-scope",
    "tampering",
    "scope escalated to `admin`, signature kept",
    TAMPER_REF,
    SIGNATURE,
    _escalated(scope="admin introspect profile"),
)
attack(
    "tamper-payload-sub",
    "tampering",
    "`sub` changed to another user, signature kept",
    TAMPER_REF,
    SIGNATURE,
    _escalated(sub="admin"),
)
attack(
    "tamper-payload-exp",
    "tampering",
    "`exp` pushed a year out, signature kept",
    TAMPER_REF,
    SIGNATURE,
    lambda m: _escalated(exp=m.now() + 31_536_000)(m),
)
attack(
    "tamper-signature-truncated",
    "tampering",
    "signature one byte short",
    TAMPER_REF,
    SIGNATURE,
    lambda m: _with_signature(m, m.baseline(), unb64(_parts(m.baseline())[2])[:-1]),
)
attack(
    "tamper-signature-extended",
    "tampering",
    "signature with a zero byte appended",
    TAMPER_REF,
    SIGNATURE,
    lambda m: _with_signature(m, m.baseline(), unb64(_parts(m.baseline())[2]) + b"\x00"),
)
attack(
    "tamper-signature-zeroed",
    "tampering",
    "signature replaced by zero bytes of the same length",
    TAMPER_REF,
    SIGNATURE,
    lambda m: _with_signature(m, m.baseline(), bytes(len(unb64(_parts(m.baseline())[2])))),
)
attack(
    "tamper-signature-transplant",
    "tampering",
    "escalated claims under the valid signature of another token of ours",
    TAMPER_REF,
    SIGNATURE,
    lambda m: _with_signature(
        m,
        m.encode(m.header(), m.claims(scope="admin"), signature=b""),
        unb64(_parts(m.sign(m.fresh_claims()))[2]),
    ),
)

SHAPE_REF = "RFC 7515 §7.1 (compact serialization); RFC 8725 §3.4"
attack(
    "shape-two-parts",
    "token shape",
    "`header.payload` (no signature part)",
    SHAPE_REF,
    SHAPE,
    lambda m: m.baseline().rsplit(".", 1)[0],
)
attack(
    "shape-four-parts",
    "token shape",
    "a valid token with a fourth part",
    SHAPE_REF,
    SHAPE,
    lambda m: m.baseline() + "." + b64(b"x"),
)
attack(
    "shape-trailing-dot",
    "token shape",
    "a valid token with a trailing dot",
    SHAPE_REF,
    SHAPE,
    lambda m: m.baseline() + ".",
)
attack("shape-empty-parts", "token shape", "`..`", SHAPE_REF, SHAPE, lambda m: "..")
attack("shape-garbage", "token shape", "`not.a.token`", SHAPE_REF, SHAPE, lambda m: "not.a.token")
attack(
    "shape-empty",
    "token shape",
    "an empty Bearer credential",
    SHAPE_REF,
    "no token: refused without parsing",
    lambda m: "",
)
attack(
    "shape-internal-space",
    "token shape",
    "a valid token with a space inside",
    SHAPE_REF,
    "a Bearer credential with inner whitespace is no token",
    lambda m: m.baseline().replace(".", ". ", 1),
)


def _std_alphabet(m: Material) -> str:
    # Claims chosen so that standard base64 of the payload holds '+' or '/'.
    head = base64.b64encode(compact_json(m.header())).decode().rstrip("=")
    for pad in ("", "x", "xx"):
        body = base64.b64encode(compact_json(m.claims(note=pad + ">>>???>>>???"))).decode().rstrip("=")
        if "+" in body or "/" in body:
            break
    else:
        raise AssertionError("no '+' or '/' in the standard base64 payload")
    sig = base64.b64encode(jose_sign(m.alg, m.private_key, f"{head}.{body}".encode())).decode().rstrip("=")
    return f"{head}.{body}.{sig}"


def _padded(m: Material) -> str:
    head = base64.urlsafe_b64encode(compact_json(m.header())).decode()
    body = base64.urlsafe_b64encode(compact_json(m.claims(pad="xy"))).decode()
    if "=" not in head + body:
        body = base64.urlsafe_b64encode(compact_json(m.claims(pad="x"))).decode()
    sig = base64.urlsafe_b64encode(jose_sign(m.alg, m.private_key, f"{head}.{body}".encode())).decode()
    return f"{head}.{body}.{sig}"


attack(
    "shape-standard-base64",
    "token shape",
    "standard base64 (`+`, `/`) instead of base64url, signed by our key over those bytes",
    SHAPE_REF + "; RFC 7515 §2 (base64url)",
    SHAPE,
    _std_alphabet,
)
attack(
    "shape-padded-base64",
    "token shape",
    "base64url with `=` padding, signed by our key over those bytes",
    SHAPE_REF + "; RFC 7515 §2 (no padding)",
    SHAPE,
    _padded,
)

# =========================================================================== malformed signatures


def _es_parts(m: Material) -> tuple[str, bytes]:
    token = _signed_as(m, "ES256")
    head, body, sig = _parts(token)
    return f"{head}.{body}", unb64(sig)


def _ecdsa(make: Callable[[bytes], bytes]) -> Forge:
    def forge(m: Material) -> str:
        signing_input, sig = _es_parts(m)
        return f"{signing_input}.{b64(make(sig))}"

    return forge


def _int(data: bytes) -> int:
    return int.from_bytes(data, "big")


ECDSA_REF = "CVE-2022-21449 (psychic signatures); RFC 8725 §3.4; RFC 7518 §3.4 (R || S, 64 bytes)"
ECDSA_DEF = (
    "ES256 is accepted only for an EC P-256 key `kid`; PyJWT takes only a 64-byte raw R || S, and "
    "OpenSSL rejects r or s outside [1, n-1]"
)
P256_N = P256_ORDER.to_bytes(32, "big")
for ec_id, ec_title, ec_make in (
    ("ecdsa-r0-s0", "r = s = 0 (the blank 'psychic' signature)", lambda sig: bytes(64)),
    ("ecdsa-r-s-order", "r = s = n (the curve order)", lambda sig: P256_N + P256_N),
    ("ecdsa-r0", "r = 0, s from a real signature", lambda sig: bytes(32) + sig[32:]),
    ("ecdsa-s0", "s = 0, r from a real signature", lambda sig: sig[:32] + bytes(32)),
    ("ecdsa-r-order", "r = n, s from a real signature", lambda sig: P256_N + sig[32:]),
    (
        "ecdsa-der",
        "a real signature, DER-encoded instead of raw R || S",
        lambda sig: encode_dss_signature(_int(sig[:32]), _int(sig[32:])),
    ),
    ("ecdsa-length-63", "a real signature truncated to 63 bytes", lambda sig: sig[:63]),
    ("ecdsa-length-65", "a real signature with a byte appended", lambda sig: sig + b"\x00"),
    (
        "ecdsa-length-96",
        "a real signature widened to 48-byte R and S (ES384 layout)",
        lambda sig: bytes(16) + sig[:32] + bytes(16) + sig[32:],
    ),
    ("ecdsa-length-128", "a real signature, twice", lambda sig: sig + sig),
):
    attack(ec_id, "malformed signatures", f"ES256 with {ec_title}", ECDSA_REF, ECDSA_DEF, _ecdsa(ec_make))


def _eddsa(make: Callable[[bytes], bytes]) -> Forge:
    def forge(m: Material) -> str:
        head, body, sig = _parts(_signed_as(m, "EdDSA"))
        return f"{head}.{body}.{b64(make(unb64(sig)))}"

    return forge


EDDSA_REF = "RFC 8032 §5.1.7 (S < L); RFC 8037; RFC 8725 §3.4"
EDDSA_DEF = (
    "EdDSA is accepted only for an Ed25519 key `kid`; OpenSSL verification "
    "rejects non-canonical S and a blank signature"
)
for ed_id, ed_title, ed_make in (
    ("eddsa-zero", "an all-zero signature", lambda sig: bytes(64)),
    (
        "eddsa-s-plus-order",
        "S + L (non-canonical S) of a real signature",
        lambda sig: sig[:32] + (int.from_bytes(sig[32:], "little") + ED25519_ORDER).to_bytes(32, "little"),
    ),
    ("eddsa-identity-r", "R = the identity point, S = 0", lambda sig: b"\x01" + bytes(63)),
    ("eddsa-length-63", "a real signature truncated to 63 bytes", lambda sig: sig[:63]),
    ("eddsa-length-65", "a real signature with a byte appended", lambda sig: sig + b"\x00"),
):
    attack(ed_id, "malformed signatures", f"EdDSA with {ed_title}", EDDSA_REF, EDDSA_DEF, _eddsa(ed_make))


def _rsa(make: Callable[[bytes, int], bytes]) -> Forge:
    def forge(m: Material) -> str:
        head, body, sig = _parts(_signed_as(m, "RS256"))
        modulus = m.key_for("RS256").public_key().public_numbers().n
        return f"{head}.{body}.{b64(make(unb64(sig), modulus))}"

    return forge


RSA_REF = "RFC 8017 §8.2.2 (signature length and range); RFC 8725 §3.4"
RSA_DEF = (
    "RS256 is accepted only for an RSA key `kid`; `cryptography` requires "
    "a signature of the modulus length, below the modulus"
)
for rsa_id, rsa_title, rsa_make in (
    ("rsa-zero", "an all-zero signature", lambda sig, n: bytes(len(sig))),
    ("rsa-one", "the integer 1", lambda sig, n: (1).to_bytes(len(sig), "big")),
    ("rsa-modulus", "the modulus n itself", lambda sig, n: n.to_bytes(len(sig), "big")),
    ("rsa-modulus-minus-one", "n - 1", lambda sig, n: (n - 1).to_bytes(len(sig), "big")),
    (
        "rsa-leading-zero",
        "a real signature with a leading zero byte (same integer)",
        lambda sig, n: b"\x00" + sig,
    ),
    ("rsa-short", "a real signature without its first byte", lambda sig, n: sig[1:]),
):
    attack(rsa_id, "malformed signatures", f"RS256 with {rsa_title}", RSA_REF, RSA_DEF, _rsa(rsa_make))
attack(
    "rsa-sha512-under-rs256",
    "malformed signatures",
    "an RS512 signature under `alg: RS256`",
    RSA_REF,
    SIGNATURE,
    lambda m: m.encode(m.header(alg="RS256"), m.claims(), alg="RS512", key=m.key_for("RS256")),
)

# =========================================================================== key-carrying headers


def _attacker(m: Material) -> Any:
    return m.attacker(m.family).current


INJECT_REF = "RFC 8725 §2.9, §3.10; RFC 7515 §4.1.2-4.1.8"
for member, value in (
    ("jku", "https://attacker.example/jwks.json"),
    ("x5u", "https://attacker.example/cert.pem"),
):

    def _ours(m: Material, member: str = member, value: str = value) -> str:
        return m.sign(**{member: value})

    def _theirs_own(m: Material, member: str = member, value: str = value) -> str:
        return m.encode(
            m.header(kid=_attacker(m).kid, **{member: value}), m.claims(), key=_attacker(m).private_key
        )

    def _theirs_ours(m: Material, member: str = member, value: str = value) -> str:
        return m.encode(m.header(**{member: value}), m.claims(), key=_attacker(m).private_key)

    attack(
        f"{member}-our-key",
        "key-carrying headers",
        f"`{member}` to an attacker URL, otherwise valid (signed by our key)",
        INJECT_REF,
        HEADER_POLICY,
        _ours,
    )
    attack(
        f"{member}-attacker-key-own-kid",
        "key-carrying headers",
        f"`{member}` to the attacker's keys, their key and `kid`",
        INJECT_REF,
        HEADER_POLICY,
        _theirs_own,
    )
    attack(
        f"{member}-attacker-key-our-kid",
        "key-carrying headers",
        f"`{member}` to the attacker's keys, their key, our `kid`",
        INJECT_REF,
        HEADER_POLICY,
        _theirs_ours,
    )


def _x5c(kid_of_attacker: bool) -> Forge:
    def forge(m: Material) -> str:
        attacker = _attacker(m)
        cert = base64.b64encode(_self_signed_cert(attacker.private_key)).decode()
        kid = attacker.kid if kid_of_attacker else m.kid
        return m.encode(m.header(kid=kid, x5c=[cert]), m.claims(), key=attacker.private_key)

    return forge


def _jwk_header(m: Material, *, kid: str, jwk_kid: str | None) -> str:
    attacker = _attacker(m)
    jwk = {k: v for k, v in attacker.public_jwk.items() if k != "kid"}
    if jwk_kid is not None:
        jwk["kid"] = jwk_kid
    return m.encode(m.header(kid=kid, jwk=jwk), m.claims(scope="admin " + m.scope), key=attacker.private_key)


attack(
    "x5c-attacker-self-signed",
    "key-carrying headers",
    "`x5c` with the attacker's self-signed certificate, their key and `kid`",
    INJECT_REF,
    HEADER_POLICY,
    _x5c(True),
)
attack(
    "x5c-attacker-our-kid",
    "key-carrying headers",
    "`x5c` with the attacker's certificate, our `kid`",
    INJECT_REF,
    HEADER_POLICY,
    _x5c(False),
)
attack(
    "x5t-our-key",
    "key-carrying headers",
    "`x5t` thumbprint, otherwise valid (signed by our key)",
    INJECT_REF,
    HEADER_POLICY,
    lambda m: m.sign(x5t=b64(os.urandom(20))),
)
attack(
    "x5t-s256-our-key",
    "key-carrying headers",
    "`x5t#S256` thumbprint, otherwise valid",
    INJECT_REF,
    HEADER_POLICY,
    lambda m: m.sign(**{"x5t#S256": b64(os.urandom(32))}),
)
attack(
    "jwk-attacker-key-matching-kid",
    "key-carrying headers",
    "embedded `jwk` = the attacker's key, `kid` = its RFC 7638 thumbprint (matching)",
    "CVE-2018-0114 (node-jose embedded jwk); " + INJECT_REF,
    HEADER_POLICY,
    lambda m: _jwk_header(m, kid=_attacker(m).kid, jwk_kid=_attacker(m).kid),
)
attack(
    "jwk-attacker-key-our-kid",
    "key-carrying headers",
    "embedded `jwk` = the attacker's key labelled with our `kid`",
    "CVE-2018-0114; " + INJECT_REF,
    HEADER_POLICY,
    lambda m: _jwk_header(m, kid=m.kid, jwk_kid=m.kid),
)
attack(
    "jwk-attacker-key-no-kid",
    "key-carrying headers",
    "embedded `jwk` = the attacker's key, no `kid` at all",
    "CVE-2018-0114; " + INJECT_REF,
    HEADER_POLICY,
    lambda m: m.encode(
        m.header(kid=DROP, jwk={k: v for k, v in _attacker(m).public_jwk.items() if k != "kid"}),
        m.claims(),
        key=_attacker(m).private_key,
    ),
)
attack(
    "jwk-our-key",
    "key-carrying headers",
    "embedded `jwk` = our own public key, otherwise valid",
    INJECT_REF,
    HEADER_POLICY,
    lambda m: m.sign(jwk=m.public_jwk),
)
attack(
    "jwk-oct-hmac",
    "key-carrying headers",
    "embedded symmetric `jwk` (`kty: oct`) and an HS256 signature with it",
    "CVE-2018-0114; RFC 8725 §3.1",
    HEADER_POLICY,
    lambda m: m.encode(
        m.header(alg="HS256", jwk={"kty": "oct", "k": b64(b"attacker-secret")}),
        m.claims(),
        key=b"attacker-secret",
        alg="HS256",
    ),
)

# =========================================================================== kid injection

KID_REF = "RFC 8725 §2.9, §3.10 (kid used in file paths, SQL, LDAP)"
KID_DEF = (
    "the `kid` is only ever a key of an in-memory map of configured "
    "keys: no file, query or URL is built from it"
)
for kid_id, kid_value, kid_secret, kid_title in (
    (
        "kid-path-traversal-hmac",
        "../../../../../../dev/null",
        b"",
        "`../../dev/null`, HS256 with an empty key",
    ),
    ("kid-absolute-path-hmac", "/dev/null", b"", "`/dev/null`, HS256 with an empty key"),
    ("kid-sql-or-true-hmac", "' OR '1'='1", b"1", "`' OR '1'='1`, HS256 keyed `1`"),
    (
        "kid-sql-union-hmac",
        "x' UNION SELECT 'attacker-secret' -- ",
        b"attacker-secret",
        "SQL UNION returning a chosen key, HS256 with it",
    ),
    ("kid-command-hmac", "key|/usr/bin/id", b"", "a shell pipe, HS256 with an empty key"),
):

    def _kid_hmac(m: Material, kid: str = kid_value, secret: bytes = kid_secret) -> str:
        return m.encode(m.header(alg="HS256", kid=kid), m.claims(), key=secret, alg="HS256")

    attack(
        kid_id,
        "kid injection",
        f"`kid` {kid_title}",
        KID_REF,
        KID_DEF + "; HMAC is refused anyway",
        _kid_hmac,
    )

for kid_id, kid_value, kid_title in (
    ("kid-path-traversal-our-key", "../../../../../../dev/null", "`../../dev/null`"),
    ("kid-sql-or-true-our-key", "' OR '1'='1", "`' OR '1'='1`"),
    ("kid-url-our-key", "https://attacker.example/jwks.json", "an attacker URL"),
    ("kid-very-long", "K" * 4000, "4000 characters long"),
    ("kid-int", 123, "an integer"),
    ("kid-bool", True, "`true`"),
    ("kid-null", None, "null"),
    ("kid-list", "@LIST@", "a list holding our `kid`"),
    ("kid-object", "@OBJECT@", "an object holding our `kid`"),
    ("kid-empty", "", "an empty string"),
    ("kid-missing", DROP, "absent"),
    ("kid-trailing-space", "@KID@ ", "ours with a trailing space"),
    ("kid-trailing-nul", "@KID@\u0000", "ours with a trailing NUL"),
    ("kid-case-swapped", "@SWAP@", "ours with its letter case swapped"),
    ("kid-padded", "@KID@=", "ours with base64 padding"),
    ("kid-fullwidth", "@FULL@", "ours with its first character in fullwidth form (NFKC-equal)"),
):

    def _kid_ours(m: Material, value: Any = kid_value) -> str:
        if value == "@LIST@":
            value = [m.kid]
        elif value == "@OBJECT@":
            value = {"kid": m.kid}
        elif value == "@SWAP@":
            value = m.kid.swapcase()
        elif value == "@FULL@":
            value = chr(ord(m.kid[0]) + 0xFEE0) + m.kid[1:]
        elif isinstance(value, str):
            value = value.replace("@KID@", m.kid)
        return m.encode(m.header(kid=value), m.claims(), alg=m.alg)

    attack(
        kid_id,
        "kid injection",
        f"`kid` {kid_title}, signed by our key",
        KID_REF,
        KID_DEF + " (exact string match)",
        _kid_ours,
    )

# =========================================================================== crit and b64

CRIT_REF = "RFC 7515 §4.1.11; CVE-2026-32597 (PyJWT < 2.12 ignored `crit`); CVE-2025-59420 (Authlib)"
attack(
    "crit-unknown-extension",
    "crit and b64",
    '`crit: ["x-sec-policy"]` with that extension, signed by our key',
    CRIT_REF,
    HEADER_POLICY,
    lambda m: m.sign(crit=["x-sec-policy"], **{"x-sec-policy": True}),
)
attack(
    "crit-listed-absent",
    "crit and b64",
    "`crit` naming an extension that is not there",
    CRIT_REF,
    HEADER_POLICY,
    lambda m: m.sign(crit=["x-sec-policy"]),
)
attack(
    "crit-empty-list",
    "crit and b64",
    "`crit: []` (forbidden empty list)",
    CRIT_REF,
    HEADER_POLICY,
    lambda m: m.sign(crit=[]),
)
attack(
    "crit-registered-name",
    "crit and b64",
    '`crit: ["exp"]` (a registered name, forbidden)',
    CRIT_REF,
    HEADER_POLICY,
    lambda m: m.sign(crit=["exp"]),
)
attack(
    "crit-not-a-list",
    "crit and b64",
    '`crit: "b64"` (not a list)',
    CRIT_REF,
    HEADER_POLICY,
    lambda m: m.sign(crit="b64"),
)


def _b64_false(with_crit: bool) -> Forge:
    def forge(m: Material) -> str:
        header = m.header(b64=False, **({"crit": ["b64"]} if with_crit else {}))
        head = b64(compact_json(header))
        raw = compact_json(m.claims())
        signature = jose_sign(
            m.alg, m.private_key, head.encode() + b"." + raw
        )  # RFC 7797 §3: unencoded payload
        return f"{head}.{b64(raw)}.{b64(signature)}"

    return forge


attack(
    "b64-false-crit",
    "crit and b64",
    '`b64: false` with `crit: ["b64"]`, signature over the unencoded payload (RFC 7797)',
    "RFC 7797 §3, §6; " + CRIT_REF,
    HEADER_POLICY,
    _b64_false(True),
)
attack(
    "b64-false-no-crit",
    "crit and b64",
    "`b64: false` without `crit`",
    "RFC 7797 §6",
    HEADER_POLICY,
    _b64_false(False),
)

# =========================================================================== nesting, JWE, serializations

NEST_REF = "RFC 7519 §5.2, §7.2 (cty: JWT); RFC 8725 §2.8"
attack(
    "cty-jwt-nested",
    "nested and encrypted",
    "`cty: JWT` whose payload is another (valid) token of ours, outer signed by our key",
    NEST_REF,
    HEADER_POLICY + "; the payload must be a JSON object",
    lambda m: m.encode(m.header(cty="JWT"), m.baseline().encode()),
)
attack(
    "cty-jwt-unsigned-outer",
    "nested and encrypted",
    "`alg: none` outer token wrapping a valid inner token with `cty: JWT`",
    NEST_REF,
    PIN + "; " + HEADER_POLICY,
    lambda m: m.encode(m.header(alg="none", cty="JWT"), m.baseline().encode(), signature=b"\x00"),
)
attack(
    "cty-json",
    "nested and encrypted",
    "`cty: JSON`, otherwise valid",
    NEST_REF,
    HEADER_POLICY,
    lambda m: m.sign(cty="JSON"),
)
JWE_REF = (
    "RFC 8725 §2.3; RFC 7516; Tervoort, 'Three New Attacks Against "
    "JSON Web Tokens' (Black Hat 2023): sign/encrypt confusion"
)
attack(
    "jwe-to-our-public-key",
    "nested and encrypted",
    "a real JWE of escalated claims encrypted to our public key (5 parts)",
    JWE_REF,
    SHAPE + "; we never decrypt",
    _jwe_to_our_key,
)
attack(
    "jwe-header-three-parts",
    "nested and encrypted",
    "a JWE header (`alg: RSA-OAEP`, `enc`) in a three-part token",
    JWE_REF,
    PIN + "; `enc` is not a header we accept",
    lambda m: m.encode(
        {"alg": "RSA-OAEP", "enc": "A256GCM", "kid": m.kid, "typ": m.typ},
        m.claims(),
        signature=os.urandom(64),
    ),
)
attack(
    "jwe-dir-our-kid",
    "nested and encrypted",
    "a direct-key JWE (`alg: dir`) naming our `kid`",
    JWE_REF,
    SHAPE,
    lambda m: _five_parts({"alg": "dir", "enc": "A128GCM", "kid": m.kid}),
)
attack(
    "jwe-pbes2-billion-hashes",
    "nested and encrypted",
    "PBES2 JWE with `p2c` = 2^31 - 1 (billion-hashes DoS)",
    "Tervoort (Black Hat 2023): billion hashes; RFC 7518 §4.8.1.2",
    SHAPE + "; nothing is derived from a header before the shape checks",
    lambda m: _five_parts(
        {"alg": "PBES2-HS512+A256KW", "enc": "A256GCM", "p2s": b64(os.urandom(16)), "p2c": 2**31 - 1}
    ),
)
attack(
    "jws-pbes2-header",
    "nested and encrypted",
    "PBES2 `p2s`/`p2c` members in a JWS header, otherwise valid",
    "Tervoort (Black Hat 2023): billion hashes",
    HEADER_POLICY,
    lambda m: m.sign(p2s=b64(os.urandom(16)), p2c=2**31 - 1),
)


def _json_serialization(m: Material) -> str:
    head, body, sig = _parts(m.baseline())
    return json.dumps({"payload": body, "protected": head, "signature": sig}, separators=(",", ":"))


def _polyglot(m: Material) -> str:
    head, body, sig = _parts(m.baseline())
    evil = b64(compact_json(m.claims(scope="admin " + m.scope)))
    return f'{{"protected":"{head}","payload":"{evil}","signature":"{sig}","x":"{head}.{body}.{sig}"}}'


attack(
    "jws-json-serialization",
    "nested and encrypted",
    "the flattened JWS JSON serialization of a valid token",
    "RFC 7515 §7.2; " + JWE_REF,
    SHAPE,
    _json_serialization,
)
attack(
    "jws-json-polyglot",
    "nested and encrypted",
    "a JSON/compact polyglot: escalated JSON payload beside a valid compact token",
    "Tervoort (Black Hat 2023): polyglot tokens",
    SHAPE,
    _polyglot,
)

# =========================================================================== duplicate members

DUP_REF = "RFC 7515 §4 (duplicate Header Parameter names); RFC 8259 §4; RFC 8725 §2.6 (parser differentials)"
attack(
    "dup-header-alg-none-last",
    "duplicate members",
    "header `{alg: <ours>, ..., alg: none}`, real signature kept",
    DUP_REF,
    "one JSON parser (last member wins) for our checks and for verification; " + SIGNATURE,
    lambda m: m.encode(
        _raw_header(m, '{"alg":"@ALG@","typ":"@TYP@","kid":"@KID@","alg":"none"}'),
        m.claims(),
        signature=unb64(_parts(m.baseline())[2]),
    ),
)
attack(
    "dup-header-alg-hs256-last",
    "duplicate members",
    "header `{alg: <ours>, ..., alg: HS256}`, HMAC keyed with our PEM",
    DUP_REF,
    PIN,
    lambda m: m.encode(
        _raw_header(m, '{"alg":"@ALG@","typ":"@TYP@","kid":"@KID@","alg":"HS256"}'),
        m.claims(),
        key=m.public_key_forms()["pem-spki"],
        alg="HS256",
    ),
)
attack(
    "dup-header-kid",
    "duplicate members",
    "header `{kid: <attacker's>, ..., kid: <ours>}`, signed by the attacker",
    DUP_REF,
    SIGNATURE,
    lambda m: m.encode(
        _raw_header(m, '{"alg":"@ALG@","kid":"' + _attacker(m).kid + '","typ":"@TYP@","kid":"@KID@"}'),
        m.claims(),
        key=_attacker(m).private_key,
    ),
)


def _dup_payload(m: Material) -> str:
    head, body, sig = _parts(m.baseline())
    raw = unb64(body).decode()
    appended = raw[:-1] + ',"sub":"admin","scope":"admin"}'
    return f"{head}.{b64(appended.encode())}.{sig}"


attack(
    "dup-payload-appended",
    "duplicate members",
    "`sub`/`scope` appended again to a valid payload, signature kept",
    DUP_REF,
    SIGNATURE,
    _dup_payload,
)
attack(
    "dup-payload-iss-routing",
    "duplicate members",
    "`{iss: <trusted pool>, ..., iss: <ours>}` signed by an attacker (issuer routing vs verification)",
    DUP_REF + "; CVE-2024-53861 class",
    "routing and verification read the same (last) `iss`; " + SIGNATURE,
    lambda m: m.encode(
        m.header(),
        '{"iss":' + json.dumps(m.pool.issuer) + "," + compact_json(m.claims()).decode()[1:],
        key=_attacker(m).private_key,
    ),
)

# =========================================================================== issuer near-misses

ISS_REF = "RFC 8725 §3.8; RFC 7519 §4.1.1; CVE-2024-53861 (PyJWT 2.10.0 partial issuer match)"
ISS_DEF = (
    "`iss` routes to a verifier by exact dict lookup, then must equal "
    "the configured issuer byte for byte (PyJWT >= 2.10.1)"
)
for iss_id, iss_make, iss_title in (
    ("iss-prefix", lambda i: i + ".attacker.example", "our issuer as a prefix of theirs"),
    ("iss-suffix-path", lambda i: i + "/evil", "our issuer plus a path"),
    ("iss-substring", lambda i: i[:-1], "our issuer minus its last character"),
    ("iss-contains", lambda i: "https://attacker.example/?" + i, "theirs containing ours"),
    ("iss-upper-case", str.upper, "in upper case"),
    ("iss-scheme-case", lambda i: i.replace("http", "HTTP", 1), "with an upper-case scheme"),
    ("iss-trailing-slash", lambda i: i + "/", "with a trailing slash"),
    ("iss-homoglyph", _homoglyph, "with a Cyrillic lookalike letter"),
    ("iss-fullwidth", _fullwidth, "with a fullwidth character (NFKC-equal)"),
    ("iss-percent-encoded", _percent, "with a percent-encoded host character"),
    ("iss-leading-space", lambda i: " " + i, "with a leading space"),
    ("iss-trailing-space", lambda i: i + " ", "with a trailing space"),
    ("iss-trailing-newline", lambda i: i + "\n", "with a trailing newline"),
    ("iss-nbsp", lambda i: i + "\u00a0", "with a trailing no-break space"),
    ("iss-zero-width", lambda i: i.replace("://", "://\u200b", 1), "with a zero-width space"),
    ("iss-trailing-nul", lambda i: i + "\u0000", "with a trailing NUL"),
    ("iss-host-alias", _host_swap, "with an explicit default port or another name for the host"),
    ("iss-scheme-swap", _scheme_swap, "with http and https swapped"),
    ("iss-list", lambda i: [i], "as a one-element list"),
    ("iss-null", lambda i: None, "null"),
    ("iss-missing", lambda i: DROP, "absent"),
    ("iss-int", lambda i: 1, "an integer"),
):

    def _iss(m: Material, make: Callable[[str], Any] = iss_make) -> str:
        return m.sign(m.claims(iss=make(m.issuer)))

    attack(iss_id, "issuer", f"`iss` {iss_title}, signed by our key", ISS_REF, ISS_DEF, _iss)
attack(
    "iss-trusted-pool-our-key",
    "issuer",
    "`iss` of the trusted Cognito pool, signed by our key (cross-issuer key confusion)",
    ISS_REF + "; RFC 8725 §2.8",
    "each issuer verifies with its own keys only: our `kid` is not in the pool's JWKS",
    lambda m: m.encode({"alg": m.alg, "kid": m.kid}, m.pool_claims()),  # Cognito-shaped: no `typ`
)
attack(
    "iss-ours-pool-key",
    "issuer",
    "our `iss`, signed by the trusted pool's key and `kid`",
    ISS_REF + "; RFC 8725 §2.8",
    "each issuer verifies with its own keys only: the pool's `kid` is not in ours",
    lambda m: m.encode(
        {"alg": "RS256", "typ": m.typ, "kid": m.pool.ring.current.kid},
        m.claims(),
        key=m.pool.ring.current.private_key,
    ),
)

# =========================================================================== audience

AUD_REF = "RFC 8725 §3.9; RFC 7519 §4.1.3"
AUD_DEF = "`aud` must be a string or a list of strings, one of them exactly a configured audience"
for aud_id, aud_make, aud_title in (
    ("aud-list-without-ours", lambda a, i: ["other-api", "billing-api"], "a list without ours"),
    ("aud-empty-list", lambda a, i: [], "an empty list"),
    ("aud-nested-list", lambda a, i: [[a]], "a nested list holding ours"),
    ("aud-list-nested-ours", lambda a, i: ["other-api", [a]], "a list with ours nested one level down"),
    ("aud-object", lambda a, i: {a: True}, "an object keyed by ours"),
    ("aud-empty-string", lambda a, i: "", "an empty string"),
    ("aud-missing", lambda a, i: DROP, "absent"),
    ("aud-null", lambda a, i: None, "null"),
    ("aud-int", lambda a, i: 1, "an integer"),
    ("aud-upper-case", lambda a, i: a.upper(), "ours in upper case"),
    ("aud-trailing-space", lambda a, i: a + " ", "ours with a trailing space"),
    ("aud-prefix", lambda a, i: a[:-1], "a prefix of ours"),
    ("aud-superstring", lambda a, i: a + "-staging", "ours with a suffix"),
    ("aud-issuer", lambda a, i: i, "our issuer (a refresh token's audience)"),
    ("aud-wildcard", lambda a, i: "*", "`*`"),
):

    def _aud(m: Material, make: Callable[[str, str], Any] = aud_make) -> str:
        return m.sign(m.claims(aud=make(m.audience, m.issuer)))

    attack(aud_id, "audience", f"`aud` {aud_title}, signed by our key", AUD_REF, AUD_DEF, _aud)

# =========================================================================== times

TIME_REF = "RFC 7519 §4.1.4-4.1.6; RFC 8725 §3.10"
TIME_DEF = (
    "`exp`, `iat` (and `nbf`) must be finite JSON numbers; "
    "checked against our clock with the configured leeway"
)
FAR_FUTURE = 4_102_444_800  # 2100-01-01
for time_id, time_changes, time_title in (
    ("time-expired", lambda m: {"iat": m.now() - 4000, "exp": m.now() - 3000}, "expired an hour ago"),
    (
        "time-expired-beyond-leeway",
        lambda m: {"exp": m.now() - m.leeway - 10},
        "expired 10 s beyond the leeway",
    ),
    ("time-nbf-future", lambda m: {"nbf": m.now() + 3000}, "`nbf` in an hour"),
    ("time-nbf-beyond-leeway", lambda m: {"nbf": m.now() + m.leeway + 10}, "`nbf` 10 s beyond the leeway"),
    ("time-iat-future", lambda m: {"iat": m.now() + 3000, "exp": m.now() + 3600}, "`iat` in an hour"),
    ("time-iat-far-future", lambda m: {"iat": FAR_FUTURE, "exp": FAR_FUTURE + 600}, "`iat` in 2100"),
    ("time-exp-missing", lambda m: {"exp": DROP}, "no `exp`"),
    ("time-iat-missing", lambda m: {"iat": DROP}, "no `iat`"),
    ("time-exp-string", lambda m: {"exp": str(m.now() + 600)}, "`exp` as a string"),
    ("time-exp-bool", lambda m: {"exp": True}, "`exp: true`"),
    ("time-exp-null", lambda m: {"exp": None}, "`exp: null`"),
    ("time-exp-list", lambda m: {"exp": [m.now() + 600]}, "`exp` as a list"),
    ("time-nbf-string", lambda m: {"nbf": str(m.now() - 10)}, "`nbf` as a string"),
    ("time-iat-string", lambda m: {"iat": str(m.now())}, "`iat` as a string"),
):

    def _times(m: Material, changes: Callable[[Material], dict[str, Any]] = time_changes) -> str:
        return m.sign(m.claims(**changes(m)))

    attack(time_id, "times", f"{time_title}, signed by our key", TIME_REF, TIME_DEF, _times)
for raw_id, raw_claims, raw_title in (
    ("time-exp-nan", {"exp": "NaN"}, "`exp: NaN` (a non-JSON literal Python accepts)"),
    ("time-exp-infinity", {"exp": "Infinity"}, "`exp: Infinity`"),
    ("time-iat-minus-infinity", {"iat": "-Infinity"}, "`iat: -Infinity`"),
    ("time-exp-1e400", {"exp": "1e400"}, "`exp: 1e400` (overflows to infinity)"),
):

    def _raw_time(m: Material, placeholders: dict[str, str] = raw_claims) -> str:
        return m.encode(m.header(), _raw_claims(m, placeholders))

    attack(
        raw_id, "times", f"{raw_title}, signed by our key", TIME_REF + "; RFC 8259 §6", TIME_DEF, _raw_time
    )

# =========================================================================== claim types

TYPE_REF = "RFC 7519 §4.1.2, §4.1.7; RFC 8725 §3.10 (do not trust received claims)"
TYPE_DEF = (
    "`sub` and `jti` must be non-empty strings, `sid`, `scope`, `client_id`, "
    "`origin_jti` strings, `cognito:groups` a list of strings"
)
for claim_id, claim_changes, claim_title in (
    ("sub-int", {"sub": 12345}, "`sub` an integer"),
    ("sub-list", {"sub": ["admin"]}, "`sub` a list"),
    ("sub-object", {"sub": {"id": "admin"}}, "`sub` an object"),
    ("sub-null", {"sub": None}, "`sub: null`"),
    ("sub-bool", {"sub": True}, "`sub: true`"),
    ("sub-empty", {"sub": ""}, "`sub` empty"),
    ("sub-missing", {"sub": DROP}, "no `sub`"),
    ("jti-int", {"jti": 1}, "`jti` an integer"),
    ("jti-list", {"jti": ["x"]}, "`jti` a list"),
    ("jti-empty", {"jti": ""}, "`jti` empty"),
    ("jti-missing", {"jti": DROP}, "no `jti` (it could never be revoked)"),
    ("sid-int", {"sid": 7}, "`sid` an integer"),
    ("sid-list", {"sid": ["a", "b"]}, "`sid` a list (escaping the session denylist key)"),
    ("scope-list", {"scope": ["admin"]}, "`scope` a list"),
    ("client-id-int", {"client_id": 1}, "`client_id` an integer"),
    ("origin-jti-int", {"origin_jti": 1}, "`origin_jti` an integer"),
    ("groups-string", {"cognito:groups": "admins"}, "`cognito:groups` a string"),
):

    def _claim_types(m: Material, changes: dict[str, Any] = claim_changes) -> str:
        return m.sign(m.claims(**changes))

    attack(claim_id, "claim types", f"{claim_title}, signed by our key", TYPE_REF, TYPE_DEF, _claim_types)

# =========================================================================== token-type confusion

CONFUSION_REF = "RFC 8725 §2.8, §3.11, §3.12; RFC 9068 §2.1, §4"
CONFUSION_DEF = (
    "access tokens need `typ: at+jwt`, our audience and no `token_use: "
    "refresh`; refresh tokens differ in all three"
)


def _refresh_token(m: Material) -> str:
    claims = m.fresh_claims()
    return m.refresh_token(claims["sid"], claims["sub"])


attack(
    "type-refresh-token",
    "token-type confusion",
    "our real refresh token used as an access token",
    CONFUSION_REF,
    CONFUSION_DEF,
    _refresh_token,
    legitimate_at={"refresh", "introspect-token"},
)
attack(
    "type-refresh-claims-access-typ",
    "token-type confusion",
    "refresh claims (`aud` = issuer, `token_use: refresh`) under `typ: at+jwt`",
    CONFUSION_REF,
    CONFUSION_DEF,
    lambda m: m.sign(m.claims(aud=m.issuer, token_use="refresh")),
)
attack(
    "type-access-token-use-refresh",
    "token-type confusion",
    "access claims plus `token_use: refresh`",
    CONFUSION_REF,
    CONFUSION_DEF,
    lambda m: m.sign(m.claims(token_use="refresh")),
)
attack(
    "type-access-claims-refresh-typ",
    "token-type confusion",
    "access claims under `typ: rt+jwt`",
    CONFUSION_REF,
    CONFUSION_DEF,
    lambda m: m.sign(typ="rt+jwt"),
)
attack(
    "type-typ-jwt",
    "token-type confusion",
    "`typ: JWT` (a generic JWT, e.g. an ID token)",
    CONFUSION_REF,
    CONFUSION_DEF,
    lambda m: m.sign(typ="JWT"),
)
attack(
    "type-typ-missing",
    "token-type confusion",
    "no `typ`",
    CONFUSION_REF,
    CONFUSION_DEF,
    lambda m: m.sign(typ=DROP),
)
attack(
    "type-typ-application-jwt",
    "token-type confusion",
    "`typ: application/jwt`",
    CONFUSION_REF,
    CONFUSION_DEF,
    lambda m: m.sign(typ="application/jwt"),
)
attack(
    "type-typ-near-miss",
    "token-type confusion",
    "`typ: at-jwt`",
    CONFUSION_REF,
    CONFUSION_DEF,
    lambda m: m.sign(typ="at-jwt"),
)
attack(
    "type-typ-list",
    "token-type confusion",
    '`typ: ["at+jwt"]`',
    CONFUSION_REF,
    CONFUSION_DEF,
    lambda m: m.sign(typ=["at+jwt"]),
)
COGNITO_DEF = (
    "a trusted pool's verifier checks its `token_use` (here only "
    "`access`) and app client (`client_id` of access tokens)"
)
attack(
    "type-cognito-id-token",
    "token-type confusion",
    "a Cognito ID token signed by the trusted pool's key, where only access tokens are trusted",
    CONFUSION_REF,
    COGNITO_DEF,
    lambda m: m.pool_token(
        m.pool_claims(
            token_use="id", aud=m.pool.client_id, client_id=DROP, scope=DROP, email="victim@example.com"
        )
    ),
)
attack(
    "type-cognito-id-token-with-client-id",
    "token-type confusion",
    "a pool-signed ID token that also names our app client in `client_id`",
    CONFUSION_REF,
    COGNITO_DEF,
    lambda m: m.pool_token(m.pool_claims(token_use="id", aud=m.pool.client_id)),
)
attack(
    "type-cognito-wrong-client",
    "token-type confusion",
    "a Cognito access token of another app client of the trusted pool",
    CONFUSION_REF,
    COGNITO_DEF,
    lambda m: m.pool_token(m.pool_claims(client_id="another-app-client")),
)
attack(
    "type-cognito-token-use-refresh",
    "token-type confusion",
    "a pool-signed token with `token_use: refresh`",
    CONFUSION_REF,
    COGNITO_DEF,
    lambda m: m.pool_token(m.pool_claims(token_use="refresh")),
)
attack(
    "type-cognito-at-jwt",
    "token-type confusion",
    "a pool-signed access token carrying our `typ: at+jwt`",
    CONFUSION_REF,
    COGNITO_DEF + "; Cognito sets no `typ`, so only none or `JWT` is accepted",
    lambda m: m.pool_token(typ="at+jwt"),
)

# =========================================================================== revocation

# Known vulnerabilities, if any, are VULN_* strings passed as `vulns=` (their tests are
# xfail(strict=True): fixing one turns its tests red until the marker is removed). None is open.
# Fixed: the revocation cache keyed by `jti` alone (now by issuer and `jti`), UTF-16 JSON parts,
# lone surrogates in claims and in request fields (a 500 at login).

REVOKE_REF = "RFC 7009 §2; README: the revocation delay"
REVOKE_DEF = (
    "one strongly consistent BatchGetItem on `jti#`, `sid#`, `user#` (not-before) "
    "and `origin#`; a revoked answer is cached until `exp`"
)
attack(
    "revoked-jti",
    "revocation",
    "a valid token whose `jti` is revoked",
    REVOKE_REF,
    REVOKE_DEF,
    _revoked("jti"),
)
attack(
    "revoked-jti-rotated",
    "revocation",
    "a valid token whose `jti` is marked rotated",
    REVOKE_REF,
    REVOKE_DEF,
    _revoked("rotated"),
)
attack(
    "revoked-sid",
    "revocation",
    "a valid token of a revoked session (logout)",
    REVOKE_REF,
    REVOKE_DEF,
    _revoked("sid"),
)
attack(
    "revoked-user",
    "revocation",
    "a valid token issued before its user was signed out everywhere",
    REVOKE_REF,
    REVOKE_DEF,
    _revoked("user"),
)
attack(
    "revoked-origin",
    "revocation",
    "a valid token naming a revoked Cognito login (`origin_jti`)",
    REVOKE_REF,
    REVOKE_DEF,
    _revoked("origin"),
)
attack(
    "revoked-pool-origin",
    "revocation",
    "a trusted pool's access token whose Cognito login is revoked",
    REVOKE_REF,
    REVOKE_DEF,
    _revoked_pool("origin"),
)
attack(
    "revoked-pool-user",
    "revocation",
    "a trusted pool's access token of a user signed out everywhere",
    REVOKE_REF,
    REVOKE_DEF,
    _revoked_pool("user"),
)


def _high_s_twin(m: Material) -> str:
    claims = m.fresh_claims()
    token = m.sign(claims)
    _revoke(m, "jti", claims)
    head, body, sig = _parts(token)
    raw = unb64(sig)
    twin = raw[:32] + (P256_ORDER - _int(raw[32:])).to_bytes(32, "big")
    return f"{head}.{body}.{b64(twin)}"


attack(
    "revoked-ecdsa-high-s-twin",
    "revocation",
    "the (r, n - s) twin of a revoked ES256 token: another valid signature of the same token",
    "ECDSA signature malleability; RFC 8725 §3.4; RFC 7009",
    REVOKE_DEF + " (by `jti`, not by token string, so malleated twins are revoked too)",
    _high_s_twin,
    key_types={"ES256"},
)


def _cross_issuer_cache(revoke: str) -> Forge:
    def forge(m: Material) -> Forged:
        claims = m.fresh_claims()
        _revoke(m, revoke, claims)
        # A token of another trusted issuer with the same `jti`, no `sid`, another `sub`.
        poison = m.pool_token(m.pool_claims(jti=claims["jti"]))
        return Forged(m.sign(claims), prelude=(poison,))

    return forge


attack(
    "revoked-cross-issuer-cache-sid",
    "revocation",
    "a token of a revoked session, right after a trusted pool's token with the same `jti` was accepted",
    REVOKE_REF + "; RFC 8725 §2.8 (cross-JWT confusion)",
    REVOKE_DEF,
    _cross_issuer_cache("sid"),
)
attack(
    "revoked-cross-issuer-cache-user",
    "revocation",
    "a token of a signed-out user, right after a trusted pool's token with the same `jti` was accepted",
    REVOKE_REF + "; RFC 8725 §2.8 (cross-JWT confusion)",
    REVOKE_DEF,
    _cross_issuer_cache("user"),
)

# =========================================================================== size, nesting, JSON parsing

SIZE_REF = "RFC 8725 §2.9; CWE-400, CWE-674"
SIZE_DEF = (
    "tokens longer than AUTH_MAX_TOKEN_BYTES are refused unread; JSON parse "
    "errors, RecursionError and oversized integers are malformed tokens"
)
JUNK = b"\x00" * 64


def _nested(head_raw: str | None, body_raw: str | None, *, ours: bool = False) -> Forge:
    def forge(m: Material) -> str:
        header: Any = m.header() if head_raw is None else _raw_header(m, head_raw)
        payload: Any = m.claims() if body_raw is None else body_raw.replace("@ISS@", m.issuer)
        return m.encode(header, payload, signature=None if ours else JUNK)

    return forge


DEEP_ARRAY = "[" * 2500 + "]" * 2500
DEEP_OBJECT = '{"":' * 1100 + "1" + "}" * 1100
attack(
    "size-just-over-limit",
    "size and parsing",
    "a token of ours exactly one byte over the limit",
    SIZE_REF,
    SIZE_DEF,
    just_over_limit,
)
attack(
    "size-60k",
    "size and parsing",
    "a 60 KB token of ours",
    SIZE_REF,
    SIZE_DEF,
    lambda m: m.sign(m.claims(pad="p" * 45_000)),
)
attack(
    "nest-header-array",
    "size and parsing",
    "header with an array nested 2500 deep",
    SIZE_REF,
    SIZE_DEF,
    _nested('{"alg":"@ALG@","kid":"@KID@","typ":"@TYP@","x":' + DEEP_ARRAY + "}", None),
)
attack(
    "nest-header-object",
    "size and parsing",
    "header with objects nested 1100 deep",
    SIZE_REF,
    SIZE_DEF,
    _nested('{"alg":"@ALG@","kid":"@KID@","typ":"@TYP@","x":' + DEEP_OBJECT + "}", None),
)
attack(
    "nest-payload-array",
    "size and parsing",
    "payload with an array nested 2500 deep (parsed before the signature: issuer routing)",
    SIZE_REF,
    SIZE_DEF,
    _nested(None, '{"iss":"@ISS@","x":' + DEEP_ARRAY + "}"),
)
attack(
    "nest-payload-object",
    "size and parsing",
    "payload with objects nested 1100 deep",
    SIZE_REF,
    SIZE_DEF,
    _nested(None, '{"iss":"@ISS@","x":' + DEEP_OBJECT + "}"),
)
attack(
    "nest-payload-array-our-key",
    "size and parsing",
    "payload with an array nested 2500 deep, signed by our key",
    SIZE_REF,
    SIZE_DEF,
    lambda m: m.encode(m.header(), compact_json(m.claims()).decode()[:-1] + ',"x":' + DEEP_ARRAY + "}"),
)
attack(
    "json-huge-integer",
    "size and parsing",
    "payload with a 4400-digit integer (quadratic int parsing)",
    "CVE-2020-10735; " + SIZE_REF,
    SIZE_DEF,
    _nested(None, '{"iss":"@ISS@","x":' + "9" * 4400 + "}"),
)
attack(
    "json-invalid-utf8",
    "size and parsing",
    "payload bytes that are not UTF-8",
    "RFC 8725 §3.7; RFC 7519 §7.2",
    SIZE_DEF,
    lambda m: m.encode(m.header(), b'{"iss":"\xff\xfe","sub":"\xc0\xaf"}', signature=JUNK),
)
attack(
    "json-header-not-object",
    "size and parsing",
    "header that is a JSON array",
    SHAPE_REF,
    SHAPE,
    lambda m: m.encode("[]", m.claims(), signature=JUNK),
)
attack(
    "json-payload-not-object",
    "size and parsing",
    "payload that is a JSON string, signed by our key",
    SHAPE_REF,
    SHAPE,
    lambda m: m.encode(m.header(), '"admin"'),
)
attack(
    "json-payload-array",
    "size and parsing",
    "payload that is a JSON array of claims objects, signed by our key",
    SHAPE_REF,
    SHAPE,
    lambda m: m.encode(m.header(), "[" + compact_json(m.claims()).decode() + "]"),
)


def _utf16(where: str) -> Forge:
    def forge(m: Material) -> str:
        header: Any = m.header()
        payload: Any = m.fresh_claims()  # a session of its own: the token may well be accepted
        if where == "header":
            header = json.dumps(header).encode("utf-16-le")
        else:
            payload = json.dumps(payload).encode("utf-16-le")
        return m.encode(header, payload)

    return forge


UTF8_REF = "RFC 8725 §3.7 (use UTF-8; MUST NOT admit other encodings), §2.6; RFC 7519 §7.2"
attack(
    "json-payload-utf16",
    "size and parsing",
    "claims encoded as UTF-16, signed by our key",
    UTF8_REF,
    "JSON parts must be UTF-8",
    _utf16("payload"),
)
attack(
    "json-header-utf16",
    "size and parsing",
    "header encoded as UTF-16, signed by our key",
    UTF8_REF,
    "JSON parts must be UTF-8",
    _utf16("header"),
)
attack(
    "json-lone-surrogate-sub",
    "size and parsing",
    "`sub` holding a lone UTF-16 surrogate escape (`\\ud800`, not representable in UTF-8), signed by our key",
    UTF8_REF + "; RFC 8259 §8.2",
    "claims must be valid Unicode; refused, never an unhandled error",
    lambda m: m.encode(
        m.header(), compact_json(m.fresh_claims()).decode().replace('"sub":"', '"sub":"\\ud800', 1)
    ),
)


# --------------------------------------------------------------------------- request bodies


@dataclass(frozen=True)
class BodyAttack:
    """A malicious request body, sent to every issuing endpoint (tests/security/test_http_attacks.py)."""

    id: str
    title: str
    reference: str
    defence: str
    content_type: str
    body: Callable[[int], bytes] = field(repr=False, compare=False)  # given AUTH_MAX_BODY_BYTES
    expect: frozenset[int] = frozenset({400, 413})
    vulns: Mapping[str, str] = field(default_factory=dict, compare=False)  # endpoint -> what goes wrong


BODY_REF = "CWE-400, CWE-674; README: errors"
BODY_ATTACKS: list[BodyAttack] = [
    BodyAttack(
        "body-just-over-limit",
        "a JSON body one byte over AUTH_MAX_BODY_BYTES",
        BODY_REF,
        "413 before the body is decoded",
        "application/json",
        lambda limit: (b'{"token":"' + b"a" * limit)[: limit - 1] + b'"}',
        frozenset({413}),
    ),
    BodyAttack(
        "body-form-just-over-limit",
        "a form body one byte over AUTH_MAX_BODY_BYTES",
        BODY_REF,
        "413 before the body is decoded",
        "application/x-www-form-urlencoded",
        lambda limit: (b"token=" + b"a" * limit)[: limit + 1],
        frozenset({413}),
    ),
    BodyAttack(
        "body-nested-array",
        "a JSON array nested 5000 deep",
        BODY_REF,
        "RecursionError is a malformed body: 400",
        "application/json",
        lambda limit: b"[" * 5000 + b"]" * 5000,
        frozenset({400}),
    ),
    BodyAttack(
        "body-nested-object",
        "JSON objects nested 2700 deep",
        BODY_REF,
        "RecursionError is a malformed body: 400",
        "application/json",
        lambda limit: b'{"a":' * 2700 + b"1" + b"}" * 2700,
        frozenset({400}),
    ),
    BodyAttack(
        "body-nested-in-field",
        "every field we read holding a 3000-deep array",
        BODY_REF,
        "RecursionError is a malformed body: 400",
        "application/json",
        lambda limit: b'{"token":' + b"[" * 3000 + b"]" * 3000 + b"}",
        frozenset({400}),
    ),
    BodyAttack(
        "body-huge-integer",
        "a JSON body with a 5000-digit integer",
        "CVE-2020-10735; " + BODY_REF,
        "an integer over Python's digit limit is a malformed body: 400",
        "application/json",
        lambda limit: b'{"token":' + b"9" * 5000 + b"}",
        frozenset({400}),
    ),
    BodyAttack(
        "body-invalid-utf8",
        "a JSON body that is not UTF-8",
        "RFC 8259 §8.1; " + BODY_REF,
        "400 `request body is not UTF-8`",
        "application/json",
        lambda limit: b'{"username":"\xff\xfe","password":"\xc0\xaf","token":"\xff","refresh_token":"\xff"}',
        frozenset({400}),
    ),
    BodyAttack(
        "body-lone-surrogate",
        "JSON string fields holding a lone surrogate escape (`\\ud800`)",
        "RFC 8259 §8.2; " + BODY_REF,
        "a 4xx like any other bad credential, never a 5xx",
        "application/json",
        lambda limit: (
            b'{"username":"sec-nobody","password":"\\ud800","token":"\\ud800","refresh_token":"\\ud800"}'
        ),
        frozenset({200, 204, 400, 401}),
    ),
]
GATEWAY_LIMIT = 10 * 1024 * 1024  # API Gateway HTTP API payload quota, as `serve` enforces it

# The HTTP endpoints that read a body, and what a request needs to reach its body parser.
ENDPOINTS = ("login", "refresh", "logout", "revoke", "introspect", "token")


# --------------------------------------------------------------------------- attack ideas

# Most cases are variants of one idea (HMAC keyed with our public key in 22 byte forms and 3 hash
# sizes is one idea, 66 cases). Each case belongs to exactly one idea, by its id
# (test_catalogue.py checks it); `python -m tests.security.catalogue --summary` counts them.
IDEAS: tuple[tuple[str, str, str], ...] = (
    # (idea, what it tries, the ids it covers: a regular expression matched in full)
    ("alg-none", "`alg: none` in any spelling, with or without a signature", r"alg-(none|None|NONE|nOnE)-.*"),
    (
        "alg-misspelled",
        "our algorithm misspelled, absent, null or in a list",
        r"alg-(empty|null|missing|list|lowercase|uppercase|trailing-.*)",
    ),
    ("hmac-public-key", "HMAC keyed with our public key, in any byte form", r"hmac-.*"),
    ("alg-switch", "another algorithm under our `kid`", r"alg-switch-.*"),
    ("attacker-key", "an attacker's key, with our `kid` or its own", r"attacker-key-.*"),
    ("bit-flip", "one bit flipped in a part", r"tamper-(header|payload|signature)-bit-.*"),
    ("re-serialized", "the same JSON, other bytes, old signature", r"tamper-(header|payload)-reencoded"),
    ("claims-changed", "claims escalated under the old signature", r"tamper-payload-(scope|sub|exp)"),
    (
        "signature-bytes",
        "the signature truncated, extended, zeroed or transplanted",
        r"tamper-signature-(truncated|extended|zeroed|transplant)",
    ),
    (
        "part-count",
        "not three non-empty parts",
        r"shape-(two-parts|four-parts|trailing-dot|empty-parts|garbage)",
    ),
    (
        "no-credential",
        "an empty Bearer credential, or one with a space inside",
        r"shape-(empty|internal-space)",
    ),
    (
        "non-canonical-base64",
        "base64 other than unpadded base64url, signed over those bytes",
        r"shape-(standard|padded)-base64",
    ),
    (
        "ecdsa-out-of-range",
        "ECDSA r or s zero or the curve order (psychic signatures)",
        r"ecdsa-(r0-s0|r-s-order|r0|s0|r-order)",
    ),
    ("ecdsa-encoding", "an ECDSA signature DER-encoded or of another length", r"ecdsa-(der|length-.*)"),
    ("eddsa-malformed", "an Ed25519 signature blank, non-canonical or of another length", r"eddsa-.*"),
    (
        "rsa-malformed",
        "an RSA signature out of range, or of another length",
        r"rsa-(zero|one|modulus|modulus-minus-one|leading-zero|short)",
    ),
    ("rsa-other-hash", "an RS512 signature under `alg: RS256`", r"rsa-sha512-under-rs256"),
    ("key-url-header", "`jku` or `x5u` pointing at the attacker's keys", r"(jku|x5u)-.*"),
    ("x5c-header", "an attacker's certificate in `x5c`", r"x5c-.*"),
    ("thumbprint-header", "`x5t` or `x5t#S256`", r"x5t-.*"),
    ("embedded-jwk", "a key embedded in the header (`jwk`)", r"jwk-.*"),
    ("kid-injection-hmac", "a `kid` built to inject a path, query or command, with HMAC", r"kid-.*-hmac"),
    (
        "kid-near-miss",
        "our `kid` misspelled, of another type, absent or injected, signed by our key",
        r"kid-(?!.*-hmac$).*",
    ),
    ("crit", "`crit` naming extensions, absent ones, registered names, or empty", r"crit-.*"),
    ("b64-false", "an unencoded payload (RFC 7797 `b64: false`)", r"b64-false-.*"),
    ("cty", "`cty` (nested tokens)", r"cty-.*"),
    (
        "jwe",
        "a JWE (encrypted token) instead of a JWS",
        r"jwe-(to-our-public-key|header-three-parts|dir-our-kid)",
    ),
    ("pbes2", "PBES2 parameters (billion hashes)", r"(jwe|jws)-pbes2-.*"),
    ("json-serialization", "the JWS JSON serialization, or a JSON/compact polyglot", r"jws-json-.*"),
    ("duplicate-header-member", "a header member given twice", r"dup-header-.*"),
    ("duplicate-claim", "a claim given twice", r"dup-payload-appended"),
    (
        "duplicate-iss-routing",
        "`iss` twice, to route by one and verify by the other",
        r"dup-payload-iss-routing",
    ),
    (
        "issuer-near-miss",
        "an `iss` that is almost ours, or not a string",
        r"iss-(?!trusted-pool-our-key$|ours-pool-key$).*",
    ),
    (
        "cross-issuer-key",
        "one trusted issuer's `iss` with another's key",
        r"iss-(trusted-pool-our-key|ours-pool-key)",
    ),
    ("audience-mismatch", "an `aud` that is not ours, almost ours, or not a string", r"aud-.*"),
    ("expired", "`exp` passed", r"time-expired.*"),
    (
        "not-yet-valid",
        "`nbf` or `iat` in the future",
        r"time-(nbf-future|nbf-beyond-leeway|iat-future|iat-far-future)",
    ),
    (
        "time-claim-types",
        "`exp`, `iat`, `nbf` missing or not a finite number",
        r"time-(exp|iat|nbf)-(missing|string|bool|null|list|nan|infinity|minus-infinity|1e400)",
    ),
    (
        "claim-types",
        "`sub`, `jti`, `sid`, `scope`... of the wrong type, empty or missing",
        r"(sub|jti|sid|scope|client-id|origin-jti|groups)-.*",
    ),
    (
        "access-refresh-swap",
        "an access token as a refresh token, or the reverse, or a mix",
        r"type-(refresh-token|refresh-claims-access-typ|access-token-use-refresh|access-claims-refresh-typ)",
    ),
    ("typ-spelling", "`typ` of another kind of token, absent, near or a list", r"type-typ-.*"),
    (
        "cognito-token-kind",
        "a Cognito ID or refresh token where access tokens are trusted",
        r"type-cognito-(id-token.*|token-use-refresh)",
    ),
    ("cognito-wrong-client", "a Cognito access token of another app client", r"type-cognito-wrong-client"),
    ("cognito-typ", "a Cognito token with our `typ`", r"type-cognito-at-jwt"),
    ("revoked-jti", "a token revoked by `jti`, or a refresh token already used", r"revoked-jti.*"),
    ("revoked-session", "a token of a revoked session", r"revoked-sid"),
    ("revoked-user", "a token issued before its user was signed out everywhere", r"revoked-(pool-)?user"),
    ("revoked-login", "a token of a revoked Cognito login", r"revoked-(pool-)?origin"),
    (
        "revoked-malleated-twin",
        "another valid signature of a revoked token (ECDSA high s)",
        r"revoked-ecdsa-high-s-twin",
    ),
    (
        "revocation-cache-cross-issuer",
        "a revoked token right after another issuer's token with its `jti`",
        r"revoked-cross-issuer-cache-.*",
    ),
    ("oversized", "a token over the size limit", r"size-.*"),
    ("deep-nesting", "JSON nested thousands deep", r"nest-.*"),
    ("huge-integer", "a 4400-digit integer (quadratic parsing)", r"json-huge-integer"),
    ("not-utf8", "header or payload not UTF-8", r"json-(invalid-utf8|payload-utf16|header-utf16)"),
    (
        "not-json-object",
        "header or payload a JSON value other than an object",
        r"json-(header-not-object|payload-not-object|payload-array)",
    ),
    ("lone-surrogate", "a claim holding a lone surrogate", r"json-lone-surrogate-sub"),
)
BODY_IDEAS: tuple[tuple[str, str, str], ...] = (
    ("body-over-limit", "a request body over AUTH_MAX_BODY_BYTES", r"body-(form-)?just-over-limit"),
    ("body-deep-nesting", "a request body nested thousands deep", r"body-nested-.*"),
    ("body-huge-integer", "a request body with a 5000-digit integer", r"body-huge-integer"),
    ("body-not-utf8", "a request body that is not UTF-8", r"body-invalid-utf8"),
    ("body-lone-surrogate", "request fields holding a lone surrogate", r"body-lone-surrogate"),
)


def ideas_of(ids: Iterable[str], table: tuple[tuple[str, str, str], ...] = IDEAS) -> dict[str, list[str]]:
    """Case ids by idea; an id matching no idea, or several, is an error."""
    found: dict[str, list[str]] = {idea: [] for idea, _, _ in table}
    for case_id in ids:
        matches = [idea for idea, _, pattern in table if re.fullmatch(pattern, case_id)]
        if len(matches) != 1:
            raise ValueError(f"case {case_id!r} matches {len(matches)} ideas: {matches}")
        found[matches[0]].append(case_id)
    return found


# Refresh-shaped twins: every case forged from our claims and header is also forged as a refresh
# token (`Material.as_refresh_tokens`) and sent to the refresh endpoint. Not these: the token-type
# group (it is about swapping the two kinds already), tokens the shape does not change (constant
# strings, another issuer's tokens, 5-part JWEs), and `aud-issuer`, which a refresh token must have.
NO_TWIN_GROUPS = frozenset({"token-type confusion"})
NO_TWIN_CASES = frozenset(
    {
        "shape-empty-parts", "shape-garbage", "shape-empty", "aud-issuer", "iss-trusted-pool-our-key",
        "revoked-pool-origin", "revoked-pool-user", "jwe-to-our-public-key", "jwe-dir-our-kid",
        "jwe-pbes2-billion-hashes", "json-header-not-object",
    }
)  # fmt: skip


def has_refresh_twin(case: Attack) -> bool:
    return case.group not in NO_TWIN_GROUPS and case.id not in NO_TWIN_CASES


# --------------------------------------------------------------------------- the README table


def applicable(key_type: str) -> list[Attack]:
    return [case for case in CATALOGUE if key_type in case.key_types]


def _vulnerable(vulns: Mapping[str, str], defence: str) -> str:
    if not vulns:
        return defence
    by_reason: dict[str, list[str]] = {}
    for target, reason in vulns.items():
        by_reason.setdefault(reason, []).append(target)
    found = "; ".join(f"({', '.join(targets)}) {reason}" for reason, targets in by_reason.items())
    return f"**VULNERABLE** {found}. Meant: {defence}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table() -> str:
    lines = ["| id | attack | reference | what we do |", "|---|---|---|---|"]
    for case in CATALOGUE:
        types = "" if case.key_types == ALL else f" ({', '.join(sorted(case.key_types))} keys)"
        what = _vulnerable(case.vulns, case.defence)
        lines.append(
            f"| `{case.id}` | {_cell(case.title)}{types} | {_cell(case.reference)} | {_cell(what)} |"
        )
    for body in BODY_ATTACKS:
        what = _vulnerable(body.vulns, body.defence)
        lines.append(
            f"| `{body.id}` | request body: {_cell(body.title)} | {_cell(body.reference)} | {_cell(what)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--summary"]:
        from tests.security.summary import main

        main()
    else:
        print(render_table(), end="")
