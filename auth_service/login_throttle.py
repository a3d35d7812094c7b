"""Login throttling: too many failed logins for one username, or from one address, are refused.

Two counters per attempt, in the denylist table with DynamoDB TTL on `expires_at`:

* `throttle#user#<HMAC-SHA256 of the normalized username>`: keyed by the name *tried*, not by
  an account, so unknown and known usernames are throttled alike and the answer tells nothing
  about whether the account exists. The name is never stored: the HMAC key is derived from the
  signing key, so the table (its readers, its backups) cannot be reversed with a list of names.
* `throttle#client#<SHA-256 of the client id>`: the same, for OAuth client authentication
  (`admit_client`, auth_service.client_auth), in a namespace no username can reach.
* `throttle#ip#<address>`: the client address API Gateway saw (`requestContext.http.sourceIp`),
  never a client-supplied header. An IPv6 address counts as its /64, which one client holds.

Each counter is a fixed window: `failures` counted since `window_start`. The attempt that makes
it `max_failures` failures sets `locked_until`; until then every attempt on that key is refused
with 429 `slow_down` and `Retry-After`, without checking the password (no argon2, no Cognito).

Counting is race-free: an attempt *reserves* its failure before the password is checked, with
one conditional `UpdateItem ... ADD failures 1` that succeeds only while the window is new or
open, below the limit and not locked. So N concurrent guesses cannot all pass a read-then-check; at
most `max_failures` passwords are ever tried per window. Afterwards the attempt settles:

* wrong password: the reservation stands (and the `max_failures`-th one locks the key);
* success: the username counter is reset, the address's reservation refunded;
* anything else (a 503, a Cognito challenge, an unexpected error): both are refunded.

The two reservations are made one after the other, the address first: two round trips. Made at
once, an attempt from a locked address would hold a reservation on the username while in flight
(refunded, but meanwhile counted against the name's owner: their concurrent logins could be
refused) and create an item per name tried. One `TransactWriteItems` of both is no equivalent
either: it returns no new attributes (the count that decides the lock would take another read),
costs twice the write capacity, and is cancelled when a concurrent transaction touches the same
counter (logins from one busy address refused). The login overlaps its other requests with
these instead (auth_service.handlers.login).

If the table cannot be reached the throttle fails *open* for that key: the login proceeds and
an error is logged. An outage of the counter store must not lock every user out; the password
check itself still needs the user table (or the user pool), and Cognito has its own lockout.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
import math
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from auth_service.config import LoginThrottleSettings, ThrottleLimit
from auth_service.side_by_side import SideBySide
from authorizer.log import log_event
from authorizer.tokens.revocation import TTL_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from auth_service.keys import PrivateKey

logger = logging.getLogger("lambda_jwt_auth.login_throttle")

KEY_PREFIX = "throttle#"
USER_PREFIX = "throttle#user#"
IP_PREFIX = "throttle#ip#"
CLIENT_PREFIX = "throttle#client#"
FAILURES_ATTRIBUTE = "failures"
WINDOW_START_ATTRIBUTE = "window_start"
LOCKED_UNTIL_ATTRIBUTE = "locked_until"
HKDF_INFO = b"lambda-jwt-auth login throttle"
IPV6_PREFIX_LENGTH = 64
_NAMES = {
    "#f": FAILURES_ATTRIBUTE,
    "#ws": WINDOW_START_ATTRIBUTE,
    "#lu": LOCKED_UNTIL_ATTRIBUTE,
    "#exp": TTL_ATTRIBUTE,
}
_CONDITION_FAILED = "ConditionalCheckFailedException"
_RESERVE_ROUNDS = 3
T = TypeVar("T")


class LoginThrottledError(Exception):
    """Too many failed logins for this username or address: refused without a password check."""

    def __init__(self, retry_after: int, limit: str = "") -> None:
        super().__init__("too many failed login attempts; retry later")
        self.retry_after = max(1, retry_after)
        self.limit = limit  # "user" or "ip": for the log, never for the client


class _ConditionFailedError(Exception):
    def __init__(self, item: Mapping[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item or {}


class _StoreUnavailableError(Exception):
    pass


def throttle_key(private_key: PrivateKey | bytes) -> bytes:
    """The HMAC key of the username counters, derived from a signing key (as sealing.py does;
    from a KMS key's secret, given as bytes)."""
    from auth_service.sealing import key_material

    der = key_material(private_key)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(der)


def throttle_name(username: str) -> str:
    """The name a counter is kept for: "Alice", "alice " and its full-width form are one name."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


def user_counter(key: bytes, username: str) -> str:
    """The counter item of `username` under the HMAC key `key` (`throttle_key` of a signing key)."""
    name = throttle_name(username).encode("utf-8", "surrogatepass")
    return USER_PREFIX + hmac.new(key, name, hashlib.sha256).hexdigest()


def address_bucket(source_ip: object) -> str | None:
    """The address a counter is kept for; None when there is no usable address."""
    if not isinstance(source_ip, str):
        return None
    try:
        address = ipaddress.ip_address(source_ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX_LENGTH), strict=False))
    return str(address)


def source_ip(event: object) -> str | None:
    """`requestContext.http.sourceIp` of an HTTP API payload 2.0 event, if there is one."""
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    http = context.get("http") if isinstance(context, Mapping) else None
    value = http.get("sourceIp") if isinstance(http, Mapping) else None
    return value if isinstance(value, str) else None


@dataclass
class _Reservation:
    kind: str  # "user" or "ip"
    pk: str
    limit: ThrottleLimit
    window_start: int
    count: int  # failures in the window, this attempt's included


@dataclass
class LoginAttempt:
    """An admitted attempt. Settle it exactly once: `failed`, `succeeded` or `abandoned`."""

    throttle: LoginThrottle
    reservations: list[_Reservation] = field(default_factory=list)
    settled: bool = False

    def failed(self) -> None:
        """Wrong credentials: the failures stand; the one that reaches the limit locks its key."""
        if self._settle():
            self.throttle.side_by_side(
                functools.partial(self.throttle.lock, reservation)
                for reservation in self.reservations
                if reservation.count >= reservation.limit.max_failures
            )

    def succeeded(self) -> None:
        """Right credentials: the username's counter starts over, the address's failure is refunded."""
        self.succeeded_while(lambda: None)

    def succeeded_while(self, work: Callable[[], T]) -> T:
        """`succeeded`, its writes running while `work` (issuing the tokens) runs in this thread.

        The login then waits for the longer of the two, not both; the writes are done when this
        returns, also when `work` raises.
        """
        writes = (
            [
                functools.partial(
                    self.throttle.reset if reservation.kind == "user" else self.throttle.refund, reservation
                )
                for reservation in self.reservations
            ]
            if self._settle()
            else []
        )
        return self.throttle.alongside(work, writes)

    def abandoned(self) -> None:
        """The password was not judged (an outage, a challenge, an error): nothing counts."""
        if self._settle():
            self.throttle.side_by_side(
                functools.partial(self.throttle.refund, reservation) for reservation in self.reservations
            )

    def _settle(self) -> bool:
        first = not self.settled
        self.settled = True
        return first


class LoginThrottle:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        settings: LoginThrottleSettings,
        *,
        key: bytes | None,
        clock: Callable[[], float] = time.time,
        side_by_side: SideBySide | None = None,
    ) -> None:
        """`key`: the HMAC key of the username counters; None for a function that throttles only
        client authentications (whose counters need none)."""
        if key is not None and len(key) < 16:
            raise ValueError("the username HMAC key must be at least 16 bytes")
        self._client = client
        self._table = table
        self._settings = settings
        self._key = key
        self._clock = clock
        self._side_by_side = side_by_side or SideBySide("login-throttle")

    def side_by_side(self, writes: Iterable[Callable[[], None]]) -> None:
        """Run independent counter writes concurrently: a login waits one round trip, not one each.

        Each write handles its own failures (they fail open).
        """
        self._side_by_side.all(writes)

    def alongside(self, work: Callable[[], T], writes: Iterable[Callable[[], None]]) -> T:
        """`work` in this thread while counter writes run concurrently; returns when all are done."""
        return self._side_by_side.alongside(work, writes)

    def user_key(self, username: str) -> str:
        if self._key is None:
            raise RuntimeError("this throttle was built without the username HMAC key")
        return user_counter(self._key, username)

    def client_key(self, client_id: str) -> str:
        """The counter of an OAuth client id tried (auth_service.client_auth): never a username's.

        A plain hash, no HMAC: client ids are public identifiers (sent in the clear, listed by
        `auth-service clients list`), so there is nothing to hide from the table's readers; the
        hash only bounds the key's size and alphabet, whatever was sent."""
        return CLIENT_PREFIX + hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).hexdigest()

    def admit(self, username: str, client_ip: str | None) -> LoginAttempt:
        """Reserve this attempt's failure on the address and the username, or refuse it.

        Raises `LoginThrottledError` while either is locked (or at its limit with attempts in
        flight); nothing stays reserved then. A key whose counter cannot be reached is skipped.
        """
        return self._admit(self.user_key(username), client_ip)

    def admit_client(self, client_id: str, client_ip: str | None) -> LoginAttempt:
        """As `admit`, for a client authentication: per client id tried (with the per-user
        limits) and per address, whose counter logins and client authentications share."""
        return self._admit(self.client_key(client_id), client_ip)

    def _admit(self, subject_key: str, client_ip: str | None) -> LoginAttempt:
        attempt = LoginAttempt(self)
        now = math.floor(self._clock())
        keys: list[tuple[str, str, ThrottleLimit]] = []
        address = address_bucket(client_ip)
        # The address first: a flood from one address is refused before it creates an item per name.
        if address is not None:
            keys.append(("ip", IP_PREFIX + address, self._settings.per_ip))
        keys.append(("user", subject_key, self._settings.per_user))
        for kind, pk, limit in keys:
            if limit.max_failures <= 0:
                continue
            try:
                attempt.reservations.append(self._reserve(kind, pk, limit, now))
            except LoginThrottledError as refused:
                attempt.abandoned()
                refused.limit = kind
                raise
            except _StoreUnavailableError:
                break  # fail open (logged in _update), and spend no more time on an outage
        return attempt

    # --- the counter operations ------------------------------------------------------------------

    def _reserve(self, kind: str, pk: str, limit: ThrottleLimit, now: int) -> _Reservation:
        values = {
            ":one": _n(1),
            ":now": _n(now),
            ":cutoff": _n(now - limit.window_seconds),
            ":max": _n(limit.max_failures),
            ":window_end": _n(now + limit.window_seconds),
            ":window": _n(limit.window_seconds),
        }
        for _ in range(_RESERVE_ROUNDS):
            # Not locked, and no window yet (a first attempt, or one after a reset) or an open one
            # below the limit: count this attempt. One request on the common paths; a window
            # starts at its first attempt and ends (expires_at) `window_seconds` later.
            try:
                item = self._update(
                    pk,
                    "SET #ws = if_not_exists(#ws, :now), #exp = if_not_exists(#ws, :now) + :window "
                    "ADD #f :one",
                    "attribute_not_exists(#lu) AND "
                    "(attribute_not_exists(#ws) OR (#ws > :cutoff AND #f < :max))",
                    values,
                    ["#f", "#ws", "#lu", "#exp"],
                    [":one", ":now", ":window", ":cutoff", ":max"],
                )
                return _Reservation(kind, pk, limit, _int(item, "#ws"), _int(item, "#f"))
            except _ConditionFailedError:
                pass
            # No window, an expired one (and no lock), or an expired lock: start a new window.
            try:
                self._update(
                    pk,
                    "SET #f = :one, #ws = :now, #exp = :window_end REMOVE #lu",
                    "attribute_not_exists(#ws) OR #lu <= :now "
                    "OR (#ws <= :cutoff AND attribute_not_exists(#lu))",
                    values,
                    ["#f", "#ws", "#lu", "#exp"],
                    [":one", ":now", ":cutoff", ":window_end"],
                )
                return _Reservation(kind, pk, limit, now, 1)
            except _ConditionFailedError as failed:
                current = failed.item
            locked_until = _optional_int(current, LOCKED_UNTIL_ATTRIBUTE)
            if locked_until is not None and locked_until > now:
                raise LoginThrottledError(locked_until - now)
            if (_optional_int(current, FAILURES_ATTRIBUTE) or 0) >= limit.max_failures:
                # At the limit with the last allowed attempts still being checked: they settle
                # within a second, locking the key or resetting it.
                raise LoginThrottledError(1)
            # Another attempt started the window between our two writes: count again.
        raise LoginThrottledError(1)

    def lock(self, reservation: _Reservation) -> None:
        now = math.floor(self._clock())
        limit = reservation.limit
        until = now + limit.lockout_seconds
        expires = max(until, reservation.window_start + limit.window_seconds)
        try:
            self._update(
                reservation.pk,
                "SET #lu = :until, #exp = :expires",
                "#ws = :ws AND attribute_not_exists(#lu)",
                {":until": _n(until), ":expires": _n(expires), ":ws": _n(reservation.window_start)},
                ["#lu", "#exp", "#ws"],
                [":until", ":expires", ":ws"],
            )
        except (_ConditionFailedError, _StoreUnavailableError):
            return
        log_event(
            logger,
            "login_locked",
            logging.WARNING,
            limit=reservation.kind,
            key=reservation.pk,
            failures=reservation.count,
            locked_until=until,
        )

    def reset(self, reservation: _Reservation) -> None:
        try:
            self._update(
                reservation.pk,
                "REMOVE #f, #ws, #lu",
                "attribute_exists(pk)",
                {},
                ["#f", "#ws", "#lu"],
                [],
            )
        except (_ConditionFailedError, _StoreUnavailableError):
            return

    def refund(self, reservation: _Reservation) -> None:
        try:
            self._update(
                reservation.pk,
                "ADD #f :minus_one",
                "#ws = :ws AND #f > :zero",
                {":minus_one": _n(-1), ":ws": _n(reservation.window_start), ":zero": _n(0)},
                ["#f", "#ws"],
                [":minus_one", ":ws", ":zero"],
            )
        except (_ConditionFailedError, _StoreUnavailableError):
            return

    def _update(
        self,
        pk: str,
        update: str,
        condition: str,
        values: Mapping[str, Any],
        names: list[str],
        used_values: list[str],
    ) -> dict[str, Any]:
        """One conditional UpdateItem; its new attributes, keyed by placeholder name."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {name: _NAMES[name] for name in names},
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if used_values:
            kwargs["ExpressionAttributeValues"] = {name: values[name] for name in used_values}
        try:
            response = self._client.update_item(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                item = exc.response.get("Item")
                raise _ConditionFailedError(item if isinstance(item, Mapping) else None) from None
            self._unavailable(exc)
        except BotoCoreError as exc:
            self._unavailable(exc)
        attributes = response.get("Attributes", {})
        return {name: attributes.get(attribute) for name, attribute in _NAMES.items()}

    @staticmethod
    def _unavailable(exc: Exception) -> NoReturn:
        # Fail open, loudly: an outage of the counters must not lock every user out.
        log_event(logger, "login_throttle_unavailable", logging.ERROR, error=type(exc).__name__)
        raise _StoreUnavailableError from None


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _int(item: Mapping[str, Any], name: str) -> int:
    value = item.get(name)
    return int(value["N"]) if isinstance(value, Mapping) and "N" in value else 0


def _optional_int(item: Mapping[str, Any], attribute: str) -> int | None:
    value = item.get(attribute)
    return int(value["N"]) if isinstance(value, Mapping) and "N" in value else None
