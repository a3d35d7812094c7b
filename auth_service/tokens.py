"""Issue signed token pairs: an RFC 9068 access token and a single-use refresh token.

Both tokens carry `auth_time`: when the session began (a login's credential check; kept through
every refresh), which a user's sign-out everywhere is judged by.

A pair issued for a Cognito login also names that login (`origin_jti`, in both tokens, as in
Cognito's own) and, when we hold it, carries the login's Cognito refresh token sealed in the
refresh token (`cognito_rt`, see `auth_service.sealing`), so that logout can revoke it without
any state.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from auth_service.keys import KeyRing, PrivateKey
from auth_service.sealing import COGNITO_REFRESH_TOKEN_CLAIM, seal
from authorizer.claims import ORIGIN_CLAIM
from authorizer.cookies import CSRF_HASH_CLAIM
from authorizer.verifier import ACCESS, REFRESH

ACCESS_TYP, REFRESH_TYP = str(ACCESS.typ), str(REFRESH.typ)


@dataclass(frozen=True)
class CognitoLink:
    """The Cognito login a session stems from: its `origin_jti`, and its refresh token if we hold it."""

    origin_jti: str
    refresh_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str
    sid: str
    access_jti: str
    refresh_jti: str
    issued_at: int  # the `iat` of both tokens

    def response_body(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class AccessToken:
    """An access token with no refresh token (RFC 6749 §4.4.3: client credentials)."""

    access_token: str = field(repr=False)
    expires_in: int
    scope: str
    jti: str

    def response_body(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


class TokenIssuer:
    def __init__(
        self,
        keys: KeyRing,
        *,
        issuer: str,
        audience: str,
        client_id: str,
        access_ttl: int,
        refresh_ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.client_id = client_id
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._clock = clock

    def issue(
        self,
        sub: str,
        scope: str,
        *,
        sid: str | None = None,
        auth_time: int | None = None,
        cognito: CognitoLink | None = None,
        csrf_hash: str | None = None,
    ) -> TokenPair:
        """A new pair; `sid` continues an existing session (refresh) or a new one starts (login).

        `auth_time` is when the session began (`auth_service.sessions` always says; a pair issued
        directly begins now). `csrf_hash` binds a cookie session's CSRF token to both tokens
        (authorizer.cookies).
        """
        now = int(self._clock())
        sid = sid or str(uuid.uuid4())
        common: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "iat": now,
            "scope": scope,
            "sid": sid,
            "client_id": self.client_id,
            "auth_time": auth_time if auth_time is not None else now,
        }
        if cognito is not None:
            common[ORIGIN_CLAIM] = cognito.origin_jti
        if csrf_hash is not None:
            common[CSRF_HASH_CLAIM] = csrf_hash
        access_jti, refresh_jti = str(uuid.uuid4()), str(uuid.uuid4())
        access = {**common, "aud": self.audience, "exp": now + self.access_ttl, "jti": access_jti}
        # Refresh tokens are addressed to us, not to the API, and say what they are twice:
        # in `typ` and in `token_use`. Neither check alone has to hold the line.
        refresh = {
            **common,
            "aud": self.issuer,
            "exp": now + self.refresh_ttl,
            "jti": refresh_jti,
            "token_use": "refresh",
        }
        if cognito is not None and cognito.refresh_token:
            # Sealed with the key that signs this refresh token, bound to its session.
            refresh[COGNITO_REFRESH_TOKEN_CLAIM] = seal(self._private_key(), cognito.refresh_token, sid)
        return TokenPair(
            access_token=self._sign(access, ACCESS_TYP),
            refresh_token=self._sign(refresh, REFRESH_TYP),
            expires_in=self.access_ttl,
            scope=scope,
            sid=sid,
            access_jti=access_jti,
            refresh_jti=refresh_jti,
            issued_at=now,
        )

    def issue_access(self, sub: str, scope: str, *, client_id: str, auth_time: int) -> AccessToken:
        """An access token alone, for a machine client (client_credentials): `sub` and
        `client_id` name the client; `auth_time` is when it authenticated (auth_service.sessions)."""
        now = int(self._clock())
        jti = str(uuid.uuid4())
        claims = {
            "iss": self.issuer,
            "sub": sub,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.access_ttl,
            "jti": jti,
            "scope": scope,
            "client_id": client_id,
            "auth_time": auth_time,
        }
        return AccessToken(self._sign(claims, ACCESS_TYP), self.access_ttl, scope, jti)

    def _private_key(self) -> PrivateKey:
        key = self.keys.current.private_key
        assert key is not None  # load_key_ring guarantees the current key can sign
        return key

    def _sign(self, claims: dict[str, Any], typ: str) -> str:
        key = self.keys.current
        return jwt.encode(
            claims, self._private_key(), algorithm=key.alg, headers={"typ": typ, "kid": key.kid}
        )
