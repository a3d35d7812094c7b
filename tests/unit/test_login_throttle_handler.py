"""POST /auth/login with throttling, table backend: the real handler on moto.

The handler module's collaborators are swapped for real ones built here: a `LoginThrottle` with
an injected clock and a `UserTable` whose argon2 hasher counts its calls (a `PasswordHasher`
subclass, so every verification is a real one), to show that a locked attempt never reaches it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import argon2
import pytest

from auth_service import runtime
from auth_service.config import LoginThrottleSettings, ThrottleLimit
from auth_service.login_throttle import IP_PREFIX, LoginThrottle, throttle_key
from auth_service.users import UserTable
from tests.unit import test_service_handlers as served
from tests.unit.test_service_handlers import ALICE_PASSWORD, DENYLIST, USERS, Service, http_event, payload

# The deployed service of test_service_handlers, one per module (its fixtures).
_service = served._service
service = served.service
reconfigure = served.reconfigure

T0 = 1_700_000_000
HOME = "203.0.113.7"
WRONG = "wrong-password-123"


class CountingHasher(argon2.PasswordHasher):
    """argon2id with the service's parameters, counting verifications."""

    def __init__(self) -> None:
        super().__init__(time_cost=2, memory_cost=19_456, parallelism=1)
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verifications += 1
        return super().verify(hash, password)


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


@dataclass
class Login:
    service: Service
    module: ModuleType
    hasher: CountingHasher
    clock: Clock

    def __call__(
        self, username: str = "alice", password: str = WRONG, ip: str = HOME, **headers: str
    ) -> dict[str, Any]:
        event = http_event(
            "POST", "/auth/login", {"username": username, "password": password}, headers=headers
        )
        event["requestContext"]["http"]["sourceIp"] = ip
        return self.service.call("login", event)

    def counter(self, pk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.service.client.get_item(
            TableName=DENYLIST, Key={"pk": {"S": pk}}, ConsistentRead=True
        ).get("Item")
        return item


def settings(user: int = 5, ip: int = 50) -> LoginThrottleSettings:
    return LoginThrottleSettings(per_user=ThrottleLimit(user, 900, 900), per_ip=ThrottleLimit(ip, 900, 900))


@pytest.fixture
def attempt(service: Service, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Login]:
    def build(throttle_settings: LoginThrottleSettings | None = None, *, table: str = DENYLIST) -> Login:
        module = service.handlers["login"]
        hasher, clock = CountingHasher(), Clock()
        private = runtime.key_ring().current.private_key
        assert private is not None
        throttle = LoginThrottle(
            service.client, table, throttle_settings or settings(), key=throttle_key(private), clock=clock
        )
        monkeypatch.setattr(module, "_users", UserTable(service.client, USERS, hasher))
        monkeypatch.setattr(module, "_throttle", throttle)
        return Login(service, module, hasher, clock)

    return build


def assert_slow_down(response: dict[str, Any], retry_after: int) -> None:
    assert response["statusCode"] == 429, response
    assert payload(response) == {
        "error": "slow_down",
        "error_description": "too many failed login attempts; retry later",
    }
    assert response["headers"]["Retry-After"] == str(retry_after)
    assert response["headers"]["Cache-Control"] == "no-store"
    assert "WWW-Authenticate" not in response["headers"]


def test_five_failures_lock_the_username_and_argon2_is_not_run(attempt: Callable[..., Login]) -> None:
    login = attempt()
    for _ in range(5):
        assert login()["statusCode"] == 401
    assert login.hasher.verifications == 5

    login.clock.now += 100
    # Locked: even the right password is refused, cheaply, and says when to come back.
    assert_slow_down(login(password=ALICE_PASSWORD), 800)
    assert_slow_down(login(), 800)
    assert login.hasher.verifications == 5

    login.clock.now += 800
    assert login(password=ALICE_PASSWORD)["statusCode"] == 200
    assert login.hasher.verifications == 6


def test_unknown_usernames_are_locked_the_same_way(attempt: Callable[..., Login]) -> None:
    login = attempt()
    for _ in range(5):
        known, unknown = login("alice"), login("mallory")
        assert known["statusCode"] == unknown["statusCode"] == 401
        assert known["body"] == unknown["body"] and known["headers"] == unknown["headers"]
    verifications = login.hasher.verifications
    known, unknown = login("alice", ALICE_PASSWORD), login("mallory", ALICE_PASSWORD)
    assert_slow_down(known, 900)
    assert (known["statusCode"], known["body"], known["headers"]) == (
        unknown["statusCode"],
        unknown["body"],
        unknown["headers"],
    )
    assert login.hasher.verifications == verifications  # neither ran argon2 (nor the dummy hash)


def test_a_success_resets_the_username_counter(attempt: Callable[..., Login]) -> None:
    login = attempt()
    for _ in range(4):
        assert login()["statusCode"] == 401
    assert login(password=ALICE_PASSWORD)["statusCode"] == 200
    for _ in range(5):
        assert login()["statusCode"] == 401  # five more failures are needed, not one
    assert_slow_down(login(), 900)


def test_the_address_limit_is_independent_of_the_username(attempt: Callable[..., Login]) -> None:
    login = attempt(settings(user=5, ip=3))
    for name in ("amy", "ben", "cat"):
        assert login(name, ip="198.51.100.9")["statusCode"] == 401
    verifications = login.hasher.verifications
    assert_slow_down(login("alice", ALICE_PASSWORD, ip="198.51.100.9"), 900)
    # A forwarded-for header is the client's own word: it changes nothing.
    assert_slow_down(login("alice", ALICE_PASSWORD, ip="198.51.100.9", **{"x-forwarded-for": HOME}), 900)
    assert login.hasher.verifications == verifications
    assert login("alice", ALICE_PASSWORD, ip=HOME)["statusCode"] == 200
    assert login("amy", ip=HOME)["statusCode"] == 401  # amy herself has one failure of five


def test_a_locked_username_is_locked_from_every_address(attempt: Callable[..., Login]) -> None:
    login = attempt()
    for n in range(5):
        assert login(ip=f"198.51.100.{n}")["statusCode"] == 401
    assert_slow_down(login(password=ALICE_PASSWORD, ip="192.0.2.1"), 900)
    assert_slow_down(login("ALICE", ALICE_PASSWORD, ip="2001:db8::1"), 900)


def test_malformed_requests_are_not_counted(attempt: Callable[..., Login]) -> None:
    login = attempt(settings(user=1, ip=1))
    for body in ({"username": "alice"}, {"username": "alice", "password": ""}, {"password": WRONG}):
        for _ in range(3):
            response = login.service.call("login", http_event("POST", "/auth/login", body))
            assert response["statusCode"] == 400
    assert login.service.client.scan(TableName=DENYLIST)["Items"] == []
    assert login(password=ALICE_PASSWORD)["statusCode"] == 200


def test_a_user_table_outage_is_not_a_failure(
    attempt: Callable[..., Login], monkeypatch: pytest.MonkeyPatch
) -> None:
    login = attempt(settings(user=1, ip=1))
    monkeypatch.setattr(
        login.module, "_users", UserTable(login.service.client, "no-such-users", login.hasher)
    )
    for _ in range(3):
        assert login(password=ALICE_PASSWORD)["statusCode"] == 503
    counter = login.counter(IP_PREFIX + HOME)
    assert counter is not None and counter["failures"] == {"N": "0"}
    monkeypatch.setattr(login.module, "_users", UserTable(login.service.client, USERS, login.hasher))
    assert login(password=ALICE_PASSWORD)["statusCode"] == 200


def test_an_unreachable_counter_store_fails_open(
    attempt: Callable[..., Login], caplog: pytest.LogCaptureFixture
) -> None:
    login = attempt(table="no-such-denylist")
    with caplog.at_level(logging.ERROR, logger="lambda_jwt_auth"):
        for _ in range(7):
            assert login()["statusCode"] == 401
        assert login(password=ALICE_PASSWORD)["statusCode"] == 200
    events = [json.loads(r.getMessage())["event"] for r in caplog.records if r.levelno >= logging.ERROR]
    assert events == ["login_throttle_unavailable"] * 8


def test_throttled_logins_are_logged_without_the_username(
    attempt: Callable[..., Login], caplog: pytest.LogCaptureFixture
) -> None:
    login = attempt(settings(user=1))
    with caplog.at_level(logging.INFO, logger="lambda_jwt_auth"):
        login("Zebediah")
        login("Zebediah")
    assert "zebediah" not in caplog.text.lower()
    ours = {"login_failed", "login_locked", "login_throttled"}
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name.startswith("lambda_jwt_auth")]
    events = [event for event in events if event["event"] in ours]
    assert [event["event"] for event in events] == ["login_failed", "login_locked", "login_throttled"]
    assert events[2]["limit"] == "user" and events[2]["request_id"]


def test_the_handler_reads_the_policy_from_the_environment(
    service: Service, reconfigure: Callable[..., None]
) -> None:
    reconfigure(AUTH_LOGIN_MAX_FAILURES_PER_USER="2", AUTH_LOGIN_LOCKOUT_SECONDS="120")
    wrong = http_event("POST", "/auth/login", {"username": "alice", "password": WRONG})
    assert [service.call("login", wrong)["statusCode"] for _ in range(2)] == [401, 401]
    refused = service.call("login", wrong)
    assert refused["statusCode"] == 429
    assert 1 <= int(refused["headers"]["Retry-After"]) <= 120
    stored = service.client.scan(TableName=DENYLIST)["Items"]
    assert sorted(item["pk"]["S"].split("#")[1] for item in stored) == ["ip", "user"]


def _unlock(capsys: pytest.CaptureFixture[str], *arguments: str) -> dict[str, Any]:
    from auth_service.cli.main import main

    assert main(["unlock", *arguments, "--denylist-table", DENYLIST]) == 0
    answer: dict[str, Any] = json.loads(capsys.readouterr().out)
    return answer


def test_unlock_ends_a_lockout_now(attempt: Callable[..., Login], capsys: pytest.CaptureFixture[str]) -> None:
    """`auth-service unlock alice`: the counter under the login function's key goes (the key read
    as the functions read it, here AUTH_SIGNING_KEY), and the right password works at once."""
    login = attempt()
    for _ in range(5):
        assert login()["statusCode"] == 401
    assert_slow_down(login(password=ALICE_PASSWORD), 900)
    assert _unlock(capsys, " Alice ") == {"unlocked": " Alice ", "ip": None, "counters_removed": 1}
    assert login(password=ALICE_PASSWORD)["statusCode"] == 200
    assert login.counter(f"{IP_PREFIX}{HOME}") is not None  # the address's counter: only with --ip


def test_unlock_all_users_and_an_address(
    attempt: Callable[..., Login], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    login = attempt(settings(user=2, ip=3))
    for name in ("alice", "nobody", "mallory"):
        login(username=name)
    assert_slow_down(login(username="eve"), 900)  # the address is locked now
    monkeypatch.delenv("AUTH_SIGNING_KEY")  # --all-users needs no key
    answer = _unlock(capsys, "--all-users", "--ip", HOME)
    assert answer["counters_removed"] == 4  # three usernames and the address
    assert login(password=ALICE_PASSWORD)["statusCode"] == 200


def test_unlock_a_username_without_its_key_says_what_to_pass(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from auth_service.cli.main import main

    monkeypatch.delenv("AUTH_SIGNING_KEY", raising=False)
    assert main(["unlock", "alice"]) == 2
    err = capsys.readouterr().err
    assert "needs the signing key the login function uses: --signing-key FILE" in err and "--all-users" in err
