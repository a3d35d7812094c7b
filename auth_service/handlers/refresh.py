"""POST /auth/refresh {"refresh_token"} -> a new pair; the old refresh token is retired.

Browser sessions (AUTH_COOKIES=on): with no refresh token in a JSON body, the request must come
from an allowed origin (403 `csrf`: a cross-site form post, say), and the refresh cookie is used;
the request must then pass the CSRF checks (403 `csrf`, the token left unused), and the new
pair, with a new CSRF token, goes out as cookies.
"""

from __future__ import annotations

import logging
from typing import Any

from auth_service import runtime
from auth_service.http import (
    JSON_TYPE,
    Request,
    endpoint,
    json_response,
    optional_text,
    read_json,
    required_text,
    unauthorized,
)
from authorizer.errors import TokenError
from authorizer.tokens.claims import TokenClaims

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
_sessions = runtime.sessions(signing=True)
_cookies = runtime.session_cookies()


def refresh(request: Request) -> dict[str, Any]:
    if _cookies.enabled and not _has_body_token(request):
        _cookies.check_origin(request)
        cookie_token = _cookies.value(request, _cookies.names.refresh)
        if cookie_token is not None:
            return _refresh_cookie_session(request, cookie_token)
        if request.header("origin") is not None:
            # A page of an allowed origin (check_origin passed) asking without its refresh cookie:
            # logged out, perhaps in another tab. It has no body to send: say what is missing.
            raise unauthorized("no session: no refresh cookie came; log in again", error="invalid_grant")
    token = required_text(read_json(request), "refresh_token")
    try:
        pair = _sessions.refresh(token)
    except TokenError as exc:
        raise unauthorized(str(exc), error="invalid_grant") from None
    return json_response(200, pair.response_body())


def _has_body_token(request: Request) -> bool:
    if request.media_type != JSON_TYPE or not request.body:
        return False
    return optional_text(read_json(request), "refresh_token") is not None


def _refresh_cookie_session(request: Request, token: str) -> dict[str, Any]:
    def csrf_guard(claims: TokenClaims) -> None:
        _cookies.check_csrf(request, claims.raw)

    csrf_token, csrf_hash = _cookies.new_csrf_token()
    try:
        pair = _sessions.refresh(token, csrf_hash=csrf_hash, guard=csrf_guard)
    except TokenError as exc:
        raise unauthorized(str(exc), error="invalid_grant") from None
    return _cookies.session_response(pair, csrf_token)


handler = endpoint(refresh, max_body_bytes=runtime.config().max_body_bytes, metrics=runtime.metrics())
