"""POST /auth/login {"username", "password"} -> a token pair.

The identity backend (AUTH_IDENTITY_BACKEND) checks the password: our user table (argon2id), or
a Cognito user pool, whose user then gets a session of ours tied to that Cognito login.

With `X-Token-Delivery: cookie` (and AUTH_COOKIES=on) the pair goes out as cookies instead
(auth_service.cookies); the Origin must then be an allowed one.

Before any password is checked, `auth_service.login_throttle` admits the attempt: too many failed
logins for the username tried, or from the client's address, are refused with 429 `slow_down`
and `Retry-After` (the same answer for known and unknown usernames), at the cost of a DynamoDB
write and without running argon2 or calling Cognito.

Round trips to DynamoDB are most of a login's time besides the hash, so independent ones overlap
(`auth_service.side_by_side`): three sequential stages instead of five.

1. The user's item is read while the attempt is admitted (two counter writes, one after the
   other). The read tells nothing and decides nothing: its answer is looked at only once the
   attempt is admitted, so a refused attempt still runs no argon2, and a failed read is still
   a 503 that counts nothing.
2. The password check (no request in flight).
3. The counters are settled while the tokens are issued: the user's "not before" is read
   (after the password check, as before: a failed login does not read it, and a known username
   costs no more requests than an unknown one before the hash) while the tokens are signed
   (`Sessions.start`).

The session begins when the credential check began (our clock, read just before it): a sign-out
everywhere written after that moment, while the hash or Cognito was still at work, refuses the
login (401 `invalid_grant`: log in again) instead of letting a session checked before it start.
"""

from __future__ import annotations

import functools
import logging
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auth_service import runtime
from auth_service.cognito.login import CognitoLogin, CognitoLoginError
from auth_service.config import IdentityBackend
from auth_service.http import (
    HttpError,
    Request,
    endpoint,
    json_response,
    read_json,
    required_text,
    unauthorized,
)
from auth_service.login_throttle import (
    LoginAttempt,
    LoginThrottle,
    LoginThrottledError,
    throttle_key,
)
from auth_service.side_by_side import SideBySide
from auth_service.tokens import CognitoLink
from authorizer import metrics
from authorizer.log import log_event

if TYPE_CHECKING:
    from auth_service.users import StoredUser, UserTable

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
logger = logging.getLogger("lambda_jwt_auth.login")
# Only the configured backend is built: the Cognito path never imports argon2.
_cognito: CognitoLogin | None = None
_users: UserTable | None = None
if runtime.config().identity_backend is IdentityBackend.COGNITO:
    _cognito = runtime.cognito_login()
else:
    _users = runtime.users()
_sessions = runtime.sessions(signing=True)
# Derived from the key that signs at cold start: a key rotation starts new counters.
_throttle_material = runtime.key_ring().current.material()
assert _throttle_material is not None  # the current key has a private key or a KMS key's secret
_side_by_side = SideBySide("login")
_throttle = LoginThrottle(
    runtime.dynamodb(),
    runtime.config().common.denylist_table,
    runtime.config().login_throttle,
    key=throttle_key(_throttle_material),
    side_by_side=_side_by_side,
)
_MAX_BODY_BYTES = runtime.config().max_body_bytes
_cookies = runtime.session_cookies()


@dataclass(frozen=True)
class _Identity:
    sub: str
    scope: str
    authenticated_at: float  # when the credential check began
    cognito: CognitoLink | None = None


def login(request: Request) -> dict[str, Any]:
    as_cookies = _cookies.requested(request)
    body = read_json(request)
    username = required_text(body, "username")
    password = required_text(body, "password")
    # Read while the attempt is admitted; looked at only once it is (see the module docstring).
    stored = _side_by_side.start(functools.partial(_users.lookup, username)) if _users else None
    try:
        attempt = _admit(request, username)
    except BaseException:
        if stored is not None:
            wait([stored])  # no request of this login outlives it
        raise
    try:
        identity = _identify(request, username, password, stored)
    except Exception:
        attempt.abandoned()
        raise
    if identity is None:
        attempt.failed()
        metrics.count(metrics.LOGIN_FAILURES)
        # The same answer for an unknown user and a wrong password, whichever backend.
        raise unauthorized("invalid username or password", error="invalid_grant")
    csrf_token, csrf_hash = _cookies.new_csrf_token() if as_cookies else (None, None)
    pair = attempt.succeeded_while(
        functools.partial(
            _sessions.start,
            identity.sub,
            identity.scope,
            authenticated_at=identity.authenticated_at,
            cognito=identity.cognito,
            csrf_hash=csrf_hash,
        )
    )
    metrics.count(metrics.LOGINS)
    metrics.tokens_issued("password")
    if csrf_token is not None:
        return _cookies.session_response(pair, csrf_token)
    return json_response(200, pair.response_body())


def _admit(request: Request, username: str) -> LoginAttempt:
    try:
        return _throttle.admit(username, request.source_ip)
    except LoginThrottledError as exc:
        log_event(logger, "login_throttled", request_id=request.request_id, limit=exc.limit)
        metrics.count(metrics.LOCKOUTS)
        raise HttpError(429, "slow_down", str(exc), {"Retry-After": str(exc.retry_after)}) from None


def _identify(
    request: Request, username: str, password: str, stored: Future[StoredUser | None] | None
) -> _Identity | None:
    """Who the credentials belong to; None for wrong ones. Other refusals raise `HttpError`."""
    if _cognito is None:
        assert _users is not None and stored is not None
        found = stored.result()
        checked_at = time.time()
        user = _users.check_password(found, password)
        if user is None:
            log_event(logger, "login_failed", request_id=request.request_id)
            return None
        return _Identity(user.sub, user.scope, checked_at)
    checked_at = time.time()
    try:
        cognito_user = _cognito.authenticate(username, password)
    except CognitoLoginError as exc:
        log_event(logger, "login_failed", request_id=request.request_id, error=exc.error)
        if exc.status == 401:
            return None
        raise HttpError(exc.status, exc.error, str(exc), exc.headers) from None
    link = (
        CognitoLink(cognito_user.origin_jti, cognito_user.refresh_token) if cognito_user.origin_jti else None
    )
    return _Identity(cognito_user.sub, cognito_user.scope, checked_at, link)


handler = endpoint(login, max_body_bytes=_MAX_BODY_BYTES, metrics=runtime.metrics())
