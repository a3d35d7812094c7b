"""Browser sessions: the token pair delivered as cookies, and the CSRF checks that come with them.

With AUTH_COOKIES=on, a login that asks for it (`X-Token-Delivery: cookie`) gets its tokens as
HttpOnly cookies that page scripts cannot read, plus a CSRF token (a readable cookie, also in the
body) that the page echoes in `X-CSRF-Token`. The session's tokens carry the CSRF token's hash
(`csrf_hash`), which binds the two (authorizer.gateway.cookies has the rules):

- `__Host-access_token`: Path=/, Max-Age = the access token's lifetime;
- `__Secure-refresh_token`: set twice, Path=/auth/refresh and Path=/auth/logout, so no other
  request carries it; Max-Age = the refresh token's lifetime;
- `__Host-csrf_token`: not HttpOnly, Path=/, Max-Age = the refresh token's lifetime.

All are Secure, SameSite=Strict (or Lax) and have no Domain. Without the secure prefix
(AUTH_COOKIE_SECURE_PREFIX=false) the names lose `__Host-`/`__Secure-`; nothing else changes.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from auth_service.http import HttpError, Request, empty_response, json_response
from auth_service.tokens import TokenPair
from authorizer.gateway.config import CookieSettings
from authorizer.gateway.cookies import (
    CSRF_HEADER,
    CookieNames,
    check_csrf,
    check_origin,
    cookie_pairs,
    cookie_value,
    csrf_hash,
)

DELIVERY_HEADER = "x-token-delivery"
REFRESH_PATHS = ("/auth/refresh", "/auth/logout")


class SessionCookies:
    def __init__(self, settings: CookieSettings, *, access_ttl: int, refresh_ttl: int) -> None:
        self.settings = settings
        self.names: CookieNames = settings.names
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def requested(self, request: Request) -> bool:
        """Whether the client asks for cookie delivery (`X-Token-Delivery: cookie`)."""
        delivery = request.header(DELIVERY_HEADER)
        if delivery is None:
            return False
        if delivery.strip().lower() != "cookie":
            raise HttpError(400, "invalid_request", "X-Token-Delivery must be cookie")
        if not self.enabled:
            raise HttpError(400, "invalid_request", "cookie delivery is not enabled (AUTH_COOKIES)")
        # A login has no CSRF token yet; the custom header and the Origin keep other sites out.
        self.check_origin(request)
        return True

    def check_origin(self, request: Request) -> None:
        """Raise `CsrfError` (403 `csrf`) for a request another site's page made."""
        allowed = self.settings.allowed_origins
        check_origin(request.header("origin"), request.header("sec-fetch-site"), allowed)

    def value(self, request: Request, name: str) -> str | None:
        return cookie_value(cookie_pairs(request.cookies or None, request.header("cookie")), name)

    def check_csrf(self, request: Request, claims: Mapping[str, object]) -> None:
        """Raise `CsrfError` (403 `csrf`) unless the request passes the CSRF rules."""
        check_csrf(
            origin=request.header("origin"),
            fetch_site=request.header("sec-fetch-site"),
            header_token=request.header(CSRF_HEADER),
            cookie_token=self.value(request, self.names.csrf),
            claims=claims,
            allowed_origins=self.settings.allowed_origins,
        )

    @staticmethod
    def new_csrf_token() -> tuple[str, str]:
        """A fresh CSRF token and the hash the session's tokens carry for it."""
        token = secrets.token_urlsafe(32)
        return token, csrf_hash(token)

    def session_response(self, pair: TokenPair, csrf_token: str) -> dict[str, Any]:
        """200 with the pair as cookies; the body says what was set but holds no token."""
        body = {
            "token_type": "cookie",
            "expires_in": pair.expires_in,
            "refresh_expires_in": self.refresh_ttl,
            "scope": pair.scope,
            "csrf_token": csrf_token,
        }
        response = json_response(200, body)
        response["cookies"] = [
            self._cookie(self.names.access, pair.access_token, "/", self.access_ttl),
            *(
                self._cookie(self.names.refresh, pair.refresh_token, path, self.refresh_ttl)
                for path in REFRESH_PATHS
            ),
            self._cookie(self.names.csrf, csrf_token, "/", self.refresh_ttl, http_only=False),
        ]
        return response

    def cleared_response(self) -> dict[str, Any]:
        """204 that removes every session cookie (same names and paths, Max-Age=0)."""
        response = empty_response(204)
        response["cookies"] = [
            self._cookie(self.names.access, "", "/", 0),
            *(self._cookie(self.names.refresh, "", path, 0) for path in REFRESH_PATHS),
            self._cookie(self.names.csrf, "", "/", 0, http_only=False),
        ]
        return response

    def _cookie(self, name: str, value: str, path: str, max_age: int, *, http_only: bool = True) -> str:
        attributes = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "Secure"]
        if http_only:
            attributes.append("HttpOnly")
        attributes.append(f"SameSite={self.settings.same_site}")
        return "; ".join(attributes)
