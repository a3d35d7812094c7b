"""What the endpoints do, as plain methods: start, refresh, end, revoke and introspect sessions.

Nothing here knows about HTTP or Lambda events; refusals are `authorizer.errors` exceptions.

Every token of a session carries when the session began (`auth_time`): the moment its
credentials were checked, kept unchanged through every refresh. A user's sign-out everywhere
("not before") is judged by it, here and in the authorizer: a session that began before it is
dead, whichever of its tokens presents it, however recently that token was signed.

A session started from a Cognito login (or a token exchange) names that login in its tokens
(`origin_jti`, as Cognito's own tokens do). Ending such a session (logout, revoking its refresh
token, refresh-token reuse) also revokes the login in the denylist (`origin#…`), so every token
naming it stops working, Cognito's and those of every other session exchanged from it, and
revokes its Cognito refresh token at Cognito when the session carries it.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Collection
from concurrent.futures import wait
from dataclasses import dataclass
from typing import Any

from auth_service.cognito.revoke import CognitoRefreshTokenRevoker
from auth_service.denylist import Denylist, SignOut
from auth_service.keys import SigningKeys
from auth_service.sealing import COGNITO_REFRESH_TOKEN_CLAIM, SealError, open_sealed
from auth_service.side_by_side import SideBySide
from auth_service.tokens import AccessToken, CognitoLink, TokenIssuer, TokenPair
from authorizer import metrics
from authorizer.errors import (
    InsufficientScopeError,
    MalformedTokenError,
    TokenError,
    TokenRevokedError,
)
from authorizer.log import log_event
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.revocation import TOKEN_ROTATED, RevocationList
from authorizer.tokens.verifier import TokenVerifier, decode_header

logger = logging.getLogger("lambda_jwt_auth.sessions")


class MissingTokenError(TokenError):
    """The request carries no Bearer access token."""

    error = "invalid_request"


class RefreshTokenReuseError(TokenRevokedError):
    """A retired refresh token was presented again: treated as theft, the session is revoked."""


class SignedOutDuringSignInError(TokenRevokedError):
    """The user was signed out everywhere after their credentials were checked, before the
    session could start: no session is started, the client logs in again."""

    error = "invalid_grant"


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
    keys: SigningKeys | None = None
    cognito_revoker: CognitoRefreshTokenRevoker | None = None
    # Functions that start sessions: the "not before" read overlaps the signing (`start`).
    side_by_side: SideBySide | None = None

    def start(
        self,
        sub: str,
        scope: str,
        *,
        authenticated_at: float,
        cognito: CognitoLink | None = None,
        csrf_hash: str | None = None,
    ) -> TokenPair:
        """A new session for credentials checked at `authenticated_at` (our clock; for an
        exchange, the Cognito login's `auth_time`), judged against the user's sign-out:

        - none, or it came in an earlier second: the session begins at `authenticated_at`'s
          second (`auth_time`);
        - the credentials were checked before the sign-out: refused
          (`SignedOutDuringSignInError`), never signed past it;
        - checked after it, within its second: a new login, which must work at once. It waits
          for the "not before" (under a second) and begins there.

        With `side_by_side`, the pair is signed while the user's item is read: the signing costs
        no time of its own. Nothing leaves here before the read has answered.
        """
        issue = functools.partial(self._issuer().issue, sub, scope, cognito=cognito, csrf_hash=csrf_hash)
        began = math.floor(authenticated_at)
        pair: TokenPair | None = None
        if self.side_by_side is None:
            sign_out = self.denylist.user_sign_out(sub)
        else:
            pending = self.side_by_side.start(functools.partial(self.denylist.user_sign_out, sub))
            try:
                pair = issue(auth_time=began)
            finally:
                wait([pending])
            sign_out = pending.result()  # a failed read: RevocationUnavailableError, a 503
        begins = self._begins(sub, authenticated_at, sign_out)
        if begins != began:
            began, pair = begins, None
        if pair is None:
            pair = issue(auth_time=began)
        log_event(
            logger,
            "session_started",
            sub=sub,
            sid=pair.sid,
            jti=pair.access_jti,
            origin_jti=cognito.origin_jti if cognito else None,
        )
        return pair

    def start_machine(self, client_id: str, scope: str, *, authenticated_at: float) -> AccessToken:
        """An access token for a machine client that authenticated at `authenticated_at`, judged
        against its revocation (`auth-service revoke --client`: the client's "not before") as a
        login is: begun in `authenticated_at`'s second, refused if the client was revoked while it
        authenticated, and a new authentication right after a revocation waits for its second."""
        began = self._begins(client_id, authenticated_at, self.denylist.user_sign_out(client_id))
        token = self._issuer().issue_access(client_id, scope, client_id=client_id, auth_time=began)
        log_event(logger, "machine_token_issued", client_id=client_id, jti=token.jti)
        return token

    def _begins(self, sub: str, authenticated_at: float, sign_out: SignOut | None) -> int:
        """The second a session whose credentials were checked at `authenticated_at` begins, judged
        against `sub`'s sign-out: that second when there is none or it came earlier; refused
        (`SignedOutDuringSignInError`) when the credentials were checked before it; the sign-out's
        "not before" for credentials checked after it within its second, once the clock is there
        (under a second's wait)."""
        began = math.floor(authenticated_at)
        if sign_out is None or began >= sign_out.not_before:
            return began
        if authenticated_at < sign_out.signed_out_at:
            log_event(logger, "session_refused", sub=sub, reason="signed out during sign-in")
            raise SignedOutDuringSignInError(
                "the user was signed out while this sign-in was in progress; log in again"
            )
        self.denylist.wait_until(sign_out.not_before)
        return sign_out.not_before

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
            metrics.count(metrics.REFRESH_REUSE)
            raise RefreshTokenReuseError("refresh token was already used; the session is revoked")
        pair = self._issuer().issue(
            claims.sub,
            claims.scope,
            sid=claims.sid,
            # The session's start, unchanged: a refresh racing a sign-out signs tokens that are
            # dead at once, and no later rotation revives them.
            auth_time=claims.session_start,
            # The Cognito login carries over, its refresh token sealed anew under the current key.
            cognito=self._cognito_link(refresh_token, claims),
            csrf_hash=csrf_hash,
        )
        log_event(
            logger, "refreshed", sub=claims.sub, sid=claims.sid, jti=claims.jti, new_jti=pair.access_jti
        )
        metrics.tokens_issued("refresh_token")
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
        self.may_introspect(caller.scopes)
        return self.describe(token, hint)

    def may_introspect(self, scopes: Collection[str]) -> None:
        """Refuses (403 insufficient_scope) a caller, token or client, without the scope."""
        if self.introspection_scope not in scopes:
            raise InsufficientScopeError(f"introspection requires the {self.introspection_scope!r} scope")

    def describe(self, token: str, hint: str | None = None) -> dict[str, Any]:
        """RFC 7662 §2.2: what a token of ours is, if it is active; `{"active": false}` otherwise.
        An access token is a `Bearer` token (`token_type`, RFC 6749 §7.1); `token_use` tells an
        access token from a refresh token, which is no token type of its own."""
        for kind, verifier in self._by_hint(hint):
            claims = self._verified_or_none(verifier, token)
            if claims is None:
                continue
            if self.revocations.lookup(claims) is not None:
                break
            raw = claims.raw
            return {
                "active": True,
                "token_type": "Bearer" if kind == "access_token" else None,
                "token_use": "access" if kind == "access_token" else "refresh",
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
    return CognitoLink(claims.origin_jti) if claims.origin_jti else None
