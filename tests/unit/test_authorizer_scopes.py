"""Routes that need several scopes need all of them, never just one (AUTH_ROUTE_SCOPES).

The authorizer is built by `build_authorizer` from the environment a deployment sets, on a moto
denylist table, and asked with API Gateway's event shapes (tests/unit/test_authorizer_handler.py):
REST TOKEN and REQUEST events, HTTP API simple responses and IAM policies. A token holding one of
the two scopes a route needs is refused there in every format, and the IAM policy it gets for
any route denies that one (API Gateway caches the policy and reuses it on the next route).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from auth_service.tables import create_tables
from auth_service.tokens import TokenIssuer
from authorizer.gateway.authorization import Authorizer
from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig
from authorizer.gateway.events import parse_event
from tests.unit.test_authorizer_handler import (
    HTTP_PREFIX,
    REST_PREFIX,
    http_event,
    iam_allows,
    rest_request_event,
    rest_token_event,
)

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
DENYLIST = "scopes-denylist"
TWO = ("orders:write", "orders:audit")
ROUTES = {"DELETE /orders/{id}": list(TWO), "GET /orders": ["orders:read"]}
HELD = {
    "neither": "orders:read",
    "write-only": "orders:read orders:write",
    "audit-only": "orders:read orders:audit",
    "both": "orders:read orders:write orders:audit",
}
FORMATS = ("rest-token", "rest-request", "http-simple", "http-iam")


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return load_key_ring(generate_private_key_pem("RS256"))


@pytest.fixture(scope="module")
def denylist_table() -> Iterator[None]:
    with mock_aws():
        create_tables(boto3.client("dynamodb", region_name="us-east-1"), denylist=DENYLIST)
        yield


def deployed(ring: KeyRing, routes: dict[str, list[str]], **settings: str) -> Authorizer:
    """The authorizer as `authorizer.handler` builds it from a deployment's environment."""
    env = {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AUTH_JWKS": json.dumps(ring.jwks()),
        "AUTH_ROUTE_SCOPES": json.dumps(routes),
        "AWS_REGION": "us-east-1",
        **settings,
    }
    return build_authorizer(AuthorizerConfig.from_env(env))


@pytest.fixture(scope="module")
def authorizers(ring: KeyRing, denylist_table: None) -> dict[str, Authorizer]:
    return {
        "simple": deployed(ring, ROUTES),
        "iam": deployed(ring, ROUTES, AUTH_HTTP_API_SIMPLE_RESPONSES="false"),
    }


def token(ring: KeyRing, scope: str) -> str:
    issuer = TokenIssuer(
        ring, issuer=ISSUER, audience=AUDIENCE, client_id="web", access_ttl=300, refresh_ttl=600
    )
    return issuer.issue("alice", scope).access_token


def event(fmt: str, access_token: str, method: str, route: str, path: str) -> dict[str, Any]:
    if fmt == "rest-token":
        return rest_token_event(access_token, method, path)
    if fmt == "rest-request":
        return rest_request_event(access_token, method, route, path)
    return http_event(access_token, method, route, path)


def allowed(authorizers: dict[str, Authorizer], fmt: str, request: dict[str, Any]) -> bool:
    authorizer = authorizers["iam" if fmt == "http-iam" else "simple"]
    answer = authorizer.handle(request)
    if fmt == "http-simple":
        return bool(answer["isAuthorized"])
    return iam_allows(answer, request.get("methodArn") or request["routeArn"])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("held", sorted(HELD))
def test_a_route_needing_two_scopes_needs_both(
    authorizers: dict[str, Authorizer], ring: KeyRing, fmt: str, held: str
) -> None:
    request = event(fmt, token(ring, HELD[held]), "DELETE", "/orders/{id}", "/orders/7")
    assert allowed(authorizers, fmt, request) is (held == "both")


@pytest.mark.parametrize(
    ("held", "missing"), [("write-only", "orders:audit"), ("audit-only", "orders:write")]
)
def test_the_refusal_names_the_scope_that_is_missing(
    authorizers: dict[str, Authorizer], ring: KeyRing, held: str, missing: str
) -> None:
    request = http_event(token(ring, HELD[held]), "DELETE", "/orders/{id}", "/orders/7")
    decision = authorizers["simple"].decide(parse_event(request))
    assert (decision.allowed, decision.authenticated) == (False, True)
    assert decision.reason == f"missing scope: {missing}"


@pytest.mark.parametrize("fmt", ["rest-token", "rest-request", "http-iam"])
@pytest.mark.parametrize("held", ["write-only", "audit-only"])
def test_a_policy_for_another_route_still_denies_the_two_scope_route(
    authorizers: dict[str, Authorizer], ring: KeyRing, fmt: str, held: str
) -> None:
    """The policy answers for every route: API Gateway reuses it from its cache (README)."""
    request = event(fmt, token(ring, HELD[held]), "GET", "/orders", "/orders")
    policy = authorizers["iam" if fmt == "http-iam" else "simple"].handle(request)
    prefix = HTTP_PREFIX if fmt == "http-iam" else REST_PREFIX
    assert iam_allows(policy, f"{prefix}/GET/orders")
    assert not iam_allows(policy, f"{prefix}/DELETE/orders/7")


@pytest.mark.parametrize("fmt", ["rest-token", "http-simple"])
@pytest.mark.parametrize(
    ("held", "at_7", "at_8"),
    [("write-only", False, True), ("audit-only", False, False), ("both", True, True)],
)
def test_every_rule_that_matches_a_request_counts(
    ring: KeyRing, denylist_table: None, fmt: str, held: str, at_7: bool, at_8: bool
) -> None:
    """A route template and a concrete path under it: the scopes of both are needed there. (Here
    the event names no route template: a REST TOKEN event, an HTTP API `$default` route.)"""
    routes = {"DELETE /orders/{id}": ["orders:write"], "DELETE /orders/7": ["orders:audit"]}
    authorizers = {"simple": deployed(ring, routes)}
    for path, expected in (("/orders/7", at_7), ("/orders/8", at_8)):
        request = event(fmt, token(ring, HELD[held]), "DELETE", "/orders/{id}", path)
        if fmt == "http-simple":
            request["routeKey"] = request["requestContext"]["routeKey"] = "$default"
        assert allowed(authorizers, fmt, request) is expected, path
