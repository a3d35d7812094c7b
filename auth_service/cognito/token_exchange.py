"""RFC 8693 token exchange: a Cognito ID or access token in, a token pair of ours out.

The subject token is verified against the user pool (issuer, app client, `token_use`, keys),
refused if its Cognito login (`origin_jti`), the token itself or its user is revoked in our
denylist, and exchanged for a pair with the same scopes a password login through the pool gets.
The new session names the Cognito login (`origin_jti`), so ending it, or any other session
exchanged from that login, refuses every token of that login, Cognito's and ours. It begins when
the Cognito login did (its `auth_time`): a user's sign-out everywhere refuses every exchange of a
Cognito login made before it, in the same second included (Cognito's `auth_time` has whole
seconds).

Nothing here knows about HTTP: refusals of the request are `ExchangeError`s with an RFC 6749 §5.2
error code; refusals of the subject token are `authorizer.errors.TokenError`s (`invalid_grant`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auth_service.cognito.scopes import GroupScopes
from auth_service.oauth import TOKEN_EXCHANGE as TOKEN_EXCHANGE_GRANT
from auth_service.sessions import Sessions
from auth_service.tokens import CognitoLink, TokenPair
from authorizer.errors import TokenRevokedError, UnavailableError
from authorizer.log import log_event
from authorizer.tokens.jwks_cache import JwksUnavailableError
from authorizer.tokens.revocation import RevocationList
from authorizer.tokens.verifier import TokenVerifier

logger = logging.getLogger("lambda_jwt_auth.token_exchange")

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105 - a URN
SUBJECT_TOKEN_TYPES = {ID_TOKEN_TYPE: "id", ACCESS_TOKEN_TYPE: "access"}


class ExchangeError(Exception):
    """The exchange request itself is wrong; `error` is the RFC 6749 §5.2 / RFC 8693 code."""

    status = 400

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


@dataclass(frozen=True)
class ExchangeRequest:
    subject_token: str = field(repr=False)
    token_use: str  # "id" or "access": which of the pool's tokens it claims to be
    scope: tuple[str, ...] | None = None  # a narrower scope than the user's, if asked for


def parse_exchange_request(params: Mapping[str, Any], *, audience: str) -> ExchangeRequest:
    """Validate the form (or JSON) parameters of a token exchange request."""
    grant_type = _text(params, "grant_type")
    if grant_type is None:
        raise ExchangeError("invalid_request", "'grant_type' is required")
    if grant_type != TOKEN_EXCHANGE_GRANT:
        raise ExchangeError("unsupported_grant_type", f"only {TOKEN_EXCHANGE_GRANT} is supported here")
    subject_token = _text(params, "subject_token")
    if subject_token is None:
        raise ExchangeError("invalid_request", "'subject_token' is required")
    subject_type = _text(params, "subject_token_type")
    if subject_type not in SUBJECT_TOKEN_TYPES:
        raise ExchangeError(
            "invalid_request",
            f"'subject_token_type' must be {ID_TOKEN_TYPE} or {ACCESS_TOKEN_TYPE}",
        )
    if _text(params, "actor_token") is not None or _text(params, "actor_token_type") is not None:
        raise ExchangeError("invalid_request", "delegation (actor_token) is not supported")
    requested = _text(params, "requested_token_type")
    if requested not in (None, ACCESS_TOKEN_TYPE):
        raise ExchangeError("invalid_request", f"only {ACCESS_TOKEN_TYPE} can be requested")
    for name in ("audience", "resource"):
        target = _text(params, name)
        if target is not None and target != audience:
            raise ExchangeError("invalid_target", f"tokens are issued for {audience!r} only")
    scope = _text(params, "scope")
    return ExchangeRequest(
        subject_token=subject_token,
        token_use=SUBJECT_TOKEN_TYPES[subject_type],
        scope=tuple(scope.split()) or None if scope is not None else None,
    )


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ExchangeError("invalid_request", f"{name!r} must be a string")
    return value


class TokenExchange:
    def __init__(
        self,
        *,
        verifiers: Mapping[str, TokenVerifier],  # by token_use: "id" and "access"
        revocations: RevocationList,
        sessions: Sessions,
        group_scopes: GroupScopes,
    ) -> None:
        self._verifiers = dict(verifiers)
        self._revocations = revocations
        self._sessions = sessions
        self._group_scopes = group_scopes

    def exchange(self, request: ExchangeRequest) -> TokenPair:
        verifier = self._verifiers.get(request.token_use)
        if verifier is None:
            raise ExchangeError(
                "invalid_request", f"Cognito {request.token_use} tokens are not accepted here"
            )
        try:
            claims = verifier.verify(request.subject_token)
        except JwksUnavailableError:
            raise UnavailableError("the user pool's keys are unavailable; retry later") from None
        reason = self._revocations.lookup(claims)
        if reason is not None:
            log_event(logger, "exchange_refused", sub=claims.sub, origin_jti=claims.origin_jti, reason=reason)
            raise TokenRevokedError(reason)
        scope = self._scope(self._group_scopes.scope_for(claims.groups), request.scope)
        link = CognitoLink(claims.origin_jti) if claims.origin_jti else None
        # A sign-out written between the check above and this start is seen there: refused too.
        pair = self._sessions.start(claims.sub, scope, authenticated_at=claims.session_start, cognito=link)
        log_event(
            logger,
            "token_exchanged",
            sub=claims.sub,
            subject_jti=claims.jti,
            origin_jti=claims.origin_jti,
            token_use=request.token_use,
            sid=pair.sid,
        )
        return pair

    @staticmethod
    def _scope(granted: str, requested: tuple[str, ...] | None) -> str:
        if requested is None:
            return granted
        extra = [scope for scope in requested if scope not in granted.split()]
        if extra:
            raise ExchangeError("invalid_scope", f"scope {extra[0]!r} is not granted to this user")
        return " ".join(dict.fromkeys(requested))


def exchange_response(pair: TokenPair) -> dict[str, Any]:
    """RFC 8693 §2.2.1: our pair, and what kind of token `access_token` is."""
    return {**pair.response_body(), "issued_token_type": ACCESS_TOKEN_TYPE}
