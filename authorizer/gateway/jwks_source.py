"""Load the trusted public keys once per container: inline JSON, a file or an SSM parameter."""

from __future__ import annotations

import json
import os
from typing import Any

from authorizer.aws.credentials import CredentialSource, from_environment
from authorizer.errors import ConfigurationError
from authorizer.gateway.config import JwksKind, JwksSource
from authorizer.tokens.keys import KeySet


def read_configured_file(variable: str, path: str) -> str:
    """A file named by a configuration variable; unreadable is a configuration error."""
    try:
        with open(path, encoding="utf-8") as file:  # not pathlib: ~10 ms of imports at cold start
            return file.read()
    except OSError as exc:
        raise ConfigurationError(f"{variable}: cannot read {path!r}: {exc.strerror}") from None


def read_jwks(
    source: JwksSource,
    region: str,
    credentials: CredentialSource | None = None,
    *,
    ssm_endpoint: str | None = None,
) -> Any:
    """The JWKS document as configured (parsed JSON, not yet validated). `ssm_endpoint`: the
    override of CommonSettings, for a JWKS in SSM."""
    return _parse(_read(source, region, credentials, ssm_endpoint), source)


def load_key_set(
    source: JwksSource,
    region: str,
    credentials: CredentialSource | None = None,
    *,
    ssm_endpoint: str | None = None,
) -> KeySet:
    return KeySet.from_jwks(read_jwks(source, region, credentials, ssm_endpoint=ssm_endpoint))


def _read(
    source: JwksSource, region: str, credentials: CredentialSource | None, ssm_endpoint: str | None
) -> str:
    if source.kind is JwksKind.INLINE:
        return source.value
    if source.kind is JwksKind.FILE:
        return read_configured_file(source.kind.value, source.value)
    from authorizer.aws.ssm import get_parameter  # only deployments that keep their JWKS in SSM

    try:
        if credentials is None:
            credentials = from_environment(os.environ, local_endpoint=False)
        return get_parameter(source.value, region, credentials, ssm_endpoint)
    except Exception as exc:  # any failure is a cold-start configuration failure
        raise ConfigurationError(
            f"{source.kind.value}: cannot read SSM parameter {source.value!r}: {_reason(exc)}"
        ) from None


def _reason(exc: Exception) -> str:
    from authorizer.aws.client import AwsRequestError

    return exc.error if isinstance(exc, AwsRequestError) else type(exc).__name__


def _parse(text: str, source: JwksSource) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ConfigurationError(f"{source.kind.value}: the JWKS is not valid JSON") from None
