"""Cognito for operators and local runs: `auth-service revoke --user` of a pool user, and
`auth-service serve --cognito` (the local pool, its users and groups, RevokeToken for moto).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from auth_service.cli.main import main
from auth_service.cognito import admin as cognito_admin
from auth_service.local.cognito import create_local_user_pool, install_revoke_token
from auth_service.local.serve import ServeOptions, run
from auth_service.local.users_file import SeedUser, UsersFileError, read_users_document
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.cognito import cognito_verifier
from authorizer.tokens.keys import KeySet
from authorizer.tokens.revocation import RevocationList
from tests.conftest import DENYLIST, USERS
from tests.unit import cognito_support as support
from tests.unit.cognito_support import PASSWORD, Pool, create_pool
from tests.unit.local_fixtures import service

TABLES = ["--users-table", USERS, "--denylist-table", DENYLIST]


# --------------------------------------------------------------------------- revoke --user


@pytest.fixture
def pool(dynamodb: Any) -> Pool:
    """A pool on the same mock_aws as the conftest `dynamodb` tables."""
    return create_pool(boto3.client("cognito-idp", region_name="us-east-1"))


def test_revoke_cognito_user(dynamodb: Any, pool: Pool, capsys: pytest.CaptureFixture[str]) -> None:
    sub = pool.add_user("alice")
    cognito_refresh = pool.tokens("alice")["RefreshToken"]
    before = int(time.time())
    assert main(["revoke", "--user", "alice", "--cognito-user-pool-id", pool.pool_id, *TABLES]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["revoked"] == "user" and printed["sub"] == sub
    assert printed["cognito"] == {"user_pool_id": pool.pool_id, "username": "alice", "global_sign_out": True}
    # Our side: the user's "not before", which the authorizer applies to Cognito tokens by sub.
    item = dynamodb.get_item(TableName=DENYLIST, Key={"pk": {"S": f"user#{sub}"}})["Item"]
    assert int(item["not_before"]["N"]) == printed["not_before"] > before
    revocations = RevocationList(dynamodb, DENYLIST, cache_seconds=0)
    earlier = TokenClaims(sub=sub, jti="j", iat=before - 1, exp=before + 600, origin_jti="o")
    assert revocations.lookup(earlier) == "user signed out everywhere"
    # Cognito's side: AdminUserGlobalSignOut, so its refresh tokens stop working.
    with pytest.raises(ClientError, match="NotAuthorized"):
        pool.client.initiate_auth(
            ClientId=pool.client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": cognito_refresh},
        )


def test_revoke_cognito_user_pool_from_the_environment(
    dynamodb: Any, pool: Pool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = pool.add_user("bob")
    monkeypatch.setenv("AUTH_COGNITO_USER_POOL_ID", pool.pool_id)
    assert main(["revoke", "--user", "bob", *TABLES]) == 0
    assert json.loads(capsys.readouterr().out)["sub"] == sub


def test_revoke_sub_leaves_cognito_alone_and_says_so(
    dynamodb: Any, pool: Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = pool.add_user("dora")
    cognito_refresh = pool.tokens("dora")["RefreshToken"]
    assert main(["revoke", "--sub", sub, "--cognito-user-pool-id", pool.pool_id, *TABLES]) == 0
    out, err = capsys.readouterr()
    assert "cognito" not in json.loads(out)
    assert "--sub writes our denylist only" in err and "--user USERNAME" in err
    assert "Item" in dynamodb.get_item(TableName=DENYLIST, Key={"pk": {"S": f"user#{sub}"}})
    # No AdminUserGlobalSignOut: the pool's refresh token still works.
    pool.client.initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": cognito_refresh},
    )


def test_revoke_unknown_cognito_user_is_exit_1_and_revokes_nobody(
    dynamodb: Any, pool: Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["revoke", "--user", "nobody", "--cognito-user-pool-id", pool.pool_id, *TABLES]) == 1
    out, err = capsys.readouterr()
    assert out == "" and f"no user 'nobody' in user pool {pool.pool_id}; nothing was revoked" in err
    assert dynamodb.scan(TableName=DENYLIST)["Count"] == 0


def test_failed_global_sign_out_is_reported_and_exit_1(
    dynamodb: Any, pool: Pool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = pool.add_user("carol")

    def failing(client: Any, user_pool_id: str, username: str) -> None:
        raise cognito_admin.CognitoAdminError(
            "AdminUserGlobalSignOut of 'carol' failed: X", "TooManyRequestsException"
        )

    monkeypatch.setattr(cognito_admin, "global_sign_out", failing)
    assert main(["revoke", "--user", "carol", "--cognito-user-pool-id", pool.pool_id, *TABLES]) == 1
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert printed["sub"] == sub
    assert printed["cognito"]["global_sign_out"] is False
    assert printed["cognito"]["error"] == "TooManyRequestsException"
    assert "our tokens are revoked" in err
    assert "Item" in dynamodb.get_item(TableName=DENYLIST, Key={"pk": {"S": f"user#{sub}"}})


# --------------------------------------------------------------------------- the local pool


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with support.moto_server() as url:
        yield url


def test_local_pool_seeds_users_groups_and_environment(endpoint: str) -> None:
    lines: list[str] = []
    users = [
        SeedUser("alice", PASSWORD, None, ("orders", "admins")),
        SeedUser("bob", PASSWORD, "profile ignored"),
    ]
    pool = create_local_user_pool(endpoint, "us-east-1", users, lines.append)
    assert lines[0] == "  user 'alice' added to the user pool (groups: orders, admins)"
    assert "scope is ignored" in lines[1]
    client = support.aws_client("cognito-idp", endpoint)
    app = client.describe_user_pool_client(UserPoolId=pool.user_pool_id, ClientId=pool.client_id)[
        "UserPoolClient"
    ]
    assert {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"} <= set(app["ExplicitAuthFlows"])
    assert "ClientSecret" not in app
    tokens = client.initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    # The JWKS at the configured URI verifies the pool's tokens, which carry the real issuer.
    with urllib.request.urlopen(pool.jwks_uri, timeout=5) as response:  # noqa: S310 - a loopback URL
        keys = KeySet.from_jwks(json.load(response))
    verifier = cognito_verifier(keys, issuer=pool.issuer, token_use="access", client_ids=[pool.client_id])
    assert set(verifier.verify(tokens["AccessToken"]).groups) == {"orders", "admins"}

    env = pool.environment({"orders": "orders:read"}, "profile")
    assert env["AUTH_IDENTITY_BACKEND"] == "cognito"
    assert env["AUTH_COGNITO_USER_POOL_ID"] == pool.user_pool_id
    assert env["AUTH_COGNITO_ENDPOINT"] == endpoint
    assert env["AUTH_COGNITO_JWKS_URI"] == f"{endpoint}/{pool.user_pool_id}/.well-known/jwks.json"
    assert json.loads(env["AUTH_COGNITO_GROUP_SCOPES"]) == {"orders": "orders:read"}
    assert json.loads(env["AUTH_TRUSTED_ISSUERS"]) == [
        {
            "issuer": f"https://cognito-idp.us-east-1.amazonaws.com/{pool.user_pool_id}",
            "type": "cognito",
            "jwks_uri": pool.jwks_uri,
            "token_use": "access",
            "client_ids": [pool.client_id],
            "group_scopes": {"orders": "orders:read"},
            "default_scope": "profile",
        }
    ]


def test_revoke_token_for_moto(endpoint: str) -> None:
    install_revoke_token()
    client = support.aws_client("cognito-idp", endpoint)
    pool = create_pool(client, endpoint=endpoint)
    pool.add_user("dave")
    refresh = pool.tokens("dave")["RefreshToken"]
    other_client, _ = pool.new_client()
    with pytest.raises(ClientError, match="NotAuthorized"):
        client.revoke_token(Token=refresh, ClientId=other_client)
    client.revoke_token(Token="unknown-token", ClientId=pool.client_id)  # accepted silently
    client.revoke_token(Token=refresh, ClientId=pool.client_id)
    with pytest.raises(ClientError, match="revoked"):
        client.initiate_auth(
            ClientId=pool.client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": refresh}
        )


def test_users_file_groups_and_group_scopes(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(
        json.dumps(
            {
                "users": [{"username": "alice", "password": PASSWORD, "groups": ["admins"]}],
                "group_scopes": {"admins": "admin"},
            }
        )
    )
    document = read_users_document(path)
    assert document.users[0].groups == ("admins",)
    assert document.group_scopes == {"admins": "admin"}
    for bad in (
        {"users": [{"username": "a", "password": "p", "groups": "admins"}]},
        {"users": [], "group_scopes": {"admins": ["admin"]}},
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(UsersFileError):
            read_users_document(path)


def test_serve_with_cognito(tmp_path: Path, rsa_pem: str, capsys: pytest.CaptureFixture[str]) -> None:
    users = tmp_path / "users.json"
    users.write_text(
        json.dumps(
            {
                "users": [{"username": "alice", "password": PASSWORD, "groups": ["admins"]}],
                "group_scopes": {"admins": "admin"},
            }
        )
    )
    key = tmp_path / "key.pem"
    key.write_text(rsa_pem)
    before = dict(os.environ)
    stop, ready = threading.Event(), threading.Event()
    result: list[int] = []
    options = ServeOptions(
        port=0, users_file=users, signing_key_file=key, config=service.write(tmp_path), cognito=True
    )

    def target() -> None:
        result.append(run(options, stop=stop, on_ready=lambda url: ready.set()))
        ready.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        assert ready.wait(60) and not result, result
        out = capsys.readouterr().out
        pool_id = re.search(r"Cognito user pool: (\S+)", out)
        client_id = re.search(r"Cognito app client: (\S+)", out)
        endpoint = re.search(r"Cognito endpoint: (http://\S+)", out)
        assert pool_id and client_id and endpoint, out
        assert "users: 1 seeded in the Cognito user pool" in out
        cognito = support.aws_client("cognito-idp", endpoint.group(1))
        groups = cognito.admin_list_groups_for_user(UserPoolId=pool_id.group(1), Username="alice")["Groups"]
        assert [group["GroupName"] for group in groups] == ["admins"]
    finally:
        stop.set()
        thread.join(timeout=30)
    assert result == [0]
    assert dict(os.environ) == before  # serve put the process environment back
