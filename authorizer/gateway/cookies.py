"""Session cookies in requests, and the CSRF rules for the requests they authenticate.

A browser attaches our cookies to requests that other sites make it send, so a cookie alone
never proves a state-changing request came from our page. Such a request must also pass:

- Origin: when sent, it is one of AUTH_ALLOWED_ORIGINS; when not sent (old browsers, non-browser
  clients), `Sec-Fetch-Site`, if sent, says `same-origin`.
- Double submit: the `X-CSRF-Token` header equals the csrf cookie. Another site can neither
  read our cookie nor send a custom header (that needs a CORS preflight, which we refuse).
- Binding: the session's tokens carry `csrf_hash`, the SHA-256 of its CSRF token, so a csrf
  cookie planted by someone else (cookie tossing) does not pair with the victim's session.

Values are compared in constant time; refusals say which rule failed, never a cookie's value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from authorizer.errors import AuthError

CSRF_HEADER = "x-csrf-token"
CSRF_HASH_CLAIM = "csrf_hash"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfError(AuthError):
    """A cookie-authenticated, state-changing request did not prove it comes from our page."""

    error = "csrf"


@dataclass(frozen=True)
class CookieNames:
    access: str
    refresh: str
    csrf: str

    @classmethod
    def for_prefix(cls, secure_prefix: bool) -> CookieNames:
        # `__Host-`: Secure, Path=/, no Domain, so no other host (not even a subdomain) can set
        # it. The refresh cookie's Path is narrower, so it can only be `__Secure-`.
        if secure_prefix:
            return cls("__Host-access_token", "__Secure-refresh_token", "__Host-csrf_token")
        return cls("access_token", "refresh_token", "csrf_token")


def cookie_pairs(cookies: object, cookie_header: object) -> list[str]:
    """`name=value` pairs: HTTP API payload 2.0 `cookies`, else a Cookie header (REST, 1.0)."""
    if isinstance(cookies, list | tuple):
        return [c for c in cookies if isinstance(c, str)]
    if isinstance(cookie_header, str):
        return [part.strip() for part in cookie_header.split(";") if part.strip()]
    return []


def cookie_value(pairs: Iterable[str], name: str) -> str | None:
    """The value of cookie `name`; None when absent, empty, or sent twice with different values.

    Two different values for one name mean someone else set one of them: trust neither.
    """
    found: str | None = None
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key.strip() != name:
            continue
        value = value.strip()
        if found is not None and found != value:
            return None
        found = value
    return found or None


def csrf_hash(csrf_token: str) -> str:
    """What a session's tokens carry for its CSRF token (base64url SHA-256, unpadded)."""
    digest = hashlib.sha256(_bytes(csrf_token)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_origin(origin: str | None, fetch_site: str | None, allowed_origins: frozenset[str]) -> None:
    if origin is not None:
        if origin not in allowed_origins:
            raise CsrfError("the request's Origin is not an allowed origin")
    elif fetch_site is not None and fetch_site.strip().lower() != "same-origin":
        raise CsrfError("a cross-site request without an Origin header")


def check_csrf(
    *,
    origin: str | None,
    fetch_site: str | None,
    header_token: str | None,
    cookie_token: str | None,
    claims: Mapping[str, object],
    allowed_origins: frozenset[str],
) -> None:
    """Raise `CsrfError` unless a cookie-authenticated request passes every rule above."""
    check_origin(origin, fetch_site, allowed_origins)
    if not header_token:
        raise CsrfError("the X-CSRF-Token header is required with cookie authentication")
    if not cookie_token:
        raise CsrfError("the csrf cookie is missing")
    if not hmac.compare_digest(_bytes(header_token), _bytes(cookie_token)):
        raise CsrfError("X-CSRF-Token does not match the csrf cookie")
    bound = claims.get(CSRF_HASH_CLAIM)
    if not isinstance(bound, str) or not hmac.compare_digest(
        _bytes(bound), csrf_hash(header_token).encode("ascii")
    ):
        raise CsrfError("the CSRF token does not belong to this session")


def _bytes(text: str) -> bytes:
    # Event JSON can carry lone surrogates ("\ud800"): compare them, never fail on them.
    return text.encode("utf-8", "surrogatepass")
