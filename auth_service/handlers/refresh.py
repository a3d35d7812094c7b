"""POST /auth/refresh {"refresh_token"} -> a new pair; the old refresh token is retired."""

from __future__ import annotations

import logging
from typing import Any

from auth_service import runtime
from auth_service.http import Request, endpoint, json_response, read_json, required_text, unauthorized
from authorizer.errors import TokenError

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
_sessions = runtime.sessions(signing=True)


def refresh(request: Request) -> dict[str, Any]:
    token = required_text(read_json(request), "refresh_token")
    try:
        pair = _sessions.refresh(token)
    except TokenError as exc:
        raise unauthorized(str(exc), error="invalid_grant") from None
    return json_response(200, pair.response_body())


handler = endpoint(refresh, max_body_bytes=runtime.config().max_body_bytes)
