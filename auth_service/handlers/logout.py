"""POST /auth/logout (Bearer access token; optional {"refresh_token"}) -> 204, session revoked."""

from __future__ import annotations

import logging
from typing import Any

from auth_service import runtime
from auth_service.http import Request, empty_response, endpoint, optional_text, read_json

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
_sessions = runtime.sessions(signing=False, ending=True)


def logout(request: Request) -> dict[str, Any]:
    claims = _sessions.authenticate(request.bearer_token())
    refresh_token = optional_text(read_json(request), "refresh_token") if request.body else None
    _sessions.logout(claims, refresh_token)
    return empty_response(204)


handler = endpoint(logout, max_body_bytes=runtime.config().max_body_bytes)
