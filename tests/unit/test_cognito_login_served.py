"""POST /auth/login with the Cognito identity backend: successful logins and the handler's answers.

A successful login verifies the pool's ID token against the JWKS our `JwksCache` fetches over
HTTP, so everything here runs against a moto server (mock_aws does not intercept urllib).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from botocore.stub import Stubber
from moto.cognitoidp.utils import check_secret_hash

from auth_service import runtime
from auth_service.cognito.login import CognitoLogin, CognitoMisconfiguredError
from auth_service.cognito.scopes import GroupScopes
from auth_service.sealing import COGNITO_REFRESH_TOKEN_CLAIM, open_sealed
from authorizer.errors import UnavailableError
from authorizer.tokens.claims import ORIGIN_CLAIM
from authorizer.tokens.cognito import cognito_verifier
from authorizer.tokens.jwks_cache import JwksCache
from tests.unit import cognito_support as support
from tests.unit.cognito_support import GROUP_SCOPES, PASSWORD, Pool, create_pool
from tests.unit.test_service_handlers import http_event, payload

ROOT = Path(__file__).resolve().parents[2]


def unique(name: str) -> str:
    return f"{name}-{secrets.token_hex(4)}"


def login_for(pool: Pool, keys: Any, client: Any = None, client_id: str | None = None) -> CognitoLogin:
    client_id = client_id or pool.client_id
    return CognitoLogin(
        client or pool.client,
        user_pool_id=pool.pool_id,
        client_id=client_id,
        client_secret=pool.client_secret,
        verifier=cognito_verifier(keys, issuer=pool.issuer, token_use="id", client_ids=[client_id]),
        group_scopes=GroupScopes(GROUP_SCOPES, "profile"),
    )


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with support.moto_server() as url:
        support.prepare_tables(url)
        yield url


@pytest.fixture
def served_pool(endpoint: str) -> Pool:
    return create_pool(support.aws_client("cognito-idp", endpoint), endpoint=endpoint)


def test_login_maps_groups_to_scopes(served_pool: Pool) -> None:
    sub = served_pool.add_user("alice", groups=["orders", "admins"])
    served_pool.add_user("bob")
    login = login_for(served_pool, JwksCache(served_pool.jwks_uri))
    alice = login.authenticate("alice", PASSWORD)
    assert alice.sub == sub and alice.username == "alice"
    # The default scope first, then each group's (in the order Cognito lists the groups).
    assert alice.scope.split()[0] == "profile"
    assert sorted(alice.scope.split()) == ["admin", "orders:read", "orders:write", "profile"]
    assert alice.origin_jti and alice.refresh_token
    assert alice.refresh_token not in repr(alice)
    assert login.authenticate("bob", PASSWORD).scope == "profile"


def test_login_sends_the_secret_hash_of_a_client_with_a_secret(served_pool: Pool) -> None:
    client_id, secret = served_pool.new_client(secret=True)
    assert secret
    served_pool.client_id, served_pool.client_secret = client_id, secret
    served_pool.add_user("carol")
    sent: list[dict[str, Any]] = []
    client = support.aws_client("cognito-idp", served_pool.endpoint)
    client.meta.events.register(
        "provide-client-params.cognito-idp.InitiateAuth", lambda params, **_: sent.append(params)
    )
    user = login_for(served_pool, JwksCache(served_pool.jwks_uri), client).authenticate("carol", PASSWORD)
    assert user.username == "carol"
    parameters = sent[0]["AuthParameters"]
    assert check_secret_hash(secret, client_id, "carol", parameters["SECRET_HASH"])
    # Without a secret, none is sent.
    served_pool.client_id, served_pool.client_secret = served_pool.new_client()
    sent.clear()
    login_for(served_pool, JwksCache(served_pool.jwks_uri), client).authenticate("carol", PASSWORD)
    assert "SECRET_HASH" not in sent[0]["AuthParameters"]


def test_an_id_token_for_another_client_means_misconfiguration(served_pool: Pool) -> None:
    served_pool.add_user("dave")
    login = CognitoLogin(
        served_pool.client,
        user_pool_id=served_pool.pool_id,
        client_id=served_pool.client_id,
        client_secret=None,
        verifier=cognito_verifier(
            JwksCache(served_pool.jwks_uri), issuer=served_pool.issuer, token_use="id", client_ids=["other"]
        ),
        group_scopes=GroupScopes(),
    )
    with pytest.raises(CognitoMisconfiguredError) as caught:
        login.authenticate("dave", PASSWORD)
    assert caught.value.status == 500


def test_unreachable_jwks_is_unavailable(served_pool: Pool) -> None:
    served_pool.add_user("erin")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    login = login_for(served_pool, JwksCache(f"http://127.0.0.1:{port}/jwks.json"))
    with pytest.raises(UnavailableError, match="keys are unavailable"):
        login.authenticate("erin", PASSWORD)


# --------------------------------------------------------------------------- the handler


@pytest.fixture(scope="module")
def handler_pool(endpoint: str) -> Pool:
    return create_pool(support.aws_client("cognito-idp", endpoint), endpoint=endpoint)


@pytest.fixture(scope="module")
def service(endpoint: str, handler_pool: Pool, rsa_pem: str) -> Iterator[dict[str, Any]]:
    """The handlers cold-started once for the module: tests use users of their own."""
    with support.handlers(support.service_environment(endpoint, handler_pool, rsa_pem)) as modules:
        yield modules


def post_login(service: dict[str, Any], username: str, password: str = PASSWORD) -> dict[str, Any]:
    event = http_event("POST", "/auth/login", {"username": username, "password": password})
    response: dict[str, Any] = service["login"].handler(event, None)
    return response


def test_handler_issues_our_tokens_for_the_cognito_user(service: dict[str, Any], handler_pool: Pool) -> None:
    alice = unique("alice")
    sub = handler_pool.add_user(alice, groups=["orders"])
    response = post_login(service, alice)
    assert response["statusCode"] == 200, response
    body = payload(response)
    assert body["scope"] == "profile orders:read orders:write"
    access = jwt.decode(body["access_token"], options={"verify_signature": False})
    refresh = jwt.decode(body["refresh_token"], options={"verify_signature": False})
    assert access["sub"] == sub and access["iss"] == support.ISSUER
    assert access[ORIGIN_CLAIM] == refresh[ORIGIN_CLAIM]
    ring = runtime.key_ring()
    cognito_rt = open_sealed(ring, ring.current.kid, refresh[COGNITO_REFRESH_TOKEN_CLAIM], refresh["sid"])
    assert cognito_rt
    # It is the refresh token of that Cognito login: Cognito still accepts it.
    renewed = handler_pool.client.initiate_auth(
        ClientId=handler_pool.client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": cognito_rt},
    )["AuthenticationResult"]
    renewed_claims = jwt.decode(renewed["AccessToken"], options={"verify_signature": False})
    assert renewed_claims["origin_jti"] == access[ORIGIN_CLAIM]
    # Our refresh works as for any session.
    again = service["refresh"].handler(
        http_event("POST", "/auth/refresh", {"refresh_token": body["refresh_token"]}), None
    )
    assert again["statusCode"] == 200


@pytest.mark.parametrize(
    ("prepare", "status", "error"),
    [
        (lambda pool, name: pool.add_user(name, "another password"), 401, "invalid_grant"),
        (lambda pool, name: None, 401, "invalid_grant"),
        (
            lambda pool, name: pool.client.sign_up(ClientId=pool.client_id, Username=name, Password=PASSWORD),
            403,
            "user_not_confirmed",
        ),
        (
            lambda pool, name: pool.client.admin_create_user(
                UserPoolId=pool.pool_id,
                Username=name,
                TemporaryPassword=PASSWORD,
                MessageAction="SUPPRESS",
            ),
            403,
            "new_password_required",
        ),
    ],
    ids=["wrong-password", "unknown-user", "unconfirmed", "new-password"],
)
def test_handler_refusals(
    service: dict[str, Any], handler_pool: Pool, prepare: Any, status: int, error: str
) -> None:
    victor = unique("victor")
    prepare(handler_pool, victor)
    response = post_login(service, victor)
    assert response["statusCode"] == status, response
    assert payload(response)["error"] == error
    if status == 401:
        assert response["headers"]["WWW-Authenticate"] == 'Bearer error="invalid_grant"'


@pytest.mark.parametrize(
    ("code", "http_status", "status", "headers"),
    [
        ("TooManyRequestsException", 400, 429, {"Retry-After": "1"}),
        ("InternalErrorException", 500, 503, {"Retry-After": "1"}),
    ],
)
def test_handler_throttling_and_outage(
    service: dict[str, Any], code: str, http_status: int, status: int, headers: dict[str, str]
) -> None:
    with Stubber(runtime._cognito_client()) as stub:
        stub.add_client_error("initiate_auth", code, "x", http_status)
        response = post_login(service, "alice")
    assert response["statusCode"] == status
    assert headers.items() <= response["headers"].items()


def test_handler_logs_no_password_or_token(
    service: dict[str, Any], handler_pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    alice = unique("alice")
    handler_pool.add_user(alice)
    with caplog.at_level(logging.DEBUG, logger="lambda_jwt_auth"):
        ok = payload(post_login(service, alice))
        post_login(service, alice, "Wrong-" + PASSWORD)
    assert PASSWORD not in caplog.text
    assert ok["access_token"] not in caplog.text and ok["refresh_token"] not in caplog.text


def test_cognito_login_does_not_import_argon2(endpoint: str, rsa_pem: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AUTH_")},
        **support.DUMMY_AWS_ENV,
        **support.service_environment(
            endpoint, Pool(None, "us-east-1_Abc", "app", endpoint=endpoint), rsa_pem
        ),
    }
    code = "import sys, auth_service.handlers.login as l; print('argon2' in sys.modules, l._users is None)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
