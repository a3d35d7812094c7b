"""Write side of the denylist: revoke a token, a session, a Cognito login or a whole user.

Every item carries `expires_at` for DynamoDB TTL: it lives as long as some token it revokes could
still verify (tokens a request in flight may sign after it included), and not longer. The read
side is `authorizer.tokens.revocation`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from authorizer.errors import RevocationUnavailableError
from authorizer.log import log_event
from authorizer.tokens.revocation import (
    NOT_BEFORE_ATTRIBUTE,
    REASON_ATTRIBUTE,
    ROTATED,
    SIGNED_OUT_AT_ATTRIBUTE,
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

# How long a request may still be signing tokens after a revocation was written: a refresh whose
# checks passed just before the write signs a pair afterwards, and that pair's tokens must still
# be refused when they are used. So items that revoke "every token up to now" outlive the longest
# token lifetime by this much too. A request ends within its function's timeout (10 s in
# serverless.yml), and API Gateway hands no answer to a client after 30 s (HTTP API; 29 s for a
# REST API's default): 60 s is past both. tests/unit/test_service_sessions.py holds the functions'
# timeouts in serverless.yml below it.
IN_FLIGHT_SECONDS = 60
# The client assertions (private_key_jwt) seen, by a hash of client id and jti: refused when replayed.
ASSERTION_PREFIX = "assertion#"


@dataclass(frozen=True)
class SignOut:
    """A user's sign-out everywhere, as written to their item: sessions begun before it are dead."""

    not_before: int  # whole seconds, as `auth_time`: a session that began earlier is refused
    signed_out_at: float  # its instant, to the millisecond after: a login checked earlier is refused
    expires_at: int  # when the item's TTL lets it go


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
        # How long after "now" any token issued before now, or by a request in flight now, could
        # still verify.
        self._horizon = max_token_lifetime + leeway + IN_FLIGHT_SECONDS
        self._leeway = leeway
        self._clock = clock
        self._sleep = sleep

    def revoke_token(self, jti: str, exp: int, reason: str) -> None:
        self._put(jti_key(jti), exp + self._leeway, reason)

    def revoke_jti(self, jti: str, reason: str) -> int:
        """Revoke a token known only by its jti: kept for as long as any token could live.

        Returns the item's `expires_at`.
        """
        return self._put_for_horizon(jti_key(jti), reason)

    def revoke_session(self, sid: str, reason: str) -> int:
        """Revoke every token of a session; returns the item's `expires_at`."""
        return self._put_for_horizon(sid_key(sid), reason)

    def revoke_origin(self, origin_jti: str, reason: str) -> None:
        """Revoke a Cognito login: every token carrying this `origin_jti`, Cognito's and ours.

        Kept as long as our own tokens could live: the session this ends cannot outlast that, and
        its Cognito refresh token is revoked at Cognito as well when we hold it.
        """
        self._put_for_horizon(origin_key(origin_jti), reason)

    def revoke_user(self, sub: str, reason: str) -> SignOut:
        """Sign `sub` out everywhere: every session that began up to now is dead.

        One reading of the clock, t. Sessions start in whole seconds (`auth_time`), so the "not
        before" is the next whole second: sessions begun earlier in t's second die too. The
        instant is kept beside it, as the end of t's millisecond, so that a login whose
        credentials were checked after it, within that second, is told from one checked before
        (`auth_service.sessions.Sessions.start`); a time in whole seconds (Cognito's `auth_time`)
        in t's second always counts as before.
        """
        now = self._clock()
        milliseconds = math.floor(now * 1000) + 1
        sign_out = SignOut(
            not_before=math.floor(now) + 1,
            signed_out_at=milliseconds / 1000,
            expires_at=int(now) + self._horizon,
        )
        self._put(
            user_key(sub),
            sign_out.expires_at,
            reason,
            now=now,
            numbers={
                NOT_BEFORE_ATTRIBUTE: str(sign_out.not_before),
                SIGNED_OUT_AT_ATTRIBUTE: f"{milliseconds // 1000}.{milliseconds % 1000:03d}",
            },
        )
        return sign_out

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

    def claim_assertion(self, client_id: str, jti: str, exp: int) -> bool:
        """Record a client assertion's `jti` (RFC 7523 §3) until it expires; False if it was
        recorded already: a replay. Idempotent for its own SDK retries, as `claim_refresh_token`."""
        digest = hashlib.sha256(f"{client_id}\0{jti}".encode("utf-8", "surrogatepass")).hexdigest()
        try:
            self._put(
                ASSERTION_PREFIX + digest,
                exp + self._leeway,
                "client assertion",
                claim=secrets.token_urlsafe(16),
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise _unavailable("write", exc) from None
        return True

    def user_sign_out(self, sub: str) -> SignOut | None:
        """The user's live sign-out, if any (a strongly consistent read)."""
        try:
            item = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": user_key(sub)}}, ConsistentRead=True
            ).get("Item")
            if not item or float(item[TTL_ATTRIBUTE]["N"]) <= self._clock():
                return None
            not_before = int(item[NOT_BEFORE_ATTRIBUTE]["N"])
            instant = item.get(SIGNED_OUT_AT_ATTRIBUTE)
            return SignOut(
                not_before=not_before,
                # Written before the instant was kept: any login in its second counts as before it.
                signed_out_at=float(instant["N"]) if instant is not None else float(not_before),
                expires_at=int(float(item[TTL_ATTRIBUTE]["N"])),
            )
        except Exception as exc:
            # Any failure, an answer of the wrong shape included, is "unavailable" (503), not a 500.
            raise _unavailable("read", exc) from None

    def wait_until(self, instant: float) -> None:
        """Sleep until our clock reads `instant`, if that is at most a second away."""
        for _ in range(3):  # a sleep may end a hair early by the wall clock (NTP slewing it)
            delay = instant - self._clock()
            if not 0 < delay <= 1:
                return
            self._sleep(delay)

    def _put_for_horizon(self, key: str, reason: str) -> int:
        now = self._clock()
        expires_at = int(now) + self._horizon
        self._put(key, expires_at, reason, now=now)
        return expires_at

    def _put(
        self,
        key: str,
        expires_at: int,
        reason: str,
        *,
        now: float | None = None,
        numbers: dict[str, str] | None = None,
        claim: str | None = None,
    ) -> None:
        """Write one item. The same item written twice is the same state: retrying is safe."""
        item: dict[str, Any] = {
            "pk": {"S": key},
            TTL_ATTRIBUTE: {"N": str(expires_at)},
            REASON_ATTRIBUTE: {"S": reason},
            "revoked_at": {"N": str(int(self._clock() if now is None else now))},
        }
        for name, value in (numbers or {}).items():
            item[name] = {"N": value}
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
