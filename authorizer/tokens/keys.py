"""Trusted public keys, built once per key set: each `kid` pinned to exactly one algorithm.

The algorithm a token may use is decided here, from the key's type and curve (and its `alg` if
the JWK states one); the token header only has to agree with it. One algorithm may have two
names: RFC 9864's fully specified `Ed25519` is what `EdDSA` means for an Ed25519 key. Keys are
built straight from their JWK members with `cryptography` (no JOSE library), and each comes with
its signature check ready to call: padding, hash and curve objects are made once per key set,
never per token. Whatever a key needs checking once (its size, `use`/`key_ops`, the ROCA
fingerprint) is checked here, when the key set is built.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256

from authorizer.errors import ConfigurationError, KidNotFoundError
from authorizer.tokens.roca import has_roca_fingerprint

#: The algorithms we sign with and accept: asymmetric, one per key family.
SUPPORTED_ALGORITHMS = ("RS256", "ES256", "EdDSA")
#: Every `alg` a token may name: also `Ed25519`, RFC 9864's name for EdDSA with an Ed25519 key.
ACCEPTED_ALGORITHMS = (*SUPPORTED_ALGORITHMS, "Ed25519")
MIN_RSA_BITS = 2048

# RFC 7638 §3.2: the members that make up each key type's thumbprint, in lexicographic order.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def algorithm_for_jwk(jwk: Mapping[str, Any]) -> str:
    """The one algorithm a public JWK may verify, under the name its `alg` gives (or our name)."""
    return algorithms_for_jwk(jwk)[0]


def algorithms_for_jwk(jwk: Mapping[str, Any]) -> tuple[str, ...]:
    """The `alg` values a token checked with this public JWK may name: one algorithm, by name.

    A JWK that states its `alg` accepts exactly that name: the key's publisher said how it signs.
    Without `alg`, the key type and curve decide the one algorithm; for an Ed25519 key both of its
    names (`EdDSA`, RFC 8037; `Ed25519`, RFC 9864) are accepted, since no other algorithm fits
    that key. An RSA key without `alg` is RS256 only (PS256, RS384... are other algorithms).
    """
    kty, crv = jwk.get("kty"), jwk.get("crv")
    names: tuple[str, ...]
    if kty == "RSA":
        names = ("RS256",)
    elif kty == "EC" and crv == "P-256":
        names = ("ES256",)
    elif kty == "OKP" and crv == "Ed25519":
        names = ("EdDSA", "Ed25519")
    else:
        raise ValueError(f"unsupported key type {kty!r}{f' on curve {crv!r}' if crv else ''}")
    stated = jwk.get("alg")
    if stated is None:
        return names
    if stated not in names:
        raise ValueError(f"JWK alg {stated!r} does not fit a {kty} key (expected {' or '.join(names)})")
    return (stated,)


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 JWK thumbprint, base64url without padding: our `kid`."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise ValueError(f"no thumbprint defined for key type {jwk.get('kty')!r}")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


SignatureCheck = Callable[[bytes, bytes], bool]  # (signing input, signature) -> valid?

# RFC 7518 §3.4: an ES256 signature is R || S, 32 bytes each, both in [1, n-1].
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_JWK_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    alg: str
    key: Any  # a `cryptography` public key object, built once
    # Every header `alg` this key verifies: the names of its one algorithm, `alg` first.
    algorithms: tuple[str, ...]
    # The signature check for `alg` with this key, bound once (see `signature_check`).
    verify_signature: SignatureCheck = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "verify_signature", signature_check(self.alg, self.key))


def signature_check(alg: str, key: Any) -> SignatureCheck:
    """`check(signing_input, signature)`: True only for a valid `alg` signature by `key`."""
    if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
        return _rs256(key)
    if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return _es256(key)
    if alg in ("EdDSA", "Ed25519") and isinstance(key, ed25519.Ed25519PublicKey):
        return _eddsa(key)
    raise ValueError(f"a {type(key).__name__} cannot verify {alg}")


def _rs256(key: rsa.RSAPublicKey) -> SignatureCheck:
    verify, pkcs1, sha256 = key.verify, padding.PKCS1v15(), SHA256()
    size = (key.key_size + 7) // 8

    def check(data: bytes, signature: bytes) -> bool:
        if len(signature) != size:  # RFC 8017 §8.2.2: exactly the modulus length
            return False
        try:
            verify(signature, data, pkcs1, sha256)
        except (InvalidSignature, ValueError):
            return False
        return True

    return check


def _es256(key: ec.EllipticCurvePublicKey) -> SignatureCheck:
    verify = key.verify
    from_bytes = int.from_bytes
    # `ec.ECDSA()` imports cryptography's OpenSSL backend module (~5 ms): made at the first ES256
    # signature checked, so a cold start whose key set merely lists a P-256 key does not pay it.
    algorithm: list[ec.ECDSA] = []

    def check(data: bytes, signature: bytes) -> bool:
        if len(signature) != 64:  # raw R || S; DER or other widths are refused
            return False
        r, s = from_bytes(signature[:32], "big"), from_bytes(signature[32:], "big")
        if not (0 < r < P256_ORDER and 0 < s < P256_ORDER):
            return False
        if not algorithm:
            algorithm.append(ec.ECDSA(SHA256()))
        try:
            verify(encode_dss_signature(r, s), data, algorithm[0])
        except (InvalidSignature, ValueError):
            return False
        return True

    return check


def _eddsa(key: ed25519.Ed25519PublicKey) -> SignatureCheck:
    verify = key.verify

    def check(data: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True

    return check


class KeySet:
    """The keys one issuer signs with, looked up by `kid`."""

    def __init__(self, keys: Iterable[VerificationKey]) -> None:
        self._by_kid = {key.kid: key for key in keys}

    def __len__(self) -> int:
        return len(self._by_kid)

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._by_kid)

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(sorted({alg for key in self._by_kid.values() for alg in key.algorithms}))

    def get(self, kid: str) -> VerificationKey:
        try:
            return self._by_kid[kid]
        except KeyError:
            raise KidNotFoundError("token kid is not in the trusted key set") from None

    @classmethod
    def from_jwks(cls, jwks: Any) -> KeySet:
        """Build from a JWKS document; any unusable key is a configuration error."""
        if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
            raise ConfigurationError('JWKS must be a JSON object with a "keys" list')
        keys = []
        for index, jwk in enumerate(jwks["keys"]):
            try:
                keys.append(verification_key(jwk))
            except (ValueError, TypeError) as exc:
                raise ConfigurationError(f"JWKS key #{index}: {exc}") from None
        if not keys:
            raise ConfigurationError("JWKS holds no keys")
        if len({key.kid for key in keys}) != len(keys):
            raise ConfigurationError("JWKS holds two keys with the same kid")
        return cls(keys)


def verification_key(jwk: Any) -> VerificationKey:
    """A public signing JWK pinned to its algorithm; ValueError or TypeError if unusable."""
    if not isinstance(jwk, Mapping):
        raise ValueError("not a JSON object")
    if jwk.get("use", "sig") != "sig":
        raise ValueError(f"use is {jwk.get('use')!r}, not 'sig'")
    if any(private in jwk for private in ("d", "p", "q", "dp", "dq", "qi")):
        raise ValueError("holds private key material; publish public keys only")
    _check_key_ops(jwk)
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ValueError("kid is missing")
    algorithms = algorithms_for_jwk(jwk)
    alg = algorithms[0]
    return VerificationKey(kid=kid, alg=alg, key=public_key(jwk, alg), algorithms=algorithms)


def _check_key_ops(jwk: Mapping[str, Any]) -> None:
    # RFC 7517 §4.3: when present, `key_ops` says what the key is for (distinct values); a key
    # that is not for "verify" verifies nothing, as a `use: enc` key does not.
    if "key_ops" not in jwk:
        return
    ops = jwk["key_ops"]
    if not isinstance(ops, list) or not all(isinstance(op, str) for op in ops) or len(set(ops)) != len(ops):
        raise ValueError("key_ops must be a list of distinct strings")
    if "verify" not in ops:
        raise ValueError(f"key_ops {ops!r} does not include 'verify'")


def public_key(jwk: Mapping[str, Any], alg: str) -> Any:
    """The `cryptography` public key of a JWK whose algorithm `algorithm_for_jwk` decided."""
    if alg == "RS256":
        n, e = _jwk_uint(jwk, "n"), _jwk_uint(jwk, "e")
        # RSAPublicNumbers checks the numbers (odd e >= 3, e < n, n odd...) itself.
        key = rsa.RSAPublicNumbers(e, n).public_key()
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are required")
        if has_roca_fingerprint(n):
            raise ValueError("RSA key has the ROCA weakness (CVE-2017-15361): it can be factored")
        return key
    if alg == "ES256":
        x, y = _jwk_bytes(jwk, "x", 32), _jwk_bytes(jwk, "y", 32)
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        )
        return numbers.public_key()  # ValueError unless (x, y) is a point of P-256
    return ed25519.Ed25519PublicKey.from_public_bytes(_jwk_bytes(jwk, "x", 32))


def _jwk_bytes(jwk: Mapping[str, Any], name: str, length: int | None = None) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or not value or not _JWK_BASE64URL.fullmatch(value):
        raise ValueError(f"{name!r} is missing or not base64url")
    try:
        data = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"{name!r} is not base64url") from None
    if length is not None and len(data) != length:
        raise ValueError(f"{name!r} must be {length} bytes, not {len(data)}")
    return data


def _jwk_uint(jwk: Mapping[str, Any], name: str) -> int:
    value = int.from_bytes(_jwk_bytes(jwk, name), "big")
    if value <= 0:
        raise ValueError(f"{name!r} must be a positive integer")
    return value
