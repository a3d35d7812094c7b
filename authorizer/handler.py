"""Lambda entry point of the authorizer. Everything is built at import: once per container."""

from __future__ import annotations

from typing import Any

from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig
from authorizer.log import INFO, bind_invocation, set_package_level
from authorizer.metrics import Emitter

set_package_level(INFO)
_config = AuthorizerConfig.from_env()
_authorizer = build_authorizer(_config)
_metrics = Emitter(_config.common.metrics_namespace, _config.common.metrics_service)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bind_invocation(getattr(context, "aws_request_id", None))
    try:
        return _authorizer.handle(event)
    finally:
        _metrics.flush()  # one EMF line per invocation (authorizer.metrics), a 401 included
