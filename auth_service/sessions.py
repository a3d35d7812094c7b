"""What the endpoints do, as plain methods: start, refresh, end, revoke and introspect sessions.

Nothing here knows about HTTP or Lambda events; refusals are `authorizer.errors` exceptions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from auth_service.denylist import Denylist
from auth_service.tokens import TokenIssuer, TokenPair
from authorizer.claims import TokenClaims
from authorizer.errors import InsufficientScopeError, TokenError, TokenRevokedError
from authorizer.log import log_event
from authorizer.revocation import TOKEN_ROTATED, RevocationList
from authorizer.verifier import TokenVerifier

logger = logging.getLogger("lambda_jwt_auth.sessions")


class MissingTokenError(TokenError):
    """The request carries no Bearer access token."""

    error = "invalid_request"


class RefreshTokenReuseError(TokenRevokedError):
    """A retired refresh token was presented again: treated as theft, the session is revoked."""


@dataclass
class Sessions:
    access: TokenVerifier
    refresh_verifier: TokenVerifier
    denylist: Denylist
    revocations: RevocationList
    issuer: TokenIssuer | None = None  # only functions holding the signing key issue tokens
    introspection_scope: str = "introspect"

    def start(self, sub: str, scope: str) -> TokenPair:
        self.denylist.wait_for_not_before(sub)
        pair = self._issuer().issue(sub, scope)
        log_event(logger, "session_started", sub=sub, sid=pair.sid, jti=pair.access_jti)
        return pair

    def refresh(self, refresh_token: str) -> TokenPair:
        claims = self.refresh_verifier.verify(refresh_token)
        reason = self.revocations.lookup(claims)
        if reason is not None and reason != TOKEN_ROTATED:
            raise TokenRevokedError(reason)
        # The conditional write is the single point of truth: of concurrent uses, one wins.
        if reason == TOKEN_ROTATED or not self.denylist.claim_refresh_token(claims.jti, claims.exp):
            if claims.sid:
                self.denylist.revoke_session(claims.sid, "refresh token reuse")
            log_event(
                logger, "refresh_token_reuse", logging.WARNING, sub=claims.sub, sid=claims.sid, jti=claims.jti
            )
            raise RefreshTokenReuseError("refresh token was already used; the session is revoked")
        auth_time = claims.raw.get("auth_time")
        pair = self._issuer().issue(
            claims.sub,
            claims.scope,
            sid=claims.sid,
            auth_time=auth_time if isinstance(auth_time, int) else None,
        )
        log_event(
            logger, "refreshed", sub=claims.sub, sid=claims.sid, jti=claims.jti, new_jti=pair.access_jti
        )
        return pair

    def authenticate(self, access_token: str | None) -> TokenClaims:
        """A valid, unrevoked access token's claims, checked against the denylist right now."""
        if access_token is None:
            raise MissingTokenError("a Bearer access token is required")
        claims = self.access.verify(access_token)
        reason = self.revocations.lookup(claims)
        if reason is not None:
            raise TokenRevokedError(reason)
        return claims

    def logout(self, claims: TokenClaims, refresh_token: str | None = None) -> None:
        """End the session of an authenticated access token: every token of it stops working."""
        if claims.sid:
            self.denylist.revoke_session(claims.sid, "logout")
        self.denylist.revoke_token(claims.jti, claims.exp, "logout")
        if refresh_token:
            refresh = self._verified_or_none(self.refresh_verifier, refresh_token)
            if refresh is not None and refresh.sub == claims.sub:
                self.denylist.revoke_token(refresh.jti, refresh.exp, "logout")
        log_event(logger, "logout", sub=claims.sub, sid=claims.sid, jti=claims.jti)

    def revoke(self, token: str, hint: str | None = None) -> None:
        """RFC 7009: revoke a token we issued; anything else is silently ignored (§2.2)."""
        for kind, verifier in self._by_hint(hint):
            claims = self._verified_or_none(verifier, token)
            if claims is None:
                continue
            self.denylist.revoke_token(claims.jti, claims.exp, "revoked")
            if kind == "refresh_token" and claims.sid:
                # §2.1: revoking a refresh token also ends the access tokens of its grant.
                self.denylist.revoke_session(claims.sid, "refresh token revoked")
            log_event(logger, "revoked", sub=claims.sub, sid=claims.sid, jti=claims.jti, token_type=kind)
            return

    def introspect(self, caller: TokenClaims, token: str, hint: str | None = None) -> dict[str, Any]:
        """RFC 7662, for callers whose token carries the introspection scope."""
        if self.introspection_scope not in caller.scopes:
            raise InsufficientScopeError(f"introspection requires the {self.introspection_scope!r} scope")
        for kind, verifier in self._by_hint(hint):
            claims = self._verified_or_none(verifier, token)
            if claims is None:
                continue
            if self.revocations.lookup(claims) is not None:
                break
            raw = claims.raw
            return {
                "active": True,
                "token_type": kind,
                "scope": claims.scope,
                "client_id": claims.client_id,
                "sub": claims.sub,
                "sid": claims.sid,
                "jti": claims.jti,
                "iss": raw.get("iss"),
                "aud": raw.get("aud"),
                "exp": claims.exp,
                "iat": claims.iat,
            }
        return {"active": False}

    def _issuer(self) -> TokenIssuer:
        if self.issuer is None:
            raise RuntimeError("this function was configured without a signing key")
        return self.issuer

    def _by_hint(self, hint: str | None) -> list[tuple[str, TokenVerifier]]:
        kinds = [("access_token", self.access), ("refresh_token", self.refresh_verifier)]
        return kinds[::-1] if hint == "refresh_token" else kinds

    @staticmethod
    def _verified_or_none(verifier: TokenVerifier, token: str) -> TokenClaims | None:
        try:
            return verifier.verify(token)
        except TokenError:
            return None
