"""POST /auth/introspect (RFC 7662), for callers whose Bearer token has the introspection scope."""

from __future__ import annotations

import logging
from typing import Any

from auth_service import runtime
from auth_service.http import (
    Request,
    endpoint,
    json_response,
    optional_text,
    read_params,
    required_text,
)

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
_sessions = runtime.sessions(signing=False)


def introspect(request: Request) -> dict[str, Any]:
    caller = _sessions.authenticate(request.bearer_token())
    params = read_params(request)
    result = _sessions.introspect(
        caller, required_text(params, "token"), optional_text(params, "token_type_hint")
    )
    return json_response(200, {k: v for k, v in result.items() if v is not None})


handler = endpoint(introspect, max_body_bytes=runtime.config().max_body_bytes)
