"""Unit tests for authorizer.principal: the `authenticated(scopes=...)` decorator used by the API's
own handlers behind the authorizer.

Request contexts follow API Gateway's proxy events: REST APIs put the authorizer context flat in
`requestContext.authorizer` (values as strings, next to `principalId`), HTTP APIs (payload 2.0)
under `requestContext.authorizer.lambda` (types kept).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from authorizer.principal import Principal, authenticated

EXP = 1_700_000_300


def rest_event(authorizer: dict[str, Any] | None) -> dict[str, Any]:
    request_context: dict[str, Any] = {
        "resourcePath": "/orders",
        "httpMethod": "POST",
        "stage": "prod",
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "identity": {"sourceIp": "203.0.113.7"},
    }
    if authorizer is not None:
        request_context["authorizer"] = authorizer
    return {
        "resource": "/orders",
        "path": "/orders",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "requestContext": request_context,
        "body": "{}",
        "isBase64Encoded": False,
    }


def rest_authorizer(scope: str = "orders:read orders:write") -> dict[str, Any]:
    return {
        "principalId": "alice",
        "integrationLatency": 12,
        "sub": "alice",
        "scope": scope,
        "sid": "sid-1",
        "jti": "jti-1",
        "client_id": "web-app",
        "exp": str(EXP),
    }


def http_event(lambda_context: dict[str, Any] | None) -> dict[str, Any]:
    request_context: dict[str, Any] = {
        "http": {"method": "POST", "path": "/orders"},
        "routeKey": "POST /orders",
        "stage": "$default",
    }
    if lambda_context is not None:
        request_context["authorizer"] = {"lambda": lambda_context}
    return {
        "version": "2.0",
        "routeKey": "POST /orders",
        "rawPath": "/orders",
        "headers": {"content-type": "application/json"},
        "requestContext": request_context,
        "body": "{}",
    }


def http_context(scope: str = "orders:read orders:write") -> dict[str, Any]:
    return {
        "sub": "alice",
        "scope": scope,
        "sid": "sid-1",
        "jti": "jti-1",
        "client_id": "web-app",
        "exp": EXP,
    }


class Recorder:
    """A protected handler that records what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], Any, Principal]] = []

    def __call__(self, event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
        self.calls.append((event, context, principal))
        return {"statusCode": 200, "body": principal.sub}


EXPECTED = Principal(
    sub="alice", scope="orders:read orders:write", sid="sid-1", jti="jti-1", client_id="web-app", exp=EXP
)


# --------------------------------------------------------------------------- the principal is passed on


@pytest.mark.parametrize(
    "event", [rest_event(rest_authorizer()), http_event(http_context())], ids=["rest", "http"]
)
def test_handler_receives_the_principal(event: dict[str, Any]) -> None:
    recorder = Recorder()
    handler = authenticated(scopes=("orders:write",))(recorder)
    context = object()
    assert handler(event, context) == {"statusCode": 200, "body": "alice"}
    ((seen_event, seen_context, principal),) = recorder.calls
    assert seen_event is event and seen_context is context
    assert principal == EXPECTED
    assert principal.scopes == frozenset({"orders:read", "orders:write"})


def test_no_required_scope_only_needs_a_principal() -> None:
    recorder = Recorder()
    handler = authenticated()(recorder)
    assert handler(http_event(http_context(scope="")), None)["statusCode"] == 200
    assert recorder.calls[0][2].scopes == frozenset()


def test_optional_fields_may_be_empty() -> None:
    # The authorizer sends "" for a missing sid/client_id.
    ctx = {"sub": "bob", "scope": "", "sid": "", "jti": "", "client_id": "", "exp": ""}
    principal = Principal.from_event(rest_event(ctx))
    assert principal == Principal(sub="bob", scope="", sid=None, jti=None, client_id=None, exp=None)


@pytest.mark.parametrize(
    ("exp", "expected"), [(EXP, EXP), (str(EXP), EXP), ("soon", None), (None, None), (True, None), (-5, None)]
)
def test_exp_is_read_from_numbers_and_digit_strings(exp: Any, expected: int | None) -> None:
    ctx = {**http_context(), "exp": exp}
    principal = Principal.from_event(http_event(ctx))
    assert principal is not None and principal.exp == expected


def test_wrapper_keeps_the_handler_name() -> None:
    def orders_handler(event: dict[str, Any], context: Any, principal: Principal) -> str:
        """Create an order."""
        return principal.sub

    wrapped = authenticated()(orders_handler)
    assert wrapped.__name__ == "orders_handler"
    assert wrapped.__doc__ == "Create an order."


# --------------------------------------------------------------------------- 401: no verified principal


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"requestContext": None},
        {"requestContext": "x"},
        rest_event(None),
        rest_event({}),
        rest_event({"principalId": "alice"}),  # e.g. an IAM or Cognito route: no context from us
        rest_event({"claims": {"sub": "alice"}}),
        rest_event({**rest_authorizer(), "sub": ""}),
        http_event(None),
        http_event({}),
        {"requestContext": {"authorizer": {"lambda": None}}},
        {"requestContext": {"authorizer": {"jwt": {"claims": {"sub": "alice"}, "scopes": None}}}},
        {"requestContext": {"authorizer": "alice"}},
    ],
)
def test_no_authorizer_context_is_401(event: dict[str, Any]) -> None:
    recorder = Recorder()
    response = authenticated(scopes=("orders:read",))(recorder)(event, None)
    assert recorder.calls == []
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"])["error"] == "invalid_token"


def test_no_authorizer_context_is_401_even_without_required_scopes() -> None:
    recorder = Recorder()
    response = authenticated()(recorder)(rest_event(None), None)
    assert (response["statusCode"], recorder.calls) == (401, [])


# --------------------------------------------------------------------------- 403: insufficient scope


@pytest.mark.parametrize(
    "event",
    [rest_event(rest_authorizer(scope="orders:read")), http_event(http_context(scope="orders:read"))],
    ids=["rest", "http"],
)
def test_missing_scope_is_403_insufficient_scope(event: dict[str, Any]) -> None:
    recorder = Recorder()
    response = authenticated(scopes=("orders:write", "orders:read"))(recorder)(event, None)
    assert recorder.calls == []
    assert response["statusCode"] == 403
    assert response["headers"]["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="orders:read orders:write"'
    )
    body = json.loads(response["body"])
    assert body["error"] == "insufficient_scope"
    assert body["error_description"]


@pytest.mark.parametrize(
    "scope",
    [
        "orders:writer",  # no prefix matching
        "orders",
        "ORDERS:WRITE",  # scopes are case-sensitive
        "orders:read,orders:write",  # space-separated, not comma-separated
    ],
)
def test_scope_comparison_is_exact(scope: str) -> None:
    recorder = Recorder()
    response = authenticated(scopes=("orders:write",))(recorder)(http_event(http_context(scope=scope)), None)
    assert response["statusCode"] == 403 and recorder.calls == []


def test_every_required_scope_must_be_held() -> None:
    handler = authenticated(scopes=["a", "b"])(Recorder())
    assert handler(http_event(http_context(scope="a")), None)["statusCode"] == 403
    assert handler(http_event(http_context(scope="b")), None)["statusCode"] == 403
    assert handler(http_event(http_context(scope="b c a")), None)["statusCode"] == 200


def test_required_scopes_may_be_any_iterable_and_are_read_once() -> None:
    handler = authenticated(scopes=iter(["orders:write"]))(Recorder())
    event = http_event(http_context(scope="orders:read"))
    # A one-shot iterator still guards every call, not only the first.
    assert handler(event, None)["statusCode"] == 403
    assert handler(event, None)["statusCode"] == 403
