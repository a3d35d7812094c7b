"""One deployed service for the fuzzers: every Lambda handler, cold-started on moto, and real tokens.

`deployed()` starts `mock_aws`, creates the tables, two users and a Cognito user pool (moto signs
its tokens; a small local HTTP server serves moto's public key as the pool's JWKS, since
`mock_aws` does not intercept urllib), imports every handler module afresh with the deployed
environment, and mints valid tokens: ours (access, refresh, an introspecting caller's) and the
pool's (ID and access). The fuzzers mutate those tokens and make their own (tests/fuzz/
contract_cases.py); what is right for each is the contract model's verdict, configured as the
world is (`World.targets`).

Everything it changes (environment, imported modules, `auth_service.runtime` caches) is put back
on exit, so the fuzz tests can run in one process with the rest of the suite.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import os
import secrets
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto import mock_aws
from moto.server import ThreadedMotoServer

import auth_service.handlers  # noqa: F401 - the parent package of the handler modules
import authorizer.aws.dynamodb
from auth_service import runtime
from auth_service.denylist import Denylist
from auth_service.keys import generate_private_key_pem, load_key_ring
from auth_service.tables import create_tables
from auth_service.users import UserTable
from tests.fuzz import contract

REGION = "us-east-1"
ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
DENYLIST = "fuzz-denylist"
USERS = "fuzz-users"
PASSWORD = "Pw-" + secrets.token_urlsafe(12) + "1!"
ROUTE_SCOPES = {
    "GET /me": ["profile"],
    "POST /orders": ["orders:write"],
    "ANY /admin/{proxy+}": ["admin"],
    "DELETE /orders/{id}": ["orders:write", "orders:audit"],  # both needed: all of, not any of
}
CLIENT_ID = "fuzz-app"  # AUTH_CLIENT_ID: the `client_id` of our tokens
POOL_DEFAULT_SCOPE = "profile"  # the trusted pool's `default_scope`
LEEWAY = 30  # AUTH_LEEWAY_SECONDS
HANDLER_MODULES = ("login", "refresh", "logout", "revoke", "introspect", "token", "wellknown", "me")
AUTHORIZER_MODULE = "authorizer.handler"
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}

LambdaHandler = Callable[[Any, Any], Any]


@dataclass
class World:
    # serverless.yml function name -> its Lambda handler
    # (Hypothesis prints a failing test's arguments: none of these fields, only __repr__.)
    http: dict[str, LambdaHandler] = field(repr=False)
    # "simple": HTTP API simple responses; "policy": IAM policies for every format
    authorizers: dict[str, LambdaHandler] = field(repr=False)
    # kind -> a valid token: access, refresh, introspector, cognito_id, cognito_access
    tokens: dict[str, str] = field(repr=False)
    # Signs any header and claims with our real signing key (RS256): near-valid tokens that pass
    # the signature check (the contract model judges what they are worth).
    private_key: Any = field(default=None, repr=False)
    password: str = field(default=PASSWORD, repr=False)  # of alice, admin (our table), carol (the pool)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    # What the deployment's configuration says, for the contract model (tests/fuzz/contract.py):
    # "authorizer" (our issuer and the pool, routed by `iss`), "access" and "refresh" (the issuing
    # endpoints' verifiers of our access and refresh tokens).
    targets: dict[str, contract.Target] = field(default_factory=dict, repr=False)
    # kind -> a private key signing as the issuer: "ours" (our key), "pool" (the pool's, which is
    # moto's published test key), "attacker" (trusted by nobody); `kids` their `kid`s.
    signers: dict[str, Any] = field(default_factory=dict, repr=False)
    kids: dict[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:  # Hypothesis prints the test's arguments on failure: keep it short
        return f"World(tokens={sorted(self.tokens)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis's printer, likewise
        printer.text(repr(self))

    @property
    def valid_tokens(self) -> tuple[str, ...]:
        return tuple(self.tokens.values())

    def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        signing_input = f"{_segment(header)}.{_segment(claims)}"
        signature = self.private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode('ascii')}"
        return token

    def reset(self) -> None:
        """Empty the denylist: every example starts from the same state (its tokens unrevoked,
        no login counters), so a failure Hypothesis finds replays the same way."""
        client = self.extra["dynamodb"]
        for page in client.get_paginator("scan").paginate(TableName=DENYLIST, ProjectionExpression="pk"):
            for item in page["Items"]:
                client.delete_item(TableName=DENYLIST, Key={"pk": item["pk"]})

    @property
    def denylist(self) -> Denylist:
        """The denylist, written as the issuing side writes it (revocations for the contract fuzz)."""
        return Denylist(self.extra["dynamodb"], DENYLIST, max_token_lifetime=2_592_000, leeway=LEEWAY)


def _segment(value: Any) -> str:
    data = json.dumps(value).encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _moto_private_key() -> rsa.RSAPrivateKey:
    """The private half of moto's Cognito JWKS (a test key moto publishes): to sign pool-shaped
    tokens the authorizer must judge as the pool's."""
    from moto.utilities.utils import load_resource

    jwk = load_resource("cognitoidp/resources/jwks-private.json")
    n, e, d = (contract.jwk_int(jwk[member]) for member in "ned")
    p, q = rsa.rsa_recover_prime_factors(n, e, d)
    numbers = rsa.RSAPrivateNumbers(
        p,
        q,
        d,
        rsa.rsa_crt_dmp1(d, p),
        rsa.rsa_crt_dmq1(d, q),
        rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, n),
    )
    return numbers.private_key()


def _targets(own_jwks: dict[str, Any], pool_issuer: str, pool_client: str) -> dict[str, contract.Target]:
    ours = contract.Issuer(
        ISSUER, contract.keys_from_jwks(own_jwks), frozenset({AUDIENCE}), requires_auth_time=True
    )
    pool = contract.Issuer(
        pool_issuer,
        contract.keys_from_jwks(json.loads(_moto_public_jwks())),
        frozenset({pool_client}),
        audience_claim="client_id",
        typ=None,
        token_use="access",
        algorithms=frozenset({"RS256"}),
        default_scope=POOL_DEFAULT_SCOPE,
    )
    refresh = dataclasses.replace(ours, audiences=frozenset({ISSUER}), typ="rt+jwt", token_use="refresh")
    return {
        "authorizer": contract.Target("authorizer", (ours, pool), routed=True, leeway=LEEWAY),
        "access": contract.Target("access", (ours,), routed=False, leeway=LEEWAY),
        "refresh": contract.Target("refresh", (refresh,), routed=False, leeway=LEEWAY),
    }


def _moto_public_jwks() -> bytes:
    from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

    document: str | bytes = CognitoIdpJsonWebKeyResponse.json_web_key
    return document if isinstance(document, bytes) else document.encode("utf-8")


@contextmanager
def _jwks_server(document: bytes) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def authorizer_dynamodb_on_moto() -> Iterator[None]:
    """Point the authorizer's DynamoDB client at a moto server sharing `mock_aws`'s data.

    The authorizer speaks HTTP to DynamoDB itself, which `mock_aws` does not intercept
    (tests/conftest.py does the same for the suite; scripts/fuzz_long.py and the catalogue
    summary have no conftest, and without this every denylist read failed closed)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(authorizer.aws.dynamodb, "endpoint_for", lambda region: f"http://{host}:{port}/")
            yield
    finally:
        server.stop()


def _clear_runtime() -> None:
    for value in vars(runtime).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


def _cognito_pool(client: Any) -> tuple[str, str, dict[str, str]]:
    pool_id = client.create_user_pool(
        PoolName="fuzz",
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
    client_id = client.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="fuzz",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    client.admin_create_user(UserPoolId=pool_id, Username="carol", MessageAction="SUPPRESS")
    client.admin_set_user_password(UserPoolId=pool_id, Username="carol", Password=PASSWORD, Permanent=True)
    result = client.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "carol", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    return pool_id, client_id, {"cognito_id": result["IdToken"], "cognito_access": result["AccessToken"]}


def _fresh_import(names: tuple[str, ...]) -> dict[str, ModuleType]:
    modules = {}
    for name in names:
        sys.modules.pop(name, None)
        modules[name] = importlib.import_module(name)
    return modules


def _login(handler: LambdaHandler, username: str) -> dict[str, Any]:
    body = json.dumps({"username": username, "password": PASSWORD})
    event = {
        "version": "2.0",
        "routeKey": "POST /auth/login",
        "rawPath": "/auth/login",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/auth/login", "sourceIp": "192.0.2.1"}},
        "body": body,
        "isBase64Encoded": False,
    }
    response = handler(event, None)
    assert response["statusCode"] == 200, response
    result: dict[str, Any] = json.loads(response["body"])
    return result


@contextmanager
def deployed() -> Iterator[World]:
    full_names = (*(f"auth_service.handlers.{name}" for name in HANDLER_MODULES), AUTHORIZER_MODULE)
    saved = {name: sys.modules.pop(name) for name in full_names if name in sys.modules}
    pem = generate_private_key_pem("RS256")
    ring = load_key_ring(pem)
    with (
        pytest.MonkeyPatch.context() as mp,
        mock_aws(),
        _jwks_server(_moto_public_jwks()) as jwks_uri,
        authorizer_dynamodb_on_moto(),
    ):
        for name in [name for name in os.environ if name.startswith("AUTH_")] + ["AWS_PROFILE"]:
            mp.delenv(name, raising=False)
        for name, value in DUMMY_AWS.items():
            mp.setenv(name, value)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_tables(dynamodb, denylist=DENYLIST, users=USERS)
        users = UserTable(dynamodb, USERS)
        users.add("alice", PASSWORD, "profile orders:read orders:write")
        users.add("admin", PASSWORD, "profile introspect admin")
        pool_id, client_id, cognito_tokens = _cognito_pool(boto3.client("cognito-idp", region_name=REGION))
        pool_issuer = f"https://cognito-idp.{REGION}.amazonaws.com/{pool_id}"
        env = {
            "AUTH_ISSUER": ISSUER,
            "AUTH_AUDIENCE": AUDIENCE,
            "AUTH_DENYLIST_TABLE": DENYLIST,
            "AUTH_USERS_TABLE": USERS,
            "AUTH_SIGNING_KEY": pem,
            "AUTH_CLIENT_ID": CLIENT_ID,
            "AUTH_LEEWAY_SECONDS": str(LEEWAY),
            "AUTH_COGNITO_USER_POOL_ID": pool_id,
            "AUTH_COGNITO_CLIENT_ID": client_id,
            "AUTH_COGNITO_JWKS_URI": jwks_uri,
            "AUTH_COGNITO_GROUP_SCOPES": json.dumps({"orders": "orders:read"}),
            # The authorizer's own settings.
            "AUTH_JWKS": json.dumps(ring.jwks()),
            "AUTH_ROUTE_SCOPES": json.dumps(ROUTE_SCOPES),
            "AUTH_REVOCATION_CACHE_SECONDS": "0",
            "AUTH_TRUSTED_ISSUERS": json.dumps(
                [
                    {
                        "issuer": pool_issuer,
                        "type": "cognito",
                        "client_ids": [client_id],
                        "token_use": "access",
                        "jwks_uri": jwks_uri,
                        "default_scope": POOL_DEFAULT_SCOPE,
                    }
                ]
            ),
        }
        for name, value in env.items():
            mp.setenv(name, value)
        _clear_runtime()
        try:
            modules = _fresh_import(full_names)
            simple = modules.pop(AUTHORIZER_MODULE)
            mp.setenv("AUTH_HTTP_API_SIMPLE_RESPONSES", "false")
            policy = _fresh_import((AUTHORIZER_MODULE,))[AUTHORIZER_MODULE]
            handlers = {name.rsplit(".", 1)[1]: module for name, module in modules.items()}
            http: dict[str, LambdaHandler] = {
                name: module.handler for name, module in handlers.items() if name != "wellknown"
            }
            http["jwks"] = handlers["wellknown"].jwks
            http["discovery"] = handlers["wellknown"].discovery
            alice = _login(http["login"], "alice")
            admin = _login(http["login"], "admin")
            tokens = {
                "access": alice["access_token"],
                "refresh": alice["refresh_token"],
                "introspector": admin["access_token"],
                **cognito_tokens,
            }
            attacker = load_key_ring(generate_private_key_pem("RS256")).current
            yield World(
                http=http,
                authorizers={"simple": simple.handler, "policy": policy.handler},
                tokens=tokens,
                private_key=ring.current.private_key,
                extra={"dynamodb": dynamodb, "pool_issuer": pool_issuer, "pool_client": client_id},
                targets=_targets(ring.jwks(), pool_issuer, client_id),
                signers={
                    "ours": ring.current.private_key,
                    "pool": _moto_private_key(),
                    "attacker": attacker.private_key,
                },
                kids={"ours": ring.current.kid, "pool": "dummy", "attacker": attacker.kid},
            )
        finally:
            _clear_runtime()
            for name in full_names:  # later importers get a cold start of their own
                sys.modules.pop(name, None)
                parent_name, _, attribute = name.rpartition(".")
                parent = sys.modules[parent_name]
                if name in saved:
                    setattr(parent, attribute, saved[name])
                elif hasattr(parent, attribute):
                    delattr(parent, attribute)
            sys.modules.update(saved)
