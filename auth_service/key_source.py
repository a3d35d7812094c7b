"""Read the signing key bundle once per container: environment, file, SSM or Secrets Manager."""

from __future__ import annotations

from typing import Any

import boto3

from auth_service.config import SigningKeyKind, SigningKeySource
from authorizer.errors import ConfigurationError
from authorizer.jwks_source import read_configured_file


def read_signing_pem(source: SigningKeySource, region: str) -> str:
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
