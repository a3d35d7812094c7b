"""JWKS endpoint faults, end to end through the authorizer as the Lambda builds it.

tests/unit/test_jwks_cache.py covers the cache itself (down, slow, garbage, empty, cooldown).
Here the whole authorizer is built from configuration (AUTH_TRUSTED_ISSUERS naming JWKS servers
on 127.0.0.1) and asked through API Gateway events: a partner's JWKS going down or serving
garbage affects that partner's tokens only, and a flood of made-up kids cannot make us hammer
its endpoint.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import jwt
import pytest
from moto import mock_aws

from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from auth_service.tables import create_tables
from auth_service.tokens import TokenIssuer
from authorizer.gateway.authorization import Authorizer
from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
DENYLIST = "test-denylist"
PARTNER_A = "https://partner-a.example.test"
PARTNER_B = "https://partner-b.example.test"
HTTP_ARN = "arn:aws:execute-api:us-east-1:123456789012:xyz789/$default/GET/orders"
REST_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/orders"


class JwksServer:
    """Serves one JWKS body (or garbage) at any path on 127.0.0.1 and counts the requests."""

    def __init__(self, body: bytes, status: int = 200) -> None:
        self.body, self.status = body, status
        self._lock = threading.Lock()
        self._requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer._lock:
                    outer._requests += 1
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        self.running = True

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    def stop(self) -> None:
        """Down: the port is closed, connections are refused."""
        if self.running:
            self.running = False
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture(scope="module")
def partner_ring() -> KeyRing:
    return load_key_ring(generate_private_key_pem("RS256"))


@pytest.fixture(scope="module")
def _denylist() -> Iterator[None]:
    with mock_aws():
        create_tables(boto3.client("dynamodb", region_name="us-east-1"), denylist=DENYLIST)
        yield


@pytest.fixture
def servers() -> Iterator[list[JwksServer]]:
    started: list[JwksServer] = []
    yield started
    for server in started:
        server.stop()


def serve(servers: list[JwksServer], body: bytes, status: int = 200) -> JwksServer:
    server = JwksServer(body, status)
    servers.append(server)
    return server


def build(ring: KeyRing, **partners: str) -> Authorizer:
    """Our issuer (inline keys) plus each partner issuer -> its JWKS URL, as the Lambda builds it."""
    trusted = [
        {"issuer": issuer, "jwks_uri": url, "audiences": [AUDIENCE]} for issuer, url in partners.items()
    ]
    env = {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_JWKS": json.dumps(ring.jwks()),
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AWS_REGION": "us-east-1",
        "AUTH_TRUSTED_ISSUERS": json.dumps(trusted),
    }
    return build_authorizer(AuthorizerConfig.from_env(env))


def partner_token(ring: KeyRing, issuer: str, kid: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": issuer, "sub": "partner-user", "aud": AUDIENCE, "iat": now, "exp": now + 300}
    assert ring.current.private_key is not None
    return jwt.encode(
        {**claims, "jti": str(uuid.uuid4())},
        ring.current.private_key,
        algorithm="RS256",
        headers={"kid": kid or ring.current.kid},
    )


def own_token(ring: KeyRing) -> str:
    issuer = TokenIssuer(
        ring, issuer=ISSUER, audience=AUDIENCE, client_id="web", access_ttl=300, refresh_ttl=3600
    )
    return issuer.issue("alice", "orders:read").access_token


def http_allowed(authorizer: Authorizer, token: str) -> bool:
    event = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": HTTP_ARN,
        "routeKey": "GET /orders",
        "rawPath": "/orders",
        "headers": {"authorization": f"Bearer {token}"},
        "requestContext": {"http": {"method": "GET", "path": "/orders"}, "routeKey": "GET /orders"},
    }
    response = authorizer.handle(event)
    assert set(response) <= {"isAuthorized", "context"}
    return bool(response["isAuthorized"])


def rest_refused(authorizer: Authorizer, token: str) -> bool:
    try:
        authorizer.handle({"type": "TOKEN", "methodArn": REST_ARN, "authorizationToken": f"Bearer {token}"})
    except Exception as exc:
        assert exc.args == ("Unauthorized",)  # the only exception a REST authorizer may raise
        return True
    return False


def test_cached_keys_keep_working_after_the_jwks_server_goes_down(
    _denylist: None, ring: KeyRing, partner_ring: KeyRing, servers: list[JwksServer]
) -> None:
    server = serve(servers, json.dumps(partner_ring.jwks()).encode())
    authorizer = build(ring, **{PARTNER_A: server.url})
    assert http_allowed(authorizer, partner_token(partner_ring, PARTNER_A))  # first use fetches
    assert server.requests == 1

    server.stop()  # down: connection refused from now on
    for _ in range(5):  # new tokens, signed by the cached key
        assert http_allowed(authorizer, partner_token(partner_ring, PARTNER_A))
    assert not rest_refused(authorizer, partner_token(partner_ring, PARTNER_A))
    # A key it never had stays unknown (one refetch attempt fails; no exception escapes).
    assert not http_allowed(authorizer, partner_token(partner_ring, PARTNER_A, kid="rotated-" + "x" * 20))
    assert rest_refused(authorizer, partner_token(partner_ring, PARTNER_A, kid="rotated-" + "y" * 20))
    assert http_allowed(authorizer, own_token(ring))
    assert http_allowed(authorizer, partner_token(partner_ring, PARTNER_A))


def test_garbage_jwks_refuses_that_issuer_only(
    _denylist: None,
    ring: KeyRing,
    partner_ring: KeyRing,
    servers: list[JwksServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    good = serve(servers, json.dumps(partner_ring.jwks()).encode())
    garbage = serve(servers, b"<html><body>502 Bad Gateway</body></html>")
    authorizer = build(ring, **{PARTNER_A: good.url, PARTNER_B: garbage.url})

    tokens = [partner_token(partner_ring, PARTNER_B) for _ in range(10)]
    assert not any(http_allowed(authorizer, token) for token in tokens)
    assert all(rest_refused(authorizer, token) for token in tokens[:3])
    # Without any keys a failed fetch is retried after 5 s at the soonest, not per request.
    assert garbage.requests == 1
    assert http_allowed(authorizer, own_token(ring))  # our own issuer: unaffected
    assert http_allowed(authorizer, partner_token(partner_ring, PARTNER_A))  # the other partner too
    assert "JWKS fetch from 127.0.0.1 failed" in caplog.text
    for token in tokens:
        assert token.split(".")[2] not in caplog.text


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_a_flood_of_random_kids_fetches_at_most_twice(
    warm: bool, _denylist: None, ring: KeyRing, partner_ring: KeyRing, servers: list[JwksServer]
) -> None:
    server = serve(servers, json.dumps(partner_ring.jwks()).encode())
    authorizer = build(ring, **{PARTNER_A: server.url})
    if warm:
        assert http_allowed(authorizer, partner_token(partner_ring, PARTNER_A))
    flood = [partner_token(partner_ring, PARTNER_A, kid=secrets.token_urlsafe(16)) for _ in range(200)]
    assert not any(http_allowed(authorizer, token) for token in flood)
    assert server.requests <= 2, server.requests
    # The flood did not cost the real key: still served from the cache, no further fetch.
    before = server.requests
    assert http_allowed(authorizer, partner_token(partner_ring, PARTNER_A))
    assert server.requests == before
