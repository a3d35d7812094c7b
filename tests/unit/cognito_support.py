"""Shared parts of the Cognito tests: user pools on moto, a moto server for JWKS fetches, handlers.

moto signs every pool's tokens with one key (kid "dummy") and serves it, in server mode, at
`/<pool id>/.well-known/jwks.json`; its tokens carry the real Cognito `iss`. `mock_aws` does not
intercept urllib, so whatever fetches a JWKS runs against a `ThreadedMotoServer` on 127.0.0.1.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
import pytest

import auth_service.handlers as handlers_package
from auth_service import runtime
from auth_service.tables import create_tables
from authorizer.tokens.cognito import cognito_issuer

REGION = "us-east-1"
ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
DENYLIST = "test-denylist"
USERS = "test-users"
PASSWORD = "Pw-" + secrets.token_urlsafe(12) + "1!"
GROUP_SCOPES = {"orders": "orders:read orders:write", "admins": "admin"}


DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 and a free port, with dummy credentials; yields its endpoint URL.

    For module-scoped fixtures: the autouse `_no_real_aws` of conftest is function-scoped.
    """
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name, value in DUMMY_AWS_ENV.items():
                mp.setenv(name, value)
            mp.delenv("AWS_PROFILE", raising=False)
            yield f"http://{host}:{port}"
    finally:
        server.stop()


def aws_client(service: str, endpoint: str | None = None) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


@dataclass
class Pool:
    client: Any
    pool_id: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    endpoint: str | None = None

    @property
    def issuer(self) -> str:
        return cognito_issuer(REGION, self.pool_id)

    @property
    def jwks_uri(self) -> str:
        assert self.endpoint is not None, "only a moto server serves the JWKS"
        return f"{self.endpoint}/{self.pool_id}/.well-known/jwks.json"

    def add_user(self, username: str, password: str = PASSWORD, groups: Sequence[str] = ()) -> str:
        """A confirmed user with a permanent password, in `groups`; returns its sub."""
        self.client.admin_create_user(UserPoolId=self.pool_id, Username=username, MessageAction="SUPPRESS")
        self.client.admin_set_user_password(
            UserPoolId=self.pool_id, Username=username, Password=password, Permanent=True
        )
        for group in groups:
            with suppress(self.client.exceptions.GroupExistsException):
                self.client.create_group(UserPoolId=self.pool_id, GroupName=group)
            self.client.admin_add_user_to_group(UserPoolId=self.pool_id, Username=username, GroupName=group)
        return sub_of(self, username)

    def tokens(self, username: str, password: str = PASSWORD, client_id: str | None = None) -> dict[str, Any]:
        """The pool's AuthenticationResult for a password login (as a client app would get it)."""
        result: dict[str, Any] = self.client.initiate_auth(
            ClientId=client_id or self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )["AuthenticationResult"]
        return result

    def new_client(self, *, secret: bool = False) -> tuple[str, str | None]:
        app = self.client.create_user_pool_client(
            UserPoolId=self.pool_id,
            ClientName=f"client-{secrets.token_hex(3)}",
            GenerateSecret=secret,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]
        return app["ClientId"], app.get("ClientSecret")


def create_pool(client: Any, *, secret: bool = False, endpoint: str | None = None) -> Pool:
    pool_id = client.create_user_pool(
        PoolName=f"pool-{secrets.token_hex(3)}",
        Policies={
            "PasswordPolicy": {
                "MinimumLength": 8,
                "RequireUppercase": False,
                "RequireLowercase": False,
                "RequireNumbers": False,
                "RequireSymbols": False,
            }
        },
    )["UserPool"]["Id"]
    pool = Pool(client, pool_id, "", endpoint=endpoint)
    pool.client_id, pool.client_secret = pool.new_client(secret=secret)
    return pool


def sub_of(pool: Pool, username: str) -> str:
    attributes = pool.client.admin_get_user(UserPoolId=pool.pool_id, Username=username)["UserAttributes"]
    return str(next(a["Value"] for a in attributes if a["Name"] == "sub"))


# --------------------------------------------------------------------------- handlers on moto server

HANDLER_NAMES = ("login", "token", "refresh", "logout", "revoke", "introspect")
MODULES = tuple(f"auth_service.handlers.{name}" for name in HANDLER_NAMES)


def clear_runtime() -> None:
    for value in vars(runtime).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


def service_environment(endpoint: str, pool: Pool, pem: str, **extra: str) -> dict[str, str]:
    """A deployed issuing function configured for `pool`, everything on the moto server."""
    return {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AUTH_USERS_TABLE": USERS,
        "AUTH_SIGNING_KEY": pem,
        "AUTH_DYNAMODB_ENDPOINT": endpoint,
        "AUTH_IDENTITY_BACKEND": "cognito",
        "AUTH_COGNITO_USER_POOL_ID": pool.pool_id,
        "AUTH_COGNITO_CLIENT_ID": pool.client_id,
        "AUTH_COGNITO_ENDPOINT": endpoint,
        "AUTH_COGNITO_JWKS_URI": pool.jwks_uri,
        "AUTH_COGNITO_GROUP_SCOPES": json.dumps(GROUP_SCOPES),
        **({"AUTH_COGNITO_CLIENT_SECRET": pool.client_secret} if pool.client_secret else {}),
        **extra,
    }


def prepare_tables(endpoint: str) -> Any:
    client = aws_client("dynamodb", endpoint)
    if DENYLIST not in client.list_tables()["TableNames"]:
        create_tables(client, denylist=DENYLIST, users=USERS)
    return client


def empty_denylist(client: Any) -> None:
    for found in client.scan(TableName=DENYLIST, ProjectionExpression="pk")["Items"]:
        client.delete_item(TableName=DENYLIST, Key={"pk": found["pk"]})


@contextmanager
def handlers(env: dict[str, str]) -> Iterator[dict[str, ModuleType]]:
    """Cold-start the handler modules with `env` (and nothing else of AUTH_*); undone afterwards."""
    saved = {name: sys.modules.pop(name) for name in MODULES if name in sys.modules}
    with pytest.MonkeyPatch.context() as mp:
        for name in [name for name in os.environ if name.startswith("AUTH_")]:
            mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        clear_runtime()
        try:
            yield {
                name: importlib.import_module(full) for name, full in zip(HANDLER_NAMES, MODULES, strict=True)
            }
        finally:
            clear_runtime()
            for full in MODULES:
                sys.modules.pop(full, None)
                attribute = full.rsplit(".", 1)[1]
                if full in saved:
                    setattr(handlers_package, attribute, saved[full])
                elif hasattr(handlers_package, attribute):
                    delattr(handlers_package, attribute)
            sys.modules.update(saved)


# --------------------------------------------------------------------------- the authorizer on moto server


def our_authorizer(endpoint: str, jwks: dict[str, Any]) -> Any:
    """The real authorizer for our own tokens, reading the denylist on `endpoint`. It caches no
    answer: each check reads the denylist as it is now."""
    from authorizer.gateway.bootstrap import build_authorizer
    from authorizer.gateway.config import AuthorizerConfig

    config = AuthorizerConfig.from_env(
        {
            "AUTH_ISSUER": ISSUER,
            "AUTH_AUDIENCE": AUDIENCE,
            "AUTH_JWKS": json.dumps(jwks),
            "AUTH_DENYLIST_TABLE": DENYLIST,
            "AUTH_DYNAMODB_ENDPOINT": endpoint,
            "AUTH_REVOCATION_CACHE_SECONDS": "0",
            "AWS_REGION": REGION,
        }
    )
    return build_authorizer(config)


def authorizes(authorizer: Any, token: str) -> bool:
    """Whether the authorizer lets `token` through to an API route (an HTTP API 2.0 request)."""
    event = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-east-1:123456789012:api1/$default/GET/orders",
        "routeKey": "GET /orders",
        "rawPath": "/orders",
        "headers": {"authorization": f"Bearer {token}"},
        "requestContext": {"http": {"method": "GET", "path": "/orders"}},
    }
    return bool(authorizer.handle(event)["isAuthorized"])


@contextmanager
def signing_out_as_the_session_starts(denylist: Any, sub: str) -> Iterator[list[bool]]:
    """While inside, the functions' first read of `sub`'s denylist item (the one a session's
    start makes, once the credentials have been checked) comes right after `sub` is signed out
    everywhere (`denylist.revoke_user`): a sign-out landing while a sign-in is in flight. Yields
    a list that holds True once it happened.

    A botocore hook on the functions' own DynamoDB client (`runtime.dynamodb()`): nothing of ours
    is patched.
    """
    done: list[bool] = []

    def sign_out_first(params: dict[str, Any], **_: Any) -> None:
        if not done and params.get("Key", {}).get("pk", {}).get("S") == f"user#{sub}":
            denylist.revoke_user(sub, "operator")
            done.append(True)

    events = runtime.dynamodb().meta.events
    events.register("provide-client-params.dynamodb.GetItem", sign_out_first)
    try:
        yield done
    finally:
        events.unregister("provide-client-params.dynamodb.GetItem", sign_out_first)
