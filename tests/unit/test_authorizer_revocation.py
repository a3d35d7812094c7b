"""Unit tests for authorizer.tokens.revocation (read side), written to by auth_service.denylist.Denylist.

DynamoDB is moto's (the `dynamodb` fixture). Requests are counted with botocore's own event
system; failures use a missing table, a client pointed at a closed local port, or botocore's
Stubber for UnprocessedKeys (which moto never returns).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from auth_service.denylist import IN_FLIGHT_SECONDS, Denylist
from authorizer.errors import AuthError, RevocationUnavailableError, TokenError, TokenRevokedError
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.revocation import (
    NOT_BEFORE_ATTRIBUTE,
    TTL_ATTRIBUTE,
    RevocationList,
    jti_key,
    sid_key,
    user_key,
)

DENYLIST = "test-denylist"
T0 = 1_700_000_000
LIFETIME = 900
LEEWAY = 30


class Clock:
    """A settable clock shared by the denylist writer and the revocation reader."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CallCounter:
    """Counts DynamoDB API calls as botocore makes them (before-call fires once per API call)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs["model"].name)  # returning None lets the call proceed

    def reset(self) -> None:
        self.calls.clear()


def claims(
    *,
    jti: str = "jti-1",
    sub: str = "user-1",
    sid: str | None = "sid-1",
    iat: int = T0,
    exp: int = T0 + 300,
    auth_time: Any = None,
) -> TokenClaims:
    raw = {} if auth_time is None else {"auth_time": auth_time}
    return TokenClaims(
        sub=sub, jti=jti, iat=iat, exp=exp, scope="orders:read", sid=sid, client_id="web", raw=raw
    )


def is_revoked(revocations: RevocationList, token: TokenClaims) -> bool:
    try:
        revocations.check(token)
    except TokenRevokedError:
        return True
    return False


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def counter(dynamodb: Any) -> Iterator[CallCounter]:
    counter = CallCounter()
    dynamodb.meta.events.register("before-call.dynamodb.*", counter)
    yield counter
    dynamodb.meta.events.unregister("before-call.dynamodb.*", counter)


@pytest.fixture
def denylist(dynamodb: Any, clock: Clock) -> Denylist:
    return Denylist(dynamodb, DENYLIST, max_token_lifetime=LIFETIME, leeway=LEEWAY, clock=clock)


@pytest.fixture
def revocations(dynamodb: Any, clock: Clock) -> RevocationList:
    return RevocationList(dynamodb, DENYLIST, cache_seconds=5, clock=clock)


# --------------------------------------------------------------------------- what is revoked


def test_keys_are_namespaced() -> None:
    assert (jti_key("a"), sid_key("a"), user_key("a")) == ("jti#a", "sid#a", "user#a")


def test_not_revoked(revocations: RevocationList) -> None:
    revocations.check(claims())  # does not raise
    assert revocations.lookup(claims()) is None


def test_jti_revoked_with_revoke_token(revocations: RevocationList, denylist: Denylist) -> None:
    denylist.revoke_token("jti-1", T0 + 300, "logout")
    with pytest.raises(TokenRevokedError, match="token revoked"):
        revocations.check(claims())
    # Another token of the same session and user is not touched.
    revocations.check(claims(jti="jti-2"))


def test_jti_revoked_with_revoke_jti(revocations: RevocationList, denylist: Denylist) -> None:
    denylist.revoke_jti("jti-1", "stolen")
    assert revocations.lookup(claims()) == "token revoked"


def test_sid_revoked(revocations: RevocationList, denylist: Denylist) -> None:
    denylist.revoke_session("sid-1", "logout")
    with pytest.raises(TokenRevokedError, match="session revoked"):
        revocations.check(claims())
    with pytest.raises(TokenRevokedError):
        revocations.check(claims(jti="jti-2"))  # every token of the session
    revocations.check(claims(jti="jti-3", sid="sid-2"))  # another session is not
    revocations.check(claims(jti="jti-4", sid=None))  # a token without sid is not


def test_user_not_before_revokes_older_tokens_but_not_newer(
    revocations: RevocationList, denylist: Denylist, clock: Clock
) -> None:
    clock.now = T0 + 100.25
    sign_out = denylist.revoke_user("user-1", "password changed")
    assert (sign_out.not_before, sign_out.signed_out_at) == (T0 + 101, T0 + 100.251)
    clock.now = T0 + 102
    assert revocations.lookup(claims(jti="old", iat=T0)) == "user signed out everywhere"
    # Issued in the very second of the sign-out (before or after it): refused too.
    assert revocations.lookup(claims(jti="same-second", iat=T0 + 100)) == "user signed out everywhere"
    assert revocations.lookup(claims(jti="newer", iat=T0 + 101)) is None
    assert revocations.lookup(claims(jti="later", iat=T0 + 150)) is None
    # Another user is not affected.
    assert revocations.lookup(claims(jti="other", sub="user-2", iat=T0)) is None
    with pytest.raises(TokenRevokedError, match="signed out everywhere"):
        revocations.check(claims(jti="old-2", iat=T0 + 50))


def test_a_sign_out_is_judged_by_when_the_session_began_not_by_iat(
    revocations: RevocationList, denylist: Denylist, clock: Clock
) -> None:
    clock.now = T0 + 100.999
    denylist.revoke_user("user-1", "operator")
    clock.now = T0 + 102
    # Signed after the sign-out (a refresh in flight), for a session that began before it: dead.
    assert revocations.lookup(claims(jti="late", iat=T0 + 101, auth_time=T0)) == "user signed out everywhere"
    assert revocations.lookup(claims(jti="later", iat=T0 + 5000, auth_time=T0 + 100)) == (
        "user signed out everywhere"
    )
    # A session that began at the "not before" or later lives.
    assert revocations.lookup(claims(jti="new", iat=T0 + 101, auth_time=T0 + 101)) is None
    # An `auth_time` after `iat` (the issuer's clock ahead at login) counts as `iat`.
    assert revocations.lookup(claims(jti="ahead", iat=T0 + 100, auth_time=T0 + 900)) == (
        "user signed out everywhere"
    )
    # No usable `auth_time` (other issuers may send none): `iat` it is.
    for odd in ("T0", True, [T0], float("nan")):
        assert revocations.lookup(claims(jti=f"odd-{odd}", iat=T0 + 101, auth_time=odd)) is None
    assert revocations.lookup(claims(jti="float", iat=T0 + 101, auth_time=T0 + 100.5)) == (
        "user signed out everywhere"
    )


def test_a_revoked_cognito_login_ends_only_the_tokens_naming_it(
    revocations: RevocationList, denylist: Denylist
) -> None:
    linked = dataclasses.replace(claims(), origin_jti="login-1")
    other = dataclasses.replace(claims(jti="jti-2"), origin_jti="login-2")
    assert revocations.lookup(linked) is None  # naming a login is no revocation by itself
    denylist.revoke_origin("login-1", "logout")
    assert revocations.lookup(linked) == "login revoked"
    assert revocations.lookup(other) is None
    assert revocations.lookup(claims(jti="jti-3")) is None


def test_reasons_prefer_sid_then_user_then_jti(revocations: RevocationList, denylist: Denylist) -> None:
    # The broader revocation is the better explanation (and no false "refresh token reuse").
    denylist.revoke_user("user-1", "all")
    denylist.revoke_session("sid-1", "session")
    denylist.revoke_token("jti-1", T0 + 300, "token")
    assert revocations.lookup(claims(iat=T0 - 10)) == "session revoked"
    assert revocations.lookup(claims(jti="jti-2", sid="sid-9", iat=T0 - 10)) == "user signed out everywhere"
    assert revocations.lookup(claims(sid="sid-9", iat=T0 + 10)) == "token revoked"


def test_a_rotated_refresh_token_is_told_apart(revocations: RevocationList, denylist: Denylist) -> None:
    assert denylist.claim_refresh_token("jti-1", T0 + 300)
    assert revocations.lookup(claims(sid="sid-9", iat=T0 + 10)) == "refresh token already used"


@pytest.mark.parametrize("write", ["revoke_jti", "revoke_session", "revoke_user"])
def test_expired_denylist_items_are_ignored(
    write: str, dynamodb: Any, revocations: RevocationList, clock: Clock
) -> None:
    # Written long ago: its expires_at has passed, but moto (like DynamoDB, for up to days)
    # still returns the item.
    old_writer = Denylist(
        dynamodb, DENYLIST, max_token_lifetime=LIFETIME, leeway=LEEWAY, clock=Clock(T0 - 10_000)
    )
    target = {"revoke_jti": "jti-1", "revoke_session": "sid-1", "revoke_user": "user-1"}[write]
    getattr(old_writer, write)(target, "long ago")
    key = {"revoke_jti": jti_key, "revoke_session": sid_key, "revoke_user": user_key}[write](target)
    item = dynamodb.get_item(TableName=DENYLIST, Key={"pk": {"S": key}}, ConsistentRead=True)["Item"]
    assert float(item[TTL_ATTRIBUTE]["N"]) < clock.now  # the item is still there, expired
    assert revocations.lookup(claims(iat=T0 - 20_000)) is None


def test_item_expiring_exactly_now_is_ignored_and_one_second_later_is_not(
    dynamodb: Any, revocations: RevocationList, clock: Clock
) -> None:
    for jti, expires_at in (("at-now", T0), ("later", T0 + 1)):
        dynamodb.put_item(
            TableName=DENYLIST, Item={"pk": {"S": jti_key(jti)}, TTL_ATTRIBUTE: {"N": str(expires_at)}}
        )
    assert revocations.lookup(claims(jti="at-now")) is None
    assert revocations.lookup(claims(jti="later")) == "token revoked"


def test_item_without_ttl_counts_as_live(dynamodb: Any, revocations: RevocationList) -> None:
    dynamodb.put_item(TableName=DENYLIST, Item={"pk": {"S": jti_key("jti-1")}})
    assert revocations.lookup(claims()) == "token revoked"


def test_user_item_without_not_before_revokes_nothing(dynamodb: Any, revocations: RevocationList) -> None:
    dynamodb.put_item(
        TableName=DENYLIST, Item={"pk": {"S": user_key("user-1")}, TTL_ATTRIBUTE: {"N": str(T0 + 1000)}}
    )
    assert revocations.lookup(claims()) is None
    dynamodb.put_item(
        TableName=DENYLIST,
        Item={
            "pk": {"S": user_key("user-1")},
            TTL_ATTRIBUTE: {"N": str(T0 + 1000)},
            NOT_BEFORE_ATTRIBUTE: {"N": str(T0 + 1)},
        },
    )
    assert revocations.lookup(claims(jti="jti-2")) == "user signed out everywhere"


def test_revoked_token_stays_revoked_through_the_verifier_leeway(
    revocations: RevocationList, denylist: Denylist, clock: Clock
) -> None:
    # The verifier accepts a token until exp + leeway; the denylist item must outlive that.
    token = claims(exp=T0 + 300)
    denylist.revoke_token(token.jti, token.exp, "logout")
    clock.now = token.exp + LEEWAY - 1
    assert revocations.lookup(token) == "token revoked"


def test_user_revocation_outlives_every_token_issued_before_it(
    revocations: RevocationList, denylist: Denylist, clock: Clock
) -> None:
    clock.now = T0 + 0.9
    denylist.revoke_user("user-1", "all")
    # The longest-lived token issued just before the sign-out is still accepted by a verifier
    # until iat + lifetime + leeway; the user item must still be live then.
    token = claims(iat=T0, exp=T0 + LIFETIME)
    clock.now = token.exp + LEEWAY - 0.001
    assert revocations.lookup(token) == "user signed out everywhere"


@pytest.mark.parametrize("write", ["revoke_user", "revoke_session", "revoke_origin"])
def test_items_outlive_the_tokens_a_request_in_flight_signs_after_them(
    write: str, revocations: RevocationList, denylist: Denylist, clock: Clock
) -> None:
    # A refresh whose checks passed just before the revocation signs its pair up to a request's
    # lifetime later (IN_FLIGHT_SECONDS): the longest-lived of those tokens must still be refused.
    clock.now = T0 + 0.9
    getattr(denylist, write)({"revoke_user": "user-1", "revoke_session": "sid-1"}.get(write, "login-1"), "x")
    signed = T0 + IN_FLIGHT_SECONDS
    token = dataclasses.replace(
        claims(iat=signed, exp=signed + LIFETIME, auth_time=T0 - 600), origin_jti="login-1"
    )
    clock.now = token.exp + LEEWAY - 0.001
    assert revocations.lookup(token) is not None


def test_revocation_errors_are_auth_errors() -> None:
    assert issubclass(TokenRevokedError, TokenError)
    assert issubclass(RevocationUnavailableError, AuthError)
    assert RevocationUnavailableError.error == "temporarily_unavailable"


# --------------------------------------------------------------------------- cache


def test_revoked_answer_is_cached_until_exp(
    dynamodb: Any, revocations: RevocationList, denylist: Denylist, clock: Clock, counter: CallCounter
) -> None:
    token = claims(exp=T0 + 300)
    denylist.revoke_token(token.jti, token.exp, "logout")
    with pytest.raises(TokenRevokedError):
        revocations.check(token)
    dynamodb.delete_item(TableName=DENYLIST, Key={"pk": {"S": jti_key(token.jti)}})
    counter.reset()
    clock.now = token.exp - 1  # far beyond cache_seconds, still before exp
    with pytest.raises(TokenRevokedError):
        revocations.check(token)
    assert counter.calls == []
    clock.now = token.exp  # the cached answer ends at exp: read again (the item is gone)
    revocations.check(token)
    assert counter.calls == ["BatchGetItem"]


def test_not_revoked_answer_is_cached_for_cache_seconds(
    revocations: RevocationList, denylist: Denylist, clock: Clock, counter: CallCounter
) -> None:
    token = claims()
    revocations.check(token)
    assert counter.calls == ["BatchGetItem"]
    denylist.revoke_token(token.jti, token.exp, "logout")
    counter.reset()
    clock.now = T0 + 4.999
    revocations.check(token)  # still the cached "not revoked"
    assert counter.calls == []
    clock.now = T0 + 5
    with pytest.raises(TokenRevokedError):
        revocations.check(token)
    assert counter.calls == ["BatchGetItem"]


def test_not_revoked_cache_never_outlives_token_exp(dynamodb: Any, clock: Clock, denylist: Denylist) -> None:
    revocations = RevocationList(dynamodb, DENYLIST, cache_seconds=60, clock=clock)
    counter = CallCounter()
    dynamodb.meta.events.register("before-call.dynamodb.*", counter)
    token = claims(exp=T0 + 3)
    revocations.check(token)
    clock.now = T0 + 2.5
    revocations.check(token)
    assert counter.calls == ["BatchGetItem"]
    denylist.revoke_token(token.jti, token.exp, "late")
    counter.reset()
    clock.now = T0 + 3
    with pytest.raises(TokenRevokedError):
        revocations.check(token)
    assert counter.calls == ["BatchGetItem"]


def test_expired_token_answers_are_not_cached(dynamodb: Any, clock: Clock, counter: CallCounter) -> None:
    revocations = RevocationList(dynamodb, DENYLIST, cache_seconds=60, clock=clock)
    token = claims(exp=T0 - 10)  # inside the verifier's leeway, but past exp
    revocations.check(token)
    revocations.check(token)
    assert counter.calls == ["BatchGetItem", "BatchGetItem"]


def test_cache_seconds_zero_always_reads(dynamodb: Any, clock: Clock, counter: CallCounter) -> None:
    revocations = RevocationList(dynamodb, DENYLIST, cache_seconds=0, clock=clock)
    for _ in range(3):
        revocations.check(claims())
    assert counter.calls == ["BatchGetItem"] * 3


def test_cache_is_per_jti(revocations: RevocationList, denylist: Denylist, counter: CallCounter) -> None:
    revocations.check(claims(jti="a"))
    denylist.revoke_session("sid-1", "logout")
    # A different token of the revoked session is read fresh, not answered from "a"'s entry.
    with pytest.raises(TokenRevokedError):
        revocations.check(claims(jti="b"))
    assert counter.calls.count("BatchGetItem") == 2


def test_cache_size_is_bounded_lru(dynamodb: Any, clock: Clock, counter: CallCounter) -> None:
    revocations = RevocationList(dynamodb, DENYLIST, cache_seconds=60, cache_size=2, clock=clock)
    for jti in ("a", "b", "c"):
        revocations.check(claims(jti=jti))
    counter.reset()
    revocations.check(claims(jti="c"))
    revocations.check(claims(jti="b"))
    assert counter.calls == []
    revocations.check(claims(jti="a"))  # evicted first
    assert counter.calls == ["BatchGetItem"]


def test_lookup_always_reads(revocations: RevocationList, counter: CallCounter) -> None:
    revocations.check(claims())
    counter.reset()
    assert revocations.lookup(claims()) is None
    assert counter.calls == ["BatchGetItem"]


# --------------------------------------------------------------------------- one request per check


@pytest.mark.parametrize("sid", ["sid-1", None])
def test_exactly_one_request_per_uncached_check_and_none_when_cached(
    sid: str | None, revocations: RevocationList, counter: CallCounter
) -> None:
    token = claims(sid=sid)
    revocations.check(token)
    assert counter.calls == ["BatchGetItem"]
    revocations.check(token)
    revocations.check(token)
    assert counter.calls == ["BatchGetItem"]


def test_one_request_even_when_everything_is_revoked(
    revocations: RevocationList, denylist: Denylist, counter: CallCounter
) -> None:
    denylist.revoke_token("jti-1", T0 + 300, "x")
    denylist.revoke_session("sid-1", "x")
    denylist.revoke_user("user-1", "x")
    counter.reset()
    with pytest.raises(TokenRevokedError):
        revocations.check(claims(iat=T0 - 5))
    assert counter.calls == ["BatchGetItem"]


def test_batch_request_is_consistent_and_asks_for_exactly_the_three_keys(dynamodb: Any, clock: Clock) -> None:
    seen: list[dict[str, Any]] = []

    def capture(**kwargs: Any) -> None:
        seen.append(kwargs["params"])

    dynamodb.meta.events.register("before-parameter-build.dynamodb.BatchGetItem", capture)
    RevocationList(dynamodb, DENYLIST, clock=clock).check(claims())
    (request,) = seen
    table_request = request["RequestItems"][DENYLIST]
    assert table_request["ConsistentRead"] is True
    assert sorted(key["pk"]["S"] for key in table_request["Keys"]) == [
        "jti#jti-1",
        "sid#sid-1",
        "user#user-1",
    ]


# --------------------------------------------------------------------------- failures: fail closed


def test_missing_table_fails_closed(dynamodb: Any, clock: Clock) -> None:
    revocations = RevocationList(dynamodb, "no-such-table", clock=clock)
    with pytest.raises(RevocationUnavailableError):
        revocations.check(claims())
    with pytest.raises(RevocationUnavailableError):
        revocations.lookup(claims())


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unreachable_client() -> Any:
    return boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        config=Config(connect_timeout=0.5, read_timeout=0.5, retries={"total_max_attempts": 1}),
    )


def test_unreachable_dynamodb_fails_closed_and_is_not_cached(
    unreachable_client: Any, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    revocations = RevocationList(unreachable_client, DENYLIST, cache_seconds=60, clock=clock)
    counter = CallCounter()
    unreachable_client.meta.events.register("before-call.dynamodb.*", counter)
    token = claims()
    with pytest.raises(RevocationUnavailableError):
        revocations.check(token)
    # A failure is never remembered as "not revoked": the next check asks again (and fails).
    with pytest.raises(RevocationUnavailableError):
        revocations.check(token)
    assert counter.calls == ["BatchGetItem", "BatchGetItem"]
    assert "denylist read failed" in caplog.text


def _stubbed_client() -> tuple[Any, Stubber]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    return client, Stubber(client)


def test_unprocessed_keys_are_retried_and_merged(clock: Clock) -> None:
    client, stubber = _stubbed_client()
    unprocessed = {DENYLIST: {"Keys": [{"pk": {"S": "jti#jti-1"}}], "ConsistentRead": True}}
    stubber.add_response(
        "batch_get_item",
        {"Responses": {DENYLIST: [{"pk": {"S": "user#user-1"}}]}, "UnprocessedKeys": unprocessed},
    )
    stubber.add_response(
        "batch_get_item",
        {"Responses": {DENYLIST: [{"pk": {"S": "jti#jti-1"}}]}, "UnprocessedKeys": {}},
        expected_params={"RequestItems": unprocessed},
    )
    with stubber:
        assert RevocationList(client, DENYLIST, clock=clock).lookup(claims()) == "token revoked"
        stubber.assert_no_pending_responses()


def test_keys_left_unprocessed_fail_closed(clock: Clock) -> None:
    client, stubber = _stubbed_client()
    unprocessed = {DENYLIST: {"Keys": [{"pk": {"S": "jti#jti-1"}}]}}
    for _ in range(3):
        stubber.add_response("batch_get_item", {"Responses": {DENYLIST: []}, "UnprocessedKeys": unprocessed})
    with stubber, pytest.raises(RevocationUnavailableError):
        RevocationList(client, DENYLIST, clock=clock).check(claims())


def test_throttling_error_fails_closed(clock: Clock) -> None:
    client, stubber = _stubbed_client()
    stubber.add_client_error("batch_get_item", "ProvisionedThroughputExceededException", http_status_code=400)
    with stubber, pytest.raises(RevocationUnavailableError):
        RevocationList(client, DENYLIST, clock=clock).check(claims())


def read_failures(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "lambda_jwt_auth.revocation" and record.levelno == logging.ERROR
    ]


def test_a_failed_read_on_the_issuing_side_says_what_failed(
    dynamodb: Any, unreachable_client: Any, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # The issuing side reads through boto3: its errors carry DynamoDB's code, which operators
    # need to tell a missing table or a throttled one from a network failure.
    with pytest.raises(RevocationUnavailableError) as unavailable:
        RevocationList(dynamodb, "no-such-table", clock=clock).lookup(claims())
    # What the client of /auth/refresh or /auth/introspect is told (its 503's error_description).
    assert str(unavailable.value) == "revocation state is unavailable"
    client, stubber = _stubbed_client()
    stubber.add_client_error("batch_get_item", "ProvisionedThroughputExceededException", http_status_code=400)
    with stubber, pytest.raises(RevocationUnavailableError):
        RevocationList(client, DENYLIST, clock=clock).lookup(claims(jti="jti-2"))
    with pytest.raises(RevocationUnavailableError):
        RevocationList(unreachable_client, DENYLIST, clock=clock).lookup(claims(jti="jti-3"))
    refused = "denylist read failed; the request is refused (fail closed)"
    assert read_failures(caplog) == [
        {
            "event": "denylist_read_failed",
            "message": refused,
            "error": "ResourceNotFoundException",
            "error_code": "ResourceNotFoundException",
            "jti": "jti-1",
        },
        {
            "event": "denylist_read_failed",
            "message": refused,
            "error": "ProvisionedThroughputExceededException",
            "error_code": "ProvisionedThroughputExceededException",
            "jti": "jti-2",
        },
        {
            "event": "denylist_read_failed",
            "message": refused,
            "error": "EndpointConnectionError",
            "jti": "jti-3",
        },
    ]


def test_a_failed_boto3_read_without_an_error_code_is_described_as_such() -> None:
    # The issuing side reads with boto3: a ClientError whose answer names no error (a proxy's
    # bare 5xx) is still a failed read, logged with its class and no code, never an AttributeError.
    from botocore.exceptions import ClientError

    from authorizer.tokens.revocation import _describe

    assert _describe(ClientError({}, "BatchGetItem")) == ("ClientError", None)
    assert _describe(ClientError({"Error": {"Code": "ThrottlingException"}}, "BatchGetItem")) == (
        "ClientError",
        "ThrottlingException",
    )
    assert _describe(TimeoutError()) == ("TimeoutError", None)


class _Answers:
    """A BatchGetter whose answers are given: what a client other than boto3 might hand back.
    One answer is given every time; a list of several, one per call."""

    def __init__(self, answer: Any, *more: Any) -> None:
        self.answers = [answer, *more]
        self.requests: list[Any] = []

    def batch_get_item(self, *, RequestItems: Any) -> Any:
        self.requests.append(RequestItems)
        return self.answers[min(len(self.requests), len(self.answers)) - 1]


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ([], "BatchGetItem answer is not a map"),
        ("Responses", "BatchGetItem answer is not a map"),
        ({}, "BatchGetItem answer has no Responses map"),
        ({"Responses": {"t": {}}}, "BatchGetItem items are not a list of maps"),
        (
            {"Responses": {"t": [{"pk": {"S": "jti#j"}, "expires_at": {"N": "soon"}}]}},
            "a denylist item has the wrong shape",
        ),
    ],
    ids=["list", "text", "no-responses", "items-not-a-list", "item-of-the-wrong-shape"],
)
def test_an_answer_of_the_wrong_shape_is_refused_and_says_why(
    answer: Any, detail: str, caplog: pytest.LogCaptureFixture
) -> None:
    revocations = RevocationList(_Answers(answer), "t", cache_seconds=0)
    claims = TokenClaims(sub="u", jti="j", iat=1, exp=2**40)
    with caplog.at_level(logging.ERROR), pytest.raises(RevocationUnavailableError):
        revocations.lookup(claims)
    [line] = [json.loads(r.getMessage()) for r in caplog.records if "denylist_read_failed" in r.getMessage()]
    assert (line["error"], line["error_code"]) == ("MalformedResponse", detail)


def test_keys_left_unprocessed_are_read_again_even_without_a_responses_map() -> None:
    """An answer that processed nothing may carry UnprocessedKeys alone: those keys are asked for
    again (and their answer decides), rather than the whole read being refused."""
    claims = TokenClaims(sub="u", jti="j", iat=1, exp=2**40)
    pending = {"t": {"Keys": [{"pk": {"S": "jti#j"}}]}}
    revoked = {
        "Responses": {"t": [{"pk": {"S": "jti#j"}, "expires_at": {"N": str(2**40)}, "reason": {"S": "x"}}]}
    }
    client = _Answers({"UnprocessedKeys": pending}, revoked)
    assert RevocationList(client, "t", cache_seconds=0).lookup(claims) == "token revoked"
    assert len(client.requests) == 2 and client.requests[1] == pending


def test_keys_still_unprocessed_when_the_window_is_over_are_refused_and_say_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A follow-up read is not sent once the follow-up window has passed: the check is refused
    (fail closed) and the log says it ran out of time, not that DynamoDB failed."""
    ticks = iter([0.0, 0.2])  # the first read at 0 s; the follow-up would start at 0.2 s
    pending = {"t": {"Keys": [{"pk": {"S": "jti#j"}}]}}
    client = _Answers({"Responses": {"t": []}, "UnprocessedKeys": pending})
    revocations = RevocationList(
        client, "t", cache_seconds=0, follow_up_window=0.1, monotonic=lambda: next(ticks, 9.0)
    )
    with caplog.at_level(logging.ERROR), pytest.raises(RevocationUnavailableError):
        revocations.lookup(TokenClaims(sub="u", jti="j", iat=1, exp=2**40))
    assert len(client.requests) == 1
    [line] = [json.loads(r.getMessage()) for r in caplog.records if "denylist_read_failed" in r.getMessage()]
    assert (line["error"], line["error_code"]) == (
        "UnprocessedKeys",
        "no time left to read the keys left unprocessed",
    )


def test_keys_dynamodb_never_processes_are_refused_after_three_reads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pending = {"t": {"Keys": [{"pk": {"S": "jti#j"}}]}}
    client = _Answers({"Responses": {"t": []}, "UnprocessedKeys": pending})
    with caplog.at_level(logging.ERROR), pytest.raises(RevocationUnavailableError):
        RevocationList(client, "t", cache_seconds=0).lookup(TokenClaims(sub="u", jti="j", iat=1, exp=2**40))
    assert len(client.requests) == 3
    [line] = [json.loads(r.getMessage()) for r in caplog.records if "denylist_read_failed" in r.getMessage()]
    assert (line["error"], line["error_code"]) == ("UnprocessedKeys", "keys left unprocessed after 3 reads")
