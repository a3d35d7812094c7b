"""POST /auth/logout (Bearer access token; optional {"refresh_token"}) -> 204, session revoked.

Browser sessions (AUTH_COOKIES=on): with no Authorization header, the request must come from an
allowed origin (403 `csrf`), and the session cookies are used; it must then pass the CSRF checks
(403 `csrf`, the session untouched), and the answer clears the cookies. With the access cookie
expired, the refresh cookie still ends the session.
"""

from __future__ import annotations

import logging
from typing import Any

from auth_service import runtime
from auth_service.http import Request, empty_response, endpoint, optional_text, read_json, unauthorized
from authorizer.errors import TokenError

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
_sessions = runtime.sessions(signing=False, ending=True)
_cookies = runtime.session_cookies()


def logout(request: Request) -> dict[str, Any]:
    if _cookies.enabled and request.bearer_token() is None:
        _cookies.check_origin(request)
        access = _cookies.value(request, _cookies.names.access)
        refresh = _cookies.value(request, _cookies.names.refresh)
        if access is not None or refresh is not None:
            return _logout_cookie_session(request, access, refresh)
    claims = _sessions.authenticate(request.bearer_token())
    refresh_token = optional_text(read_json(request), "refresh_token") if request.body else None
    _sessions.logout(claims, refresh_token)
    return empty_response(204)


def _logout_cookie_session(request: Request, access: str | None, refresh: str | None) -> dict[str, Any]:
    try:
        claims = _sessions.authenticate(access)
    except TokenError:
        if refresh is None:
            raise
        # The access cookie expired (or is gone): the refresh cookie ends the session.
        try:
            refresh_claims = _sessions.refresh_verifier.verify(refresh)
        except TokenError as exc:
            raise unauthorized(str(exc)) from None
        _cookies.check_csrf(request, refresh_claims.raw)
        _sessions.revoke(refresh, "refresh_token")
        return _cookies.cleared_response()
    _cookies.check_csrf(request, claims.raw)
    _sessions.logout(claims, refresh)
    return _cookies.cleared_response()


handler = endpoint(logout, max_body_bytes=runtime.config().max_body_bytes, metrics=runtime.metrics())
