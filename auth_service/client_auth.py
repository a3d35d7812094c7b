"""OAuth client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3).

* `client_secret_basic`: `Authorization: Basic base64(urlencode(client_id) ":" urlencode(secret))`
  (§2.3.1: both parts are form-urlencoded before they are joined, so either may hold a ":").
* `client_secret_post`: `client_id` and `client_secret` in the form body.
* `none`: a public client names itself with `client_id` alone (our first-party apps' refresh).

A request may use one method only (§2.3). Credentials that are presented are always checked,
whatever the grant: wrong ones are never ignored. Failures are throttled as failed logins are
(`LoginThrottle.admit_client`: per client id tried and per address) and answer the same 401
`invalid_client` for an unknown client, a wrong secret and a disabled client, with
`WWW-Authenticate: Basic` (§5.2).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from auth_service.clients import Client, ClientTable
from auth_service.http import HttpError, Request
from auth_service.login_throttle import LoginThrottle, LoginThrottledError
from auth_service.oauth import CLIENT_SECRET_BASIC, CLIENT_SECRET_POST, NO_CLIENT_AUTH
from authorizer.log import log_event

logger = logging.getLogger("lambda_jwt_auth.client_auth")

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="lambda-jwt-auth", charset="UTF-8"'}


@dataclass(frozen=True)
class PresentedClient:
    """Who the request says it comes from, before anything is checked."""

    client_id: str
    secret: str | None = field(repr=False)  # None: a public client (`none`)
    method: str


def invalid_client(description: str = "client authentication failed") -> HttpError:
    return HttpError(401, "invalid_client", description, _CHALLENGE)


def presented_client(request: Request, params: Mapping[str, Any]) -> PresentedClient | None:
    """The client credentials of a request, by whichever single method it used (None: none)."""
    basic = _basic(request.header("authorization"))
    posted_id, posted_secret = _param(params, "client_id"), _param(params, "client_secret")
    if basic is not None:
        if posted_secret is not None:
            raise HttpError(400, "invalid_request", "use one client authentication method, not two")
        if posted_id is not None and posted_id != basic.client_id:
            raise HttpError(400, "invalid_request", "'client_id' differs from the authenticated client")
        return basic
    if posted_secret is not None:
        if posted_id is None:
            raise HttpError(400, "invalid_request", "'client_secret' needs 'client_id'")
        return PresentedClient(posted_id, posted_secret, CLIENT_SECRET_POST)
    if posted_id is not None:
        return PresentedClient(posted_id, None, NO_CLIENT_AUTH)
    return None


def _basic(header: str | None) -> PresentedClient | None:
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None  # a Bearer token is the caller's, not a client's (introspection)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise invalid_client("malformed Basic credentials") from None
    quoted_id, colon, quoted_secret = decoded.partition(":")
    client_id, secret = unquote_plus(quoted_id), unquote_plus(quoted_secret)
    if not colon or not client_id or not secret:
        raise invalid_client("malformed Basic credentials")
    return PresentedClient(client_id, secret, CLIENT_SECRET_BASIC)


def _param(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HttpError(400, "invalid_request", f"{name!r} must be a string")
    return value


class ClientAuthenticator:
    def __init__(self, clients: ClientTable, throttle: LoginThrottle) -> None:
        self._clients = clients
        self._throttle = throttle

    def authenticate(self, presented: PresentedClient, client_ip: str | None) -> Client:
        """The client, if its secret is right; 401 `invalid_client` otherwise (or 429 while its
        id or the address is locked out). A public client (no secret) is refused here."""
        if presented.secret is None:
            raise invalid_client("this request needs client authentication")
        try:
            attempt = self._throttle.admit_client(presented.client_id, client_ip)
        except LoginThrottledError as exc:
            log_event(logger, "client_auth_throttled", limit=exc.limit)
            raise HttpError(
                429,
                "slow_down",
                "too many failed client authentications; retry later",
                {"Retry-After": str(exc.retry_after)},
            ) from None
        try:
            client = self._clients.check_secret(self._clients.lookup(presented.client_id), presented.secret)
        except Exception:
            attempt.abandoned()
            raise
        if client is None:
            attempt.failed()
            # Not the id tried: an operator's pasted secret may sit in it.
            log_event(logger, "client_auth_failed", method=presented.method)
            raise invalid_client()
        attempt.succeeded()
        return client
