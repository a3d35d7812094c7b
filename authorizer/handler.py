"""Lambda entry point of the authorizer. Everything is built at import: once per container."""

from __future__ import annotations

from typing import Any

from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig
from authorizer.log import INFO, bind_invocation, set_package_level

set_package_level(INFO)
_authorizer = build_authorizer(AuthorizerConfig.from_env())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bind_invocation(getattr(context, "aws_request_id", None))
    return _authorizer.handle(event)
