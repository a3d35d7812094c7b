"""The Cognito refresh token of a login, carried sealed inside our own refresh token.

We hold no session state, yet logout must be able to revoke the Cognito refresh token its login
produced. So our refresh token carries it in the claim `cognito_rt`, encrypted: AES-256-GCM with
a key derived (HKDF-SHA256) from the private key that signs the refresh token (for a KMS key,
from its secret in the key set), a random 12-byte
nonce, and the session id as associated data, so a sealed value moved into another session's
token does not open. The claim is base64url(nonce + ciphertext), without padding.

Only functions that hold the signing key can seal or open it; a retired key kept public-only
cannot open what it once sealed (`open_sealed` answers None).
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from auth_service.keys import PrivateKey, SigningKeys

COGNITO_REFRESH_TOKEN_CLAIM = "cognito_rt"  # noqa: S105 - a claim name
HKDF_INFO = b"lambda-jwt-auth cognito refresh token"
NONCE_BYTES = 12
_TAG_BYTES = 16


class SealError(ValueError):
    """A sealed value does not open: altered, from another session, or sealed with another key."""


def sealing_key(private_key: PrivateKey | bytes) -> bytes:
    """The AES-256 key derived from a signing key's PKCS8 DER encoding (or a KMS key's secret)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        key_material(private_key)
    )


def key_material(private_key: PrivateKey | bytes) -> bytes:
    """What keys are derived from: a private key's PKCS8 DER, or the secret bytes themselves."""
    if isinstance(private_key, bytes):
        return private_key
    return private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def seal(private_key: PrivateKey | bytes, plaintext: str, sid: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(sealing_key(private_key)).encrypt(
        nonce, plaintext.encode("utf-8"), sid.encode("utf-8")
    )
    return base64.urlsafe_b64encode(nonce + ciphertext).rstrip(b"=").decode("ascii")


def unseal(private_key: PrivateKey | bytes, sealed: str, sid: str) -> str:
    try:
        data = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    except (binascii.Error, ValueError):
        raise SealError("the sealed value is not base64url") from None
    if len(data) < NONCE_BYTES + _TAG_BYTES:
        raise SealError("the sealed value is too short")
    nonce, ciphertext = data[:NONCE_BYTES], data[NONCE_BYTES:]
    try:
        plaintext = AESGCM(sealing_key(private_key)).decrypt(nonce, ciphertext, sid.encode("utf-8"))
    except InvalidTag:
        raise SealError("the sealed value does not open with this key and session") from None
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise SealError("the sealed value is not text") from None


def open_sealed(ring: SigningKeys, kid: str, sealed: str, sid: str) -> str | None:
    """Open with the ring's key `kid` (the key that signed the token carrying it).

    None if the ring holds no private key of that kid (unknown, or retired public-only);
    `SealError` if the key is there but the value does not open.
    """
    key = next((key for key in ring.keys if key.kid == kid), None)
    material = None if key is None else key.material()
    if material is None:
        return None
    return unseal(material, sealed, sid)
