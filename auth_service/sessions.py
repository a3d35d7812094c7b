"""What the endpoints do, as plain methods: start, refresh, end, revoke and introspect sessions.

Nothing here knows about HTTP or Lambda events; refusals are `authorizer.errors` exceptions.

A session started from a Cognito login (or a token exchange) names that login in its tokens
(`cognito_origin_jti`). Ending such a session (logout, revoking its refresh token, refresh-token
reuse) also revokes the login in the denylist (`origin#…`), so the authorizer refuses its Cognito
tokens too, and revokes its Cognito refresh token at Cognito when the session carries it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent.futures import wait
from dataclasses import dataclass
from typing import Any

from auth_service.cognito_revoke import CognitoRefreshTokenRevoker
from auth_service.denylist import Denylist
from auth_service.keys import KeyRing
from auth_service.sealing import COGNITO_REFRESH_TOKEN_CLAIM, SealError, open_sealed
from auth_service.side_by_side import SideBySide
from auth_service.tokens import COGNITO_ORIGIN_CLAIM, CognitoLink, TokenIssuer, TokenPair
from authorizer.claims import TokenClaims
from authorizer.errors import InsufficientScopeError, MalformedTokenError, TokenError, TokenRevokedError
from authorizer.log import log_event
from authorizer.revocation import TOKEN_ROTATED, RevocationList
from authorizer.verifier import TokenVerifier, decode_header

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
    # Cognito-backed sessions: the keys that open a sealed Cognito refresh token (the signing key
    # ring), and who revokes it at Cognito. Without them only the denylist side is done.
    keys: KeyRing | None = None
    cognito_revoker: CognitoRefreshTokenRevoker | None = None
    # Functions that start sessions: the "not before" read overlaps the signing (`start`).
    side_by_side: SideBySide | None = None

    def start(
        self, sub: str, scope: str, *, cognito: CognitoLink | None = None, csrf_hash: str | None = None
    ) -> TokenPair:
        """A new session's pair, issued once its `iat` clears the user's "not before".

        With `side_by_side`, the pair is signed while the user's "not before" is read, and
        signed again (after waiting, at most a second) only if it was issued before it: the
        signing costs no time of its own. Nothing leaves here before the read has answered.
        """
        issue = functools.partial(self._issuer().issue, sub, scope, cognito=cognito, csrf_hash=csrf_hash)
        if self.side_by_side is None:
            self.denylist.wait_for_not_before(sub)
            pair = issue()
        else:
            pending = self.side_by_side.start(functools.partial(self.denylist.user_not_before, sub))
            try:
                pair = issue()
            finally:
                wait([pending])
            not_before = pending.result()  # a failed read: RevocationUnavailableError, a 503
            if not_before is not None and pair.issued_at < not_before:
                self.denylist.wait_until(not_before)
                pair = issue()
        log_event(
            logger,
            "session_started",
            sub=sub,
            sid=pair.sid,
            jti=pair.access_jti,
            origin_jti=cognito.origin_jti if cognito else None,
        )
        return pair

    def refresh(
        self,
        refresh_token: str,
        *,
        csrf_hash: str | None = None,
        guard: Callable[[TokenClaims], None] | None = None,
    ) -> TokenPair:
        """A new pair for a refresh token, which is retired.

        `guard` sees the verified claims first and may refuse by raising (the cookie flow's CSRF
        check): the token is then left unused. `csrf_hash` binds the new pair's CSRF token.
        """
        claims = self.refresh_verifier.verify(refresh_token)
        if guard is not None:
            guard(claims)
        reason = self.revocations.lookup(claims)
        if reason is not None and reason != TOKEN_ROTATED:
            raise TokenRevokedError(reason)
        # The conditional write is the single point of truth: of concurrent uses, one wins.
        if reason == TOKEN_ROTATED or not self.denylist.claim_refresh_token(claims.jti, claims.exp):
            if claims.sid:
                self.denylist.revoke_session(claims.sid, "refresh token reuse")
            self._end_cognito_login(
                self._cognito_link(refresh_token, claims), claims.sub, "refresh token reuse"
            )
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
            # The Cognito login carries over, its refresh token sealed anew under the current key.
            cognito=self._cognito_link(refresh_token, claims),
            csrf_hash=csrf_hash,
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
        """End the session of an authenticated access token: every token of it stops working.

        The writes that make the access token unusable (session, then its jti) come last: if a
        write fails (503), the client's retry still authenticates and completes the rest.
        """
        links = [_origin_only(claims)]
        if refresh_token:
            refresh = self._verified_or_none(self.refresh_verifier, refresh_token)
            if refresh is not None and refresh.sub == claims.sub:
                self.denylist.revoke_token(refresh.jti, refresh.exp, "logout")
                links.insert(0, self._cognito_link(refresh_token, refresh))
        done: set[str] = set()
        for link in links:
            if link is not None and link.origin_jti not in done:
                done.add(link.origin_jti)
                self._end_cognito_login(link, claims.sub, "logout")
        if claims.sid:
            self.denylist.revoke_session(claims.sid, "logout")
        self.denylist.revoke_token(claims.jti, claims.exp, "logout")
        log_event(logger, "logout", sub=claims.sub, sid=claims.sid, jti=claims.jti)

    def revoke(self, token: str, hint: str | None = None) -> None:
        """RFC 7009: revoke a token we issued; anything else is silently ignored (§2.2)."""
        for kind, verifier in self._by_hint(hint):
            claims = self._verified_or_none(verifier, token)
            if claims is None:
                continue
            self.denylist.revoke_token(claims.jti, claims.exp, "revoked")
            if kind == "refresh_token":
                # §2.1: revoking a refresh token also ends the access tokens of its grant.
                if claims.sid:
                    self.denylist.revoke_session(claims.sid, "refresh token revoked")
                self._end_cognito_login(
                    self._cognito_link(token, claims), claims.sub, "refresh token revoked"
                )
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

    def _cognito_link(self, token: str, claims: TokenClaims) -> CognitoLink | None:
        """The Cognito login a verified token of ours names, with its refresh token if we can open it."""
        link = _origin_only(claims)
        sealed = claims.raw.get(COGNITO_REFRESH_TOKEN_CLAIM)
        if link is None or not isinstance(sealed, str) or self.keys is None or not claims.sid:
            return link
        try:
            kid = decode_header(token).get("kid")  # the token is verified: its header is its signer's
            opened = open_sealed(self.keys, str(kid), sealed, claims.sid)
        except (MalformedTokenError, SealError) as exc:
            log_event(
                logger,
                "cognito_refresh_token_unreadable",
                logging.WARNING,
                sid=claims.sid,
                jti=claims.jti,
                origin_jti=link.origin_jti,
                reason=str(exc),
            )
            return link
        if opened is None:
            log_event(
                logger,
                "cognito_refresh_token_key_retired",
                logging.WARNING,
                sid=claims.sid,
                jti=claims.jti,
                origin_jti=link.origin_jti,
            )
        return CognitoLink(link.origin_jti, opened)

    def _end_cognito_login(self, link: CognitoLink | None, sub: str, reason: str) -> None:
        """Refuse the login's Cognito tokens everywhere, then revoke its refresh token at Cognito."""
        if link is None:
            return
        self.denylist.revoke_origin(link.origin_jti, reason)
        log_event(logger, "cognito_login_revoked", sub=sub, origin_jti=link.origin_jti, reason=reason)
        if link.refresh_token and self.cognito_revoker is not None:
            self.cognito_revoker.revoke(link.refresh_token, sub=sub, origin_jti=link.origin_jti)

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


def _origin_only(claims: TokenClaims) -> CognitoLink | None:
    origin = claims.raw.get(COGNITO_ORIGIN_CLAIM)
    return CognitoLink(origin) if isinstance(origin, str) and origin else None
