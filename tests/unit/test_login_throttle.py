"""`LoginThrottle` on moto: counting, locking, windows, TTL, resets, refunds and outages.

The clock is injected; every counter lives in the real denylist table layout (`create_tables`).
The login handler's use of it (429 answers, no argon2 while locked, both backends) is in
test_login_throttle_handler.py and test_login_throttle_cognito.py.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from moto import mock_aws

from auth_service.config import LoginThrottleSettings, ServiceConfig, ThrottleLimit
from auth_service.keys import load_key_ring
from auth_service.login_throttle import (
    IP_PREFIX,
    USER_PREFIX,
    LoginAttempt,
    LoginThrottle,
    LoginThrottledError,
    address_bucket,
    source_ip,
    throttle_key,
)
from auth_service.sealing import sealing_key
from auth_service.tables import create_tables
from authorizer.errors import ConfigurationError
from tests.unit.dynamodb_endpoint import closed_port

DENYLIST = "throttle-denylist"
KEY = bytes(range(32))
T0 = 1_700_000_000
IP = "203.0.113.7"


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(dynamodb, denylist=DENYLIST)
        yield dynamodb


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(
    client: Any,
    clock: Clock,
    *,
    user: int = 5,
    ip: int = 50,
    window: int = 900,
    lockout: int = 900,
    table: str = DENYLIST,
) -> LoginThrottle:
    settings = LoginThrottleSettings(
        per_user=ThrottleLimit(user, window, lockout), per_ip=ThrottleLimit(ip, window, lockout)
    )
    return LoginThrottle(client, table, settings, key=KEY, clock=clock)


@pytest.fixture
def throttle(client: Any, clock: Clock) -> LoginThrottle:
    return make(client, clock)


def fail(throttle: LoginThrottle, username: str = "alice", address: str | None = IP, times: int = 1) -> None:
    for _ in range(times):
        throttle.admit(username, address).failed()


def refused(
    throttle: LoginThrottle, username: str = "alice", address: str | None = IP
) -> LoginThrottledError:
    with pytest.raises(LoginThrottledError) as caught:
        throttle.admit(username, address)
    return caught.value


def item(client: Any, pk: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = client.get_item(
        TableName=DENYLIST, Key={"pk": {"S": pk}}, ConsistentRead=True
    ).get("Item")
    return found


def number(found: dict[str, Any] | None, attribute: str) -> int | None:
    if found is None or attribute not in found:
        return None
    return int(found[attribute]["N"])


def all_items(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.scan(TableName=DENYLIST)["Items"]
    return items


# --------------------------------------------------------------------------- per username


def test_failures_are_counted_per_username(client: Any, throttle: LoginThrottle) -> None:
    fail(throttle, times=4)
    counter = item(client, throttle.user_key("alice"))
    assert number(counter, "failures") == 4
    assert number(counter, "window_start") == T0
    assert number(counter, "locked_until") is None
    throttle.admit("alice", IP).failed()  # the fifth: locks
    assert number(item(client, throttle.user_key("alice")), "locked_until") == T0 + 900


def test_the_fifth_failure_locks_for_fifteen_minutes(throttle: LoginThrottle, clock: Clock) -> None:
    fail(throttle, times=5)
    clock.advance(60)
    error = refused(throttle)
    assert error.retry_after == 900 - 60
    assert error.limit == "user"
    assert str(error) == "too many failed login attempts; retry later"
    clock.advance(900 - 60 - 1)
    assert refused(throttle).retry_after == 1
    clock.advance(1)
    throttle.admit("alice", IP).failed()  # the lock is over: a new window, one failure


def test_after_a_lock_ends_the_full_allowance_starts_again(
    client: Any, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    throttle = make(client, clock, user=2, ip=0)
    fail(throttle, times=2)
    clock.advance(900)  # the lock and the window are over
    fail(throttle)  # the first failure of a new window: not a lock
    throttle.admit("alice", IP).abandoned()
    assert number(item(client, throttle.user_key("alice")), "locked_until") is None
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lambda_jwt_auth.login_throttle"):
        fail(throttle)
    assert refused(throttle).retry_after == 900
    [line] = [json.loads(record.getMessage()) for record in caplog.records]
    assert line["event"] == "login_locked"
    assert (line["limit"], line["key"], line["failures"], line["locked_until"]) == (
        "user",
        throttle.user_key("alice"),
        2,
        T0 + 900 + 900,
    )


def test_a_lock_in_a_window_its_own_attempt_started_names_its_counter(
    client: Any, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    throttle = make(client, clock, user=1, ip=0)
    fail(throttle)
    clock.advance(900)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lambda_jwt_auth.login_throttle"):
        fail(throttle)  # the lock is over: this failure starts a window, and locks it again
    [line] = [json.loads(record.getMessage()) for record in caplog.records]
    assert (line["limit"], line["key"], line["failures"]) == ("user", throttle.user_key("alice"), 1)
    clock.advance(900)
    throttle.admit("alice", IP).succeeded()  # a success in a window it started resets the name
    counter = item(client, throttle.user_key("alice"))
    assert counter is not None and "failures" not in counter and "window_start" not in counter


def test_the_lock_starts_at_the_last_failure_not_the_first(throttle: LoginThrottle, clock: Clock) -> None:
    fail(throttle, times=4)
    clock.advance(600)
    fail(throttle)  # still inside the 15-minute window: the fifth failure locks from now
    clock.advance(899)
    assert refused(throttle).retry_after == 1


def test_a_locked_username_is_refused_from_every_address(throttle: LoginThrottle) -> None:
    for n in range(5):
        fail(throttle, address=f"198.51.100.{n}")
    for address in ("192.0.2.1", "2001:db8::1", None):
        assert refused(throttle, address=address).limit == "user"


def test_usernames_are_counted_as_normalized(throttle: LoginThrottle) -> None:
    for spelling in ("alice", "Alice", " ALICE ", "ａｌｉｃｅ"):  # noqa: RUF001 - full-width on purpose
        fail(throttle, spelling)
    fail(throttle, "alicE")
    assert refused(throttle, "alice").limit == "user"
    throttle.admit("bob", IP).abandoned()  # another name has a counter of its own


def test_unknown_and_known_usernames_are_throttled_alike(throttle: LoginThrottle) -> None:
    # The throttle never sees an account: the counter is keyed by the name tried.
    fail(throttle, "alice", times=5)
    fail(throttle, "no-such-user-anywhere", times=5)
    known, unknown = refused(throttle, "alice"), refused(throttle, "no-such-user-anywhere")
    assert (known.retry_after, known.limit, str(known)) == (unknown.retry_after, unknown.limit, str(unknown))


def test_failures_outside_the_window_do_not_add_up(
    client: Any, throttle: LoginThrottle, clock: Clock
) -> None:
    fail(throttle, times=4)
    clock.advance(900)  # the window is over
    fail(throttle)
    # The failure that starts a new window lives (DynamoDB TTL) until that window ends.
    for pk in (throttle.user_key("alice"), IP_PREFIX + IP):
        assert number(item(client, pk), "expires_at") == T0 + 900 + 900
    fail(throttle, times=3)
    counter = item(client, throttle.user_key("alice"))
    assert number(counter, "failures") == 4
    assert number(counter, "window_start") == T0 + 900
    throttle.admit("alice", IP).abandoned()  # not locked


def test_a_success_resets_the_username_counter(client: Any, throttle: LoginThrottle) -> None:
    fail(throttle, times=4)
    throttle.admit("alice", IP).succeeded()
    counter = item(client, throttle.user_key("alice"))
    assert counter is not None and "failures" not in counter and "window_start" not in counter
    fail(throttle, times=4)  # four more failures: still not locked
    throttle.admit("alice", IP).abandoned()
    fail(throttle)
    assert refused(throttle).limit == "user"


def test_a_success_refunds_the_address_but_does_not_reset_it(client: Any, throttle: LoginThrottle) -> None:
    for n in range(3):
        fail(throttle, f"user-{n}")
    throttle.admit("alice", IP).succeeded()
    assert number(item(client, IP_PREFIX + IP), "failures") == 3


def test_an_abandoned_attempt_counts_nothing(client: Any, throttle: LoginThrottle) -> None:
    fail(throttle, times=2)
    throttle.admit("alice", IP).abandoned()
    assert number(item(client, throttle.user_key("alice")), "failures") == 2
    assert number(item(client, IP_PREFIX + IP), "failures") == 2


def test_an_attempt_settles_once(client: Any, throttle: LoginThrottle) -> None:
    attempt = throttle.admit("alice", IP)
    attempt.failed()
    attempt.abandoned()
    attempt.succeeded()
    assert number(item(client, throttle.user_key("alice")), "failures") == 1


# --------------------------------------------------------------------------- per address


def test_the_address_limit_is_independent_of_usernames(client: Any, clock: Clock) -> None:
    throttle = make(client, clock, user=5, ip=3)
    for name in ("amy", "ben", "cat"):
        fail(throttle, name, address="198.51.100.9")
    error = refused(throttle, "dan", address="198.51.100.9")
    assert (error.limit, error.retry_after) == ("ip", 900)
    assert item(client, throttle.user_key("dan")) is None  # refused before the name was counted
    throttle.admit("dan", "198.51.100.10").abandoned()  # another address is not affected
    throttle.admit("amy", None).abandoned()  # nor are those names: one failure each


def test_fifty_failures_from_one_address_lock_it(client: Any, throttle: LoginThrottle) -> None:
    for n in range(50):
        fail(throttle, f"user-{n}")
    assert refused(throttle, "user-50").limit == "ip"
    assert number(item(client, IP_PREFIX + IP), "locked_until") == T0 + 900


def test_a_refused_attempt_leaves_no_reservation_behind(client: Any, throttle: LoginThrottle) -> None:
    fail(throttle, times=5)
    before = number(item(client, IP_PREFIX + IP), "failures")
    for _ in range(10):
        refused(throttle)
    assert number(item(client, IP_PREFIX + IP), "failures") == before == 5


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::ffff", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
        ("", None),
        ("not-an-address", None),
        ("203.0.113.7, 10.0.0.1", None),
        (None, None),
        (17, None),
    ],
)
def test_address_buckets(address: Any, bucket: str | None) -> None:
    assert address_bucket(address) == bucket


def test_one_ipv6_slash_64_is_one_client(client: Any, clock: Clock) -> None:
    throttle = make(client, clock, ip=2)
    fail(throttle, "amy", address="2001:db8:0:1::1")
    fail(throttle, "ben", address="2001:db8:0:1:ffff::2")
    assert refused(throttle, "cat", address="2001:db8:0:1::99").limit == "ip"
    throttle.admit("cat", "2001:db8:0:2::1").abandoned()


def test_without_an_address_only_the_username_counts(client: Any, throttle: LoginThrottle) -> None:
    fail(throttle, address=None)
    fail(throttle, address="garbage")
    assert [found["pk"]["S"] for found in all_items(client)] == [throttle.user_key("alice")]


def test_source_ip_reads_the_http_api_event() -> None:
    assert source_ip({"requestContext": {"http": {"sourceIp": IP}}}) == IP
    events: list[Any] = [None, [], {}, {"requestContext": []}, {"requestContext": {"http": {"sourceIp": 1}}}]
    for event in events:
        assert source_ip(event) is None
    # A client-supplied header is never the address.
    assert source_ip({"headers": {"x-forwarded-for": IP}, "requestContext": {"http": {}}}) is None


# --------------------------------------------------------------------------- the stored items


def test_items_carry_a_ttl(client: Any, throttle: LoginThrottle, clock: Clock) -> None:
    fail(throttle)
    assert number(item(client, throttle.user_key("alice")), "expires_at") == T0 + 900
    assert number(item(client, IP_PREFIX + IP), "expires_at") == T0 + 900
    clock.advance(300)
    fail(throttle, times=4)  # locks at T0 + 300 until T0 + 1200, past the window's end
    assert number(item(client, throttle.user_key("alice")), "expires_at") == T0 + 1200


def test_the_ttl_covers_the_window_when_the_lockout_is_shorter(client: Any, clock: Clock) -> None:
    throttle = make(client, clock, window=900, lockout=60)
    fail(throttle, times=5)
    counter = item(client, throttle.user_key("alice"))
    assert (number(counter, "locked_until"), number(counter, "expires_at")) == (T0 + 60, T0 + 900)
    clock.advance(60)
    fail(throttle)  # the lock is over: a new window, not a sixth failure
    assert number(item(client, throttle.user_key("alice")), "failures") == 1


def test_no_username_is_stored(client: Any, throttle: LoginThrottle) -> None:
    fail(throttle, "Alice.Example@Example.com")
    stored = json.dumps(all_items(client)).lower()
    assert "alice" not in stored and "example" not in stored
    keys = [found["pk"]["S"] for found in all_items(client) if found["pk"]["S"].startswith(USER_PREFIX)]
    assert len(keys) == 1 and re.fullmatch(r"throttle#user#[0-9a-f]{64}", keys[0])


def test_the_username_key_depends_on_the_hmac_key(client: Any, clock: Clock) -> None:
    settings = LoginThrottleSettings()
    one = LoginThrottle(client, DENYLIST, settings, key=b"1" * 32, clock=clock)
    two = LoginThrottle(client, DENYLIST, settings, key=b"2" * 32, clock=clock)
    assert one.user_key("alice") != two.user_key("alice")
    LoginThrottle(client, DENYLIST, settings, key=b"k" * 16, clock=clock)  # 128 bits will do
    with pytest.raises(ValueError) as short:
        LoginThrottle(client, DENYLIST, settings, key=b"k" * 15, clock=clock)
    assert str(short.value) == "the username HMAC key must be at least 16 bytes"


def test_the_hmac_key_comes_from_the_signing_key(rsa_pem: str) -> None:
    private = load_key_ring(rsa_pem).current.private_key
    assert private is not None
    key = throttle_key(private)
    assert len(key) == 32 and key == throttle_key(private)
    # HKDF-SHA256 of the PKCS#8 DER with its own `info`, so no other key derived from the
    # signing key (sealing.py's) is the same key; a fixed derivation keeps counters across deploys.
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    info = b"lambda-jwt-auth login throttle"
    assert key == HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(der)
    assert key != sealing_key(private)


def test_odd_usernames_have_keys_too(throttle: LoginThrottle) -> None:
    for name in ("\ud800", "\x00", "x" * 20_000, "ﷺ" * 1000):
        assert re.fullmatch(r"throttle#user#[0-9a-f]{64}", throttle.user_key(name))
        throttle.admit(name, IP).failed()


# --------------------------------------------------------------------------- concurrency


def test_attempts_in_flight_count_before_their_password_is_checked(throttle: LoginThrottle) -> None:
    # Five concurrent guesses are admitted; the sixth is refused before any of them settles.
    in_flight = [throttle.admit("alice", IP) for _ in range(5)]
    error = refused(throttle)
    assert (error.retry_after, error.limit) == (1, "user")
    in_flight.pop().abandoned()  # e.g. a 503: its reservation is returned
    in_flight.append(throttle.admit("alice", IP))
    for attempt in in_flight:
        attempt.failed()
    assert refused(throttle).retry_after == 900


def test_a_success_in_flight_lifts_a_lock(throttle: LoginThrottle) -> None:
    attempts: list[LoginAttempt] = [throttle.admit("alice", IP) for _ in range(5)]
    for attempt in attempts[1:]:
        attempt.failed()
    assert refused(throttle).retry_after == 900
    attempts[0].succeeded()  # the right password was among them: the counter starts over
    throttle.admit("alice", IP).abandoned()


def test_a_window_other_attempts_keep_restarting_is_refused_briefly(client: Any, clock: Clock) -> None:
    throttle = make(client, clock, user=5, ip=0)
    pk = throttle.user_key("alice")
    writes: list[str] = []

    def other_attempts(params: dict[str, Any], **_: Any) -> None:
        # Between our writes, others land: before each "count" write the window has just expired,
        # before each "new window" write another attempt has just started one.
        counting = "ADD" in params["UpdateExpression"]
        writes.append("count" if counting else "new window")
        start = T0 - 900 if counting else T0
        client.put_item(
            TableName=DENYLIST,
            Item={"pk": {"S": pk}, "failures": {"N": "1"}, "window_start": {"N": str(start)}},
        )

    client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", other_attempts)
    error = refused(throttle)
    assert (error.retry_after, error.limit) == (1, "user")  # a 429 to retry in a second, not a 500
    assert 2 < len(writes) <= 10  # it tries again, a bounded number of times


# --------------------------------------------------------------------------- limits switched off


def test_a_zero_limit_switches_that_counter_off(client: Any, clock: Clock) -> None:
    throttle = make(client, clock, user=0, ip=2)
    fail(throttle, "amy", address="192.0.2.1", times=2)
    assert refused(throttle, "amy", address="192.0.2.1").limit == "ip"
    throttle.admit("amy", "192.0.2.2").failed()
    assert [found["pk"]["S"] for found in all_items(client)] == [
        IP_PREFIX + "192.0.2.1",
        IP_PREFIX + "192.0.2.2",
    ]


def test_a_zero_address_limit_leaves_the_username_counted(client: Any, clock: Clock) -> None:
    throttle = make(client, clock, user=2, ip=0)
    fail(throttle, "amy", address="192.0.2.1", times=2)
    assert refused(throttle, "amy", address="192.0.2.9").limit == "user"
    assert [found["pk"]["S"] for found in all_items(client)] == [throttle.user_key("amy")]


# --------------------------------------------------------------------------- outages: fail open


def test_an_unreachable_counter_store_fails_open(
    client: Any, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    throttle = make(client, clock, table="no-such-table")
    with caplog.at_level(logging.ERROR, logger="lambda_jwt_auth.login_throttle"):
        for _ in range(10):
            attempt = throttle.admit("alice", IP)
            assert attempt.reservations == []
            attempt.failed()
    events = [json.loads(record.getMessage()) for record in caplog.records]
    assert events and all(event["event"] == "login_throttle_unavailable" for event in events)
    assert events[0]["error"] == "ResourceNotFoundException"
    assert len(events) == 10  # one call per attempt: an outage costs no more than one timeout


def test_an_unreachable_endpoint_fails_open_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    endpoint = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    throttle = make(endpoint, Clock())
    with caplog.at_level(logging.ERROR, logger="lambda_jwt_auth.login_throttle"):
        assert throttle.admit("alice", IP).reservations == []
    [line] = [json.loads(record.getMessage()) for record in caplog.records]
    assert (line["event"], line["error"]) == ("login_throttle_unavailable", "EndpointConnectionError")


def test_settling_during_an_outage_is_quiet(client: Any, clock: Clock) -> None:
    throttle = make(client, clock)
    attempts = [throttle.admit("alice", IP) for _ in range(5)]
    client.delete_table(TableName=DENYLIST)
    for attempt in attempts:
        attempt.failed()  # the lock cannot be written: logged, not raised
    throttle.admit("alice", IP).succeeded()


# --------------------------------------------------------------------------- configuration

BASE_ENV = {
    "AUTH_ISSUER": "https://auth.example.test",
    "AUTH_AUDIENCE": "orders-api",
    "AUTH_DENYLIST_TABLE": DENYLIST,
    "AUTH_JWKS": '{"keys": []}',
}


def test_default_policy() -> None:
    settings = ServiceConfig.from_env(BASE_ENV).login_throttle
    assert settings == LoginThrottleSettings()
    assert settings.per_user == ThrottleLimit(max_failures=5, window_seconds=900, lockout_seconds=900)
    assert settings.per_ip == ThrottleLimit(max_failures=50, window_seconds=900, lockout_seconds=900)


def test_policy_from_the_environment() -> None:
    env = {
        **BASE_ENV,
        "AUTH_LOGIN_MAX_FAILURES_PER_USER": "3",
        "AUTH_LOGIN_MAX_FAILURES_PER_IP": "0",
        "AUTH_LOGIN_FAILURE_WINDOW_SECONDS": "300",
        "AUTH_LOGIN_LOCKOUT_SECONDS": "3600",
    }
    settings = ServiceConfig.from_env(env).login_throttle
    assert settings.per_user == ThrottleLimit(3, 300, 3600)
    assert settings.per_ip == ThrottleLimit(0, 300, 3600)


def test_a_bad_policy_fails_at_cold_start_with_every_problem() -> None:
    env = {
        **BASE_ENV,
        "AUTH_LOGIN_MAX_FAILURES_PER_USER": "-1",
        "AUTH_LOGIN_MAX_FAILURES_PER_IP": "many",
        "AUTH_LOGIN_FAILURE_WINDOW_SECONDS": "0",
        "AUTH_LOGIN_LOCKOUT_SECONDS": "999999",
    }
    with pytest.raises(ConfigurationError) as caught:
        ServiceConfig.from_env(env)
    for name in (
        "AUTH_LOGIN_MAX_FAILURES_PER_USER",
        "AUTH_LOGIN_MAX_FAILURES_PER_IP",
        "AUTH_LOGIN_FAILURE_WINDOW_SECONDS",
        "AUTH_LOGIN_LOCKOUT_SECONDS",
    ):
        assert name in str(caught.value)


# --------------------------------------------------------------------------- requests


def test_an_admission_costs_one_write_per_counter(client: Any, throttle: LoginThrottle, clock: Clock) -> None:
    writes: list[str] = []
    client.meta.events.register("before-call.dynamodb.UpdateItem", lambda **_: writes.append("w"))

    def admitted() -> LoginAttempt:
        writes.clear()
        attempt = throttle.admit("alice", IP)
        assert len(writes) == 2, "one UpdateItem for the address, one for the username"
        return attempt

    admitted().failed()  # no counters yet
    admitted().succeeded()  # an open window
    admitted().failed()  # after a reset
    clock.advance(900)
    writes.clear()
    throttle.admit("alice", IP).abandoned()  # an expired window starts a new one: a second write each
    assert len(writes) == 4 + 2


def test_settling_writes_both_counters_and_logs_in_the_request_context(
    client: Any, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    from authorizer.log import bind_request

    throttle = make(client, clock, user=2, ip=2)  # both counters lock on the same failure
    fail(throttle)
    with caplog.at_level(logging.WARNING, logger="lambda_jwt_auth.login_throttle"), bind_request("req-1"):
        throttle.admit("alice", IP).failed()
    locks = [json.loads(record.getMessage()) for record in caplog.records]
    assert sorted(line["limit"] for line in locks) == ["ip", "user"]
    assert {line.get("request_id") for line in locks} == {"req-1"}
    assert number(item(client, IP_PREFIX + IP), "locked_until") == T0 + 900
    assert number(item(client, throttle.user_key("alice")), "locked_until") == T0 + 900
