"""Read side of the denylist: is this token, its session or its user revoked?

One DynamoDB table, one BatchGetItem per check covering the token's `jti`, its `sid`, its
Cognito login (`origin_jti`) and its user's "not before" time. A user's sign-out is judged by
when the token's session began (`TokenClaims.session_start`, from `auth_time`), not by the
token's `iat`: a session that began before the user's "not before" is dead, whichever of its
tokens presents it, a token a refresh signed just after the sign-out included.

Revoked answers are cached until the token expires; "not revoked" answers for at most
`cache_seconds`, which bounds the revocation delay (see README).

When DynamoDB cannot answer (throttled, timed out, unreachable, or an answer we cannot read),
the check fails closed: `RevocationUnavailableError`, an ERROR log line, the request refused.
Opt-in grace mode (`grace_seconds` > 0, AUTH_REVOCATION_GRACE_SECONDS) answers from the last
known state of that token instead, with a WARNING each time:

* a cached "not revoked" answer is reused up to `grace_seconds` past the moment it would
  normally have been read again (its `cache_seconds`, or the token's `exp`); the window counts
  from the last successful read, and failed reads do not extend it;
* a cached "revoked" answer stays revoked;
* a token with no cached answer (never seen, or evicted from the bounded cache) is refused.

During an outage the revocation delay thus grows to `cache_seconds` + `grace_seconds`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from authorizer import metrics
from authorizer.aws.client import AwsRequestError
from authorizer.errors import RevocationUnavailableError, TokenRevokedError
from authorizer.log import ERROR, WARNING, get_logger, log_event
from authorizer.tokens.claims import TokenClaims

logger = get_logger("lambda_jwt_auth.revocation")

TTL_ATTRIBUTE = "expires_at"
NOT_BEFORE_ATTRIBUTE = "not_before"  # on a user's item: sessions that began before it are dead
SIGNED_OUT_AT_ATTRIBUTE = "signed_out_at"  # and the sign-out's exact instant (issuing side only)
REASON_ATTRIBUTE = "reason"
ROTATED = "rotated"  # the reason stored for a refresh token retired by use

# What `lookup` answers: reasons, not secrets.
TOKEN_REVOKED = "token revoked"  # noqa: S105
TOKEN_ROTATED = "refresh token already used"  # noqa: S105
SESSION_REVOKED = "session revoked"
LOGIN_REVOKED = "login revoked"
USER_SIGNED_OUT = "user signed out everywhere"
_MAX_BATCH_ATTEMPTS = 3


def jti_key(jti: str) -> str:
    return f"jti#{jti}"


def sid_key(sid: str) -> str:
    return f"sid#{sid}"


def user_key(sub: str) -> str:
    return f"user#{sub}"


def origin_key(origin_jti: str) -> str:
    """A Cognito login: every access and ID token with this `origin_jti`."""
    return f"origin#{origin_jti}"


class BatchGetter(Protocol):
    """What the denylist is read through: the authorizer's own client (authorizer.aws.dynamodb), or a
    boto3 DynamoDB client on the issuing side."""

    def batch_get_item(self, *, RequestItems: Any) -> Any: ...


_count = metrics.count
_timer = time.perf_counter  # the latency metric's clock
_HITS, _MISSES = metrics.REVOCATION_CACHE_HITS, metrics.REVOCATION_CACHE_MISSES


class _ReadFailure(Exception):
    """The denylist could not be read. Says why in words fit for a log line: types, never tokens."""

    def __init__(self, error: str, code: str | None = None) -> None:
        super().__init__(error)
        self.error = error  # the exception type, or what was wrong with the answer
        self.code = code  # DynamoDB's error code, or a detail


@dataclass(frozen=True, slots=True)
class _Answer:
    reason: str | None  # why the token is revoked, or None
    until: float  # clock() until which the answer is reused without asking DynamoDB


class RevocationList:
    def __init__(
        self,
        client: BatchGetter,
        table: str,
        *,
        cache_seconds: int = 5,
        cache_size: int = 10_000,
        grace_seconds: int = 0,
        follow_up_window: float | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._table = table
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._grace = grace_seconds
        # Keys DynamoDB left unprocessed are asked for again only within this many seconds of the
        # first read: a slow DynamoDB must not stretch one check past its time budget.
        self._follow_up_window = follow_up_window
        self._clock = clock
        self._monotonic = monotonic
        # jti -> its last answer. One bounded LRU serves both the normal cache and, in grace mode,
        # the last known state: an entry stays after `until` only while grace may still use it.
        # (issuer, jti) -> answer: a `jti` is unique only within its issuer, and another trusted
        # issuer's token must never reuse the answer cached for one of ours.
        self._cache: OrderedDict[tuple[str, str], _Answer] = OrderedDict()

    @classmethod
    def for_table(
        cls, table: str, *, region: str, endpoint: str | None = None, cache_seconds: int = 5
    ) -> RevocationList:
        """Our denylist `table`, read as the authorizer reads it: its own SigV4 client (no boto3),
        credentials from the environment as the AWS SDKs find them, `endpoint` for a local one.
        A "not revoked" answer is reused for `cache_seconds` (the revocation delay's share)."""
        import os

        from authorizer.aws.credentials import from_environment
        from authorizer.aws.dynamodb import DynamoDB

        credentials = from_environment(os.environ, local_endpoint=endpoint is not None)
        return cls(DynamoDB.connect_to(region, endpoint, credentials), table, cache_seconds=cache_seconds)

    @property
    def client(self) -> BatchGetter:
        return self._client

    def check(self, claims: TokenClaims) -> None:
        """Raise `TokenRevokedError` if revoked; may answer from the container's cache.

        Raises `RevocationUnavailableError` when DynamoDB cannot answer and grace mode has no
        usable last known state for this token.
        """
        now = self._clock()
        key = (claims.issuer, claims.jti)  # as `_cache_key`, inline: every request asks
        cached = self._cache.get(key)
        if cached is not None and cached.until > now:
            reason = cached.reason
            _count(_HITS)
        else:
            _count(_MISSES)
            try:
                reason = self._read(claims)
            except _ReadFailure as failure:
                reason = self._last_known(claims, cached, failure, now)
            else:
                until = claims.exp if reason else min(now + self._cache_seconds, claims.exp)
                self._remember(key, _Answer(reason, until))
        if reason:
            raise TokenRevokedError(reason)

    def lookup(self, claims: TokenClaims) -> str | None:
        """Why the token is revoked, or None; always asks DynamoDB (strongly consistent)."""
        try:
            return self._read(claims)
        except _ReadFailure as failure:
            self._log_failure(claims, failure)
            raise RevocationUnavailableError("revocation state is unavailable") from None

    def _read(self, claims: TokenClaims) -> str | None:
        keys = [jti_key(claims.jti), user_key(claims.sub)]
        if claims.sid:
            keys.append(sid_key(claims.sid))
        if claims.origin_jti:
            keys.append(origin_key(claims.origin_jti))
        items = self._batch_get(keys)
        try:
            return _reason(claims, items, self._clock())
        except (KeyError, TypeError, ValueError, AttributeError):
            # An item of the wrong shape: we cannot tell what it revokes, so we know nothing.
            raise _ReadFailure("MalformedResponse", "a denylist item has the wrong shape") from None

    def _batch_get(self, keys: list[str]) -> list[Mapping[str, Any]]:
        request: Any = {
            self._table: {
                "Keys": [{"pk": {"S": key}} for key in keys],
                "ConsistentRead": True,
                "ProjectionExpression": "pk, #ttl, #nbf, #reason",
                "ExpressionAttributeNames": {
                    "#ttl": TTL_ATTRIBUTE,
                    "#nbf": NOT_BEFORE_ATTRIBUTE,
                    "#reason": REASON_ATTRIBUTE,
                },
            }
        }
        items: list[Mapping[str, Any]] = []
        started = self._monotonic()
        for attempt in range(_MAX_BATCH_ATTEMPTS):
            window = self._follow_up_window
            if attempt and window is not None and self._monotonic() - started > window:
                raise _ReadFailure("UnprocessedKeys", "no time left to read the keys left unprocessed")
            sent = _timer()  # not self._monotonic: the read's budget is judged on that clock alone
            try:
                response = self._client.batch_get_item(RequestItems=request)
            except Exception as exc:
                # Whatever the client raises, including on an answer it cannot parse, means the
                # denylist is unreadable; an exception escaping here would be a 500, not a "no".
                metrics.count(metrics.DENYLIST_READ_FAILURES)
                raise _ReadFailure(*_describe(exc)) from None
            metrics.milliseconds(metrics.DENYLIST_READ_LATENCY, (_timer() - sent) * 1000)
            found, request = _batch_result(response, self._table)
            items.extend(found)
            if not request:
                return items
        raise _ReadFailure("UnprocessedKeys", f"keys left unprocessed after {_MAX_BATCH_ATTEMPTS} reads")

    def _last_known(
        self, claims: TokenClaims, cached: _Answer | None, failure: _ReadFailure, now: float
    ) -> str | None:
        """Grace mode: the token's last known state, if there is a usable one; else refuse."""
        why: str | None = None
        if self._grace > 0:
            # A revoked answer never expires here: nothing un-revokes a token before it expires.
            if cached is not None and (cached.reason or now < cached.until + self._grace):
                log_event(
                    logger,
                    "revocation_grace",
                    WARNING,
                    message="denylist read failed; answering from the last known state (grace mode)",
                    error=failure.error,
                    error_code=failure.code,
                    jti=claims.jti,
                    answer="revoked" if cached.reason else "not revoked",
                    stale_seconds=round(now - cached.until, 3),
                    grace_seconds=self._grace,
                )
                return cached.reason
            why = "no last known state" if cached is None else "last known state is past the grace period"
        self._log_failure(claims, failure, why)
        raise RevocationUnavailableError("revocation state is unavailable") from None

    def _log_failure(self, claims: TokenClaims, failure: _ReadFailure, grace: str | None = None) -> None:
        log_event(
            logger,
            "denylist_read_failed",
            ERROR,
            message="denylist read failed; the request is refused (fail closed)",
            error=failure.error,
            error_code=failure.code,
            jti=claims.jti,
            grace=grace,
        )

    def _remember(self, key: tuple[str, str], answer: _Answer) -> None:
        now = self._clock()
        # Without grace an answer is only worth keeping while it may be reused. With grace it is
        # also the last known state an outage falls back on: a revoked one for as long as the
        # LRU keeps it, a "not revoked" one for grace_seconds past its reuse.
        keep = answer.until > now or (self._grace > 0 and (answer.reason or answer.until + self._grace > now))
        if not keep:
            return
        self._cache[key] = answer
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _reason(claims: TokenClaims, items: list[Mapping[str, Any]], now: float) -> str | None:
    live = {
        item["pk"]["S"]: item
        for item in items
        if "pk" in item and _number(item, TTL_ATTRIBUTE, default=float("inf")) > now
    }
    # Session and user first: they say more than "this token" (a refresh token retired by
    # rotation is also in its revoked session after a logout, and that is no theft).
    if claims.sid and sid_key(claims.sid) in live:
        return SESSION_REVOKED
    user = live.get(user_key(claims.sub))
    if user is not None and claims.session_start < _number(user, NOT_BEFORE_ATTRIBUTE, default=0):
        return USER_SIGNED_OUT
    if claims.origin_jti and origin_key(claims.origin_jti) in live:
        return LOGIN_REVOKED
    token = live.get(jti_key(claims.jti))
    if token is not None:
        return TOKEN_ROTATED if token.get("reason", {}).get("S") == ROTATED else TOKEN_REVOKED
    return None


def _batch_result(response: Any, table: str) -> tuple[list[Mapping[str, Any]], Any]:
    """The items and the keys left unprocessed of one BatchGetItem answer, checked for shape."""
    if not isinstance(response, Mapping):
        raise _ReadFailure("MalformedResponse", "BatchGetItem answer is not a map")
    unprocessed = response.get("UnprocessedKeys") or {}
    # DynamoDB always answers with a Responses map (empty when nothing was found). Without one,
    # the answer is not DynamoDB's, and "no items" would wrongly read as "nothing revoked".
    responses = response.get("Responses", {} if unprocessed else None)
    if not isinstance(responses, Mapping) or not isinstance(unprocessed, Mapping):
        raise _ReadFailure("MalformedResponse", "BatchGetItem answer has no Responses map")
    items = responses.get(table, [])
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise _ReadFailure("MalformedResponse", "BatchGetItem items are not a list of maps")
    return items, unprocessed


def _describe(exc: Exception) -> tuple[str, str | None]:
    """(error, error code) of a failed read, for the log line."""
    if isinstance(exc, AwsRequestError):
        return exc.error, exc.code
    # boto3 (the issuing side): a ClientError carries the service's error code.
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, Mapping) else None
    return type(exc).__name__, str(code) if code else None


def _number(item: Mapping[str, Any], name: str, *, default: float) -> float:
    value = item.get(name, {}).get("N")
    return float(value) if value is not None else default


def _cache_key(claims: TokenClaims) -> tuple[str, str]:
    return (claims.issuer, claims.jti)
