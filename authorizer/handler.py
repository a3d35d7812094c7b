"""Lambda entry point of the authorizer. Everything is built at import: once per container."""

from __future__ import annotations

import logging
from typing import Any

from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig
from authorizer.log import bind_request

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
_authorizer = build_authorizer(AuthorizerConfig.from_env())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with bind_request(getattr(context, "aws_request_id", None)):
        return _authorizer.handle(event)
