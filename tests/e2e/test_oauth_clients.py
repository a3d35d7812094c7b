"""OAuth client libraries against `auth-service serve`, each through its own public methods only.

Authlib's `OAuth2Session` (client_credentials with client_secret_basic and client_secret_post,
`refresh_token()`, `revoke_token()`, `introspect_token()`, RFC 8414 / OpenID Connect metadata
validation) and requests-oauthlib's `OAuth2Session` with `BackendApplicationClient` and its
`refresh_token()`. No adapter sits between a library and the service: what a new user's client
does is what runs here. Then what the tokens they get do at the API (route scopes, revocation).
One client outside Python too: node's openid-client (npm, `npm ci` installs it), driven by
tests/e2e/node/oauth_client.mjs; CI sets REQUIRE_OPENID_CLIENT=1 so it cannot pass by skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session as RequestsOAuthSession

from tests.e2e.conftest import ROOT, cli
from tests.e2e.serve_process import ServeProcess, running_serve

pytestmark = pytest.mark.e2e

WORKER = {
    "client_id": "orders-worker",
    "client_secret": "orders-worker-secret-0123",
    "scope": "orders:read orders:write",
}
# A resource server that introspects tokens: a client granted the introspection scope.
GATEKEEPER = {"client_id": "gatekeeper", "client_secret": "gatekeeper-secret-456789", "scope": "introspect"}
# A user whose profile scope lets /me (route scope "profile") through.
ALICE = {"username": "alice", "password": "correct horse battery", "scope": "profile"}


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    users_file: Path = tmp_path_factory.mktemp("oauth") / "users.json"
    users_file.write_text(json.dumps({"users": [ALICE], "clients": [WORKER, GATEKEEPER]}))
    with running_serve(["--users", str(users_file)], {}) as process:
        yield process


@pytest.fixture(scope="module")
def metadata(serve: ServeProcess) -> dict[str, Any]:
    document: dict[str, Any] = requests.get(
        f"{serve.url}/.well-known/oauth-authorization-server", timeout=10
    ).json()
    return document


def user_tokens(serve: ServeProcess) -> dict[str, Any]:
    response = requests.post(
        f"{serve.url}/auth/login",
        json={"username": ALICE["username"], "password": ALICE["password"]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def get_me(serve: ServeProcess, access_token: str) -> requests.Response:
    return requests.get(f"{serve.url}/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=10)


def authlib_client(client: dict[str, str], method: str, **kwargs: Any) -> AuthlibSession:
    return AuthlibSession(
        client["client_id"], client["client_secret"], token_endpoint_auth_method=method, **kwargs
    )


# --- metadata --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]
)
def test_both_metadata_documents_pass_authlibs_validation(serve: ServeProcess, path: str) -> None:
    document = requests.get(f"{serve.url}{path}", timeout=10).json()
    AuthorizationServerMetadata(document).validate()
    OpenIDProviderMetadata(document).validate()
    assert document["token_endpoint"] == f"{serve.url}/auth/token"
    assert document["grant_types_supported"] == ["refresh_token", "client_credentials"]
    assert "password" not in document["grant_types_supported"]  # RFC 9700: never the password grant
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    }


def test_nothing_advertised_is_missing(serve: ServeProcess, metadata: dict[str, Any]) -> None:
    """Every endpoint the metadata names answers (none of them is a 404)."""
    for name, url in metadata.items():
        if name.endswith("_endpoint") or name == "jwks_uri":
            method = "GET" if name in ("jwks_uri", "userinfo_endpoint") else "POST"
            assert requests.request(method, url, timeout=10).status_code != 404, name


# --- Authlib: client credentials ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_client_credentials(serve: ServeProcess, metadata: dict[str, Any], method: str) -> None:
    session = authlib_client(WORKER, method, scope="orders:read")
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert token["token_type"] == "Bearer" and token["scope"] == "orders:read"
    assert "refresh_token" not in token  # RFC 6749 §4.4.3
    # The authorizer's route scopes apply to machine tokens as to users': /me needs "profile".
    refused = get_me(serve, token["access_token"])
    assert refused.status_code == 403


def test_authlib_wrong_secret_and_unknown_client_get_the_same_answer(
    serve: ServeProcess, metadata: dict[str, Any]
) -> None:
    answers = []
    for client in (
        {**WORKER, "client_secret": "not-the-secret-at-all-000"},
        {**WORKER, "client_id": "nobody-registered-this"},
    ):
        response = requests.post(
            metadata["token_endpoint"],
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
            timeout=10,
        )
        answers.append((response.status_code, response.headers.get("WWW-Authenticate"), response.json()))
        with pytest.raises(Exception, match="invalid_client"):
            authlib_client(client, "client_secret_basic").fetch_token(
                metadata["token_endpoint"], grant_type="client_credentials"
            )
    assert answers[0] == answers[1]
    assert answers[0][0] == 401 and answers[0][1] and answers[0][1].startswith("Basic")


def test_authlib_asks_for_a_scope_the_client_lacks(metadata: dict[str, Any]) -> None:
    session = authlib_client(WORKER, "client_secret_basic", scope="orders:read admin")
    with pytest.raises(Exception, match="invalid_scope"):
        session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")


def test_authlib_private_key_jwt(serve: ServeProcess, metadata: dict[str, Any], tmp_path: Path) -> None:
    """A client registered with its public keys (`clients add --jwks`, as an operator does)
    authenticates with an assertion Authlib signs (RFC 7523); a replayed assertion is refused."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk["kid"] = "signer-1"
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    added = cli(
        "clients", "add", "signing job", "--scope", "orders:read", "--jwks", str(tmp_path / "jwks.json"),
        "--dynamodb-endpoint", dynamodb_endpoint(serve),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    registered = json.loads(added.stdout)
    assert "client_secret" not in registered
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    session = AuthlibSession(registered["client_id"], pem, token_endpoint_auth_method="private_key_jwt")
    session.register_client_auth_method(
        PrivateKeyJWT(metadata["token_endpoint"], headers={"kid": "signer-1"})
    )
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert token["scope"] == "orders:read" and "refresh_token" not in token
    # The same assertion twice: a replay.
    assertion = private_key_jwt_sign(pem, registered["client_id"], metadata["token_endpoint"])
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    assert requests.post(metadata["token_endpoint"], data=form, timeout=10).status_code == 200
    replayed = requests.post(metadata["token_endpoint"], data=form, timeout=10)
    assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_client"


# --- Authlib: a user's refresh, introspection and revocation ---------------------------------------


def test_authlib_refreshes_a_users_session(serve: ServeProcess, metadata: dict[str, Any]) -> None:
    tokens = user_tokens(serve)
    session = AuthlibSession("lambda-jwt-auth", token=tokens, token_endpoint_auth_method="none")
    refreshed = session.refresh_token(metadata["token_endpoint"])
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert get_me(serve, refreshed["access_token"]).status_code == 200
    # The old refresh token was retired: presenting it again is reuse, and ends the session.
    reused = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        timeout=10,
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert reused.headers["Cache-Control"] == "no-store"


def test_authlib_introspects_as_a_client(serve: ServeProcess, metadata: dict[str, Any]) -> None:
    tokens = user_tokens(serve)
    gatekeeper = authlib_client(GATEKEEPER, "client_secret_basic")
    result = gatekeeper.introspect_token(metadata["introspection_endpoint"], token=tokens["access_token"])
    assert result.status_code == 200
    body = result.json()
    assert body["active"] is True and body["token_type"] == "Bearer" and body["scope"] == "profile"
    # A client without the introspection scope is refused, and told why (RFC 6750 §3.1).
    worker = authlib_client(WORKER, "client_secret_basic")
    refused = worker.introspect_token(metadata["introspection_endpoint"], token=tokens["access_token"])
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]


def test_authlib_revokes_a_refresh_token(serve: ServeProcess, metadata: dict[str, Any]) -> None:
    tokens = user_tokens(serve)
    session = AuthlibSession("lambda-jwt-auth", token=tokens, token_endpoint_auth_method="none")
    response = session.revoke_token(
        metadata["revocation_endpoint"], token=tokens["refresh_token"], token_type_hint="refresh_token"
    )
    assert response.status_code == 200
    refused = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        timeout=10,
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    # RFC 7009 §2.1: revoking the refresh token ends the access tokens of its grant too.
    deadline = time.monotonic() + 10
    while get_me(serve, tokens["access_token"]).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert get_me(serve, tokens["access_token"]).status_code == 403


# --- requests-oauthlib -------------------------------------------------------------------------------


@pytest.fixture
def local_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """oauthlib refuses plain http unless told, as its documentation says for local servers
    (serve listens on http://127.0.0.1; a deployed issuer is https)."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.mark.usefixtures("local_http")
def test_requests_oauthlib_backend_application_client(serve: ServeProcess, metadata: dict[str, Any]) -> None:
    session = RequestsOAuthSession(client=BackendApplicationClient(client_id=WORKER["client_id"]))
    token = session.fetch_token(
        token_url=metadata["token_endpoint"],
        client_id=WORKER["client_id"],
        client_secret=WORKER["client_secret"],
    )
    assert token["token_type"] == "Bearer"
    assert set(token["scope"]) == {"orders:read", "orders:write"}  # all of the client's, unasked
    assert get_me(serve, token["access_token"]).status_code == 403  # no "profile" scope


@pytest.mark.usefixtures("local_http")
def test_requests_oauthlib_refreshes_a_users_session(serve: ServeProcess, metadata: dict[str, Any]) -> None:
    tokens = user_tokens(serve)
    session = RequestsOAuthSession(client_id="lambda-jwt-auth", token=tokens)
    refreshed = session.refresh_token(metadata["token_endpoint"], client_id="lambda-jwt-auth")
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert get_me(serve, refreshed["access_token"]).status_code == 200


# --- operators ---------------------------------------------------------------------------------------


def test_revoke_client_ends_its_tokens_within_the_bound(
    serve: ServeProcess, metadata: dict[str, Any]
) -> None:
    """`auth-service revoke --client` refuses every token the client holds (the authorizer's
    revocation cache bounds the delay: 5 s by default), and a new authentication works at once."""
    gatekeeper = authlib_client(GATEKEEPER, "client_secret_post")
    token = gatekeeper.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    worker = authlib_client(WORKER, "client_secret_basic")
    checked = worker.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")

    def active(access_token: str) -> bool:
        result = requests.post(
            metadata["introspection_endpoint"],
            data={"token": access_token},
            auth=(GATEKEEPER["client_id"], GATEKEEPER["client_secret"]),
            timeout=10,
        )
        assert result.status_code == 200, result.text
        return bool(result.json()["active"])

    assert active(checked["access_token"])
    revoked = cli("revoke", "--client", WORKER["client_id"], "--dynamodb-endpoint", dynamodb_endpoint(serve))
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout)["revoked"] == "client"
    assert not active(checked["access_token"])  # introspection reads the denylist fresh
    again = worker.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert active(again["access_token"])
    assert token["access_token"]  # another client's tokens are untouched
    assert active(token["access_token"])
    unknown = cli("revoke", "--client", "no-such-client", "--dynamodb-endpoint", dynamodb_endpoint(serve))
    assert unknown.returncode == 2 and "no client" in unknown.stderr


def dynamodb_endpoint(serve: ServeProcess) -> str:
    for line in serve.output:
        if "DynamoDB: " in line:
            return line.split("DynamoDB: ", 1)[1].split()[0]
    raise AssertionError("serve printed no DynamoDB endpoint")


# --- node's openid-client ------------------------------------------------------------------------


def test_node_openid_client(serve: ServeProcess) -> None:
    node = shutil.which("node")
    installed = (ROOT / "node_modules" / "openid-client" / "package.json").exists()
    if node is None or not installed:
        if os.environ.get("REQUIRE_OPENID_CLIENT") == "1":
            pytest.fail("node's openid-client is required here: install Node.js and run `npm ci`")
        pytest.skip("node's openid-client is not installed (`npm ci`)")
    tokens = user_tokens(serve)
    script = ROOT / "tests" / "e2e" / "node" / "oauth_client.mjs"
    arguments = [serve.url, WORKER["client_id"], WORKER["client_secret"]]
    arguments += [GATEKEEPER["client_id"], GATEKEEPER["client_secret"], tokens["refresh_token"]]
    run = subprocess.run(
        [node, str(script), *arguments], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert "error" not in report, report["error"]
    assert report["discovered"] == {"issuer": serve.url, "token_endpoint": f"{serve.url}/auth/token"}
    machine = report["client_credentials"]
    assert machine["token_type"].lower() == "bearer" and machine["scope"] == "orders:read"
    assert machine["has_refresh_token"] is False
    assert get_me(serve, machine["access_token"]).status_code == 403  # no "profile": route scopes hold
    assert report["introspection_without_scope"] == "insufficient_scope"  # read from our challenge
    assert report["introspection"] == {"active": True, "sub": WORKER["client_id"], "token_type": "Bearer"}
    assert report["refresh"]["rotated"] is True
    assert report["revoked"] is True and report["after_revocation"] == "invalid_grant"
