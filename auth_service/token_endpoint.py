"""POST /auth/token (RFC 6749 §3.2): one endpoint, three grants, every error as the RFCs say.

* `refresh_token` (§6): the rotation and reuse detection of POST /auth/refresh. Our refresh
  tokens belong to our first-party (public) client: a request naming another client, or
  authenticating as a machine client, is refused. `scope`, when sent, must be the token's own
  (narrowing on refresh is not offered).
* `client_credentials` (§4.4): a registered machine client authenticates and gets an access
  token alone, `sub` = `client_id`, with the scopes it asks for among its own (all of them when
  it asks for none).
* token exchange (RFC 8693): a Cognito token for a pair of ours, when a user pool is configured.

Errors (§5.2): 400 with the RFC's code, 401 `invalid_client` (with `WWW-Authenticate`) when client
authentication fails; a bad refresh token is 400 `invalid_grant`, a bad subject token 400
`invalid_request` (RFC 8693 §2.2.2). Nothing here knows about Lambda events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auth_service.client_auth import ClientAuthenticator, PresentedClient, invalid_client
from auth_service.clients import ClientRecordError, parse_scope
from auth_service.cognito.token_exchange import (
    ExchangeError,
    TokenExchange,
    exchange_response,
    parse_exchange_request,
)
from auth_service.http import HttpError
from auth_service.oauth import CLIENT_CREDENTIALS, REFRESH_TOKEN, TOKEN_EXCHANGE, grant_types
from auth_service.sessions import Sessions
from authorizer import metrics
from authorizer.errors import TokenError
from authorizer.tokens.claims import TokenClaims


@dataclass
class TokenEndpoint:
    sessions: Sessions
    audience: str
    clients: ClientAuthenticator | None = None  # None: no client table, no client_credentials
    exchange: TokenExchange | None = None  # None: no user pool
    clock: Callable[[], float] = time.time

    def token(
        self, params: Mapping[str, Any], presented: PresentedClient | None, client_ip: str | None
    ) -> dict[str, Any]:
        """The token response's body for a request's parameters and client credentials."""
        grant = params.get("grant_type")
        if not isinstance(grant, str) or not grant:
            raise HttpError(400, "invalid_request", "'grant_type' is required")
        if grant == REFRESH_TOKEN:
            return self._refresh(params, self._caller(presented, client_ip))
        if grant == CLIENT_CREDENTIALS and self.clients is not None:
            return self._client_credentials(params, presented, client_ip)
        if grant == TOKEN_EXCHANGE and self.exchange is not None:
            self._caller(presented, client_ip)  # presented credentials are checked, never ignored
            return self._exchange(params)
        served = ", ".join(grant_types(clients=self.clients is not None, exchange=self.exchange is not None))
        raise HttpError(400, "unsupported_grant_type", f"grant types served here: {served}")

    def _caller(self, presented: PresentedClient | None, client_ip: str | None) -> str | None:
        """The client id a grant that needs no authentication was sent by, after checking any
        credentials it presented."""
        if presented is None:
            return None
        if not presented.authenticates:
            return presented.client_id
        if self.clients is None:
            raise invalid_client("no confidential clients are registered here")
        return self.clients.authenticate(presented, client_ip).client_id

    def _refresh(self, params: Mapping[str, Any], caller: str | None) -> dict[str, Any]:
        token = params.get("refresh_token")
        if not isinstance(token, str) or not token:
            raise HttpError(400, "invalid_request", "'refresh_token' is required")
        asked = _scope(params)

        def guard(claims: TokenClaims) -> None:
            # Before the token is used: a refusal here leaves it valid for its rightful client.
            if caller is not None and caller != claims.client_id:
                raise HttpError(400, "invalid_grant", "the refresh token was not issued to this client")
            if asked is not None and set(asked) != set(claims.scopes):
                raise HttpError(400, "invalid_scope", "a refresh keeps the token's scope (no narrowing)")

        try:
            pair = self.sessions.refresh(token, guard=guard)
        except TokenError as exc:
            raise HttpError(400, "invalid_grant", str(exc)) from None
        return pair.response_body()

    def _client_credentials(
        self, params: Mapping[str, Any], presented: PresentedClient | None, client_ip: str | None
    ) -> dict[str, Any]:
        assert self.clients is not None
        if presented is None:
            raise invalid_client("client_credentials needs client authentication")
        authenticated_at = self.clock()
        client = self.clients.authenticate(presented, client_ip)
        if CLIENT_CREDENTIALS not in client.grant_types:
            raise HttpError(400, "unauthorized_client", "this client may not use client_credentials")
        asked = _scope(params)
        if asked is None:
            granted = client.scope
        else:
            extra = [scope for scope in asked if scope not in client.scope]
            if extra:
                raise HttpError(400, "invalid_scope", f"scope {extra[0]!r} is not granted to this client")
            granted = asked
        try:
            token = self.sessions.start_machine(
                client.client_id, " ".join(granted), authenticated_at=authenticated_at
            )
        except TokenError as exc:
            raise HttpError(400, "invalid_grant", str(exc)) from None
        metrics.tokens_issued("client_credentials")
        return token.response_body()

    def _exchange(self, params: Mapping[str, Any]) -> dict[str, Any]:
        assert self.exchange is not None
        try:
            pair = self.exchange.exchange(parse_exchange_request(params, audience=self.audience))
        except ExchangeError as exc:
            raise HttpError(exc.status, exc.error, str(exc)) from None
        except TokenError as exc:
            # RFC 8693 §2.2.2: a subject token that is invalid for any reason is invalid_request.
            raise HttpError(400, "invalid_request", str(exc)) from None
        metrics.tokens_issued("token_exchange")
        return exchange_response(pair)


def _scope(params: Mapping[str, Any]) -> tuple[str, ...] | None:
    value = params.get("scope")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HttpError(400, "invalid_request", "'scope' must be a string")
    try:
        return parse_scope(value) or None
    except ClientRecordError as exc:
        raise HttpError(400, "invalid_scope", str(exc)) from None
