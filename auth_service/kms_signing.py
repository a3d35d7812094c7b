"""Tokens signed by an asymmetric AWS KMS key: the private key never leaves KMS.

PyJWT builds the token (header, payload, compact serialization) through its public `PyJWS`
API; the one step it cannot do, the signature, is a `kms:Sign` call, plugged in as a PyJWT
`Algorithm` whose "key" is the KMS key. RS256 is RSASSA_PKCS1_V1_5_SHA_256 on an RSA_2048 key
(what API Gateway's built-in JWT authorizer accepts too); ES256 is ECDSA_SHA_256 on an
ECC_NIST_P256 key, whose DER signature is turned into JWS's fixed-size r || s (RFC 7518 §3.4).

Up to 4096 bytes KMS signs the message itself (`MessageType=RAW`); a longer signing input is
hashed here and sent as a `DIGEST`, as KMS documents. Every signature is checked with the key's
public key before the token leaves: a key or alias that no longer matches the published key
(repointed, replaced) is an error, never a token no verifier accepts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from jwt.algorithms import Algorithm, ECAlgorithm, RSAAlgorithm
from jwt.api_jws import PyJWS

from authorizer.errors import UnavailableError

logger = logging.getLogger("lambda_jwt_auth.keys")

# What each of our algorithms is in KMS: the key spec to create and the signing algorithm.
KEY_SPECS = {"RS256": "RSA_2048", "ES256": "ECC_NIST_P256"}
SIGNING_ALGORITHMS = {"RS256": "RSASSA_PKCS1_V1_5_SHA_256", "ES256": "ECDSA_SHA_256"}
MAX_RAW_MESSAGE_BYTES = 4096  # KMS Sign: a longer message must be sent as its digest
_P256_BYTES = 32


class KmsSigningError(UnavailableError):
    """KMS did not sign, or signed with a key other than the one we publish. No token is issued:
    the client gets a 503 to retry, the log says which key and why."""

    def __init__(self, detail: str) -> None:
        logger.error("KMS signing failed: %s", detail)
        super().__init__("the signing key is unavailable; retry shortly")
        self.detail = detail


@dataclass(frozen=True)
class KmsKey:
    """One KMS signing key, as the key set names it, and the public key we publish for it."""

    key_id: str  # a key id, key ARN, alias name or alias ARN
    alg: str  # RS256 or ES256
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey = field(repr=False)
    client: Any = field(repr=False, compare=False)  # a boto3 KMS client

    def sign(self, message: bytes) -> bytes:
        """The JWS signature of `message` (RFC 7518 §3.3/§3.4), checked before it is returned."""
        if len(message) <= MAX_RAW_MESSAGE_BYTES:
            request = {"Message": message, "MessageType": "RAW"}
        else:
            request = {"Message": hashlib.sha256(message).digest(), "MessageType": "DIGEST"}
        try:
            answer = self.client.sign(
                KeyId=self.key_id, SigningAlgorithm=SIGNING_ALGORITHMS[self.alg], **request
            )
        except Exception as exc:  # an SDK failure: the caller answers 503, the log says which key
            raise KmsSigningError(f"kms:Sign with {self.key_id} failed: {type(exc).__name__}") from None
        signature = bytes(answer["Signature"])
        if self.alg == "ES256":
            signature = _der_to_jws(signature)
        if not self.verifies(message, signature):
            raise KmsSigningError(
                f"{self.key_id} signed with a key other than the published one (kid mismatch): "
                "was the key or its alias replaced? Run `auth-service keys status`"
            )
        return signature

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            if isinstance(self.public_key, rsa.RSAPublicKey):
                self.public_key.verify(signature, message, padding.PKCS1v15(), SHA256())
            else:
                if len(signature) != 2 * _P256_BYTES:
                    return False
                r = int.from_bytes(signature[:_P256_BYTES], "big")
                s = int.from_bytes(signature[_P256_BYTES:], "big")
                self.public_key.verify(encode_dss_signature(r, s), message, ec.ECDSA(SHA256()))
        except InvalidSignature:
            return False
        return True

    def public_jwk(self) -> dict[str, Any]:
        if isinstance(self.public_key, rsa.RSAPublicKey):
            return RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        return ECAlgorithm.to_jwk(self.public_key, as_dict=True)


def _der_to_jws(der: bytes) -> bytes:
    try:
        r, s = decode_dss_signature(der)
    except ValueError:
        raise KmsSigningError("KMS answered an ECDSA signature that is not DER") from None
    if r >= 1 << (8 * _P256_BYTES) or s >= 1 << (8 * _P256_BYTES):
        raise KmsSigningError("KMS answered an ECDSA signature too large for P-256")
    return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")


class _KmsAlgorithm(Algorithm):
    """A PyJWT algorithm whose key is a `KmsKey`: it can sign, and nothing else."""

    def __init__(self, alg: str) -> None:
        self._alg = alg

    def prepare_key(self, key: Any) -> KmsKey:
        if not isinstance(key, KmsKey) or key.alg != self._alg:
            raise TypeError(f"a KMS {self._alg} key is needed")
        return key

    def sign(self, msg: bytes, key: Any) -> bytes:
        return self.prepare_key(key).sign(msg)

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        return self.prepare_key(key).verifies(msg, sig)

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:
        raise NotImplementedError("a KMS key's public JWK comes from KmsKey.public_jwk")

    @staticmethod
    def from_jwk(jwk: str | dict[str, Any]) -> Any:
        raise NotImplementedError("KMS keys are never built from a JWK")


_JWS = PyJWS(algorithms=[])
for _alg in KEY_SPECS:
    _JWS.register_algorithm(_alg, _KmsAlgorithm(_alg))


def sign_jwt(key: KmsKey, claims: dict[str, Any], headers: dict[str, Any]) -> str:
    """A compact JWS of `claims`, serialized as PyJWT's `jwt.encode` does, signed in KMS."""
    payload = json.dumps(claims, separators=(",", ":")).encode("utf-8")
    return _JWS.encode(payload, key, algorithm=key.alg, headers=headers)  # type: ignore[arg-type]


def public_key_of(client: Any, key_id: str) -> tuple[str, rsa.RSAPublicKey | ec.EllipticCurvePublicKey]:
    """The algorithm and public key of a KMS key (GetPublicKey), refusing any key we cannot use."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    answer = client.get_public_key(KeyId=key_id)
    spec, usage = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec"), answer.get("KeyUsage")
    alg = next((name for name, key_spec in KEY_SPECS.items() if key_spec == spec), None)
    if alg is None or usage != "SIGN_VERIFY":
        raise ValueError(
            f"KMS key {key_id} is {spec} for {usage}: use RSA_2048 (RS256) or ECC_NIST_P256 (ES256) "
            "with KeyUsage SIGN_VERIFY"
        )
    if SIGNING_ALGORITHMS[alg] not in answer.get("SigningAlgorithms", []):
        raise ValueError(f"KMS key {key_id} does not offer {SIGNING_ALGORITHMS[alg]}")
    public: Any = load_der_public_key(bytes(answer["PublicKey"]))
    return alg, public
