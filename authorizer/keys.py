"""Trusted public keys, built once per key set: each `kid` pinned to exactly one algorithm.

The algorithm a token may use is decided here, from the key's type and curve (and its `alg` if
the JWK states one); the token header only has to agree with it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jwt import PyJWK
from jwt.exceptions import PyJWTError

from authorizer.errors import ConfigurationError, KidNotFoundError

#: The only algorithms we accept: asymmetric, one per key family.
SUPPORTED_ALGORITHMS = ("RS256", "ES256", "EdDSA")
MIN_RSA_BITS = 2048

# RFC 7638 §3.2: the members that make up each key type's thumbprint, in lexicographic order.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def algorithm_for_jwk(jwk: Mapping[str, Any]) -> str:
    """The one algorithm a public JWK may verify, from its key type and curve."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "RSA":
        alg = "RS256"
    elif kty == "EC" and crv == "P-256":
        alg = "ES256"
    elif kty == "OKP" and crv == "Ed25519":
        alg = "EdDSA"
    else:
        raise ValueError(f"unsupported key type {kty!r}{f' on curve {crv!r}' if crv else ''}")
    stated = jwk.get("alg")
    if stated is not None and stated != alg:
        raise ValueError(f"JWK alg {stated!r} does not fit a {kty} key (expected {alg})")
    return alg


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 JWK thumbprint, base64url without padding: our `kid`."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise ValueError(f"no thumbprint defined for key type {jwk.get('kty')!r}")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    alg: str
    key: Any  # a `cryptography` public key object, built once


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
        return tuple(sorted({key.alg for key in self._by_kid.values()}))

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
            except (ValueError, TypeError, PyJWTError) as exc:
                raise ConfigurationError(f"JWKS key #{index}: {exc}") from None
        if not keys:
            raise ConfigurationError("JWKS holds no keys")
        if len({key.kid for key in keys}) != len(keys):
            raise ConfigurationError("JWKS holds two keys with the same kid")
        return cls(keys)


def verification_key(jwk: Any) -> VerificationKey:
    """A public signing JWK pinned to its algorithm; ValueError, TypeError or PyJWTError if unusable."""
    if not isinstance(jwk, Mapping):
        raise ValueError("not a JSON object")
    if jwk.get("use", "sig") != "sig":
        raise ValueError(f"use is {jwk.get('use')!r}, not 'sig'")
    if any(private in jwk for private in ("d", "p", "q", "dp", "dq", "qi")):
        raise ValueError("holds private key material; publish public keys only")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ValueError("kid is missing")
    alg = algorithm_for_jwk(jwk)
    key = PyJWK(dict(jwk), algorithm=alg).key
    if alg == "RS256" and key.key_size < MIN_RSA_BITS:
        raise ValueError(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are required")
    return VerificationKey(kid=kid, alg=alg, key=key)
