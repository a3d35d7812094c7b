"""The real Lambda handlers, called with API Gateway HTTP API (payload 2.0) events on moto.

Each handler module builds its parts from the environment at import, through the cached
builders of `auth_service.runtime`; `load_handlers` clears those caches and reloads the modules.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import os
import secrets
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from moto import mock_aws

import auth_service.handlers as handlers_package
from auth_service import runtime
from auth_service.keys import load_key_ring
from auth_service.tables import create_tables
from auth_service.users import UserTable
from authorizer.gateway.responses import context as authorizer_context
from authorizer.tokens.keys import jwk_thumbprint
from tests.unit.emf import emf_lines, metric_values

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
DENYLIST = "test-denylist"
USERS = "test-users"
HANDLERS = ("login", "refresh", "logout", "revoke", "introspect", "wellknown", "me")
ALICE_PASSWORD = "alice-" + secrets.token_urlsafe(12)
ADMIN_PASSWORD = "admin-" + secrets.token_urlsafe(12)


def clear_runtime() -> None:
    for value in vars(runtime).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


MODULE_NAMES = tuple(f"auth_service.handlers.{name}" for name in HANDLERS)


def load_handlers() -> dict[str, ModuleType]:
    """A cold start: every cached part is rebuilt from the environment, every module imported afresh.

    A fresh import (rather than `importlib.reload`) leaves module objects that other code may
    hold untouched; the fixture puts those back afterwards.
    """
    clear_runtime()
    modules = {}
    for name, full in zip(HANDLERS, MODULE_NAMES, strict=True):
        sys.modules.pop(full, None)
        modules[name] = importlib.import_module(full)
    return modules


@dataclass
class Service:
    client: Any
    handlers: dict[str, ModuleType]
    pem: str
    alice_sub: str
    admin_sub: str

    def call(self, name: str, event: Any, attribute: str = "handler") -> dict[str, Any]:
        response: dict[str, Any] = getattr(self.handlers[name], attribute)(event, None)
        return response


@pytest.fixture(scope="module")
def _service(rsa_pem: str) -> Iterator[Service]:
    """One deployed service per module (the `service_env` of conftest, at module scope)."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AUTH_USERS_TABLE": USERS,
        "AUTH_SIGNING_KEY": rsa_pem,
    }
    saved = {full: sys.modules.pop(full) for full in MODULE_NAMES if full in sys.modules}
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for name in [name for name in os.environ if name.startswith("AUTH_")] + ["AWS_PROFILE"]:
            mp.delenv(name, raising=False)  # nothing of the developer's own environment
        for name, value in env.items():
            mp.setenv(name, value)
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, denylist=DENYLIST, users=USERS)
        users = UserTable(client, USERS)
        alice = users.add("alice", ALICE_PASSWORD, "profile orders:read")
        admin = users.add("admin", ADMIN_PASSWORD, "profile introspect")
        yield Service(client, load_handlers(), rsa_pem, alice, admin)
    clear_runtime()
    for full in MODULE_NAMES:  # later importers get a cold start of their own
        sys.modules.pop(full, None)
        attribute = full.rsplit(".", 1)[1]
        if full in saved:
            setattr(handlers_package, attribute, saved[full])
        elif hasattr(handlers_package, attribute):
            delattr(handlers_package, attribute)
    sys.modules.update(saved)


@pytest.fixture
def service(_service: Service) -> Service:
    """The module's service with an empty denylist."""
    for found in _service.client.scan(TableName=DENYLIST, ProjectionExpression="pk")["Items"]:
        _service.client.delete_item(TableName=DENYLIST, Key={"pk": found["pk"]})
    return _service


@pytest.fixture
def reconfigure(service: Service) -> Iterator[Callable[..., None]]:
    """Cold-start the handlers with changed environment variables; restored afterwards."""
    mp = pytest.MonkeyPatch()

    def apply(**env: str) -> None:
        for name, value in env.items():
            mp.setenv(name, value)
        service.handlers = load_handlers()

    yield apply
    mp.undo()
    service.handlers = load_handlers()


# --------------------------------------------------------------------------- events


def http_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    content_type: str | None = "application/json",
    token: str | None = None,
    b64: bool = False,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event as a proxy integration receives it."""
    if isinstance(body, dict | list):
        body = json.dumps(body)
    raw: bytes | None = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    all_headers = {
        "accept": "application/json",
        "host": "api.example.test",
        "user-agent": "pytest/8",
        "x-amzn-trace-id": "Root=1-00000000-000000000000000000000000",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if content_type is not None:
        all_headers["content-type"] = content_type
    if token is not None:
        all_headers["authorization"] = f"Bearer {token}"
    if raw is not None:
        all_headers["content-length"] = str(len(raw))
    all_headers.update(headers or {})
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": "api.example.test",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest/8",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": b64,
    }
    if raw is not None:
        event["body"] = base64.b64encode(raw).decode("ascii") if b64 else raw.decode("utf-8", "surrogatepass")
    return event


def payload(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def login(service: Service, username: str = "alice", password: str = ALICE_PASSWORD) -> dict[str, Any]:
    response = service.call(
        "login", http_event("POST", "/auth/login", {"username": username, "password": password})
    )
    assert response["statusCode"] == 200, response
    result: dict[str, Any] = payload(response)
    return result


def refresh(service: Service, token: Any) -> dict[str, Any]:
    return service.call("refresh", http_event("POST", "/auth/refresh", {"refresh_token": token}))


def introspect(service: Service, token: str, caller: str | None) -> dict[str, Any]:
    return service.call(
        "introspect",
        http_event(
            "POST",
            "/auth/introspect",
            urlencode({"token": token}),
            content_type="application/x-www-form-urlencoded",
            token=caller,
        ),
    )


def admin_token(service: Service) -> str:
    return str(login(service, "admin", ADMIN_PASSWORD)["access_token"])


def assert_no_store(response: dict[str, Any]) -> None:
    assert response["headers"]["Cache-Control"] == "no-store"
    assert response["headers"]["Pragma"] == "no-cache"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------------------- login


def test_login_returns_a_token_pair(service: Service) -> None:
    response = service.call(
        "login", http_event("POST", "/auth/login", {"username": "Alice", "password": ALICE_PASSWORD})
    )

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert_no_store(response)
    body = payload(response)
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "profile orders:read"
    claims = runtime.access_verifier().verify(body["access_token"])
    assert (claims.sub, claims.scope, claims.client_id) == (
        service.alice_sub,
        "profile orders:read",
        "lambda-jwt-auth",
    )
    assert claims.exp - claims.iat == 900
    refresh_claims = runtime.refresh_verifier().verify(body["refresh_token"])
    assert refresh_claims.sid == claims.sid
    assert refresh_claims.exp - refresh_claims.iat == 2_592_000


def test_bad_password_and_unknown_user_get_the_same_401(service: Service) -> None:
    wrong = service.call(
        "login", http_event("POST", "/auth/login", {"username": "alice", "password": "nope-nope"})
    )
    unknown = service.call(
        "login", http_event("POST", "/auth/login", {"username": "mallory", "password": ALICE_PASSWORD})
    )
    assert wrong["statusCode"] == unknown["statusCode"] == 401
    assert wrong["body"] == unknown["body"]
    assert wrong["headers"] == unknown["headers"]
    assert payload(wrong)["error"] == "invalid_grant"
    assert wrong["headers"]["WWW-Authenticate"] == 'Bearer error="invalid_grant"'
    assert_no_store(wrong)


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON", "application/json ; charset=UTF-8"],
)
def test_login_accepts_json_media_type_variants(service: Service, content_type: str) -> None:
    event = http_event(
        "POST", "/auth/login", {"username": "alice", "password": ALICE_PASSWORD}, content_type=content_type
    )
    assert service.call("login", event)["statusCode"] == 200


def test_login_accepts_a_base64_body_and_mixed_case_headers(service: Service) -> None:
    event = http_event("POST", "/auth/login", {"username": "alice", "password": ALICE_PASSWORD}, b64=True)
    event["headers"] = {"Content-Type": "application/json"}  # as a REST-style or test client sends it
    response = service.call("login", event)
    assert response["statusCode"] == 200
    assert runtime.access_verifier().verify(payload(response)["access_token"]).sub == service.alice_sub


def _login_body(**fields: Any) -> str:
    return json.dumps(fields)


BAD_LOGINS = [
    pytest.param('{"username": "alice", "password": ', {}, 400, id="malformed-json"),
    pytest.param("", {}, 400, id="empty-body"),
    pytest.param(None, {}, 400, id="no-body"),
    pytest.param('["alice", "pw"]', {}, 400, id="json-array"),
    pytest.param('"alice"', {}, 400, id="json-string"),
    pytest.param("null", {}, 400, id="json-null"),
    pytest.param("[" * 5000 + "]" * 5000, {}, 400, id="deeply-nested"),
    pytest.param(_login_body(username="alice"), {}, 400, id="missing-password"),
    pytest.param(_login_body(password="x" * 10), {}, 400, id="missing-username"),
    pytest.param(_login_body(username="", password="x" * 10), {}, 400, id="empty-username"),
    pytest.param(_login_body(username=123, password="x" * 10), {}, 400, id="int-username"),
    pytest.param(_login_body(username="alice", password=None), {}, 400, id="null-password"),
    pytest.param(_login_body(username="alice", password=["x"]), {}, 400, id="list-password"),
    pytest.param(_login_body(username={"$ne": ""}, password="x"), {}, 400, id="object-username"),
    pytest.param(_login_body(username="alice", password=True), {}, 400, id="bool-password"),
    pytest.param(
        _login_body(username="alice", password="x" * 10),
        {"content_type": "text/plain"},
        415,
        id="text-plain",
    ),
    pytest.param(
        urlencode({"username": "alice", "password": "x" * 10}),
        {"content_type": "application/x-www-form-urlencoded"},
        415,
        id="form-encoded",
    ),
    pytest.param(_login_body(username="alice", password="x" * 10), {"content_type": None}, 415, id="no-type"),
    pytest.param(_login_body(username="alice", password="x" * 17_000), {}, 413, id="oversized"),
    pytest.param(
        _login_body(username="alice", password="x" * 17_000), {"b64": True}, 413, id="oversized-base64"
    ),
    pytest.param("x" * 100_000, {}, 413, id="huge"),
    pytest.param(b"\xff\xfe{}", {"b64": True}, 400, id="base64-not-utf8"),
    pytest.param("\ud800", {}, 400, id="lone-surrogate"),
]


@pytest.mark.parametrize(("body", "options", "status"), BAD_LOGINS)
def test_malformed_login_requests_are_4xx(
    service: Service, body: Any, options: dict[str, Any], status: int
) -> None:
    response = service.call("login", http_event("POST", "/auth/login", body, **options))
    assert response["statusCode"] == status, response
    assert payload(response)["error"] == "invalid_request"
    assert_no_store(response)


@pytest.mark.parametrize(
    "event_change",
    [
        pytest.param(lambda e: e.update(body="not base64!!", isBase64Encoded=True), id="invalid-base64"),
        pytest.param(
            lambda e: e.update(body="eyJ1c2VybmFtZSI6", isBase64Encoded=True), id="truncated-base64"
        ),
        pytest.param(lambda e: e.update(body={"username": "alice"}), id="body-not-a-string"),
        pytest.param(lambda e: e.update(body=["x"]), id="body-a-list"),
        pytest.param(lambda e: e.update(headers=None), id="no-headers"),
        pytest.param(lambda e: e.update(headers=["content-type"]), id="headers-a-list"),
    ],
)
def test_malformed_events_are_4xx(service: Service, event_change: Callable[[dict[str, Any]], None]) -> None:
    event = http_event("POST", "/auth/login", {"username": "alice", "password": ALICE_PASSWORD})
    event_change(event)
    response = service.call("login", event)
    assert 400 <= response["statusCode"] < 500, response


@pytest.mark.parametrize("event", [None, "string", [], 42])
def test_non_object_events_are_400(service: Service, event: Any) -> None:
    for name in ("login", "refresh", "logout", "revoke", "introspect"):
        response = service.call(name, event)
        assert response["statusCode"] == 400, (name, response)


def test_largest_accepted_body_is_not_413(service: Service) -> None:
    body = _login_body(username="alice", password="x")
    body = body[:-2] + "x" * (16_384 - len(body)) + '"}'
    assert len(body.encode()) == 16_384
    response = service.call("login", http_event("POST", "/auth/login", body))
    assert response["statusCode"] == 401  # read and refused on its merits (password too long)


def test_max_body_bytes_is_configurable(service: Service, reconfigure: Callable[..., None]) -> None:
    reconfigure(AUTH_MAX_BODY_BYTES="1024")
    body = _login_body(username="alice", password=ALICE_PASSWORD + " " * 1100)
    assert service.call("login", http_event("POST", "/auth/login", body))["statusCode"] == 413


# --------------------------------------------------------------------------- refresh


def test_refresh_rotates_and_detects_reuse(service: Service) -> None:
    first = login(service)
    response = refresh(service, first["refresh_token"])
    assert response["statusCode"] == 200
    assert_no_store(response)
    second = payload(response)
    assert set(second) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    old = runtime.access_verifier().verify(first["access_token"])
    new = runtime.access_verifier().verify(second["access_token"])
    assert new.sid == old.sid and new.jti != old.jti

    reuse = refresh(service, first["refresh_token"])
    assert reuse["statusCode"] == 401
    assert payload(reuse)["error"] == "invalid_grant"
    assert reuse["headers"]["WWW-Authenticate"] == 'Bearer error="invalid_grant"'
    # The whole session went with it: the newest refresh token is refused too.
    assert refresh(service, second["refresh_token"])["statusCode"] == 401
    assert payload(introspect(service, second["access_token"], admin_token(service))) == {"active": False}


@pytest.mark.parametrize(
    "token", ["garbage", "a.b.c", "x" * 9000, "eyJhbGciOiJub25lIiwidHlwIjoicnQrand0In0.e30."]
)
def test_refresh_with_garbage_is_401(service: Service, token: str) -> None:
    response = refresh(service, token)
    assert response["statusCode"] == 401
    assert payload(response)["error"] == "invalid_grant"


def test_refresh_with_an_access_token_is_401(service: Service) -> None:
    assert refresh(service, login(service)["access_token"])["statusCode"] == 401


@pytest.mark.parametrize("token", [None, "", 42, ["x"]])
def test_refresh_without_a_token_string_is_400(service: Service, token: Any) -> None:
    response = refresh(service, token)
    assert response["statusCode"] == 400
    assert payload(response)["error"] == "invalid_request"


# --------------------------------------------------------------------------- logout


def test_logout_ends_the_session(service: Service) -> None:
    pair = login(service)
    response = service.call(
        "logout",
        http_event(
            "POST", "/auth/logout", {"refresh_token": pair["refresh_token"]}, token=pair["access_token"]
        ),
    )
    assert response["statusCode"] == 204
    assert response["body"] == ""
    assert_no_store(response)

    assert payload(introspect(service, pair["access_token"], admin_token(service))) == {"active": False}
    refused = refresh(service, pair["refresh_token"])
    assert refused["statusCode"] == 401
    assert payload(refused)["error"] == "invalid_grant"
    again = service.call("logout", http_event("POST", "/auth/logout", token=pair["access_token"]))
    assert again["statusCode"] == 401
    assert payload(again)["error"] == "invalid_token"


def test_logout_without_a_body(service: Service) -> None:
    pair = login(service)
    event = http_event("POST", "/auth/logout", token=pair["access_token"], content_type=None)
    assert service.call("logout", event)["statusCode"] == 204
    assert refresh(service, pair["refresh_token"])["statusCode"] == 401  # the sid is revoked


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "Token abc", "Bearer a b"],
)
def test_logout_without_a_bearer_token_is_401(service: Service, authorization: str | None) -> None:
    event = http_event("POST", "/auth/logout", content_type=None)
    if authorization is not None:
        event["headers"]["authorization"] = authorization
    response = service.call("logout", event)
    assert response["statusCode"] == 401
    assert payload(response)["error"] == "invalid_request"
    assert response["headers"]["WWW-Authenticate"] == 'Bearer error="invalid_request"'


def test_logout_with_a_bad_token_is_401(service: Service) -> None:
    for token in ("garbage", login(service)["refresh_token"]):
        response = service.call("logout", http_event("POST", "/auth/logout", token=token))
        assert response["statusCode"] == 401
        assert payload(response)["error"] == "invalid_token"


def test_logout_with_a_wrong_body_type_is_4xx(service: Service) -> None:
    pair = login(service)
    event = http_event(
        "POST", "/auth/logout", "refresh_token=x", content_type="text/plain", token=pair["access_token"]
    )
    assert service.call("logout", event)["statusCode"] == 415
    event = http_event("POST", "/auth/logout", {"refresh_token": 5}, token=pair["access_token"])
    assert service.call("logout", event)["statusCode"] == 400


# --------------------------------------------------------------------------- revoke


def test_revoke_form_encoded_refresh_token(service: Service) -> None:
    pair = login(service)
    event = http_event(
        "POST",
        "/auth/revoke",
        urlencode({"token": pair["refresh_token"], "token_type_hint": "refresh_token"}),
        content_type="application/x-www-form-urlencoded",
    )
    response = service.call("revoke", event)
    assert response["statusCode"] == 200
    assert_no_store(response)
    assert refresh(service, pair["refresh_token"])["statusCode"] == 401
    assert payload(introspect(service, pair["access_token"], admin_token(service))) == {"active": False}


def test_revoke_json_access_token(service: Service) -> None:
    pair = login(service)
    response = service.call("revoke", http_event("POST", "/auth/revoke", {"token": pair["access_token"]}))
    assert response["statusCode"] == 200
    assert payload(introspect(service, pair["access_token"], admin_token(service))) == {"active": False}
    assert refresh(service, pair["refresh_token"])["statusCode"] == 200  # only that access token


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
def test_revoke_unknown_token_is_200(service: Service, token: str) -> None:
    response = service.call("revoke", http_event("POST", "/auth/revoke", {"token": token}))
    assert response["statusCode"] == 200
    assert service.client.scan(TableName=DENYLIST)["Count"] == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("", "application/x-www-form-urlencoded", 400),
        ("token=", "application/x-www-form-urlencoded", 400),
        ("token=a&token=b", "application/x-www-form-urlencoded", 400),
        ("token", "application/x-www-form-urlencoded", 400),
        ("token=abc", "text/plain", 415),
        ('{"token": 1}', "application/json", 400),
        ('{"token": "abc", "token_type_hint": 1}', "application/json", 400),
    ],
)
def test_bad_revoke_requests(service: Service, body: str, content_type: str, status: int) -> None:
    response = service.call("revoke", http_event("POST", "/auth/revoke", body, content_type=content_type))
    assert response["statusCode"] == status
    assert payload(response)["error"] == "invalid_request"


# --------------------------------------------------------------------------- introspect


def test_introspect_requires_a_bearer_token(service: Service) -> None:
    response = introspect(service, login(service)["access_token"], caller=None)
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"].startswith("Bearer")


def test_introspect_without_the_scope_is_403(service: Service) -> None:
    alice = login(service)
    response = introspect(service, alice["access_token"], caller=alice["access_token"])
    assert response["statusCode"] == 403
    assert payload(response)["error"] == "insufficient_scope"


def test_introspect_with_the_scope(service: Service) -> None:
    alice = login(service)
    caller = admin_token(service)
    claims = runtime.access_verifier().verify(alice["access_token"])

    response = introspect(service, alice["access_token"], caller)
    assert response["statusCode"] == 200
    assert_no_store(response)
    assert payload(response) == {
        "active": True,
        "token_type": "Bearer",  # RFC 7662 §2.2: the type of RFC 6749 §7.1, never a hint value
        "token_use": "access",
        "scope": "profile orders:read",
        "client_id": "lambda-jwt-auth",
        "sub": service.alice_sub,
        "sid": claims.sid,
        "jti": claims.jti,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": claims.exp,
        "iat": claims.iat,
    }
    as_json = service.call(
        "introspect",
        http_event(
            "POST",
            "/auth/introspect",
            {"token": alice["refresh_token"], "token_type_hint": "refresh_token"},
            token=caller,
        ),
    )
    assert as_json["statusCode"] == 200
    # A refresh token is no token type of its own: `token_use` tells it from an access token.
    assert "token_type" not in payload(as_json) and payload(as_json)["token_use"] == "refresh"
    assert payload(introspect(service, "garbage", caller)) == {"active": False}


def test_introspect_with_a_revoked_caller_is_401(service: Service) -> None:
    caller = admin_token(service)
    service.call("revoke", http_event("POST", "/auth/revoke", {"token": caller}))
    assert introspect(service, caller, caller)["statusCode"] == 401


# --------------------------------------------------------------------------- well-known documents


def test_jwks_document(service: Service) -> None:
    response = service.call(
        "wellknown", http_event("GET", "/.well-known/jwks.json", content_type=None), "jwks"
    )
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert "public" in response["headers"]["Cache-Control"]
    keys = payload(response)["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert key["kid"] == jwk_thumbprint(key) == load_key_ring(service.pem).current.kid
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    # The published key verifies what login issues.
    import jwt

    token = login(service)["access_token"]
    assert jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"], audience=AUDIENCE)["iss"] == ISSUER


def test_discovery_document(service: Service) -> None:
    response = service.call(
        "wellknown", http_event("GET", "/.well-known/openid-configuration", content_type=None), "discovery"
    )
    assert response["statusCode"] == 200
    document = payload(response)
    assert document["issuer"] == ISSUER
    assert document["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert document["access_token_signing_alg_values_supported"] == ["RS256"]
    assert document["revocation_endpoint"] == f"{ISSUER}/auth/revoke"
    assert document["introspection_endpoint"] == f"{ISSUER}/auth/introspect"
    assert document["token_types_supported"] == ["at+jwt", "rt+jwt"]
    for name, value in document.items():
        if name.endswith(("_endpoint", "_uri")):
            assert value.startswith(ISSUER + "/"), name


# --------------------------------------------------------------------------- /me (behind the authorizer)


def me_event(authorizer: dict[str, Any] | None) -> dict[str, Any]:
    event = http_event("GET", "/me", content_type=None, token="opaque-to-the-handler")
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    return event


def test_me_with_the_http_api_authorizer_context(service: Service) -> None:
    claims = runtime.access_verifier().verify(login(service)["access_token"])
    response = service.call("me", me_event({"lambda": authorizer_context(claims)}))
    assert response["statusCode"] == 200
    assert payload(response) == {
        "sub": service.alice_sub,
        "scope": "profile orders:read",
        "sid": claims.sid,
        "jti": claims.jti,
        "client_id": "lambda-jwt-auth",
        "exp": claims.exp,
    }


def test_me_with_the_rest_api_authorizer_context(service: Service) -> None:
    claims = runtime.access_verifier().verify(login(service)["access_token"])
    # REST API contexts arrive as strings.
    ctx = {name: str(value) for name, value in authorizer_context(claims).items()}
    response = service.call("me", me_event({**ctx, "principalId": claims.sub, "integrationLatency": 5}))
    assert response["statusCode"] == 200
    assert payload(response)["exp"] == claims.exp


@pytest.mark.parametrize(
    ("authorizer", "status"),
    [
        (None, 401),
        ({"lambda": {}}, 401),
        ({"lambda": {"sub": ""}}, 401),
        ({"jwt": {"claims": {"sub": "x"}}}, 401),
        ({"lambda": {"sub": "u", "scope": "orders:read"}}, 403),
        ({"lambda": {"sub": "u", "scope": "profiles"}}, 403),
        ({"lambda": {"sub": "u", "scope": "profile"}}, 200),
    ],
)
def test_me_refusals(service: Service, authorizer: dict[str, Any] | None, status: int) -> None:
    response = service.call("me", me_event(authorizer))
    assert response["statusCode"] == status
    if status == 403:
        assert payload(response)["error"] == "insufficient_scope"
        assert 'scope="profile"' in response["headers"]["WWW-Authenticate"]


# --------------------------------------------------------------------------- DynamoDB outage


def test_dynamodb_outage_is_503_not_500(service: Service, reconfigure: Callable[..., None]) -> None:
    pair = login(service)
    caller = admin_token(service)
    reconfigure(AUTH_DYNAMODB_ENDPOINT=f"http://127.0.0.1:{closed_port()}")

    responses = {
        "logout": service.call("logout", http_event("POST", "/auth/logout", token=pair["access_token"])),
        "refresh": refresh(service, pair["refresh_token"]),
        "revoke": service.call("revoke", http_event("POST", "/auth/revoke", {"token": pair["access_token"]})),
        "introspect": introspect(service, pair["access_token"], caller),
    }
    for name, response in responses.items():
        assert response["statusCode"] == 503, (name, response)
        assert response["headers"]["Retry-After"] == "1", name
        assert payload(response)["error"] == "temporarily_unavailable", name


def test_login_during_a_dynamodb_outage_is_503(service: Service, reconfigure: Callable[..., None]) -> None:
    reconfigure(AUTH_DYNAMODB_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    response = service.call(
        "login", http_event("POST", "/auth/login", {"username": "alice", "password": ALICE_PASSWORD})
    )
    assert response["statusCode"] == 503
    assert response["headers"].get("Retry-After") == "1"


# --------------------------------------------------------------------------- logs


def test_no_secret_reaches_any_log_record(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("lambda_jwt_auth").setLevel(logging.DEBUG)
    try:
        wrong_password = "wrong-" + secrets.token_urlsafe(12)
        bad = service.call(
            "login", http_event("POST", "/auth/login", {"username": "alice", "password": wrong_password})
        )
        assert bad["statusCode"] == 401
        first = login(service)
        second = payload(refresh(service, first["refresh_token"]))
        assert refresh(service, first["refresh_token"])["statusCode"] == 401  # reuse
        third = login(service)
        caller = admin_token(service)
        assert introspect(service, third["access_token"], caller)["statusCode"] == 200
        service.call("revoke", http_event("POST", "/auth/revoke", {"token": third["refresh_token"]}))
        fourth = login(service)
        service.call(
            "logout",
            http_event(
                "POST",
                "/auth/logout",
                {"refresh_token": fourth["refresh_token"]},
                token=fourth["access_token"],
            ),
        )
        assert refresh(service, "not-a-token")["statusCode"] == 401
    finally:
        logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)

    tokens = [
        pair[kind] for pair in (first, second, third, fourth) for kind in ("access_token", "refresh_token")
    ] + [caller]
    pem_lines = [line for line in service.pem.splitlines() if line and not line.startswith("-----")]
    secret_fragments = [ALICE_PASSWORD, ADMIN_PASSWORD, wrong_password, "PRIVATE KEY", *pem_lines[1:4]]
    secret_fragments += tokens + [token.rsplit(".", 1)[1] for token in tokens]  # signatures alone, too
    records = caplog.records
    texts = []
    for record in records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        if record.exc_text:
            texts.append(record.exc_text)
    everything = "\n".join(texts)
    for fragment in secret_fragments:
        assert fragment not in everything

    events = {json.loads(r.getMessage())["event"] for r in records if r.name.startswith("lambda_jwt_auth")}
    assert {
        "login_failed",
        "session_started",
        "refreshed",
        "refresh_token_reuse",
        "revoked",
        "logout",
    } <= events


# --------------------------------------------------------------------------- request logs and limits


class _Context:
    aws_request_id = "req-0123456789"


def _json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name.startswith("lambda_jwt_auth")]


def test_every_line_of_a_request_carries_its_id_and_route(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    event = http_event("POST", "/auth/login", {"username": "alice", "password": ALICE_PASSWORD})
    event["routeKey"] = "POST /auth/login"
    with caplog.at_level(logging.INFO, logger="lambda_jwt_auth"):
        response = service.handlers["login"].handler(event, _Context())
    assert response["statusCode"] == 200
    lines = _json_lines(caplog)
    assert {line["event"] for line in lines} >= {"session_started", "request"}
    assert all(line["request_id"] == "req-0123456789" for line in lines)
    assert all(line["route"] == "POST /auth/login" for line in lines)
    request = next(line for line in lines if line["event"] == "request")
    assert request["status"] == 200 and request["outcome"] == "ok" and request["duration_ms"] >= 0
    started = next(line for line in lines if line["event"] == "session_started")
    assert started["sub"] == service.alice_sub and started["jti"]
    assert ALICE_PASSWORD not in caplog.text and payload(response)["access_token"] not in caplog.text


def test_a_refused_request_is_logged_with_its_error_code(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    event = http_event("POST", "/auth/login", {"username": "alice", "password": "wrong password!"})
    with caplog.at_level(logging.INFO, logger="lambda_jwt_auth"):
        assert service.handlers["login"].handler(event, _Context())["statusCode"] == 401
    request = next(line for line in _json_lines(caplog) if line["event"] == "request")
    assert (request["status"], request["outcome"]) == (401, "invalid_grant")
    assert "wrong password!" not in caplog.text


def test_too_many_headers_is_431(service: Service) -> None:
    headers = {f"x-filler-{i}": "1" for i in range(101)}
    response = service.call("login", http_event("POST", "/auth/login", {"username": "a"}, headers=headers))
    assert response["statusCode"] == 431
    assert payload(response)["error"] == "invalid_request"


# --------------------------------------------------------------------------- CloudWatch metrics


def _emf_of(capfd: pytest.CaptureFixture[str], call: Callable[[], object]) -> dict[str, float]:
    capfd.readouterr()
    call()
    (document,) = emf_lines(capfd.readouterr().out)  # one line per invocation
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Test/Auth"
    return metric_values(document)


def test_issuing_functions_write_their_metrics(
    service: Service, reconfigure: Callable[..., None], capfd: pytest.CaptureFixture[str]
) -> None:
    reconfigure(AUTH_METRICS_NAMESPACE="Test/Auth", AUTH_LOGIN_MAX_FAILURES_PER_USER="2")
    pair: dict[str, Any] = {}
    assert _emf_of(capfd, lambda: pair.update(login(service))) == {
        "Logins": 1, "TokensIssued": 1, "TokensIssued.password": 1, "Requests": 1,
    }  # fmt: skip
    # A refresh reads the denylist (strongly consistent): its latency is measured.
    rotated = _emf_of(capfd, lambda: refresh(service, pair["refresh_token"]))
    assert 0 <= rotated.pop("DenylistReadLatency") < 5000
    assert rotated == {"TokensIssued": 1, "TokensIssued.refresh_token": 1, "Requests": 1}
    reused = _emf_of(capfd, lambda: refresh(service, pair["refresh_token"]))
    assert reused.pop("DenylistReadLatency") >= 0
    assert reused == {"RefreshReuseDetections": 1, "Requests": 1, "ClientErrors": 1}
    wrong = http_event("POST", "/auth/login", {"username": "admin", "password": "not-it"})
    for _ in range(2):
        assert _emf_of(capfd, lambda: service.call("login", wrong)) == {
            "LoginFailures": 1, "Requests": 1, "ClientErrors": 1,
        }  # fmt: skip
    assert _emf_of(capfd, lambda: service.call("login", wrong)) == {
        "LoginLockouts": 1, "Requests": 1, "ClientErrors": 1,
    }  # fmt: skip


def test_issuing_functions_write_no_metrics_without_a_namespace(
    service: Service, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    login(service)
    assert "_aws" not in capfd.readouterr().out
