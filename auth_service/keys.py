"""Signing keys: generate, load from PEM, and publish as a JWKS.

A key bundle is one or more PEM blocks. The first must be a private key: it signs. Any further
blocks (private or public) are retired keys that still verify, so rotation logs nobody out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from authorizer.errors import ConfigurationError
from authorizer.keys import MIN_RSA_BITS, SUPPORTED_ALGORITHMS, KeySet, jwk_thumbprint

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    private_key: PrivateKey | None  # None for a retired key kept only to verify


@dataclass(frozen=True)
class KeyRing:
    current: SigningKey
    keys: tuple[SigningKey, ...]  # current first, then retired keys

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(key.public_jwk) for key in self.keys]}

    def key_set(self) -> KeySet:
        return KeySet.from_jwks(self.jwks())


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
