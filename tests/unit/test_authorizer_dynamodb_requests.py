"""DynamoDB requests per authorization, counted where they arrive (issue 6, target 4).

The real authorizer, built from its public configuration, reads the denylist from a moto server
through a counting proxy (bench/counting_proxy.py). Whatever client makes the requests, the count
is taken at the endpoint: at most one per authorization when the revocation cache misses, none
within the cache window. Only counts are asserted, never times.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from auth_service.keys import KeyRing
from auth_service.tables import create_tables
from auth_service.tokens import TokenIssuer
from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig
from authorizer.tokens.revocation import jti_key
from bench.counting_proxy import CountingProxy
from tests.conftest import AUDIENCE, DENYLIST, ISSUER

CACHE_SECONDS = 1  # the smallest window; the test waits it out once


@dataclass
class World:
    authorizer: Any
    proxy: CountingProxy
    issuer: TokenIssuer
    moto: Any  # a client talking to moto directly, not through the proxy

    def token(self) -> str:
        return self.issuer.issue("user-1", "profile").access_token

    def authorize(self, token: str) -> tuple[bool, int]:
        """The answer to one HTTP API request with `token`, and the requests it made."""
        before = self.proxy.total()
        answer = self.authorizer.handle(_event(token))
        return answer["isAuthorized"], self.proxy.total() - before


def _event(token: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-east-1:123456789012:api1234567/$default/GET/me",
        "routeKey": "GET /me",
        "rawPath": "/me",
        "headers": {"authorization": f"Bearer {token}"},
        "requestContext": {"http": {"method": "GET", "path": "/me"}},
    }


@pytest.fixture
def world(ring: KeyRing, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        moto = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
        create_tables(moto, denylist=DENYLIST)
        with CountingProxy(endpoint) as proxy:
            # Public configuration only: whatever client the authorizer uses reads it from here.
            for name, value in {
                "AUTH_ISSUER": ISSUER,
                "AUTH_AUDIENCE": AUDIENCE,
                "AUTH_JWKS": json.dumps(ring.jwks()),
                "AUTH_DENYLIST_TABLE": DENYLIST,
                "AUTH_DYNAMODB_ENDPOINT": proxy.url,
                "AUTH_REVOCATION_CACHE_SECONDS": str(CACHE_SECONDS),
            }.items():
                monkeypatch.setenv(name, value)
            issuer = TokenIssuer(
                ring, issuer=ISSUER, audience=AUDIENCE, client_id="c", access_ttl=900, refresh_ttl=3600
            )
            yield World(build_authorizer(AuthorizerConfig.from_env()), proxy, issuer, moto)
    finally:
        server.stop()


def test_one_request_on_a_miss_none_within_the_window_one_after_it(world: World) -> None:
    token = world.token()
    assert world.authorize(token) == (True, 1)
    assert world.authorize(token) == (True, 0)
    assert world.authorize(token) == (True, 0)
    time.sleep(CACHE_SECONDS + 0.2)  # past the window: the answer is read again, once
    assert world.authorize(token) == (True, 1)
    assert world.authorize(token) == (True, 0)


def test_each_new_token_costs_one_request(world: World) -> None:
    for _ in range(3):
        assert world.authorize(world.token()) == (True, 1)


def test_a_revoked_token_costs_one_request_then_none(world: World) -> None:
    token = world.token()
    claims = json.loads(_payload(token))
    world.moto.put_item(
        TableName=DENYLIST,
        Item={"pk": {"S": jti_key(claims["jti"])}, "expires_at": {"N": str(claims["exp"] + 60)}},
    )
    assert world.authorize(token) == (False, 1)
    assert world.authorize(token) == (False, 0)


def test_no_token_and_a_forged_token_cost_no_request(world: World) -> None:
    token = world.token()
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    assert world.authorize(forged) == (False, 0)
    assert world.authorize("") == (False, 0)


def _payload(token: str) -> str:
    import base64

    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8")
