"""Read side of the denylist: is this token, its session or its user revoked?

One DynamoDB table, one BatchGetItem per check covering the token's `jti`, its `sid` and its
user's "not before" time. Revoked answers are cached until the token expires; "not revoked"
answers for at most `cache_seconds`, which bounds the revocation delay (see README).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from authorizer.claims import TokenClaims
from authorizer.errors import RevocationUnavailableError, TokenRevokedError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)

TTL_ATTRIBUTE = "expires_at"
NOT_BEFORE_ATTRIBUTE = "not_before"
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


class RevocationList:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        cache_seconds: int = 5,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._clock = clock
        # jti -> (reason it is revoked or None, time until which the answer may be reused)
        self._cache: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    def check(self, claims: TokenClaims) -> None:
        """Raise `TokenRevokedError` if revoked; may answer from the container's cache."""
        now = self._clock()
        cached = self._cache.get(claims.jti)
        if cached is not None and cached[1] > now:
            reason = cached[0]
        else:
            reason = self.lookup(claims)
            until = claims.exp if reason else min(now + self._cache_seconds, claims.exp)
            self._remember(claims.jti, reason, until)
        if reason:
            raise TokenRevokedError(reason)

    def lookup(self, claims: TokenClaims) -> str | None:
        """Why the token is revoked, or None; always asks DynamoDB (strongly consistent)."""
        keys = [jti_key(claims.jti), user_key(claims.sub)]
        if claims.sid:
            keys.append(sid_key(claims.sid))
        if claims.origin_jti:
            keys.append(origin_key(claims.origin_jti))
        items = self._batch_get(keys)
        now = self._clock()
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
        if user is not None and claims.iat < _number(user, NOT_BEFORE_ATTRIBUTE, default=0):
            return USER_SIGNED_OUT
        if claims.origin_jti and origin_key(claims.origin_jti) in live:
            return LOGIN_REVOKED
        token = live.get(jti_key(claims.jti))
        if token is not None:
            return TOKEN_ROTATED if token.get("reason", {}).get("S") == ROTATED else TOKEN_REVOKED
        return None

    def _batch_get(self, keys: list[str]) -> list[dict[str, Any]]:
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
        items: list[dict[str, Any]] = []
        for _ in range(_MAX_BATCH_ATTEMPTS):
            try:
                response = self._client.batch_get_item(RequestItems=request)
            except (BotoCoreError, ClientError) as exc:
                logger.error("denylist read failed: %s", type(exc).__name__)
                raise RevocationUnavailableError("revocation state is unavailable") from None
            items.extend(response.get("Responses", {}).get(self._table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
        logger.error("denylist read left keys unprocessed after %d attempts", _MAX_BATCH_ATTEMPTS)
        raise RevocationUnavailableError("revocation state is unavailable")

    def _remember(self, jti: str, reason: str | None, until: float) -> None:
        if until <= self._clock():
            return
        self._cache[jti] = (reason, until)
        self._cache.move_to_end(jti)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _number(item: dict[str, Any], name: str, *, default: float) -> float:
    value = item.get(name, {}).get("N")
    return float(value) if value is not None else default
