"""DynamoDB faults: the authorizer fails closed (or, opted in, answers from grace), and logout,
revoke and refresh answer 503 and are safe to retry.

The authorizer reads DynamoDB with its own HTTP client (authorizer.aws.client): it is pointed at a
misbehaving endpoint on 127.0.0.1 (tests/unit/dynamodb_endpoint.py) that answers in DynamoDB's
place (a throttling error, an HTTP 500, a garbled or trickling body...), resets or drops the
connection, or passes the request on to moto. The issuing functions use boto3 (auth_service.aws):
faults are injected into the real clients they build through botocore's own `before-send` event:
a handler registered first answers in DynamoDB's place or raises what botocore's HTTP layer
raises (read and connect timeouts, a refused connection). Nothing of ours is mocked; the backoff
sleep of either client is recorded instead of slept, so the tests stay fast and can check the
backoff asked for.

`pytest -v` prints a table of the faults injected per kind and what came of them.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
import types
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore import xform_name
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from moto import mock_aws

import auth_service.handlers as handlers_package
import authorizer.aws.client as authorizer_aws
from auth_service import runtime
from auth_service.denylist import Denylist
from auth_service.keys import KeyRing
from auth_service.tables import create_tables
from auth_service.tokens import TokenIssuer, TokenPair
from authorizer.aws.client import ClientSettings, denylist_follow_up_window
from authorizer.aws.credentials import Credentials, StaticCredentials
from authorizer.aws.dynamodb import DynamoDB
from authorizer.errors import ConfigurationError, RevocationUnavailableError, TokenRevokedError
from authorizer.gateway.authorization import Authorizer
from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig
from authorizer.gateway.routes import RouteScopes
from authorizer.tokens.revocation import RevocationList
from authorizer.tokens.verifier import ACCESS, TokenVerifier
from tests.unit.dynamodb_endpoint import ANSWERS, FaultyDynamoDB, closed_port, faulty_dynamodb

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
DENYLIST = "test-denylist"
USERS = "test-users"
REST_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod"
HTTP_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:xyz789/$default"
ROUTES = {"GET /orders": ["orders:read"]}
REVOCATION_LOGGER = "lambda_jwt_auth.revocation"


# --------------------------------------------------------------------------- fault injection


class _Body:
    """The `raw` of an AWSResponse: what botocore reads the body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def answer(status: int, body: bytes, headers: dict[str, str]) -> AWSResponse:
    raw: Any = _Body(body)
    headers_in: Any = headers  # AWSResponse takes any mapping; the stubs ask for HTTPHeaders
    return AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", status, headers_in, raw)


def _answered(kind: str) -> Callable[[AWSPreparedRequest], AWSResponse]:
    """The answer the faulty endpoint of the authorizer's tests gives, given to botocore instead."""

    def fault(request: AWSPreparedRequest) -> AWSResponse:
        given = ANSWERS[kind](_body(request))
        return answer(given.status, given.body, given.headers)

    return fault


def _raise(exception: Callable[..., Exception]) -> Callable[[Any], AWSResponse]:
    def fault(request: AWSPreparedRequest) -> AWSResponse:
        raise exception(endpoint_url=request.url)

    return fault


def _body(request: AWSPreparedRequest) -> Any:
    """The JSON a DynamoDB request carries: its parameters, named as in the API."""
    body = request.body or b"{}"
    assert isinstance(body, bytes | str)
    return json.loads(body)


# The issuing side's faults (boto3): the same answers as the authorizer's, and botocore's own errors.
FAULTS: dict[str, Callable[[AWSPreparedRequest], AWSResponse]] = {
    **{kind: _answered(kind) for kind in ANSWERS},
    "read_timeout": _raise(ReadTimeoutError),
    "connect_timeout": _raise(ConnectTimeoutError),
    "connection_refused": _raise(EndpointConnectionError),
}


class FaultInjector:
    """Answers a client's HTTP attempts in DynamoDB's place, as planned; counts what it injected.

    A faulted attempt never reaches moto: a raised error stops botocore's handler chain, and an
    answer given in DynamoDB's place is sent nowhere (see below).

    `plan` is consumed one HTTP attempt at a time (None lets that attempt through to moto); once
    it is empty, `always` applies (None: no fault). `lost_response` lets the attempt through to
    moto and then loses its answer, as a read timeout after DynamoDB applied a write does.
    """

    def __init__(self, client: Any, operation: str = "*") -> None:
        self.plan: deque[str | None] = deque()
        self.always: str | None = None
        self.injected: Counter[str] = Counter()
        self.passed: Counter[str] = Counter()
        self._client = client
        self._event = f"before-send.dynamodb.{operation}"
        self._id = f"faults-{id(self)}"
        client.meta.events.register_first(self._event, self._before_send, unique_id=self._id)
        _ACTIVE.append(self)

    def remove(self) -> None:
        self._client.meta.events.unregister(self._event, unique_id=self._id)

    def fail(self, *plan: str | None) -> FaultInjector:
        self.plan.extend(plan)
        return self

    def _before_send(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse | None:
        kind = self.plan.popleft() if self.plan else self.always
        operation = event_name.rsplit(".", 1)[1]
        if kind is None:
            self.passed[operation] += 1
            return None  # on to moto
        self.injected[kind] += 1
        if kind == "lost_response":
            side = boto3.client("dynamodb", region_name="us-east-1")  # moto, without faults
            getattr(side, xform_name(operation))(**_body(request))
            raise ReadTimeoutError(endpoint_url=request.url)
        response = FAULTS[kind](request)
        # botocore still calls every other before-send handler, moto's included, and moto would
        # carry out the request (apply a write we answered "throttled" to). Pointed nowhere, the
        # request matches none of moto's URLs and never reaches it; it is rebuilt for each attempt.
        request.url = "http://fault-injected.invalid/"
        return response


_ACTIVE: list[FaultInjector] = []


@pytest.fixture(autouse=True)
def _faults_end_with_their_test() -> Iterator[None]:
    # Clients are shared within this module, as a container shares them across invocations.
    yield
    while _ACTIVE:
        _ACTIVE.pop().remove()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The clients' backoff between attempts (ours and botocore's), recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=recorded.append))
    monkeypatch.setattr(authorizer_aws, "_backoff", recorded.append)
    return recorded


class Ledger:
    """Faults injected per kind and what came of them, for the `-v` summary."""

    def __init__(self) -> None:
        self.injected: Counter[str] = Counter()
        self.outcomes: dict[str, Counter[str]] = {}

    def record(self, injector: FaultInjector | FaultyDynamoDB, outcome: str, times: int = 1) -> None:
        for kind, count in injector.injected.items():
            self.injected[kind] += count
            self.outcomes.setdefault(kind, Counter())[outcome] += times
        injector.injected.clear()


@pytest.fixture(scope="module")
def ledger(request: pytest.FixtureRequest) -> Iterator[Ledger]:
    book = Ledger()
    yield book
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or request.config.option.verbose <= 0:
        return
    with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
        reporter.write_line("")
        reporter.write_line("DynamoDB faults injected (HTTP attempts) and outcomes (requests):")
        for kind in sorted(book.injected):
            outcomes = "; ".join(f"{what} x{n}" for what, n in sorted(book.outcomes[kind].items()))
            reporter.write_line(f"  {kind:<22} {book.injected[kind]:>4}  {outcomes}")


# --------------------------------------------------------------------------- shared setup


@pytest.fixture(scope="module")
def moto_tables() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, denylist=DENYLIST, users=USERS)
        yield client


@pytest.fixture(scope="module")
def _endpoint(moto_endpoint: str) -> Iterator[FaultyDynamoDB]:
    with faulty_dynamodb(moto_endpoint) as endpoint:
        yield endpoint


@pytest.fixture
def faults(_endpoint: FaultyDynamoDB) -> Iterator[FaultyDynamoDB]:
    """The DynamoDB every authorizer of this module reads, faultless at the start of each test."""
    _endpoint.reset()
    yield _endpoint
    _endpoint.reset()


@pytest.fixture(scope="module")
def issuer(ring: KeyRing) -> TokenIssuer:
    return TokenIssuer(
        ring, issuer=ISSUER, audience=AUDIENCE, client_id="web-app", access_ttl=300, refresh_ttl=3600
    )


def json_records(caplog: pytest.LogCaptureFixture, logger: str, level: int) -> list[dict[str, Any]]:
    return [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == logger and record.levelno == level
    ]


def assert_no_token_logged(caplog: pytest.LogCaptureFixture, *tokens: str) -> None:
    for token in tokens:
        for part in token.split(".")[1:]:  # payload and signature; the header part is generic
            assert part not in caplog.text


# --------------------------------------------------------------------------- authorizer events


def rest_token_event(token: str) -> dict[str, Any]:
    return {
        "type": "TOKEN",
        "methodArn": f"{REST_PREFIX}/GET/orders",
        "authorizationToken": f"Bearer {token}",
    }


def rest_request_event(token: str) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": f"{REST_PREFIX}/GET/orders",
        "resource": "/orders",
        "path": "/orders",
        "httpMethod": "GET",
        "headers": {"Authorization": f"Bearer {token}"},
        "requestContext": {"resourcePath": "/orders", "httpMethod": "GET", "stage": "prod"},
    }


def http_event(token: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"{HTTP_PREFIX}/GET/orders",
        "identitySource": [f"Bearer {token}"],
        "routeKey": "GET /orders",
        "rawPath": "/orders",
        "headers": {"authorization": f"Bearer {token}"},
        "requestContext": {"http": {"method": "GET", "path": "/orders"}, "routeKey": "GET /orders"},
    }


def refused_in_every_format(authorizer: Authorizer, token: str) -> int:
    """Assert that REST (TOKEN, REQUEST) and HTTP API simple responses refuse `token`."""
    for event in (rest_token_event(token), rest_request_event(token)):
        with pytest.raises(Exception) as info:  # the message is what API Gateway reads
            authorizer.handle(event)
        assert info.value.args == ("Unauthorized",)
    assert authorizer.handle(http_event(token)) == {"isAuthorized": False}
    return 3


def allowed(authorizer: Authorizer, token: str) -> bool:
    response = authorizer.handle(http_event(token))
    return bool(response["isAuthorized"])


def authorizer_env(ring: KeyRing, **overrides: str) -> dict[str, str]:
    env = {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_JWKS": json.dumps(ring.jwks()),
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AWS_REGION": "us-east-1",
        "AUTH_ROUTE_SCOPES": json.dumps(ROUTES),
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="module")
def built(moto_tables: Any, ring: KeyRing, _endpoint: FaultyDynamoDB) -> Callable[..., Authorizer]:
    """The authorizer exactly as the Lambda builds it (config, client, credentials) from `env`,
    reading DynamoDB at the faulty endpoint. One per configuration, like one per container."""
    containers: dict[tuple[tuple[str, str], ...], Authorizer] = {}

    def build(**env: str) -> Authorizer:
        key = tuple(sorted(env.items()))
        if key not in containers:
            env = {"AUTH_DYNAMODB_ENDPOINT": _endpoint.url, **env}
            containers[key] = build_authorizer(AuthorizerConfig.from_env(authorizer_env(ring, **env)))
        return containers[key]

    return build


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# The Lambda's client, with a read timeout short enough for tests that time out many reads.
QUICK = ClientSettings(read_timeout=0.2)
CREDENTIALS = StaticCredentials(Credentials("AKIDEXAMPLE", "testing", "testing"))


@pytest.fixture(scope="module")
def with_clock(moto_tables: Any, ring: KeyRing, _endpoint: FaultyDynamoDB) -> Callable[..., Authorizer]:
    """An authorizer like the Lambda's, but its revocation list reads an injected clock."""
    client = DynamoDB.connect_to("us-east-1", _endpoint.url, CREDENTIALS, QUICK)

    def build(clock: Clock, *, grace: int, cache_seconds: int = 5, cache_size: int = 10_000) -> Authorizer:
        revocations = RevocationList(
            client,
            DENYLIST,
            cache_seconds=cache_seconds,
            cache_size=cache_size,
            grace_seconds=grace,
            follow_up_window=denylist_follow_up_window(),
            clock=clock,
        )
        verifier = TokenVerifier(ring.key_set(), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS)
        return Authorizer(verifier, revocations, RouteScopes.from_mapping(ROUTES))

    return build


# --------------------------------------------------------------------------- authorizer: fail closed

# Kind -> (the error the log names (one of "a|b"), HTTP requests per check, largest backoff asked
# for).
# Retryable faults get the authorizer's 2 attempts; an answer we cannot use is not retried
# (retrying a broken proxy rarely helps, and it would cost the time budget). A connection reset on
# a kept-alive connection is sent once more at once on a new one (it may just have gone stale):
# those count up to one request more.
READ_FAULTS: dict[str, tuple[str, int, float]] = {
    "throttled": ("ProvisionedThroughputExceededException", 2, 1.0),
    "throttling": ("ThrottlingException", 2, 1.0),
    "silent": ("TimeoutError", 2, 0.05),
    "trickle": ("TimeoutError", 2, 0.05),
    "connection_reset": ("RemoteDisconnected|ConnectionResetError", 2, 0.05),
    "lost_response": ("RemoteDisconnected|ConnectionResetError", 2, 0.05),
    "http_500": ("HTTPError", 2, 0.05),
    "http_503": ("HTTPError", 2, 0.05),
    "bad_checksum": ("ChecksumError", 2, 0.05),
    "validation": ("ValidationException", 1, 0),
    "garbage_json": ("MalformedResponseError", 1, 0),
    "html_200": ("MalformedResponseError", 1, 0),
    "empty_200": ("MalformedResponseError", 1, 0),
    "json_list": ("MalformedResponseError", 1, 0),
    "no_responses": ("MalformedResponse", 1, 0),
    "wrong_shape": ("MalformedResponse", 1, 0),
    "wrong_item_shape": ("MalformedResponse", 1, 0),
    "bad_number": ("MalformedResponse", 1, 0),
    "unprocessed": ("UnprocessedKeys", 3, 0),  # three BatchGetItem calls, each answered
}
RESENT_ON_A_NEW_CONNECTION = {"connection_reset", "lost_response"}


@pytest.mark.parametrize("kind", sorted(READ_FAULTS))
def test_authorizer_fails_closed(
    kind: str,
    built: Callable[..., Authorizer],
    faults: FaultyDynamoDB,
    issuer: TokenIssuer,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
    ledger: Ledger,
) -> None:
    caplog.set_level(logging.INFO)
    error, attempts, max_backoff = READ_FAULTS[kind]
    authorizer = built()
    pair = issuer.issue(f"user-{kind}", "orders:read")
    assert allowed(authorizer, issuer.issue("warm-up", "orders:read").access_token)  # kept alive
    faults.reset()
    faults.always = kind

    requests = refused_in_every_format(authorizer, pair.access_token)

    if kind in RESENT_ON_A_NEW_CONNECTION:
        assert requests * attempts <= faults.injected[kind] <= requests * (attempts + 1)
    else:
        assert faults.injected[kind] == requests * attempts
    assert all(0 <= pause <= max_backoff for pause in sleeps), sleeps
    records = json_records(caplog, REVOCATION_LOGGER, logging.ERROR)
    assert len(records) == requests  # one ERROR line per refused request
    for record in records:
        assert record["event"] == "denylist_read_failed"
        assert record["error"] in error.split("|")
        assert record["jti"] == pair.access_jti
        assert "grace" not in record  # grace mode is off by default
    if kind.startswith("throttl") or kind == "validation":
        assert {r["error_code"] for r in records} == {error}
    if kind.startswith("http_"):
        assert {r["error_code"] for r in records} == {kind.removeprefix("http_")}
    assert_no_token_logged(caplog, pair.access_token)
    ledger.record(faults, "refused (fail closed)", requests)

    # A failure is never cached: once DynamoDB answers again, so does the authorizer.
    faults.always = None
    assert allowed(authorizer, pair.access_token)


def test_iam_policy_authorizer_fails_closed(
    built: Callable[..., Authorizer],
    faults: FaultyDynamoDB,
    issuer: TokenIssuer,
    sleeps: list[float],
    ledger: Ledger,
) -> None:
    authorizer = built(AUTH_HTTP_API_SIMPLE_RESPONSES="false")
    faults.always = "http_503"
    policy = authorizer.handle(http_event(issuer.issue("iam", "orders:read").access_token))
    assert policy["principalId"] == "anonymous"
    assert {s["Effect"] for s in policy["policyDocument"]["Statement"]} == {"Deny"}
    ledger.record(faults, "refused (fail closed)")


def test_server_requested_retry_after_is_not_honoured(
    built: Callable[..., Authorizer],
    faults: FaultyDynamoDB,
    issuer: TokenIssuer,
    sleeps: list[float],
    ledger: Ledger,
) -> None:
    # DynamoDB may ask for a longer wait; botocore would add up to 5 s per retry for it, which the
    # authorizer's budget cannot afford. The backoff stays our own (at most 1 s).
    authorizer = built()
    faults.always = "throttled_retry_after"
    assert not allowed(authorizer, issuer.issue("patient", "orders:read").access_token)
    assert len(sleeps) == 1 and sleeps[0] <= 1.0, sleeps
    ledger.record(faults, "refused, backoff <= 1 s")


def test_keys_left_unprocessed_are_read_again_and_merged(
    built: Callable[..., Authorizer],
    faults: FaultyDynamoDB,
    issuer: TokenIssuer,
    moto_tables: Any,
    ledger: Ledger,
) -> None:
    authorizer = built()
    pair = issuer.issue("merged", "orders:read")
    Denylist(moto_tables, DENYLIST, max_token_lifetime=3600, leeway=30).revoke_session(pair.sid, "logout")
    faults.fail("unprocessed")
    with pytest.raises(TokenRevokedError, match="session revoked"):
        authorizer.revocations.check(authorizer.verifier.verify(pair.access_token))
    assert faults.passed["BatchGetItem"] == 1  # the follow-up read found the session item
    ledger.record(faults, "read again, revoked found")


def test_no_follow_up_read_once_the_time_budget_is_spent(
    moto_tables: Any, faults: FaultyDynamoDB, issuer: TokenIssuer, ring: KeyRing
) -> None:
    # Each read "takes" 0.6 s of a 1 s follow-up window: the third read would start too late.
    ticks = iter(range(100))
    revocations = RevocationList(
        DynamoDB.connect_to("us-east-1", faults.url, CREDENTIALS),
        DENYLIST,
        follow_up_window=1.0,
        monotonic=lambda: next(ticks) * 0.6,
    )
    faults.always = "unprocessed"
    verifier = TokenVerifier(ring.key_set(), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS)
    claims = verifier.verify(issuer.issue("slow", "orders:read").access_token)
    with pytest.raises(RevocationUnavailableError):
        revocations.check(claims)
    assert faults.injected["unprocessed"] == 2


def test_refused_connections_fail_closed(
    ring: KeyRing, issuer: TokenIssuer, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    env = authorizer_env(ring, AUTH_DYNAMODB_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    authorizer = build_authorizer(AuthorizerConfig.from_env(env))
    refused_in_every_format(authorizer, issuer.issue("refused", "orders:read").access_token)
    records = json_records(caplog, REVOCATION_LOGGER, logging.ERROR)
    assert [r["error"] for r in records] == ["ConnectionRefusedError"] * 3
    assert len(sleeps) == 3  # one retry per request, after a short jittered pause
    assert all(0 <= pause <= 0.05 for pause in sleeps)


def test_a_connection_closed_while_idle_is_reopened_at_once(
    built: Callable[..., Authorizer], faults: FaultyDynamoDB, issuer: TokenIssuer, sleeps: list[float]
) -> None:
    # After a freeze or a snapshot restore, the kept-alive connection may be long dead: the
    # request goes out again on a new one, without waiting and without failing the request.
    authorizer = built()
    assert allowed(authorizer, issuer.issue("before", "orders:read").access_token)
    connections = faults.connections
    faults.fail("connection_reset")
    assert allowed(authorizer, issuer.issue("after", "orders:read").access_token)
    assert faults.injected["connection_reset"] == 1 and faults.passed["BatchGetItem"] == 2
    assert faults.connections == connections + 1
    assert sleeps == []


def test_one_request_per_authorization_on_one_kept_alive_connection(
    built: Callable[..., Authorizer], faults: FaultyDynamoDB, issuer: TokenIssuer
) -> None:
    authorizer = built()
    assert allowed(authorizer, issuer.issue("first", "orders:read").access_token)
    connections = faults.connections
    faults.reset()
    for n in range(5):
        assert allowed(authorizer, issuer.issue(f"user-{n}", "orders:read").access_token)
    assert faults.passed["BatchGetItem"] == 5
    assert faults.connections == connections  # no new connection


# --------------------------------------------------------------------------- authorizer: grace mode


def test_grace_answers_from_the_last_known_state_within_the_window(
    with_clock: Callable[..., Authorizer],
    faults: FaultyDynamoDB,
    issuer: TokenIssuer,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
    ledger: Ledger,
) -> None:
    caplog.set_level(logging.INFO)
    t0 = time.time()
    clock = Clock(t0)
    authorizer = with_clock(clock, grace=60, cache_seconds=5)
    pair = issuer.issue("graceful", "orders:read")
    assert allowed(authorizer, pair.access_token)  # read: "not revoked", reused until t0 + 5

    faults.always = "silent"
    # Failed reads along the way do not move the window: it counts from the last good read.
    for offset in (5, 20, 40, 5 + 59.9):
        clock.now = t0 + offset
        assert allowed(authorizer, pair.access_token), offset
    warnings = json_records(caplog, REVOCATION_LOGGER, logging.WARNING)
    assert len(warnings) == 4  # one WARNING each time grace answers
    assert warnings[-1]["event"] == "revocation_grace"
    assert warnings[-1]["answer"] == "not revoked"
    assert warnings[-1]["error"] == "TimeoutError"
    assert warnings[-1]["stale_seconds"] == pytest.approx(59.9, abs=0.01)
    assert warnings[-1]["grace_seconds"] == 60
    assert json_records(caplog, REVOCATION_LOGGER, logging.ERROR) == []
    ledger.record(faults, "allowed from grace (warning)", 4)

    clock.now = t0 + 5 + 60  # past the grace period: refused
    assert not allowed(authorizer, pair.access_token)
    (error,) = json_records(caplog, REVOCATION_LOGGER, logging.ERROR)
    assert error["grace"] == "last known state is past the grace period"
    ledger.record(faults, "refused past grace")

    # A token never seen before has no last known state, even from a known session.
    sibling = issuer.issue("graceful", "orders:read", sid=pair.sid)
    assert not allowed(authorizer, sibling.access_token)
    assert json_records(caplog, REVOCATION_LOGGER, logging.ERROR)[-1]["grace"] == "no last known state"
    ledger.record(faults, "refused, never seen")
    assert_no_token_logged(caplog, pair.access_token, sibling.access_token)


def test_grace_keeps_a_revoked_token_revoked(
    with_clock: Callable[..., Authorizer],
    faults: FaultyDynamoDB,
    issuer: TokenIssuer,
    moto_tables: Any,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
    ledger: Ledger,
) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock(time.time())
    authorizer = with_clock(clock, grace=300)
    pair = issuer.issue("revoked-in-grace", "orders:read")
    Denylist(moto_tables, DENYLIST, max_token_lifetime=3600, leeway=30).revoke_jti(pair.access_jti, "logout")
    assert not allowed(authorizer, pair.access_token)  # read: revoked, cached until exp

    faults.always = "throttled"
    claims = authorizer.verifier.verify(pair.access_token)
    for offset in (301, 10_000, 1_000_000):  # long past exp, long past any grace
        clock.now = claims.exp + offset
        with pytest.raises(TokenRevokedError, match="token revoked"):
            authorizer.revocations.check(claims)
    warnings = json_records(caplog, REVOCATION_LOGGER, logging.WARNING)
    assert [w["answer"] for w in warnings] == ["revoked"] * 3
    for warning in warnings:  # what failed, with which code, for which token
        assert warning["message"] == "denylist read failed; answering from the last known state (grace mode)"
        assert warning["error_code"] == "ProvisionedThroughputExceededException"
        assert warning["jti"] == pair.access_jti
    ledger.record(faults, "refused, revoked from grace", 3)


@pytest.mark.parametrize(("grace", "cache_seconds"), [(1, 5), (1, 0), (60, 0)])
def test_grace_holds_for_exactly_its_seconds_past_the_reuse_window(
    grace: int,
    cache_seconds: int,
    with_clock: Callable[..., Authorizer],
    faults: FaultyDynamoDB,
    issuer: TokenIssuer,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The smallest grace AUTH_REVOCATION_GRACE_SECONDS takes is one second, not "off"; and with
    # AUTH_REVOCATION_CACHE_SECONDS=0 (every request reads DynamoDB) each answer is still kept
    # as the last known state that grace falls back on.
    caplog.set_level(logging.INFO)
    t0 = time.time()
    clock = Clock(t0)
    authorizer = with_clock(clock, grace=grace, cache_seconds=cache_seconds)
    pair = issuer.issue(f"grace-{grace}-cache-{cache_seconds}", "orders:read")
    assert allowed(authorizer, pair.access_token)
    faults.always = "silent"
    clock.now = t0 + cache_seconds + 0.5
    assert allowed(authorizer, pair.access_token)
    clock.now = t0 + cache_seconds + grace
    assert not allowed(authorizer, pair.access_token)
    assert [w["answer"] for w in json_records(caplog, REVOCATION_LOGGER, logging.WARNING)] == ["not revoked"]
    with pytest.raises(RevocationUnavailableError) as refused:
        authorizer.revocations.check(authorizer.verifier.verify(pair.access_token))
    assert str(refused.value) == "revocation state is unavailable"


def test_grace_off_refuses_even_a_recently_seen_token(
    with_clock: Callable[..., Authorizer],
    faults: FaultyDynamoDB,
    issuer: TokenIssuer,
    sleeps: list[float],
    ledger: Ledger,
) -> None:
    clock = Clock(time.time())
    authorizer = with_clock(clock, grace=0, cache_seconds=5)
    pair = issuer.issue("no-grace", "orders:read")
    assert allowed(authorizer, pair.access_token)
    faults.always = "connection_reset"
    clock.now += 5.001
    assert not allowed(authorizer, pair.access_token)
    ledger.record(faults, "refused (grace off)")


def test_grace_cache_is_bounded(
    with_clock: Callable[..., Authorizer], faults: FaultyDynamoDB, issuer: TokenIssuer, sleeps: list[float]
) -> None:
    clock = Clock(time.time())
    authorizer = with_clock(clock, grace=60, cache_seconds=0, cache_size=2)
    pairs = [issuer.issue(f"lru-{n}", "orders:read") for n in range(3)]
    for pair in pairs:
        assert allowed(authorizer, pair.access_token)
    faults.always = "silent"
    assert not allowed(authorizer, pairs[0].access_token)  # evicted: no last known state
    assert allowed(authorizer, pairs[1].access_token)
    assert allowed(authorizer, pairs[2].access_token)


def test_a_revocation_written_during_a_read_outage_waits_for_grace_to_end(
    with_clock: Callable[..., Authorizer],
    faults: FaultyDynamoDB,
    issuer: TokenIssuer,
    moto_tables: Any,
    sleeps: list[float],
) -> None:
    # The price of grace, as documented: reads fail, a logout's write succeeds, and the token
    # keeps working until cache_seconds + grace_seconds have passed (or reads recover).
    t0 = time.time()
    clock = Clock(t0)
    authorizer = with_clock(clock, grace=30, cache_seconds=5)
    pair = issuer.issue("late-revocation", "orders:read")
    assert allowed(authorizer, pair.access_token)
    faults.always = "throttled"
    Denylist(moto_tables, DENYLIST, max_token_lifetime=3600, leeway=30).revoke_session(pair.sid, "logout")
    clock.now = t0 + 5 + 29
    assert allowed(authorizer, pair.access_token)
    clock.now = t0 + 5 + 30
    assert not allowed(authorizer, pair.access_token)
    faults.always = None  # reads recover: the revocation is seen
    assert not allowed(authorizer, pair.access_token)
    with pytest.raises(TokenRevokedError):
        authorizer.revocations.check(authorizer.verifier.verify(pair.access_token))


def test_grace_setting_reaches_the_lambda_authorizer(
    built: Callable[..., Authorizer],
    faults: FaultyDynamoDB,
    issuer: TokenIssuer,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    graceful = built(AUTH_REVOCATION_GRACE_SECONDS="60", AUTH_REVOCATION_CACHE_SECONDS="0")
    strict = built(AUTH_REVOCATION_CACHE_SECONDS="0")
    pair = issuer.issue("wired", "orders:read")
    for authorizer in (graceful, strict):
        assert allowed(authorizer, pair.access_token)
    faults.always = "http_500"
    assert allowed(graceful, pair.access_token)
    assert not allowed(strict, pair.access_token)
    assert [w["event"] for w in json_records(caplog, REVOCATION_LOGGER, logging.WARNING)] == [
        "revocation_grace"
    ]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("301", "AUTH_REVOCATION_GRACE_SECONDS must be at least 0 and at most 300, got 301"),
        ("-1", "AUTH_REVOCATION_GRACE_SECONDS must be at least 0 and at most 300, got -1"),
        ("soon", "AUTH_REVOCATION_GRACE_SECONDS must be a whole number, got 'soon'"),
    ],
)
def test_grace_setting_is_validated(value: str, problem: str, ring: KeyRing) -> None:
    with pytest.raises(ConfigurationError) as info:
        AuthorizerConfig.from_env(authorizer_env(ring, AUTH_REVOCATION_GRACE_SECONDS=value))
    assert problem in str(info.value)


def test_grace_setting_defaults_to_off(ring: KeyRing) -> None:
    assert AuthorizerConfig.from_env(authorizer_env(ring)).revocation_grace_seconds == 0
    config = AuthorizerConfig.from_env(authorizer_env(ring, AUTH_REVOCATION_GRACE_SECONDS="300"))
    assert config.revocation_grace_seconds == 300


# --------------------------------------------------------------------------- logout, revoke, refresh

SERVICE_HANDLERS = ("refresh", "logout", "revoke")
SERVICE_MODULES = tuple(f"auth_service.handlers.{name}" for name in SERVICE_HANDLERS)


def _clear_runtime() -> None:
    for value in vars(runtime).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


@dataclass
class Service:
    client: Any  # moto, without faults
    handlers: dict[str, types.ModuleType]

    def call(self, name: str, body: Any = None, token: str | None = None) -> dict[str, Any]:
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": f"POST /auth/{name}",
            "rawPath": f"/auth/{name}",
            "headers": headers,
            "requestContext": {"http": {"method": "POST", "path": f"/auth/{name}"}, "requestId": "r"},
            "isBase64Encoded": False,
        }
        if body is not None:
            event["body"] = body if isinstance(body, str) else json.dumps(body)
        response: dict[str, Any] = self.handlers[name].handler(event, None)
        return response

    def faults(self, operation: str = "*") -> FaultInjector:
        """Faults on the client every handler shares (built once per container by runtime)."""
        return FaultInjector(runtime.dynamodb(), operation)

    def start(self, sub: str = "alice") -> TokenPair:
        return runtime.sessions(signing=True).start(sub, "profile orders:read", authenticated_at=time.time())

    def state(self, pair: TokenPair) -> dict[str, tuple[str, ...]]:
        """The denylist items of one session, by role, without their ids or write times."""
        roles = {
            f"sid#{pair.sid}": "session",
            f"jti#{pair.access_jti}": "access",
            f"jti#{pair.refresh_jti}": "refresh",
        }
        found = {}
        for item in self.client.scan(TableName=DENYLIST, ConsistentRead=True)["Items"]:
            role = roles.get(item["pk"]["S"])
            if role is not None:
                found[role] = (item["reason"]["S"],) + (("claimed",) if "claim" in item else ())
        return found


@pytest.fixture(scope="module")
def _service(moto_tables: Any, rsa_pem: str) -> Iterator[Service]:
    saved = {full: sys.modules.pop(full) for full in SERVICE_MODULES if full in sys.modules}
    with pytest.MonkeyPatch.context() as mp:
        for name in [name for name in os.environ if name.startswith("AUTH_")]:
            mp.delenv(name)
        for name, value in {
            "AUTH_ISSUER": ISSUER,
            "AUTH_AUDIENCE": AUDIENCE,
            "AUTH_DENYLIST_TABLE": DENYLIST,
            "AUTH_USERS_TABLE": USERS,
            "AUTH_SIGNING_KEY": rsa_pem,
            "AWS_REGION": "us-east-1",
        }.items():
            mp.setenv(name, value)
        _clear_runtime()
        handlers = {
            name: importlib.import_module(full)
            for name, full in zip(SERVICE_HANDLERS, SERVICE_MODULES, strict=True)
        }
        yield Service(moto_tables, handlers)
    _clear_runtime()
    for full in SERVICE_MODULES:  # later importers get a cold start of their own
        sys.modules.pop(full, None)
        attribute = full.rsplit(".", 1)[1]
        if full in saved:
            setattr(handlers_package, attribute, saved[full])
        elif hasattr(handlers_package, attribute):
            delattr(handlers_package, attribute)
    sys.modules.update(saved)


@pytest.fixture
def service(_service: Service) -> Service:
    return _service


def assert_unavailable(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 503, response
    assert response["headers"]["Retry-After"] == "1"
    assert json.loads(response["body"])["error"] == "temporarily_unavailable"


WRITE_FAULTS = ("throttled", "read_timeout", "connection_refused", "http_500", "garbage_json")


@pytest.fixture(scope="module")
def reference(_service: Service) -> dict[str, tuple[str, ...]]:
    """The denylist after one logout that succeeded at once, with its refresh token."""
    pair = _service.start("reference")
    response = _service.call("logout", {"refresh_token": pair.refresh_token}, pair.access_token)
    assert response["statusCode"] == 204
    return _service.state(pair)


@pytest.mark.parametrize("kind", WRITE_FAULTS)
def test_logout_reports_failure_and_its_retry_succeeds(
    kind: str, service: Service, reference: dict[str, tuple[str, ...]], sleeps: list[float], ledger: Ledger
) -> None:
    pair = service.start()
    faults = service.faults("PutItem")
    faults.always = kind
    first = service.call("logout", {"refresh_token": pair.refresh_token}, pair.access_token)
    assert_unavailable(first)
    assert service.state(pair) == {}  # nothing claimed, nothing half-written
    ledger.record(faults, "logout 503")

    faults.always = None  # the outage ends; the client retries
    again = service.call("logout", {"refresh_token": pair.refresh_token}, pair.access_token)
    assert again["statusCode"] == 204
    assert (
        service.state(pair)
        == reference
        == {
            "session": ("logout",),
            "access": ("logout",),
            "refresh": ("logout",),
        }
    )
    # Once acknowledged, logging out again with the same (now revoked) token is 401 by design.
    assert service.call("logout", None, pair.access_token)["statusCode"] == 401


@pytest.mark.parametrize("kind", ["throttled", "read_timeout", "connection_refused", "http_500"])
def test_one_failed_attempt_is_absorbed_by_the_sdk_retry(
    kind: str, service: Service, reference: dict[str, tuple[str, ...]], sleeps: list[float], ledger: Ledger
) -> None:
    pair = service.start()
    faults = service.faults("PutItem").fail(kind)
    response = service.call("logout", {"refresh_token": pair.refresh_token}, pair.access_token)
    assert response["statusCode"] == 204
    assert service.state(pair) == reference
    assert len(sleeps) == 1
    ledger.record(faults, "logout 204 after SDK retry")


def test_logout_whose_write_landed_but_answer_was_lost_is_idempotent(
    service: Service, reference: dict[str, tuple[str, ...]], sleeps: list[float], ledger: Ledger
) -> None:
    # DynamoDB applied the first PutItem, its answer was lost, the SDK sent the same item again:
    # the same item written twice is the same state.
    pair = service.start()
    faults = service.faults("PutItem").fail("lost_response")
    response = service.call("logout", {"refresh_token": pair.refresh_token}, pair.access_token)
    assert response["statusCode"] == 204
    assert faults.passed["PutItem"] == 3  # the retried session write, then the two token writes
    assert service.state(pair) == reference
    ledger.record(faults, "logout 204 (same item written twice)")


def test_logout_that_failed_halfway_completes_on_retry(
    service: Service, sleeps: list[float], ledger: Ledger
) -> None:
    # The refresh token's item was written, then the writes failed: 503. Logout writes the items
    # that make the access token unusable (session, then its jti) last, so the client's retry
    # still authenticates and completes the logout: nothing is left half done.
    pair = service.start()
    faults = service.faults("PutItem").fail(None, "throttled", "throttled", "throttled")
    assert_unavailable(service.call("logout", {"refresh_token": pair.refresh_token}, pair.access_token))
    assert service.state(pair) == {"refresh": ("logout",)}
    retried = service.call("logout", {"refresh_token": pair.refresh_token}, pair.access_token)
    assert retried["statusCode"] == 204
    assert service.state(pair)["session"] == ("logout",)
    refused = service.call("refresh", {"refresh_token": pair.refresh_token})
    assert refused["statusCode"] == 401
    assert json.loads(refused["body"])["error_description"] == "session revoked"
    ledger.record(faults, "logout 503 halfway, retry 204")


@pytest.mark.parametrize("kind", WRITE_FAULTS)
def test_revoke_reports_failure_and_its_retry_succeeds(
    kind: str, service: Service, sleeps: list[float], ledger: Ledger
) -> None:
    pair, reference = service.start(), service.start("reference")
    body = {"token": pair.refresh_token, "token_type_hint": "refresh_token"}
    assert service.call("revoke", {**body, "token": reference.refresh_token})["statusCode"] == 200

    faults = service.faults("PutItem")
    faults.always = kind
    assert_unavailable(service.call("revoke", body))
    faults.always = None
    assert service.call("revoke", body)["statusCode"] == 200
    assert (
        service.state(pair)
        == service.state(reference)
        == {"session": ("refresh token revoked",), "refresh": ("revoked",)}
    )
    # Revoking an already revoked token again is the same state, and still 200 (RFC 7009).
    assert service.call("revoke", body)["statusCode"] == 200
    assert service.state(pair) == service.state(reference)
    ledger.record(faults, "revoke 503")


def test_revoke_that_failed_halfway_completes_on_retry(service: Service, sleeps: list[float]) -> None:
    pair = service.start()
    body = {"token": pair.refresh_token, "token_type_hint": "refresh_token"}
    service.faults("PutItem").fail(None, "http_500", "http_500", "http_500")
    assert_unavailable(service.call("revoke", body))
    assert service.state(pair) == {"refresh": ("revoked",)}
    assert service.call("revoke", body)["statusCode"] == 200
    assert service.state(pair) == {"session": ("refresh token revoked",), "refresh": ("revoked",)}


@pytest.mark.parametrize("kind", WRITE_FAULTS)
def test_refresh_claim_failure_is_503_and_does_not_burn_the_token(
    kind: str, service: Service, sleeps: list[float], ledger: Ledger
) -> None:
    pair = service.start()
    faults = service.faults("PutItem")
    faults.always = kind
    assert_unavailable(service.call("refresh", {"refresh_token": pair.refresh_token}))
    assert service.state(pair) == {}  # not claimed: the token is not burnt
    ledger.record(faults, "refresh 503, token kept")

    faults.always = None
    once = service.call("refresh", {"refresh_token": pair.refresh_token})
    assert once["statusCode"] == 200
    assert service.state(pair) == {"refresh": ("rotated", "claimed")}
    twice = service.call("refresh", {"refresh_token": pair.refresh_token})
    assert twice["statusCode"] == 401  # used once: reuse from here on, as ever
    assert json.loads(twice["body"])["error"] == "invalid_grant"


@pytest.mark.parametrize("kind", ["throttled", "read_timeout", "garbage_json"])
def test_refresh_read_failure_is_503_and_does_not_burn_the_token(
    kind: str, service: Service, sleeps: list[float], ledger: Ledger
) -> None:
    pair = service.start()
    faults = service.faults("BatchGetItem")
    faults.always = kind
    assert_unavailable(service.call("refresh", {"refresh_token": pair.refresh_token}))
    faults.always = None
    assert service.call("refresh", {"refresh_token": pair.refresh_token})["statusCode"] == 200
    ledger.record(faults, "refresh 503 (read), token kept")


def test_refresh_claim_whose_answer_was_lost_is_not_taken_for_reuse(
    service: Service, sleeps: list[float], ledger: Ledger
) -> None:
    # The conditional claim landed, its answer was lost and the SDK retried the very same write.
    # A plain attribute_not_exists condition would now fail, read as reuse and end the session;
    # the claim's own value makes its retry succeed.
    pair = service.start()
    faults = service.faults("PutItem").fail("lost_response")
    response = service.call("refresh", {"refresh_token": pair.refresh_token})
    assert response["statusCode"] == 200, response
    new = json.loads(response["body"])
    assert service.call("refresh", {"refresh_token": new["refresh_token"]})["statusCode"] == 200
    ledger.record(faults, "refresh 200 (claim retried)")


def test_refresh_retried_after_an_ambiguous_503_reads_as_reuse_known_limitation(
    service: Service, sleeps: list[float], ledger: Ledger
) -> None:
    # Known limitation, pinned so that a change to it is deliberate: the claim landed but every
    # answer was lost, so the client got 503. Its retry is a new claim and looks like reuse: the
    # session ends (README: "clients should not retry a refresh that may have succeeded").
    pair = service.start()
    faults = service.faults("PutItem").fail("lost_response", "read_timeout", "read_timeout")
    assert_unavailable(service.call("refresh", {"refresh_token": pair.refresh_token}))
    retry = service.call("refresh", {"refresh_token": pair.refresh_token})
    assert retry["statusCode"] == 401
    assert "already used" in json.loads(retry["body"])["error_description"]
    ledger.record(faults, "refresh 503, retry 401 (reuse)")
