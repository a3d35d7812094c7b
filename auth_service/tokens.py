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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from auth_service.keys import SigningKey, SigningKeys
from auth_service.sealing import COGNITO_REFRESH_TOKEN_CLAIM, seal
from authorizer.errors import KidNotFoundError, UnavailableError
from authorizer.gateway.cookies import CSRF_HASH_CLAIM
from authorizer.tokens.claims import ORIGIN_CLAIM
from authorizer.tokens.verifier import ACCESS, REFRESH, KeyLookup

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


_kms_signers: list[ThreadPoolExecutor] = []  # made on the first KMS-signed pair of a container


def _sign_both(
    key: SigningKey, first: tuple[dict[str, Any], str], second: tuple[dict[str, Any], str]
) -> tuple[str, str]:
    """Both tokens of a pair. With a KMS key, the two Sign calls go out side by side: a login
    waits for one KMS round trip instead of two (boto3 clients are thread-safe)."""
    if key.kms is None:
        return key.sign(first[0], {"typ": first[1]}), key.sign(second[0], {"typ": second[1]})
    if not _kms_signers:
        _kms_signers.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="kms-sign"))
    other = _kms_signers[0].submit(key.sign, second[0], {"typ": second[1]})
    try:
        token = key.sign(first[0], {"typ": first[1]})
    finally:
        second_token = other.result()  # waits, and raises its KmsSigningError if it failed
    return token, second_token


class UnpublishedKeyError(UnavailableError):
    """The signing key is not (yet) in the published keys: a token it signed would be refused."""


class TokenIssuer:
    def __init__(
        self,
        keys: SigningKeys,
        *,
        published: KeyLookup | None = None,
        issuer: str,
        audience: str,
        client_id: str,
        access_ttl: int,
        refresh_ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        # Where verifiers find our keys: a key missing there never signs (a rotation step
        # half-read by this container, a key revoked since).
        self._published = published
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
        (authorizer.gateway.cookies).
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
        key = self._signing_key()  # one key for both tokens, whatever a re-read brings meanwhile
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
            material = key.material()
            assert material is not None  # a key that signs has a private key or a secret
            refresh[COGNITO_REFRESH_TOKEN_CLAIM] = seal(material, cognito.refresh_token, sid)
        access_token, refresh_token = _sign_both(key, (access, ACCESS_TYP), (refresh, REFRESH_TYP))
        return TokenPair(
            access_token=access_token,
            refresh_token=refresh_token,
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
        return AccessToken(self._signing_key().sign(claims, {"typ": ACCESS_TYP}), self.access_ttl, scope, jti)

    def _signing_key(self) -> SigningKey:
        key = self.keys.current
        if self._published is not None:
            try:
                self._published.get(key.kid)
            except KidNotFoundError:
                raise UnpublishedKeyError(
                    f"the signing key {key.kid} is not in the published keys yet; retry shortly"
                ) from None
        return key
