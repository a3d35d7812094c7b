"""Load the trusted public keys once per container: inline JSON, a file or an SSM parameter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from authorizer.aws import ssm_client
from authorizer.config import JwksKind, JwksSource
from authorizer.errors import ConfigurationError
from authorizer.keys import KeySet


def read_configured_file(variable: str, path: str) -> str:
    """A file named by a configuration variable; unreadable is a configuration error."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{variable}: cannot read {path!r}: {exc.strerror}") from None


def read_jwks(source: JwksSource, region: str) -> Any:
    """The JWKS document as configured (parsed JSON, not yet validated)."""
    return _parse(_read(source, region), source)


def load_key_set(source: JwksSource, region: str) -> KeySet:
    return KeySet.from_jwks(read_jwks(source, region))


def _read(source: JwksSource, region: str) -> str:
    if source.kind is JwksKind.INLINE:
        return source.value
    if source.kind is JwksKind.FILE:
        return read_configured_file(source.kind.value, source.value)
    try:
        response = ssm_client(region).get_parameter(Name=source.value)
    except Exception as exc:  # any SDK failure is a cold-start configuration failure
        raise ConfigurationError(
            f"{source.kind.value}: cannot read SSM parameter {source.value!r}: {type(exc).__name__}"
        ) from None
    return str(response["Parameter"]["Value"])


def _parse(text: str, source: JwksSource) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ConfigurationError(f"{source.kind.value}: the JWKS is not valid JSON") from None
