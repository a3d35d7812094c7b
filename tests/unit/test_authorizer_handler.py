"""Unit tests for the authorizer as API Gateway sees it: authorizer.gateway.authorization, responses,
config, bootstrap, jwks_source and the `authorizer.handler` Lambda entry point.

The `Authorizer` is built from real parts: a KeySet from a key ring generated at run time, a
TokenVerifier, a RevocationList on moto's DynamoDB table and RouteScopes. IAM policies are judged
by a small evaluator below (explicit Deny wins; `*` matches any characters, `/` included, as in
IAM), so tests assert what API Gateway would do with the policy, not its exact shape.
"""

from __future__ import annotations

import ast
import base64
import importlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm
from moto import mock_aws

from auth_service.denylist import Denylist
from auth_service.keys import KeyRing
from auth_service.tables import create_tables
from auth_service.tokens import TokenIssuer, TokenPair
from authorizer.errors import ConfigurationError
from authorizer.gateway.authorization import Authorizer
from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig, JwksKind, JwksSource
from authorizer.gateway.events import parse_event
from authorizer.gateway.jwks_source import load_key_set, read_jwks
from authorizer.gateway.routes import RouteScopes
from authorizer.tokens.revocation import RevocationList
from authorizer.tokens.verifier import ACCESS, TokenVerifier
from tests.unit.emf import emf_lines, metric_values

REPO_ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
DENYLIST = "test-denylist"
REST_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod"
HTTP_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:xyz789/$default"
ROUTES: dict[str, list[str]] = {
    "GET /orders": ["orders:read"],
    "POST /orders": ["orders:write"],
    "GET /orders/{id}": ["orders:read"],
    "ANY /admin/{proxy+}": ["admin"],
}
CONTEXT_KEYS = {"sub", "scope", "sid", "jti", "client_id", "exp", "iss", "groups"}


# --------------------------------------------------------------------------- IAM evaluation


def _resource_matches(pattern: str, arn: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn, flags=re.DOTALL) is not None


def iam_allows(policy: dict[str, Any], arn: str) -> bool:
    """What API Gateway decides for `arn` under this authorizer policy."""
    document = policy["policyDocument"]
    assert document["Version"] == "2012-10-17"
    allowed = denied = False
    for statement in document["Statement"]:
        assert statement["Action"] == "execute-api:Invoke"
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        if any(_resource_matches(resource, arn) for resource in resources):
            if statement["Effect"] == "Deny":
                denied = True
            elif statement["Effect"] == "Allow":
                allowed = True
    return allowed and not denied


def test_iam_evaluator_itself() -> None:
    policy = {
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [f"{REST_PREFIX}/*"]},
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Deny",
                    "Resource": [f"{REST_PREFIX}/POST/orders"],
                },
            ],
        }
    }
    assert iam_allows(policy, f"{REST_PREFIX}/GET/orders/1/items")
    assert not iam_allows(policy, f"{REST_PREFIX}/POST/orders")
    assert iam_allows(policy, f"{REST_PREFIX}/POST/orders/1")
    assert not iam_allows(policy, "arn:aws:execute-api:us-east-1:123456789012:other/prod/GET/x")


# --------------------------------------------------------------------------- events


def rest_token_event(token: str | None, method: str, path: str) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "TOKEN", "methodArn": f"{REST_PREFIX}/{method}{path}"}
    if token is not None:
        event["authorizationToken"] = f"Bearer {token}"
    return event


def rest_request_event(token: str | None, method: str, resource: str, path: str) -> dict[str, Any]:
    headers = {"Accept": "application/json", "Host": "abcdef123.execute-api.us-east-1.amazonaws.com"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return {
        "type": "REQUEST",
        "methodArn": f"{REST_PREFIX}/{method}{path}",
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "stage": "prod",
            "apiId": "abcdef123",
            "accountId": "123456789012",
        },
    }


def http_event(token: str | None, method: str, route: str, path: str) -> dict[str, Any]:
    headers = {"accept": "application/json", "host": "xyz789.execute-api.us-east-1.amazonaws.com"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"{HTTP_PREFIX}/{method}{path}",
        "identitySource": [headers["authorization"]] if token is not None else [],
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "xyz789",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9"},
            "routeKey": f"{method} {route}",
            "stage": "$default",
        },
    }


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def table_client() -> Iterator[Any]:
    """One moto DynamoDB (denylist table) for this module: tests use their own users, sessions and
    jtis, so they do not see each other's revocations, and the module stays fast."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, denylist=DENYLIST)
        yield client


@pytest.fixture(scope="module")
def issuer(ring: KeyRing) -> TokenIssuer:
    return TokenIssuer(
        ring, issuer=ISSUER, audience=AUDIENCE, client_id="web-app", access_ttl=300, refresh_ttl=3600
    )


@pytest.fixture(scope="module")
def reader(issuer: TokenIssuer) -> TokenPair:
    return issuer.issue("alice", "orders:read profile")


@pytest.fixture(scope="module")
def admin(issuer: TokenIssuer) -> TokenPair:
    return issuer.issue("root", "orders:read orders:write admin")


@pytest.fixture
def make_authorizer(table_client: Any, ring: KeyRing) -> Callable[..., Authorizer]:
    def factory(
        *,
        simple_responses: bool = True,
        routes: dict[str, list[str]] | None = None,
        table: str = DENYLIST,
        log_allowed: bool = False,
    ) -> Authorizer:
        verifier = TokenVerifier(ring.key_set(), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS)
        revocations = RevocationList(table_client, table, cache_seconds=0)
        return Authorizer(
            verifier,
            revocations,
            RouteScopes.from_mapping(ROUTES if routes is None else routes),
            simple_responses=simple_responses,
            log_allowed=log_allowed,
        )

    return factory


@pytest.fixture
def authorizer(make_authorizer: Callable[..., Authorizer]) -> Authorizer:
    return make_authorizer()


@pytest.fixture
def iam_authorizer(make_authorizer: Callable[..., Authorizer]) -> Authorizer:
    return make_authorizer(simple_responses=False)


@pytest.fixture
def denylist(table_client: Any) -> Denylist:
    return Denylist(table_client, DENYLIST, max_token_lifetime=3600, leeway=30)


def expect_unauthorized(authorizer: Authorizer, event: Any) -> None:
    """The REST answer for 401: raise an exception whose message is exactly 'Unauthorized'."""
    with pytest.raises(Exception) as info:  # the message is what API Gateway reads
        authorizer.handle(event)
    assert str(info.value) == "Unauthorized"
    assert info.value.args == ("Unauthorized",)


def assert_context(response: dict[str, Any], pair: TokenPair, sub: str) -> None:
    ctx = response["context"]
    assert set(ctx) == CONTEXT_KEYS
    assert ctx["sub"] == sub
    assert ctx["scope"] == pair.scope
    assert ctx["sid"] == pair.sid
    assert ctx["jti"] == pair.access_jti
    assert ctx["client_id"] == "web-app"
    assert isinstance(ctx["exp"], int) and ctx["exp"] > time.time()
    assert ctx["iss"] == ISSUER
    assert ctx["groups"] == ""  # our own tokens carry no Cognito groups
    # API Gateway accepts only strings, numbers and booleans as context values.
    assert all(isinstance(value, str | int | bool) for value in ctx.values())


# --------------------------------------------------------------------------- allow


def test_rest_token_allow_with_context_and_route_wide_policy(
    authorizer: Authorizer, reader: TokenPair
) -> None:
    response = authorizer.handle(rest_token_event(reader.access_token, "GET", "/orders"))
    assert response["principalId"] == "alice"
    assert_context(response, reader, "alice")
    allow = [s for s in response["policyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow == [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [f"{REST_PREFIX}/*"]}]
    # One policy for the whole API, so a cached policy keeps answering correctly elsewhere.
    assert iam_allows(response, f"{REST_PREFIX}/GET/orders")
    assert iam_allows(response, f"{REST_PREFIX}/GET/orders/17")
    assert iam_allows(response, f"{REST_PREFIX}/GET/health")  # unlisted: token only
    assert iam_allows(response, f"{REST_PREFIX}/GET/me/profile")
    # ... and denies exactly the routes this token lacks scopes for.
    assert not iam_allows(response, f"{REST_PREFIX}/POST/orders")
    assert not iam_allows(response, f"{REST_PREFIX}/GET/admin/users")
    assert not iam_allows(response, f"{REST_PREFIX}/DELETE/admin/users/1")
    # Nothing outside this API and stage.
    assert not iam_allows(response, "arn:aws:execute-api:us-east-1:123456789012:abcdef123/dev/GET/orders")


def test_rest_policy_has_no_deny_for_a_token_holding_every_scope(
    authorizer: Authorizer, admin: TokenPair
) -> None:
    response = authorizer.handle(rest_token_event(admin.access_token, "DELETE", "/admin/users/7"))
    assert [s["Effect"] for s in response["policyDocument"]["Statement"]] == ["Allow"]
    for method, path in (("POST", "/orders"), ("GET", "/admin/x"), ("PUT", "/anything")):
        assert iam_allows(response, f"{REST_PREFIX}/{method}{path}")


def test_rest_request_allow(authorizer: Authorizer, reader: TokenPair) -> None:
    event = rest_request_event(reader.access_token, "GET", "/orders/{id}", "/orders/17")
    response = authorizer.handle(event)
    assert response["principalId"] == "alice"
    assert_context(response, reader, "alice")
    assert iam_allows(response, event["methodArn"])
    assert not iam_allows(response, f"{REST_PREFIX}/POST/orders")


def test_http_simple_allow(authorizer: Authorizer, reader: TokenPair) -> None:
    response = authorizer.handle(http_event(reader.access_token, "GET", "/orders/{id}", "/orders/17"))
    assert set(response) == {"isAuthorized", "context"}
    assert response["isAuthorized"] is True
    assert_context(response, reader, "alice")


def test_http_iam_allow(iam_authorizer: Authorizer, reader: TokenPair) -> None:
    event = http_event(reader.access_token, "GET", "/orders", "/orders")
    response = iam_authorizer.handle(event)
    assert response["principalId"] == "alice"
    assert_context(response, reader, "alice")
    assert iam_allows(response, event["routeArn"])
    assert not iam_allows(response, f"{HTTP_PREFIX}/POST/orders")


def test_unlisted_route_needs_only_a_valid_token(authorizer: Authorizer, issuer: TokenIssuer) -> None:
    pair = issuer.issue("bob", "")
    assert (
        authorizer.handle(http_event(pair.access_token, "GET", "/health", "/health"))["isAuthorized"] is True
    )
    response = authorizer.handle(rest_token_event(pair.access_token, "GET", "/health"))
    assert iam_allows(response, f"{REST_PREFIX}/GET/health")


# --------------------------------------------------------------------------- missing scope (403)


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/orders"), ("GET", "/admin/users"), ("PUT", "/admin/a/b")]
)
def test_rest_token_missing_scope_denies_the_current_route(
    method: str, path: str, authorizer: Authorizer, reader: TokenPair
) -> None:
    event = rest_token_event(reader.access_token, method, path)
    response = authorizer.handle(event)  # a policy, not an exception: 403, not 401
    assert response["principalId"] == "alice"
    assert not iam_allows(response, event["methodArn"])
    assert iam_allows(response, f"{REST_PREFIX}/GET/orders")  # other routes keep working from cache


def test_rest_request_missing_scope_denies_the_current_route(
    authorizer: Authorizer, reader: TokenPair
) -> None:
    event = rest_request_event(reader.access_token, "GET", "/admin/{proxy+}", "/admin/users/3")
    response = authorizer.handle(event)
    assert not iam_allows(response, event["methodArn"])
    assert iam_allows(response, f"{REST_PREFIX}/GET/orders/3")


def test_http_simple_missing_scope_is_not_authorized(authorizer: Authorizer, reader: TokenPair) -> None:
    response = authorizer.handle(http_event(reader.access_token, "POST", "/orders", "/orders"))
    assert response == {"isAuthorized": False}


def test_http_simple_proxy_route_missing_scope(authorizer: Authorizer, reader: TokenPair) -> None:
    response = authorizer.handle(http_event(reader.access_token, "ANY", "/admin/{proxy+}", "/admin/users"))
    assert response == {"isAuthorized": False}


def test_http_iam_missing_scope_denies_the_current_route(
    iam_authorizer: Authorizer, reader: TokenPair
) -> None:
    event = http_event(reader.access_token, "POST", "/orders", "/orders")
    response = iam_authorizer.handle(event)
    assert not iam_allows(response, event["routeArn"])
    assert iam_allows(response, f"{HTTP_PREFIX}/GET/orders")


def test_decide_reports_the_missing_scopes(authorizer: Authorizer, reader: TokenPair) -> None:
    decision = authorizer.decide(parse_event(rest_token_event(reader.access_token, "POST", "/orders")))
    assert (decision.allowed, decision.authenticated) == (False, True)
    assert decision.reason == "missing scope: orders:write"


def test_deny_of_a_parameter_route_also_covers_its_sub_routes_on_rest(
    make_authorizer: Callable[..., Authorizer], issuer: TokenIssuer
) -> None:
    """Documented limitation (README): IAM's `*` spans `/`, and a Deny always wins.

    A REST policy cannot deny `GET /orders/{id}` without also denying `GET /orders/{id}/items`.
    We keep the deny (fail safe: a 403 too many, never an allow too many) and say so.
    """
    authorizer = make_authorizer(
        routes={"GET /orders/{id}": ["orders:read"], "GET /orders/{id}/items": ["items"]}
    )
    pair = issuer.issue("carol", "items")
    event = rest_token_event(pair.access_token, "GET", "/orders/17/items")
    assert authorizer.decide(parse_event(event)).allowed
    assert not iam_allows(authorizer.handle(event), event["methodArn"])
    # HTTP API simple responses decide per request and have no such limitation.
    http = http_event(pair.access_token, "GET", "/orders/{id}/items", "/orders/17/items")
    assert authorizer.handle(http)["isAuthorized"] is True


@pytest.mark.parametrize("kind", ["token", "request"])
def test_colon_in_the_path_does_not_bypass_route_scopes(
    kind: str, authorizer: Authorizer, reader: TokenPair
) -> None:
    path = "/admin/users:search/a/b"
    if kind == "token":
        event = rest_token_event(reader.access_token, "GET", path)
    else:
        event = rest_request_event(reader.access_token, "GET", "/admin/{proxy+}", path)
    response = authorizer.handle(event)  # `reader` has no "admin" scope
    assert not iam_allows(response, event["methodArn"])


# --------------------------------------------------------------------------- refused tokens (401)


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "admin orders:write"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


BAD_TOKENS: dict[str, Callable[[TokenIssuer, TokenPair], str | None]] = {
    "missing": lambda issuer, pair: None,
    "tampered": lambda issuer, pair: _tamper(pair.access_token),
    "refresh-token": lambda issuer, pair: pair.refresh_token,
    "garbage": lambda issuer, pair: "not-a-jwt",
    "expired": lambda issuer, pair: (
        TokenIssuer(
            issuer.keys,
            issuer=ISSUER,
            audience=AUDIENCE,
            client_id="web-app",
            access_ttl=60,
            refresh_ttl=60,
            clock=lambda: time.time() - 3600,
        )
        .issue("alice", "orders:read")
        .access_token
    ),
    "other-audience": lambda issuer, pair: (
        TokenIssuer(
            issuer.keys, issuer=ISSUER, audience="billing-api", client_id="x", access_ttl=60, refresh_ttl=60
        )
        .issue("alice", "orders:read")
        .access_token
    ),
}


@pytest.fixture(params=sorted(BAD_TOKENS))
def bad_token(request: pytest.FixtureRequest, issuer: TokenIssuer, reader: TokenPair) -> str | None:
    return BAD_TOKENS[request.param](issuer, reader)


def test_rest_token_refused_token_is_unauthorized(authorizer: Authorizer, bad_token: str | None) -> None:
    expect_unauthorized(authorizer, rest_token_event(bad_token, "GET", "/orders"))


def test_rest_request_refused_token_is_unauthorized(authorizer: Authorizer, bad_token: str | None) -> None:
    expect_unauthorized(authorizer, rest_request_event(bad_token, "GET", "/orders", "/orders"))


def test_http_simple_refused_token_is_not_authorized(authorizer: Authorizer, bad_token: str | None) -> None:
    assert authorizer.handle(http_event(bad_token, "GET", "/orders", "/orders")) == {"isAuthorized": False}


def test_http_iam_refused_token_is_a_deny_policy(iam_authorizer: Authorizer, bad_token: str | None) -> None:
    event = http_event(bad_token, "GET", "/orders", "/orders")
    response = iam_authorizer.handle(event)
    assert "context" not in response
    assert response["principalId"] == "anonymous"
    assert [s["Effect"] for s in response["policyDocument"]["Statement"]] == ["Deny"]
    assert not iam_allows(response, event["routeArn"])
    assert not iam_allows(response, f"{HTTP_PREFIX}/GET/health")


def test_non_bearer_authorization_is_unauthorized(authorizer: Authorizer, reader: TokenPair) -> None:
    event = rest_token_event(None, "GET", "/orders")
    event["authorizationToken"] = f"Basic {reader.access_token}"
    expect_unauthorized(authorizer, event)


@pytest.mark.parametrize("how", ["token", "session", "user"])
def test_revoked_token_is_refused_in_every_format(
    how: str, make_authorizer: Callable[..., Authorizer], denylist: Denylist, issuer: TokenIssuer
) -> None:
    pair = issuer.issue("dave", "orders:read")
    authorizer, iam = make_authorizer(), make_authorizer(simple_responses=False)
    assert authorizer.handle(http_event(pair.access_token, "GET", "/orders", "/orders"))["isAuthorized"]
    if how == "token":
        denylist.revoke_jti(pair.access_jti, "logout")
    elif how == "session":
        denylist.revoke_session(pair.sid, "logout")
    else:
        denylist.revoke_user("dave", "password changed")
    expect_unauthorized(authorizer, rest_token_event(pair.access_token, "GET", "/orders"))
    expect_unauthorized(authorizer, rest_request_event(pair.access_token, "GET", "/orders", "/orders"))
    event = http_event(pair.access_token, "GET", "/orders", "/orders")
    assert authorizer.handle(event) == {"isAuthorized": False}
    assert not iam_allows(iam.handle(event), event["routeArn"])


def test_denylist_unavailable_fails_closed(
    make_authorizer: Callable[..., Authorizer], reader: TokenPair
) -> None:
    authorizer = make_authorizer(table="no-such-table")
    expect_unauthorized(authorizer, rest_token_event(reader.access_token, "GET", "/orders"))
    assert authorizer.handle(http_event(reader.access_token, "GET", "/orders", "/orders")) == {
        "isAuthorized": False
    }
    iam = make_authorizer(table="no-such-table", simple_responses=False)
    event = http_event(reader.access_token, "GET", "/orders", "/orders")
    assert not iam_allows(iam.handle(event), event["routeArn"])


def test_deeply_nested_token_header_is_an_ordinary_refusal(authorizer: Authorizer) -> None:
    header = base64.urlsafe_b64encode(b"[" * 1000 + b"]" * 1000).rstrip(b"=").decode()
    token = f"{header}.e30.c2ln"
    assert authorizer.handle(http_event(token, "GET", "/orders", "/orders")) == {"isAuthorized": False}
    expect_unauthorized(authorizer, rest_token_event(token, "GET", "/orders"))


# --------------------------------------------------------------------------- malformed events


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "Bearer x",
        {},
        {"type": "TOKEN", "authorizationToken": "Bearer x"},
        {"type": "TOKEN", "authorizationToken": "Bearer x", "methodArn": "nope"},
        {"type": "REQUEST", "headers": {"Authorization": "Bearer x"}},
        {"type": "SOMETHING"},
    ],
)
def test_malformed_rest_events_are_unauthorized(authorizer: Authorizer, event: Any) -> None:
    expect_unauthorized(authorizer, event)


@pytest.mark.parametrize(
    "event",
    [
        {"version": "2.0", "type": "REQUEST", "headers": {"authorization": "Bearer x"}},
        {"version": "2.0", "routeArn": "garbage", "routeKey": "GET /orders"},
    ],
)
def test_malformed_http_events(authorizer: Authorizer, iam_authorizer: Authorizer, event: Any) -> None:
    assert authorizer.handle(event) == {"isAuthorized": False}
    # With IAM responses there is no policy to deny with (no ARN): the call must not be allowed.
    try:
        response = iam_authorizer.handle(event)
    except Exception as exc:  # any failure refuses the request
        assert str(exc) == "Unauthorized"
    else:
        assert not any(s["Effect"] == "Allow" for s in response["policyDocument"]["Statement"])


# --------------------------------------------------------------------------- logs never hold the token


def _log_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "lambda_jwt_auth.authorizer"
    ]


def test_logs_never_contain_the_token(
    caplog: pytest.LogCaptureFixture,
    make_authorizer: Callable[..., Authorizer],
    reader: TokenPair,
    denylist: Denylist,
    issuer: TokenIssuer,
) -> None:
    # With AUTH_LOG_ALLOWED on, so that allowed requests write their line too.
    authorizer = make_authorizer(log_allowed=True)
    iam_authorizer = make_authorizer(simple_responses=False, log_allowed=True)
    caplog.set_level(logging.INFO)
    revoked = issuer.issue("erin", "orders:read")
    denylist.revoke_jti(revoked.access_jti, "logout")
    tampered = _tamper(reader.access_token)
    secrets = [
        reader.access_token,
        tampered,
        revoked.access_token,
        reader.refresh_token,
        "opaque-secret-value-123",
    ]
    cases: list[tuple[Authorizer, dict[str, Any]]] = [
        (authorizer, http_event(reader.access_token, "GET", "/orders", "/orders")),  # allow
        (authorizer, http_event(reader.access_token, "POST", "/orders", "/orders")),  # missing scope
        (iam_authorizer, http_event(tampered, "GET", "/orders", "/orders")),  # bad signature
        (iam_authorizer, http_event(revoked.access_token, "GET", "/orders", "/orders")),  # revoked
        (iam_authorizer, http_event(reader.refresh_token, "GET", "/orders", "/orders")),  # wrong type
        (iam_authorizer, http_event("opaque-secret-value-123", "GET", "/orders", "/orders")),  # garbage
        (iam_authorizer, rest_token_event(reader.access_token, "GET", "/orders")),
        (authorizer, {"version": "2.0", "headers": {"authorization": f"Bearer {reader.access_token}"}}),
    ]
    for which, event in cases:
        which.handle(event)
    records = _log_records(caplog)
    assert len(records) == len(cases)  # one line per decision, so the checks below see them all
    assert [r["outcome"] for r in records] == [
        "allow",
        "deny",
        "deny",
        "deny",
        "deny",
        "deny",
        "allow",
        "deny",
    ]
    assert records[0]["jti"] == reader.access_jti and records[0]["sub"] == "alice"
    assert "TokenRevokedError" in records[3]["reason"]
    text = caplog.text
    for secret in secrets:
        assert secret not in text
        for part in secret.split(".")[1:]:  # payload and signature (the header part is generic)
            assert part not in text


def test_allowed_requests_are_not_logged_by_default_refusals_are(
    caplog: pytest.LogCaptureFixture, authorizer: Authorizer, iam_authorizer: Authorizer, reader: TokenPair
) -> None:
    caplog.set_level(logging.INFO)
    assert authorizer.handle(http_event(reader.access_token, "GET", "/orders", "/orders"))["isAuthorized"]
    policy = iam_authorizer.handle(rest_token_event(reader.access_token, "GET", "/orders"))
    assert iam_allows(policy, f"{REST_PREFIX}/GET/orders")
    assert _log_records(caplog) == []  # API Gateway's access log records allowed requests
    authorizer.handle(http_event(reader.access_token, "POST", "/orders", "/orders"))
    (refusal,) = _log_records(caplog)
    assert refusal == {
        "event": "authorize",
        "outcome": "deny",
        "reason": "missing scope: orders:write",
        "route": "POST /orders",
        "jti": reader.access_jti,
        "sub": "alice",
    }


@pytest.mark.parametrize(
    ("value", "expected"), [(None, False), ("false", False), ("true", True), ("1", True)]
)
def test_auth_log_allowed_setting(ring: KeyRing, value: str | None, expected: bool) -> None:
    env = _env(ring) if value is None else _env(ring, AUTH_LOG_ALLOWED=value)
    assert AuthorizerConfig.from_env(env).log_allowed is expected


def test_auth_log_allowed_must_be_a_boolean(ring: KeyRing) -> None:
    with pytest.raises(ConfigurationError, match="AUTH_LOG_ALLOWED must be true or false"):
        AuthorizerConfig.from_env(_env(ring, AUTH_LOG_ALLOWED="sometimes"))


# --------------------------------------------------------------------------- configuration


def _env(ring: KeyRing, **overrides: str) -> dict[str, str]:
    env = {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_JWKS": json.dumps(ring.jwks()),
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AWS_REGION": "us-east-1",
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value != "<unset>"}


def _problems(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigurationError) as info:
        AuthorizerConfig.from_env(environ)
    message = str(info.value)
    assert message.startswith("invalid authorizer configuration:")
    return [line.removeprefix("  - ") for line in message.splitlines()[1:]]


def test_config_from_env(ring: KeyRing) -> None:
    config = AuthorizerConfig.from_env(
        _env(
            ring,
            AUTH_AUDIENCE="orders-api, billing-api ,",
            AUTH_LEEWAY_SECONDS="10",
            AUTH_MAX_TOKEN_BYTES="4096",
            AUTH_REVOCATION_CACHE_SECONDS="0",
            AUTH_HTTP_API_SIMPLE_RESPONSES="false",
            AUTH_ROUTE_SCOPES=json.dumps({"GET /orders": ["orders:read"]}),
            AUTH_DYNAMODB_ENDPOINT="http://localhost:8000",
            AWS_REGION="eu-west-1",
        )
    )
    common = config.common
    assert (common.issuer, common.audiences) == (ISSUER, ("orders-api", "billing-api"))
    assert (common.leeway, common.max_token_bytes, common.region) == (10, 4096, "eu-west-1")
    assert (common.denylist_table, common.dynamodb_endpoint) == (DENYLIST, "http://localhost:8000")
    assert config.jwks == JwksSource(JwksKind.INLINE, json.dumps(ring.jwks()))
    assert (config.revocation_cache_seconds, config.simple_responses) == (0, False)
    assert config.route_scopes.required("GET", "/orders") == {"orders:read"}


def test_config_defaults(ring: KeyRing) -> None:
    config = AuthorizerConfig.from_env(_env(ring, AWS_REGION="<unset>"))
    assert (config.common.leeway, config.common.max_token_bytes, config.common.region) == (
        30,
        8192,
        "us-east-1",
    )
    assert (config.revocation_cache_seconds, config.simple_responses) == (5, True)
    assert config.route_scopes.rules == []
    assert config.common.dynamodb_endpoint is None


def test_config_lists_every_problem_at_once(ring: KeyRing) -> None:
    problems = _problems(
        _env(
            ring,
            AUTH_ISSUER="<unset>",
            AUTH_LEEWAY_SECONDS="thirty",
            AUTH_MAX_TOKEN_BYTES="100",
            AUTH_REVOCATION_CACHE_SECONDS="-1",
            AUTH_HTTP_API_SIMPLE_RESPONSES="maybe",
            AUTH_JWKS_FILE="/etc/jwks.json",
            AUTH_ROUTE_SCOPES="{not json",
        )
    )
    assert len(problems) == 7, problems
    joined = "\n".join(problems)
    assert "AUTH_ISSUER is required" in joined
    assert "AUTH_LEEWAY_SECONDS must be a whole number, got 'thirty'" in joined
    assert "AUTH_MAX_TOKEN_BYTES must be at least 512 and at most 65536, got 100" in joined
    assert "AUTH_REVOCATION_CACHE_SECONDS must be at least 0 and at most 3600, got -1" in joined
    assert "AUTH_HTTP_API_SIMPLE_RESPONSES must be true or false, got 'maybe'" in joined
    assert (
        "set only one of AUTH_JWKS, AUTH_JWKS_FILE, AUTH_JWKS_SSM_PARAMETER; found AUTH_JWKS, AUTH_JWKS_FILE"
        in joined
    )
    assert "AUTH_ROUTE_SCOPES is not valid JSON" in joined


def test_config_missing_everything(ring: KeyRing) -> None:
    problems = _problems({})
    assert any(p.startswith("AUTH_ISSUER is required") for p in problems)
    assert any(p.startswith("AUTH_AUDIENCE is required") for p in problems)
    assert any(p.startswith("AUTH_DENYLIST_TABLE is required") for p in problems)


def test_config_missing_jwks_alone(ring: KeyRing) -> None:
    (problem,) = _problems(_env(ring, AUTH_JWKS="<unset>"))
    assert "AUTH_JWKS, AUTH_JWKS_FILE or AUTH_JWKS_SSM_PARAMETER is required" in problem


def test_config_missing_jwks_is_listed_with_other_problems(ring: KeyRing) -> None:
    problems = _problems(_env(ring, AUTH_JWKS="<unset>", AUTH_ISSUER="<unset>"))
    assert any("AUTH_JWKS" in p for p in problems), problems


def test_config_bad_route_scopes_are_listed_with_other_problems(ring: KeyRing) -> None:
    with pytest.raises(ConfigurationError) as info:
        AuthorizerConfig.from_env(_env(ring, AUTH_ISSUER="<unset>", AUTH_ROUTE_SCOPES='{"FETCH /x": ["a"]}'))
    assert "AUTH_ISSUER" in str(info.value) and "FETCH" in str(info.value)


def test_config_bad_route_scopes_alone(ring: KeyRing) -> None:
    with pytest.raises(ConfigurationError, match="FETCH"):
        AuthorizerConfig.from_env(_env(ring, AUTH_ROUTE_SCOPES='{"FETCH /x": ["a"]}'))


def test_config_refuses_an_empty_audience_list(ring: KeyRing) -> None:
    with pytest.raises(ConfigurationError, match="AUTH_AUDIENCE"):
        AuthorizerConfig.from_env(_env(ring, AUTH_AUDIENCE=" , "))


def test_config_blank_values_count_as_missing(ring: KeyRing) -> None:
    problems = _problems(_env(ring, AUTH_ISSUER="   ", AUTH_DENYLIST_TABLE=""))
    assert [p.split(" ")[0] for p in problems] == ["AUTH_ISSUER", "AUTH_DENYLIST_TABLE"]


@pytest.mark.parametrize(
    "issuer",
    [
        "http://localhost",
        "http://localhost:3000",
        "http://127.0.0.1:8080",
        "http://[::1]:8080",
        "https://auth.example.test",
        "https://auth.example.test/tenant-1",
    ],
)
def test_config_accepts_https_and_local_http_issuers(issuer: str, ring: KeyRing) -> None:
    assert AuthorizerConfig.from_env(_env(ring, AUTH_ISSUER=issuer)).common.issuer == issuer


@pytest.mark.parametrize(
    ("issuer", "message"),
    [
        ("http://auth.example.test", "https://"),
        ("http://localhost.example.test", "https://"),
        ("http://localhost@evil.example", "https://"),
        ("http://10.0.0.1", "https://"),
        ("ftp://auth.example.test", "https://"),
        ("auth.example.test", "https://"),
        ("https://auth.example.test/", "trailing slash"),
        ("https://auth.example.test?tenant=1", "query"),
        ("https://auth.example.test#x", "fragment"),
        ("http://localhost:3000/", "trailing slash"),
    ],
)
def test_config_refuses_bad_issuers(issuer: str, message: str, ring: KeyRing) -> None:
    (problem,) = _problems(_env(ring, AUTH_ISSUER=issuer))
    assert problem.startswith("AUTH_ISSUER must") and message in problem
    assert repr(issuer) in problem


def test_config_records_the_jwks_source_kind(ring: KeyRing) -> None:
    file_config = AuthorizerConfig.from_env(_env(ring, AUTH_JWKS="<unset>", AUTH_JWKS_FILE="/opt/jwks.json"))
    assert file_config.jwks == JwksSource(JwksKind.FILE, "/opt/jwks.json")
    ssm = AuthorizerConfig.from_env(_env(ring, AUTH_JWKS="<unset>", AUTH_JWKS_SSM_PARAMETER="/auth/jwks"))
    assert ssm.jwks == JwksSource(JwksKind.SSM, "/auth/jwks")


# --------------------------------------------------------------------------- JWKS sources and bootstrap


def test_jwks_from_a_file(tmp_path: Path, ring: KeyRing) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(ring.jwks()), encoding="utf-8")
    assert load_key_set(JwksSource(JwksKind.FILE, str(path)), "us-east-1").kids == (ring.current.kid,)
    with pytest.raises(ConfigurationError, match="cannot read"):
        read_jwks(JwksSource(JwksKind.FILE, str(tmp_path / "missing.json")), "us-east-1")


@pytest.mark.parametrize("text", ["{not json", "", "[1,"])
def test_inline_jwks_that_is_not_json(text: str) -> None:
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        read_jwks(JwksSource(JwksKind.INLINE, text), "us-east-1")


def test_inline_jwks_with_private_key_is_refused_at_bootstrap(ring: KeyRing) -> None:
    private_key = ring.current.private_key
    assert isinstance(private_key, RSAPrivateKey)
    private_jwk = {**RSAAlgorithm.to_jwk(private_key, as_dict=True), "kid": "k"}
    config = AuthorizerConfig.from_env(_env(ring, AUTH_JWKS=json.dumps({"keys": [private_jwk]})))
    with pytest.raises(ConfigurationError, match="private"):
        build_authorizer(config)


def test_build_authorizer_from_config(table_client: Any, ring: KeyRing, reader: TokenPair) -> None:
    config = AuthorizerConfig.from_env(
        _env(ring, AUTH_ROUTE_SCOPES=json.dumps(ROUTES), AUTH_HTTP_API_SIMPLE_RESPONSES="false")
    )
    authorizer = build_authorizer(config)
    event = http_event(reader.access_token, "GET", "/orders", "/orders")
    assert iam_allows(authorizer.handle(event), event["routeArn"])
    event = http_event(reader.access_token, "POST", "/orders", "/orders")
    assert not iam_allows(authorizer.handle(event), event["routeArn"])


# --------------------------------------------------------------------------- the Lambda entry point


@pytest.fixture
def handler_module(monkeypatch: pytest.MonkeyPatch, table_client: Any, ring: KeyRing) -> Iterator[Any]:
    for name in list(os.environ):
        if name.startswith("AUTH_"):
            monkeypatch.delenv(name)
    env = _env(ring, AUTH_ROUTE_SCOPES=json.dumps(ROUTES), AUTH_REVOCATION_CACHE_SECONDS="0")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("authorizer.handler", None)
    try:
        yield importlib.import_module("authorizer.handler")
    finally:
        sys.modules.pop("authorizer.handler", None)


def test_handler_entry_point(handler_module: Any, table_client: Any, issuer: TokenIssuer) -> None:
    pair = issuer.issue("frank", "orders:read")
    response = handler_module.handler(http_event(pair.access_token, "GET", "/orders", "/orders"), None)
    assert response["isAuthorized"] is True and response["context"]["sub"] == "frank"
    assert handler_module.handler(http_event(pair.access_token, "POST", "/orders", "/orders"), None) == {
        "isAuthorized": False
    }
    rest = handler_module.handler(rest_token_event(pair.access_token, "GET", "/orders"), None)
    assert iam_allows(rest, f"{REST_PREFIX}/GET/orders")
    # The handler reads the configured denylist table (cache disabled in this environment).
    Denylist(table_client, DENYLIST, max_token_lifetime=3600, leeway=30).revoke_session(pair.sid, "logout")
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler_module.handler(rest_token_event(pair.access_token, "GET", "/orders"), None)


def _metered_handler(monkeypatch: pytest.MonkeyPatch, ring: KeyRing, **overrides: str) -> Any:
    for name in list(os.environ):
        if name.startswith("AUTH_"):
            monkeypatch.delenv(name)
    env = _env(
        ring,
        AUTH_ROUTE_SCOPES=json.dumps(ROUTES),
        AUTH_METRICS_NAMESPACE="Test/Auth",
        AUTH_METRICS_SERVICE="orders-api",
        **overrides,
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("authorizer.handler", None)
    try:
        return importlib.import_module("authorizer.handler")
    finally:
        sys.modules.pop("authorizer.handler", None)


def _metrics_of(capfd: pytest.CaptureFixture[str], call: Callable[[], object]) -> dict[str, float]:
    capfd.readouterr()
    try:
        call()
    except Exception as exc:  # the REST 401
        assert str(exc) == "Unauthorized"
    (document,) = emf_lines(capfd.readouterr().out)  # one line per invocation
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Test/Auth"
    assert document["Service"] == "orders-api"
    return metric_values(document)


def test_handler_writes_one_emf_line_per_invocation(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    table_client: Any,
    ring: KeyRing,
    issuer: TokenIssuer,
) -> None:
    module = _metered_handler(monkeypatch, ring, AUTH_REVOCATION_CACHE_SECONDS="60")
    pair = issuer.issue("grace", "orders:read")
    read = http_event(pair.access_token, "GET", "/orders", "/orders")
    first = _metrics_of(capfd, lambda: module.handler(read, None))
    assert first.keys() == {"Allowed", "RevocationCacheMisses", "DenylistReadLatency"}
    assert first["Allowed"] == 1 and 0 <= first["DenylistReadLatency"] < 5000
    assert _metrics_of(capfd, lambda: module.handler(read, None)) == {"Allowed": 1, "RevocationCacheHits": 1}
    write = http_event(pair.access_token, "POST", "/orders", "/orders")
    assert _metrics_of(capfd, lambda: module.handler(write, None)) == {
        "RevocationCacheHits": 1, "Refused": 1, "RefusedScope": 1,
    }  # fmt: skip
    anonymous = http_event(None, "GET", "/orders", "/orders")
    assert _metrics_of(capfd, lambda: module.handler(anonymous, None)) == {
        "Refused": 1, "RefusedNoToken": 1,
    }  # fmt: skip
    forged = pair.access_token[:-4] + ("AAAA" if not pair.access_token.endswith("AAAA") else "BBBB")
    assert _metrics_of(capfd, lambda: module.handler(rest_token_event(forged, "GET", "/orders"), None)) == {
        "Refused": 1, "RefusedInvalidToken": 1,
    }  # fmt: skip
    assert _metrics_of(capfd, lambda: module.handler({"version": "2.0", "type": "REQUEST"}, None)) == {
        "Refused": 1, "RefusedMalformedEvent": 1,
    }  # fmt: skip
    expired = TokenIssuer(
        ring, issuer=ISSUER, audience=AUDIENCE, client_id="web-app", access_ttl=300, refresh_ttl=3600,
        clock=lambda: time.time() - 3600,
    ).issue("grace", "orders:read")  # fmt: skip
    late = http_event(expired.access_token, "GET", "/orders", "/orders")
    assert _metrics_of(capfd, lambda: module.handler(late, None)) == {
        "Refused": 1, "RefusedExpired": 1,
    }  # fmt: skip
    revoked = issuer.issue("heidi", "orders:read")
    Denylist(table_client, DENYLIST, max_token_lifetime=3600, leeway=30).revoke_session(revoked.sid, "logout")
    event = http_event(revoked.access_token, "GET", "/orders", "/orders")
    refused = _metrics_of(capfd, lambda: module.handler(event, None))
    assert refused.keys() == {"RevocationCacheMisses", "DenylistReadLatency", "Refused", "RefusedRevoked"}


def test_handler_counts_fail_closed_refusals(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    table_client: Any,
    ring: KeyRing,
    issuer: TokenIssuer,
) -> None:
    module = _metered_handler(monkeypatch, ring, AUTH_DENYLIST_TABLE="no-such-table")
    pair = issuer.issue("ivan", "orders:read")
    event = http_event(pair.access_token, "GET", "/orders", "/orders")
    assert _metrics_of(capfd, lambda: module.handler(event, None)) == {
        "RevocationCacheMisses": 1, "DenylistReadFailures": 1, "Refused": 1, "FailClosedRefusals": 1,
    }  # fmt: skip


def test_handler_writes_no_metrics_without_a_namespace(
    handler_module: Any, capfd: pytest.CaptureFixture[str], issuer: TokenIssuer
) -> None:
    pair = issuer.issue("judy", "orders:read")
    capfd.readouterr()
    event = http_event(pair.access_token, "GET", "/orders", "/orders")
    assert handler_module.handler(event, None)["isAuthorized"]
    assert "_aws" not in capfd.readouterr().out


def test_handler_import_fails_on_bad_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AUTH_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AUTH_ISSUER", "http://auth.example.test")
    sys.modules.pop("authorizer.handler", None)
    try:
        with pytest.raises(ConfigurationError) as info:
            importlib.import_module("authorizer.handler")
    finally:
        sys.modules.pop("authorizer.handler", None)
    message = str(info.value)
    for name in ("AUTH_ISSUER must be an https://", "AUTH_AUDIENCE", "AUTH_DENYLIST_TABLE"):
        assert name in message


# --------------------------------------------------------------------------- deployable on its own


def _authorizer_modules(ring: KeyRing) -> list[str]:
    """Every module loaded by a cold start of the authorizer, in a fresh interpreter."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AUTH_")}
    env.update(_env(ring))
    env["AUTH_DYNAMODB_ENDPOINT"] = "http://127.0.0.1:9"  # never contacted at import
    code = (
        "import json, sys\n"
        "import authorizer.handler, authorizer.gateway.bootstrap, authorizer.gateway.authorization\n"
        "import authorizer.tokens.verifier, authorizer.principal, authorizer.tokens.revocation\n"
        "import authorizer.gateway.jwks_source, authorizer.tokens.keys\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    modules: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    assert "authorizer.handler" in modules and "authorizer.tokens.verifier" in modules  # it really happened
    return modules


def test_authorizer_never_imports_auth_service_argon2_or_the_aws_sdk(ring: KeyRing) -> None:
    # The AWS SDK (boto3, botocore and its urllib3) cost more than the rest of a cold start: the
    # denylist is read with the authorizer's own signed client (authorizer.aws.client).
    forbidden = {"auth_service", "argon2", "_argon2_cffi_bindings", "moto", "boto3", "botocore", "urllib3"}
    forbidden |= {"requests"}
    modules = _authorizer_modules(ring)
    offenders = [m for m in modules if m.split(".")[0] in forbidden]
    assert offenders == []
    # The standard library's http.client carries its HTTP (authorizer.aws.http_connection), not urllib.
    assert "http.client" in modules and "urllib.request" not in modules


def test_authorizer_never_imports_pyjwt(ring: KeyRing) -> None:
    assert [m for m in _authorizer_modules(ring) if m.split(".")[0] == "jwt"] == []


def test_authorizer_sources_have_no_auth_service_import() -> None:
    for path in sorted((REPO_ROOT / "authorizer").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"auth_service", "argon2"}, f"{path.name} imports {name}"


def test_scope_rule_for_a_path_behind_a_greedy_route_is_enforced(
    make_authorizer: Callable[..., Authorizer], reader: TokenPair
) -> None:
    # `ANY /{proxy+}` hides the concrete path from the route key: rules see the real path too.
    authorizer = make_authorizer(routes={"GET /admin/users": ["admin"]})
    event = http_event(reader.access_token, "GET", "/{proxy+}", "/admin/users")
    event["routeKey"] = event["requestContext"]["routeKey"] = "ANY /{proxy+}"
    assert authorizer.handle(event) == {"isAuthorized": False}
    allowed = http_event(reader.access_token, "GET", "/{proxy+}", "/orders/1")
    allowed["routeKey"] = "ANY /{proxy+}"
    assert authorizer.handle(allowed)["isAuthorized"] is True


def test_revoked_token_refusal_is_logged_with_its_jti(
    authorizer: Authorizer, issuer: TokenIssuer, denylist: Denylist, caplog: pytest.LogCaptureFixture
) -> None:
    pair = issuer.issue("audited-user", "profile orders:read")
    denylist.revoke_token(pair.access_jti, int(time.time()) + 900, "test")
    with caplog.at_level("INFO", logger="lambda_jwt_auth"):
        assert authorizer.handle(http_event(pair.access_token, "GET", "/orders", "/orders")) == {
            "isAuthorized": False
        }
    record = next(r for r in caplog.records if pair.access_jti in r.getMessage())
    assert '"outcome": "deny"' in record.getMessage() and "audited-user" in record.getMessage()
    assert pair.access_token not in caplog.text


def test_malformed_http_event_in_iam_mode_is_a_deny_policy(iam_authorizer: Authorizer) -> None:
    # Raising would make an HTTP API answer 500; a deny policy answers 403.
    response = iam_authorizer.handle({"version": "2.0", "type": "REQUEST", "routeArn": "nonsense"})
    statements = response["policyDocument"]["Statement"]
    assert [s["Effect"] for s in statements] == ["Deny"]


def test_each_log_line_gives_the_reason_that_decided(
    caplog: pytest.LogCaptureFixture, make_authorizer: Callable[..., Authorizer], reader: TokenPair
) -> None:
    """The `reason` is what an operator reads to tell refusals apart (README: "Logs")."""
    routes = {"POST /orders": ["orders:write", "admin"]}
    authorizer = make_authorizer(routes=routes, log_allowed=True)
    caplog.set_level(logging.INFO)
    for event in (
        http_event(None, "GET", "/orders", "/orders"),
        http_event(_tamper(reader.access_token), "GET", "/orders", "/orders"),
        http_event(reader.access_token, "POST", "/orders", "/orders"),
        http_event(reader.access_token, "GET", "/orders", "/orders"),
        {"version": "2.0", "type": "REQUEST", "routeArn": "nonsense"},
    ):
        authorizer.handle(event)
    no_token, forged, short, allowed, malformed = (r["reason"] for r in _log_records(caplog))
    assert no_token == "no bearer token"
    assert forged.startswith("InvalidSignatureError: signature")
    assert short == "missing scope: admin orders:write"  # each missing scope, space-separated
    assert allowed == "ok"
    assert malformed.startswith("malformed event: ")


def test_malformed_http_event_in_iam_mode_denies_everything_to_no_one(iam_authorizer: Authorizer) -> None:
    response = iam_authorizer.handle({"version": "2.0", "type": "REQUEST", "routeArn": "nonsense"})
    # The same principal as every other refusal in IAM mode, and a Deny that covers every resource.
    assert response["principalId"] == "anonymous"
    assert response["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": ["*"]}
    ]
