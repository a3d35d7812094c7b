"""Read the signing keys: environment, file, SSM or Secrets Manager; a PEM bundle or a key set.

Read at cold start and again as they age (auth_service.live_keys), so what is stored there is
what signs, without a redeploy.
"""

from __future__ import annotations

from typing import Any

import boto3

from auth_service.config import SigningKeyKind, SigningKeySource
from auth_service.keys import KeyRing, key_ring_from_document, load_key_ring
from authorizer.errors import ConfigurationError
from authorizer.gateway.jwks_source import read_configured_file


def read_signing_pem(source: SigningKeySource, region: str) -> str:
    """The stored text: a PEM bundle, or a key set document (auth_service.key_set)."""
    if source.kind is SigningKeyKind.INLINE:
        return source.value
    if source.kind is SigningKeyKind.FILE:
        return read_configured_file(source.kind.value, source.value)
    session: Any = boto3.session.Session()
    try:
        if source.kind is SigningKeyKind.SSM:
            response = session.client("ssm", region_name=region).get_parameter(
                Name=source.value, WithDecryption=True
            )
            return str(response["Parameter"]["Value"])
        secret = session.client("secretsmanager", region_name=region).get_secret_value(SecretId=source.value)
        return str(secret["SecretString"])
    except Exception as exc:  # any SDK failure here is a cold-start configuration failure
        raise ConfigurationError(
            f"{source.kind.value}: cannot read {source.value!r}: {type(exc).__name__}"
        ) from None


def read_key_ring(source: SigningKeySource, region: str, *, max_age: int, token_lifetime: int) -> KeyRing:
    """The ring stored at `source`. A key set must fit this function's own settings: its
    propagation bound covers `max_age` (else a rotation could sign with a key some container
    has not read yet) and it keeps retired keys for `token_lifetime` (else it would drop a key
    while tokens it signed are still valid)."""
    from auth_service.key_set import is_key_set_document, parse_key_set

    text = read_signing_pem(source, region)
    if not is_key_set_document(text):
        return load_key_ring(text)
    document = parse_key_set(text)
    where = f"the key set in {source.kind.value}"
    if document.propagation_seconds < max_age:
        raise ConfigurationError(
            f"{where} has propagation_seconds {document.propagation_seconds}, less than "
            f"AUTH_KEYS_MAX_AGE_SECONDS ({max_age}): raise it (auth-service keys settings "
            f"--propagation-seconds {max_age + 60}) or lower the max age"
        )
    if document.retire_after_seconds < token_lifetime:
        raise ConfigurationError(
            f"{where} keeps retired keys {document.retire_after_seconds} s, less than the "
            f"longest token lifetime ({token_lifetime} s): raise it (auth-service keys settings "
            f"--retire-after-seconds {token_lifetime})"
        )
    return key_ring_from_document(document, lambda: kms_client(region))


def kms_client(region: str) -> Any:
    """The KMS client of the issuing side (its endpoint from AWS_ENDPOINT_URL_KMS, if set)."""
    from auth_service.aws import ISSUING_CONFIG

    return boto3.session.Session().client("kms", region_name=region, config=ISSUING_CONFIG)
