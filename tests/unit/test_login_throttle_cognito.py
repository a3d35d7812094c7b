"""POST /auth/login with throttling, Cognito backend: the real handler against a moto server.

Cognito calls are observed (not replaced) through botocore's event hooks on the handler's own
client: a locked attempt must not reach `InitiateAuth` at all.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from auth_service import runtime
from auth_service.login_throttle import IP_PREFIX, LoginThrottle, throttle_key
from tests.unit import cognito_support as support
from tests.unit.cognito_support import DENYLIST, PASSWORD, Pool, create_pool
from tests.unit.test_login_throttle_handler import Clock, assert_slow_down, settings
from tests.unit.test_service_handlers import http_event, payload

HOME = "203.0.113.7"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with support.moto_server() as url:
        support.prepare_tables(url)
        yield url


@pytest.fixture(scope="module")
def pool(endpoint: str) -> Pool:
    return create_pool(support.aws_client("cognito-idp", endpoint), endpoint=endpoint)


@pytest.fixture(scope="module")
def modules(endpoint: str, pool: Pool, rsa_pem: str) -> Iterator[dict[str, Any]]:
    with support.handlers(support.service_environment(endpoint, pool, rsa_pem)) as loaded:
        yield loaded


class CognitoLogins:
    def __init__(self, modules: dict[str, Any], endpoint: str, clock: Clock) -> None:
        self.modules = modules
        self.clock = clock
        self.dynamodb = support.aws_client("dynamodb", endpoint)
        self.initiate_auth_calls = 0
        runtime._cognito_client().meta.events.register("before-call.cognito-idp.InitiateAuth", self._count)

    def _count(self, **_: Any) -> None:
        self.initiate_auth_calls += 1

    def close(self) -> None:
        runtime._cognito_client().meta.events.unregister("before-call.cognito-idp.InitiateAuth", self._count)

    def __call__(self, username: str, password: str, ip: str = HOME) -> dict[str, Any]:
        event = http_event("POST", "/auth/login", {"username": username, "password": password})
        event["requestContext"]["http"]["sourceIp"] = ip
        response: dict[str, Any] = self.modules["login"].handler(event, None)
        return response


@pytest.fixture
def login(modules: dict[str, Any], endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CognitoLogins]:
    support.empty_denylist(support.aws_client("dynamodb", endpoint))
    clock = Clock()
    private = runtime.key_ring().current.private_key
    assert private is not None
    throttle = LoginThrottle(
        runtime.dynamodb(), DENYLIST, settings(), key=throttle_key(private), clock=clock
    )
    monkeypatch.setattr(modules["login"], "_throttle", throttle)
    logins = CognitoLogins(modules, endpoint, clock)
    yield logins
    logins.close()


def unique(name: str) -> str:
    return f"{name}-{secrets.token_hex(4)}"


def test_a_locked_username_never_reaches_cognito(login: CognitoLogins, pool: Pool) -> None:
    alice = unique("alice")
    pool.add_user(alice)
    for _ in range(5):
        assert login(alice, "Wrong-" + PASSWORD)["statusCode"] == 401
    assert login.initiate_auth_calls == 5
    assert_slow_down(login(alice, PASSWORD), 900)
    assert login.initiate_auth_calls == 5
    login.clock.now += 900
    assert login(alice, PASSWORD)["statusCode"] == 200


def test_unknown_cognito_usernames_are_locked_alike(login: CognitoLogins, pool: Pool) -> None:
    known, unknown = unique("kim"), unique("nobody")
    pool.add_user(known)
    for _ in range(5):
        answers = [login(known, "Wrong-" + PASSWORD), login(unknown, "Wrong-" + PASSWORD)]
        assert [answer["statusCode"] for answer in answers] == [401, 401]
        assert answers[0]["body"] == answers[1]["body"]
    calls = login.initiate_auth_calls
    locked = [login(known, PASSWORD), login(unknown, PASSWORD)]
    for answer in locked:
        assert_slow_down(answer, 900)
    assert locked[0]["body"] == locked[1]["body"] and locked[0]["headers"] == locked[1]["headers"]
    assert login.initiate_auth_calls == calls


def test_a_cognito_success_resets_the_username(login: CognitoLogins, pool: Pool) -> None:
    bea = unique("bea")
    pool.add_user(bea)
    for _ in range(4):
        assert login(bea, "Wrong-" + PASSWORD)["statusCode"] == 401
    assert login(bea, PASSWORD)["statusCode"] == 200
    for _ in range(4):
        assert login(bea, "Wrong-" + PASSWORD)["statusCode"] == 401
    assert login(bea, PASSWORD)["statusCode"] == 200


def test_refusals_that_judge_no_password_are_not_failures(login: CognitoLogins, pool: Pool) -> None:
    una = unique("una")
    pool.client.sign_up(ClientId=pool.client_id, Username=una, Password=PASSWORD)  # unconfirmed: 403
    for _ in range(6):
        assert payload(login(una, PASSWORD))["error"] == "user_not_confirmed"
    with Stubber(runtime._cognito_client()) as stub:
        for _ in range(6):
            stub.add_client_error("initiate_auth", "TooManyRequestsException", "x", 400)
        for _ in range(6):
            response = login("cara", PASSWORD)
            assert response["statusCode"] == 429  # Cognito's own throttling, passed on
            assert response["headers"]["Retry-After"] == "1"
    counter = login.dynamodb.get_item(TableName=DENYLIST, Key={"pk": {"S": IP_PREFIX + HOME}})["Item"]
    assert counter["failures"] == {"N": "0"}
