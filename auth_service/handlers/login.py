"""POST /auth/login {"username", "password"} -> a token pair.

The identity backend (AUTH_IDENTITY_BACKEND) checks the password: our user table (argon2id), or
a Cognito user pool, whose user then gets a session of ours tied to that Cognito login.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from auth_service import runtime
from auth_service.cognito_login import CognitoLogin, CognitoLoginError
from auth_service.config import IdentityBackend
from auth_service.http import (
    HttpError,
    Request,
    endpoint,
    json_response,
    read_json,
    required_text,
    unauthorized,
)
from auth_service.tokens import CognitoLink, TokenPair
from authorizer.log import log_event

if TYPE_CHECKING:
    from auth_service.users import UserTable

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
logger = logging.getLogger("lambda_jwt_auth.login")
# Only the configured backend is built: the Cognito path never imports argon2.
_cognito: CognitoLogin | None = None
_users: UserTable | None = None
if runtime.config().identity_backend is IdentityBackend.COGNITO:
    _cognito = runtime.cognito_login()
else:
    _users = runtime.users()
_sessions = runtime.sessions(signing=True)


def login(request: Request) -> dict[str, Any]:
    body = read_json(request)
    username = required_text(body, "username")
    password = required_text(body, "password")
    if _cognito is not None:
        pair = _cognito_login(_cognito, request, username, password)
    else:
        assert _users is not None
        user = _users.authenticate(username, password)
        if user is None:
            # The same answer for an unknown user and a wrong password.
            log_event(logger, "login_failed", request_id=request.request_id)
            raise unauthorized("invalid username or password", error="invalid_grant")
        pair = _sessions.start(user.sub, user.scope)
    return json_response(200, pair.response_body())


def _cognito_login(cognito: CognitoLogin, request: Request, username: str, password: str) -> TokenPair:
    try:
        user = cognito.authenticate(username, password)
    except CognitoLoginError as exc:
        log_event(logger, "login_failed", request_id=request.request_id, error=exc.error)
        if exc.status == 401:
            raise unauthorized(str(exc), error=exc.error) from None
        raise HttpError(exc.status, exc.error, str(exc), exc.headers) from None
    link = CognitoLink(user.origin_jti, user.refresh_token) if user.origin_jti else None
    return _sessions.start(user.sub, user.scope, cognito=link)


handler = endpoint(login, max_body_bytes=runtime.config().max_body_bytes)
