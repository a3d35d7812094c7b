"""POST /auth/token and client authentication, as RFC 6749, 6750, 7009 and 7662 say, on moto.

The real handlers (token, introspect, revoke, the metadata) are imported with their environment,
as Lambda cold-starts them, and called with HTTP API payload 2.0 events. Every error path has
the RFC's status, code and, where the RFC requires one, its WWW-Authenticate challenge.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from moto import mock_aws

from auth_service import runtime
from auth_service.clients import ClientRecordError, ClientTable
from auth_service.denylist import Denylist
from auth_service.tables import create_tables
from auth_service.users import UserTable

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
DENYLIST, USERS, CLIENTS = "oauth-denylist", "oauth-users", "oauth-clients"
HANDLERS = ("token", "introspect", "revoke", "wellknown", "login")
FORM = "application/x-www-form-urlencoded"
WORKER = ("orders-worker", "worker-secret-0123456789")
# RFC 6749 §2.3.1: Basic credentials are form-urlencoded first, so a secret may hold ":" and "+".
ODD = ("odd.client", "s3cr:t+with %and spaces")
GATEKEEPER = ("gatekeeper", "gatekeeper-secret-456789")
ALICE = ("alice", "correct horse battery")
MAX_FAILURES = 3


@dataclass
class Service:
    client: Any
    handlers: dict[str, ModuleType]
    clients: ClientTable

    def call(self, name: str, event: dict[str, Any], attribute: str = "handler") -> dict[str, Any]:
        response: dict[str, Any] = getattr(self.handlers[name], attribute)(event, None)
        return response


def load_handlers() -> dict[str, ModuleType]:
    for value in vars(runtime).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()
    modules = {}
    for name in HANDLERS:
        sys.modules.pop(f"auth_service.handlers.{name}", None)
        modules[name] = importlib.import_module(f"auth_service.handlers.{name}")
    return modules


@pytest.fixture(scope="module")
def service(rsa_pem: str) -> Iterator[Service]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AUTH_USERS_TABLE": USERS,
        "AUTH_CLIENTS_TABLE": CLIENTS,
        "AUTH_SIGNING_KEY": rsa_pem,
        "AUTH_LOGIN_MAX_FAILURES_PER_USER": str(MAX_FAILURES),
    }
    saved = {
        name: module for name, module in sys.modules.items() if name.startswith("auth_service.handlers.")
    }
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for name in [name for name in os.environ if name.startswith("AUTH_")] + ["AWS_PROFILE"]:
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, denylist=DENYLIST, users=USERS, clients=CLIENTS)
        UserTable(client, USERS).add(*ALICE, "profile")
        clients = ClientTable(client, CLIENTS)
        clients.add("worker", "orders:read orders:write", client_id=WORKER[0], secret=WORKER[1])
        clients.add("odd", "orders:read", client_id=ODD[0], secret=ODD[1])
        clients.add("gatekeeper", "introspect", client_id=GATEKEEPER[0], secret=GATEKEEPER[1])
        yield Service(client, load_handlers(), clients)
    for name in [name for name in sys.modules if name.startswith("auth_service.handlers.")]:
        sys.modules.pop(name)
    sys.modules.update(saved)
    for value in vars(runtime).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


def clear_denylist(service: Service) -> None:
    for item in service.client.scan(TableName=DENYLIST, ProjectionExpression="pk")["Items"]:
        service.client.delete_item(TableName=DENYLIST, Key={"pk": item["pk"]})


@pytest.fixture(autouse=True)
def empty_denylist(service: Service) -> None:
    """Every test starts with no revocations and no failure counters."""
    clear_denylist(service)


def event(
    path: str,
    body: dict[str, str] | str | None = None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    content_type: str | None = FORM,
    source_ip: str = "203.0.113.7",
) -> dict[str, Any]:
    text = urlencode(body) if isinstance(body, dict) else (body or "")
    all_headers = {**({"content-type": content_type} if content_type else {}), **(headers or {})}
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "headers": all_headers,
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": source_ip}, "requestId": "r"},
        "body": text,
        "isBase64Encoded": False,
    }


def basic(client_id: str, secret: str) -> dict[str, str]:
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return {"authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def token_request(service: Service, body: dict[str, str] | str, **kwargs: Any) -> dict[str, Any]:
    return service.call("token", event("/auth/token", body, **kwargs))


def payload(response: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(response["body"]) if response["body"] else {}
    return body


def assert_error(response: dict[str, Any], status: int, error: str) -> None:
    assert response["statusCode"] == status, response
    assert payload(response)["error"] == error, response
    assert response["headers"]["Cache-Control"] == "no-store"  # RFC 6749 §5.1, errors too


def machine_token(service: Service, client: tuple[str, str] = WORKER, **extra: str) -> dict[str, Any]:
    response = token_request(service, {"grant_type": "client_credentials", **extra}, headers=basic(*client))
    assert response["statusCode"] == 200, response
    return payload(response)


def user_pair(service: Service) -> dict[str, Any]:
    login = event(
        "/auth/login",
        json.dumps({"username": ALICE[0], "password": ALICE[1]}),
        content_type="application/json",
    )
    response = service.call("login", login)
    assert response["statusCode"] == 200, response
    return payload(response)


# --- client_credentials (RFC 6749 §4.4) ----------------------------------------------------------


def test_client_credentials_with_basic_gives_an_access_token_alone(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = token_request(service, {"grant_type": "client_credentials"}, headers=basic(*WORKER))
    issued = [
        json.loads(r.getMessage()) for r in caplog.records if '"machine_token_issued"' in r.getMessage()
    ]
    assert [(line["client_id"], bool(line["jti"])) for line in issued] == [(WORKER[0], True)]
    assert WORKER[1] not in caplog.text  # never the secret
    assert response["statusCode"] == 200
    assert response["headers"]["Cache-Control"] == "no-store"
    body = payload(response)
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # §4.4.3: no refresh token
    assert body["token_type"] == "Bearer" and body["scope"] == "orders:read orders:write"
    claims = runtime.access_verifier().verify(body["access_token"])  # the authorizer's rules (RFC 9068)
    assert claims.sub == claims.client_id == WORKER[0]
    assert claims.raw["aud"] == AUDIENCE and claims.raw["iss"] == ISSUER
    assert claims.exp - claims.iat == body["expires_in"] == 900
    assert claims.raw["auth_time"] <= claims.iat


def test_client_secret_post_and_form_urlencoded_basic_credentials(service: Service) -> None:
    posted = token_request(
        service, {"grant_type": "client_credentials", "client_id": WORKER[0], "client_secret": WORKER[1]}
    )
    assert posted["statusCode"] == 200
    assert machine_token(service, ODD)["scope"] == "orders:read"
    # Sent without the form-urlencoding of §2.3.1, "+" reads as a space: not the secret.
    raw = base64.b64encode(f"{ODD[0]}:{ODD[1]}".encode()).decode()
    unencoded = token_request(
        service, {"grant_type": "client_credentials"}, headers={"authorization": f"Basic {raw}"}
    )
    assert_error(unencoded, 401, "invalid_client")


def test_scope_is_a_subset_of_the_clients(service: Service) -> None:
    assert machine_token(service, scope="orders:read")["scope"] == "orders:read"
    assert machine_token(service, scope="orders:write orders:read")["scope"] == "orders:write orders:read"
    wider = token_request(
        service, {"grant_type": "client_credentials", "scope": "orders:read admin"}, headers=basic(*WORKER)
    )
    assert_error(wider, 400, "invalid_scope")
    malformed = token_request(
        service, {"grant_type": "client_credentials", "scope": 'orders:read "x"'}, headers=basic(*WORKER)
    )
    assert_error(malformed, 400, "invalid_scope")


def test_unknown_wrong_and_disabled_clients_get_one_answer(service: Service) -> None:
    service.clients.add("retired", "orders:read", client_id="retired-client", secret="retired-secret-0123456")
    service.clients.set_disabled("retired-client", True)
    answers = []
    for client_id, secret, ip in (
        (WORKER[0], "not-the-secret-0123456", "198.51.100.1"),
        ("nobody-registered-this", WORKER[1], "198.51.100.2"),
        ("retired-client", "retired-secret-0123456", "198.51.100.3"),
    ):
        response = token_request(
            service, {"grant_type": "client_credentials"}, headers=basic(client_id, secret), source_ip=ip
        )
        answers.append((response["statusCode"], response["headers"], response["body"]))
    assert answers[0] == answers[1] == answers[2]
    status, headers, body = answers[0]
    assert status == 401 and json.loads(body)["error"] == "invalid_client"
    assert headers["WWW-Authenticate"].startswith("Basic ")  # §5.2: the scheme the client can use


def test_client_credentials_needs_client_authentication(service: Service) -> None:
    assert_error(token_request(service, {"grant_type": "client_credentials"}), 401, "invalid_client")
    public = token_request(service, {"grant_type": "client_credentials", "client_id": WORKER[0]})
    assert_error(public, 401, "invalid_client")


def test_one_authentication_method_per_request(service: Service) -> None:
    both = token_request(
        service,
        {"grant_type": "client_credentials", "client_id": WORKER[0], "client_secret": WORKER[1]},
        headers=basic(*WORKER),
    )
    assert_error(both, 400, "invalid_request")
    differing = token_request(
        service, {"grant_type": "client_credentials", "client_id": GATEKEEPER[0]}, headers=basic(*WORKER)
    )
    assert_error(differing, 400, "invalid_request")
    assert_error(
        token_request(service, {"grant_type": "client_credentials", "client_secret": WORKER[1]}),
        400,
        "invalid_request",
    )


@pytest.mark.parametrize("header", ["Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic "])
def test_malformed_basic_credentials_are_invalid_client(service: Service, header: str) -> None:
    response = token_request(service, {"grant_type": "client_credentials"}, headers={"authorization": header})
    assert_error(response, 401, "invalid_client")


def test_failed_client_authentication_is_throttled_per_client_id(service: Service) -> None:
    for attempt in range(MAX_FAILURES):
        wrong = token_request(
            service,
            {"grant_type": "client_credentials"},
            headers=basic(WORKER[0], f"wrong-secret-{attempt:010d}"),
            source_ip=f"198.51.100.{10 + attempt}",
        )
        assert_error(wrong, 401, "invalid_client")
    # Locked: even the right secret is refused without being checked, from another address too.
    locked = token_request(
        service, {"grant_type": "client_credentials"}, headers=basic(*WORKER), source_ip="192.0.2.99"
    )
    assert_error(locked, 429, "slow_down")
    assert int(locked["headers"]["Retry-After"]) > 0
    # Another client is not affected.
    assert machine_token(service, GATEKEEPER)["scope"] == "introspect"


def test_a_revoked_clients_tokens_are_inactive_and_new_ones_work(service: Service) -> None:
    before = machine_token(service)["access_token"]
    denylist = Denylist(service.client, DENYLIST, max_token_lifetime=2_592_000, leeway=30)
    # Early in a second, so that the next authentication falls in the revocation's own second,
    # where only the wait for its "not before" keeps the new token alive.
    time.sleep(1.02 - time.time() % 1)
    sign_out = denylist.revoke_user(WORKER[0], "operator")  # what `revoke --client` writes
    assert not introspect_as(service, GATEKEEPER, before)["active"]
    after = machine_token(service)["access_token"]  # waits out the sign-out's second (< 1 s)
    assert runtime.access_verifier().verify(after).raw["auth_time"] >= sign_out.not_before
    assert introspect_as(service, GATEKEEPER, after)["active"]


def test_client_secret_rotation_keeps_two_secrets_until_finished(service: Service) -> None:
    service.clients.add(
        "rotating", "orders:read", client_id="rotating-client", secret="first-secret-0123456789"
    )
    second = service.clients.rotate_secret("rotating-client")
    assert machine_token(service, ("rotating-client", "first-secret-0123456789"))
    assert machine_token(service, ("rotating-client", second))
    service.clients.drop_previous_secret("rotating-client")
    old = token_request(
        service,
        {"grant_type": "client_credentials"},
        headers=basic("rotating-client", "first-secret-0123456789"),
    )
    assert_error(old, 401, "invalid_client")
    assert machine_token(service, ("rotating-client", second))


# --- refresh_token (RFC 6749 §6) --------------------------------------------------------------------


def test_refresh_token_grant_rotates_and_detects_reuse(service: Service) -> None:
    pair = user_pair(service)
    refreshed = token_request(
        service, {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    )
    assert refreshed["statusCode"] == 200
    body = payload(refreshed)
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    again = token_request(service, {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]})
    assert_error(again, 400, "invalid_grant")  # §5.2: 400, not 401
    assert "WWW-Authenticate" not in again["headers"]
    # Reuse ends the session: the pair the first refresh gave is refused too.
    after = token_request(service, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert_error(after, 400, "invalid_grant")


def test_a_refresh_naming_another_client_leaves_the_token_unused(service: Service) -> None:
    pair = user_pair(service)
    other = token_request(
        service,
        {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"], "client_id": "someone-else"},
    )
    assert_error(other, 400, "invalid_grant")
    confidential = token_request(
        service,
        {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
        headers=basic(*WORKER),
    )
    assert_error(confidential, 400, "invalid_grant")
    narrower = token_request(
        service, {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"], "scope": "admin"}
    )
    assert_error(narrower, 400, "invalid_scope")
    own = token_request(
        service,
        {
            "grant_type": "refresh_token",
            "refresh_token": pair["refresh_token"],
            "client_id": "lambda-jwt-auth",
        },
    )
    assert own["statusCode"] == 200  # none of the refusals above used the token up


def test_wrong_client_credentials_are_never_ignored(service: Service) -> None:
    pair = user_pair(service)
    response = token_request(
        service,
        {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
        headers=basic(WORKER[0], "wrong-secret-0123456789"),
    )
    assert_error(response, 401, "invalid_client")


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({}, 400, "invalid_request"),
        ({"grant_type": ""}, 400, "invalid_request"),
        ({"grant_type": "password", "username": "alice", "password": "x"}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "x"}, 400, "unsupported_grant_type"),
        # No user pool here: token exchange is not served.
        ({"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange"}, 400, "unsupported_grant_type"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "not-a-token"}, 400, "invalid_grant"),
    ],
)
def test_malformed_token_requests(service: Service, body: dict[str, str], status: int, error: str) -> None:
    assert_error(token_request(service, body), status, error)


def test_a_json_body_is_accepted_and_another_type_is_415(service: Service) -> None:
    as_json = token_request(
        service,
        json.dumps({"grant_type": "client_credentials"}),
        headers=basic(*WORKER),
        content_type="application/json",
    )
    assert as_json["statusCode"] == 200
    assert token_request(service, "grant_type=x", content_type="text/plain")["statusCode"] == 415


# --- introspection and revocation with client authentication (RFC 7662 §2.1, RFC 7009 §2.1) --------


def introspect_as(service: Service, client: tuple[str, str], token: str) -> dict[str, Any]:
    response = service.call("introspect", event("/auth/introspect", {"token": token}, headers=basic(*client)))
    assert response["statusCode"] == 200, response
    return payload(response)


def test_a_client_with_the_introspection_scope_introspects(service: Service) -> None:
    token = machine_token(service)["access_token"]
    result = introspect_as(service, GATEKEEPER, token)
    assert result["active"] is True and result["token_type"] == "Bearer"
    assert result["sub"] == result["client_id"] == WORKER[0]
    refused = service.call("introspect", event("/auth/introspect", {"token": token}, headers=basic(*WORKER)))
    assert_error(refused, 403, "insufficient_scope")
    assert refused["headers"]["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    wrong = service.call(
        "introspect",
        event("/auth/introspect", {"token": token}, headers=basic(GATEKEEPER[0], "wrong-0123456789")),
    )
    assert_error(wrong, 401, "invalid_client")


def test_revocation_checks_presented_client_credentials(service: Service) -> None:
    pair = user_pair(service)
    wrong = service.call(
        "revoke",
        event("/auth/revoke", {"token": pair["refresh_token"]}, headers=basic(WORKER[0], "wrong-0123456789")),
    )
    assert_error(wrong, 401, "invalid_client")
    assert introspect_as(service, GATEKEEPER, pair["refresh_token"])["active"]  # nothing was revoked
    right = service.call(
        "revoke", event("/auth/revoke", {"token": pair["refresh_token"]}, headers=basic(*WORKER))
    )
    assert right["statusCode"] == 200
    assert not introspect_as(service, GATEKEEPER, pair["refresh_token"])["active"]


# --- metadata -------------------------------------------------------------------------------------


def test_the_metadata_lists_what_is_served(service: Service) -> None:
    get = event("/.well-known/oauth-authorization-server", method="GET", content_type=None)
    document = payload(service.call("wellknown", get, "discovery"))
    assert document["token_endpoint"] == f"{ISSUER}/auth/token"
    assert document["grant_types_supported"] == ["refresh_token", "client_credentials"]
    assert document["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ]
    assert document["token_endpoint_auth_signing_alg_values_supported"] == ["RS256", "ES256", "EdDSA"]
    assert document["response_types_supported"] == ["none"]


# --- private_key_jwt (RFC 7523 §2.2, §3) -------------------------------------------------------------

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_ENDPOINT = f"{ISSUER}/auth/token"


@dataclass
class Signer:
    client_id: str
    keys: dict[str, Any]  # kid -> private key

    def assertion(self, kid: str | None = "k1", alg: str = "ES256", **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": TOKEN_ENDPOINT,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(12),
            **overrides,
        }
        claims = {name: value for name, value in claims.items() if value is not None}
        headers = {"kid": kid} if kid else {}
        # The key the kid names; for a kid the client has no key for, its first key.
        key = self.keys[kid] if kid in self.keys else next(iter(self.keys.values()))
        return jwt.encode(claims, key, algorithm=alg, headers=headers)


@pytest.fixture(scope="module")
def signer(service: Service) -> Signer:
    keys = {"k1": ec.generate_private_key(ec.SECP256R1()), "k2": ec.generate_private_key(ec.SECP256R1())}
    jwks: dict[str, list[dict[str, Any]]] = {"keys": []}
    for kid, key in keys.items():
        jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
        jwks["keys"].append({**jwk, "kid": kid})
    service.clients.add("signer", "orders:read", client_id="signing-client", jwks=jwks)
    return Signer("signing-client", keys)


def assertion_request(service: Service, assertion: str, **extra: str) -> dict[str, Any]:
    body = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    return token_request(service, {**body, **extra})


def test_a_signed_assertion_authenticates_once(service: Service, signer: Signer) -> None:
    assertion = signer.assertion()
    first = assertion_request(service, assertion)
    assert first["statusCode"] == 200, first
    claims = runtime.access_verifier().verify(payload(first)["access_token"])
    assert claims.sub == claims.client_id == "signing-client"
    assert_error(assertion_request(service, assertion), 401, "invalid_client")  # a replay
    # Either registered key, named by kid; the issuer's URL as audience too (RFC 7523 §3).
    assert assertion_request(service, signer.assertion(kid="k2"))["statusCode"] == 200
    assert assertion_request(service, signer.assertion(aud=ISSUER))["statusCode"] == 200
    assert assertion_request(service, signer.assertion(aud=[TOKEN_ENDPOINT, "x"]))["statusCode"] == 200


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://other.example.test/token"},
        {"aud": None},
        {"iss": "someone-else"},  # the client id is read from iss: no such client
        {"sub": "someone-else"},
        {"sub": None},
        {"exp": None},
        {"jti": None},
        {"jti": ""},
        {"exp": int(time.time()) - 3600},  # expired
        {"exp": int(time.time()) + 2 * 3600},  # lives too long to keep its jti
        {"nbf": int(time.time()) + 3600},  # not yet valid
    ],
    # Named, not by value: times differ between pytest-xdist workers, whose test ids must agree.
    ids=[
        "other-aud", "no-aud", "unknown-iss", "other-sub", "no-sub", "no-exp", "no-jti", "empty-jti",
        "expired", "lives-too-long", "not-yet-valid",
    ],
)
def test_assertions_with_wrong_claims_are_refused(
    service: Service, signer: Signer, overrides: dict[str, Any]
) -> None:
    assert_error(assertion_request(service, signer.assertion(**overrides)), 401, "invalid_client")


def refused(service: Service, assertion: str) -> None:
    """401 invalid_client; then the failure counters are cleared (the throttle is tested apart)."""
    assert_error(assertion_request(service, assertion), 401, "invalid_client")
    clear_denylist(service)


def test_the_algorithm_and_key_come_from_the_registered_keys(service: Service, signer: Signer) -> None:
    # No kid and two registered keys: no key is guessed.
    refused(service, signer.assertion(kid=None))
    refused(service, signer.assertion(kid="k9"))
    # Signed by another key under a registered kid.
    other = Signer("signing-client", {"k1": ec.generate_private_key(ec.SECP256R1())})
    refused(service, other.assertion())
    # HS256 keyed with the public key (the algorithm-confusion attack) and an unsigned assertion.
    now = int(time.time())
    claims = {"iss": "signing-client", "sub": "signing-client", "aud": TOKEN_ENDPOINT, "exp": now + 60}
    public = (
        signer.keys["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    confused = hmac_jwt({**claims, "jti": "confused"}, public)
    refused(service, confused)
    unsigned = (
        ".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
            for part in ({"alg": "none", "kid": "k1"}, {**claims, "jti": "none"})
        )
        + "."
    )
    refused(service, unsigned)
    refused(service, "not-a-jwt")


def hmac_jwt(claims: dict[str, Any], secret: bytes) -> str:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "k1"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    signature = base64.urlsafe_b64encode(
        hmac.new(secret, header + b"." + body, hashlib.sha256).digest()
    ).rstrip(b"=")
    return (header + b"." + body + b"." + signature).decode()


def test_assertion_requests_that_mix_or_misname(service: Service, signer: Signer) -> None:
    mixed = assertion_request(service, signer.assertion(), client_secret="x" * 20, client_id="signing-client")
    assert_error(mixed, 400, "invalid_request")
    misnamed = assertion_request(service, signer.assertion(), client_id="another-client")
    assert_error(misnamed, 400, "invalid_request")
    wrong_type = token_request(
        service,
        {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:x",
            "client_assertion": signer.assertion(),
        },
    )
    assert_error(wrong_type, 400, "invalid_request")
    # A key-only client has no secret to guess.
    guessed = token_request(
        service, {"grant_type": "client_credentials"}, headers=basic("signing-client", "x" * 20)
    )
    assert_error(guessed, 401, "invalid_client")


def test_assertions_are_for_the_token_endpoint_only(service: Service, signer: Signer) -> None:
    token = machine_token(service)["access_token"]
    body = {"token": token, "client_assertion_type": ASSERTION_TYPE, "client_assertion": signer.assertion()}
    assert_error(service.call("introspect", event("/auth/introspect", body)), 401, "invalid_client")


def test_a_disabled_signing_client_is_refused(service: Service, signer: Signer) -> None:
    service.clients.set_disabled("signing-client", True)
    try:
        assert_error(assertion_request(service, signer.assertion()), 401, "invalid_client")
    finally:
        service.clients.set_disabled("signing-client", False)


def test_the_clients_table_turns_machine_clients_on(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AUTH_CLIENTS_TABLE: without it there are no machine clients, and nothing says otherwise."""
    with_table = machine_token(service)
    assert with_table["token_type"] == "Bearer"
    monkeypatch.delenv("AUTH_CLIENTS_TABLE")
    service.handlers = load_handlers()
    try:
        refused = token_request(service, {"grant_type": "client_credentials"}, headers=basic(*WORKER))
        assert_error(refused, 400, "unsupported_grant_type")
        get = event("/.well-known/oauth-authorization-server", method="GET", content_type=None)
        document = payload(service.call("wellknown", get, "discovery"))
        assert document["grant_types_supported"] == ["refresh_token"]
        assert document["token_endpoint_auth_methods_supported"] == ["none"]
        # Client credentials presented where no client is registered are refused, not ignored.
        pair = user_pair(service)
        presented = token_request(
            service,
            {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
            headers=basic(*WORKER),
        )
        assert_error(presented, 401, "invalid_client")
    finally:
        monkeypatch.setenv("AUTH_CLIENTS_TABLE", CLIENTS)
        service.handlers = load_handlers()


@pytest.fixture
def published_keys() -> Iterator[tuple[str, Any, list[int]]]:
    """A client's JWKS endpoint on loopback: (its URL, the private key, how often it was fetched)."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwks = json.dumps(
        {"keys": [{**json.loads(ECAlgorithm.to_jwk(key.public_key())), "kid": "pub-1"}]}
    ).encode()
    fetched: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetched.append(1)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(jwks)))
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key, fetched
    server.shutdown()
    server.server_close()


def test_a_client_may_publish_its_keys_at_a_jwks_uri(
    service: Service, published_keys: tuple[str, Any, list[int]]
) -> None:
    url, key, fetched = published_keys
    service.clients.add("publisher", "orders:read", client_id="publishing-client", jwks_uri=url)
    signer = Signer("publishing-client", {"pub-1": key})
    assert assertion_request(service, signer.assertion(kid="pub-1"))["statusCode"] == 200
    assert assertion_request(service, signer.assertion(kid="pub-1"))["statusCode"] == 200
    assert len(fetched) == 1  # kept for the container's life, not fetched per request
    # A published JWKS is looked up by kid only: an assertion without one names no key.
    refused(service, _without_kid(key))
    refused(
        service,
        Signer("publishing-client", {"pub-1": ec.generate_private_key(ec.SECP256R1())}).assertion("pub-1"),
    )


def _without_kid(key: Any) -> str:
    now = int(time.time())
    claims = {"iss": "publishing-client", "sub": "publishing-client", "aud": TOKEN_ENDPOINT, "exp": now + 60}
    return jwt.encode({**claims, "jti": secrets.token_urlsafe(8)}, key, algorithm="ES256")


def test_an_unreachable_jwks_uri_is_the_clients_outage(service: Service) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    service.clients.add(
        "gone", "orders:read", client_id="gone-client", jwks_uri=f"http://127.0.0.1:{port}/jwks"
    )
    key = ec.generate_private_key(ec.SECP256R1())
    response = assertion_request(service, Signer("gone-client", {"k": key}).assertion(kid="k"))
    assert_error(response, 401, "invalid_client")
    assert "could not be fetched" in payload(response)["error_description"]


@pytest.mark.parametrize(
    "url",
    ["http://keys.example.test/jwks", "ftp://127.0.0.1/jwks", "https://user:pw@keys.example.test/", "jwks"],
)
def test_a_jwks_uri_must_be_https_off_loopback(service: Service, url: str) -> None:
    with pytest.raises(ClientRecordError, match="https"):
        service.clients.add("x", "orders:read", client_id="x-client", jwks_uri=url)


def test_an_assertion_jti_with_a_lone_surrogate_is_kept_like_any_other(
    service: Service, signer: Signer
) -> None:
    """JSON may carry a lone surrogate ("\\ud800") in a jti: the replay cache keeps it, never a 500."""
    assertion = signer.assertion(jti="\ud800replay")
    assert assertion_request(service, assertion)["statusCode"] == 200
    assert_error(assertion_request(service, assertion), 401, "invalid_client")
