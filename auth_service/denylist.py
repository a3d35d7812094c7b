"""Write side of the denylist: revoke a token, a session or all of a user's tokens.

Every item carries `expires_at` for DynamoDB TTL: it lives exactly as long as some token it
revokes could still verify, and not longer. The read side is `authorizer.revocation`.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from authorizer.errors import RevocationUnavailableError
from authorizer.log import log_event
from authorizer.revocation import (
    NOT_BEFORE_ATTRIBUTE,
    REASON_ATTRIBUTE,
    ROTATED,
    TTL_ATTRIBUTE,
    jti_key,
    origin_key,
    sid_key,
    user_key,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger("lambda_jwt_auth.denylist")

# On a refresh token's item: the value its claim wrote (see `claim_refresh_token`).
CLAIM_ATTRIBUTE = "claim"


class Denylist:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        max_token_lifetime: int,
        leeway: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table
        # How long after "now" any token issued before now could still verify.
        self._horizon = max_token_lifetime + leeway
        self._leeway = leeway
        self._clock = clock
        self._sleep = sleep

    def revoke_token(self, jti: str, exp: int, reason: str) -> None:
        self._put(jti_key(jti), exp + self._leeway, reason)

    def revoke_jti(self, jti: str, reason: str) -> None:
        """Revoke a token known only by its jti: kept for as long as any token could live."""
        self._put(jti_key(jti), int(self._clock()) + self._horizon, reason)

    def revoke_session(self, sid: str, reason: str) -> None:
        self._put(sid_key(sid), int(self._clock()) + self._horizon, reason)

    def revoke_origin(self, origin_jti: str, reason: str) -> None:
        """Revoke a Cognito login: every Cognito access and ID token carrying this `origin_jti`.

        Kept as long as our own tokens could live: the session this ends cannot outlast that, and
        its Cognito refresh token is revoked at Cognito as well when we hold it.
        """
        self._put(origin_key(origin_jti), int(self._clock()) + self._horizon, reason)

    def revoke_user(self, sub: str, reason: str) -> int:
        """Revoke every token of `sub` issued up to now; returns the new "not before" time.

        `iat` has whole seconds, so tokens issued later within this second are refused too;
        `wait_for_not_before` keeps a login right after this from being caught by it.
        """
        not_before = math.floor(self._clock()) + 1
        self._put(
            user_key(sub), int(self._clock()) + self._horizon, reason, {NOT_BEFORE_ATTRIBUTE: not_before}
        )
        return not_before

    def claim_refresh_token(self, jti: str, exp: int) -> bool:
        """Retire a refresh token; False if it was retired already (reuse or a lost race).

        The conditional write is idempotent for its own retries: it carries a value drawn for this
        claim, and the condition also passes when the item already holds that value. So when
        DynamoDB applied the write but its answer was lost (a read timeout), the SDK's retry of
        the same PutItem succeeds instead of reading as reuse and revoking the session.
        """
        try:
            self._put(jti_key(jti), exp + self._leeway, ROTATED, claim=secrets.token_urlsafe(16))
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise _unavailable("write", exc) from None
        return True

    def user_not_before(self, sub: str) -> int | None:
        try:
            item = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": user_key(sub)}}, ConsistentRead=True
            ).get("Item")
            if not item or float(item[TTL_ATTRIBUTE]["N"]) <= self._clock():
                return None
            return int(item[NOT_BEFORE_ATTRIBUTE]["N"])
        except Exception as exc:
            # Any failure, an answer of the wrong shape included, is "unavailable" (503), not a 500.
            raise _unavailable("read", exc) from None

    def wait_for_not_before(self, sub: str, sleep: Callable[[float], None] | None = None) -> None:
        """Delay issuing (at most a second) until a fresh `iat` clears the user's "not before"."""
        self.wait_until(self.user_not_before(sub), sleep)

    def wait_until(self, not_before: int | None, sleep: Callable[[float], None] | None = None) -> None:
        """Delay issuing (at most a second) until a fresh `iat` clears `not_before` (read before)."""
        if not_before is not None:
            delay = not_before - self._clock()
            if 0 < delay <= 1:
                (sleep or self._sleep)(delay)

    def _put(
        self,
        key: str,
        expires_at: int,
        reason: str,
        extra: dict[str, int] | None = None,
        claim: str | None = None,
    ) -> None:
        """Write one item. The same item written twice is the same state: retrying is safe."""
        item: dict[str, Any] = {
            "pk": {"S": key},
            TTL_ATTRIBUTE: {"N": str(expires_at)},
            REASON_ATTRIBUTE: {"S": reason},
            "revoked_at": {"N": str(int(self._clock()))},
        }
        for name, value in (extra or {}).items():
            item[name] = {"N": str(value)}
        kwargs: dict[str, Any] = {"TableName": self._table, "Item": item}
        if claim is not None:
            item[CLAIM_ATTRIBUTE] = {"S": claim}
            kwargs["ConditionExpression"] = "attribute_not_exists(pk) OR #claim = :claim"
            kwargs["ExpressionAttributeNames"] = {"#claim": CLAIM_ATTRIBUTE}
            kwargs["ExpressionAttributeValues"] = {":claim": {"S": claim}}
        try:
            self._client.put_item(**kwargs)
        except ClientError as exc:
            if claim is not None and _error_code(exc) == "ConditionalCheckFailedException":
                raise
            raise _unavailable("write", exc) from None
        except Exception as exc:
            # Whatever else the SDK raises (timeouts, refused connections, an answer it cannot
            # parse) means the write may not have happened: 503, never a claimed success or a 500.
            raise _unavailable("write", exc) from None


def _error_code(exc: ClientError) -> str | None:
    code = exc.response.get("Error", {}).get("Code")
    return str(code) if code else None


def _unavailable(operation: str, exc: Exception) -> RevocationUnavailableError:
    log_event(
        logger,
        f"denylist_{operation}_failed",
        logging.ERROR,
        message=f"denylist {operation} failed; answering 503",
        error=type(exc).__name__,
        error_code=_error_code(exc) if isinstance(exc, ClientError) else None,
    )
    return RevocationUnavailableError("the denylist is unavailable; retry later")
