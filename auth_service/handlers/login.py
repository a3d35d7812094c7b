"""POST /auth/login {"username", "password"} -> a token pair."""

from __future__ import annotations

import logging
from typing import Any

from auth_service import runtime
from auth_service.http import Request, endpoint, json_response, read_json, required_text, unauthorized
from auth_service.users import UserTable
from authorizer.log import log_event

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
logger = logging.getLogger("lambda_jwt_auth.login")
_users: UserTable = runtime.users()
_sessions = runtime.sessions(signing=True)


def login(request: Request) -> dict[str, Any]:
    body = read_json(request)
    username = required_text(body, "username")
    password = required_text(body, "password")
    user = _users.authenticate(username, password)
    if user is None:
        # The same answer for an unknown user and a wrong password.
        log_event(logger, "login_failed", request_id=request.request_id)
        raise unauthorized("invalid username or password", error="invalid_grant")
    pair = _sessions.start(user.sub, user.scope)
    return json_response(200, pair.response_body())


handler = endpoint(login, max_body_bytes=runtime.config().max_body_bytes)
