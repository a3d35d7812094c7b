"""Every setting we accept changes what a request gets: one test per setting, and a guard.

Each effect test sends the same request with the setting at its default and at another value
(two values where the default is real AWS, which tests never call) and shows the answer change:
a token allowed or refused, a header or cookie attribute, a claim of an issued token, a throttle
reached at N or M. Everything is built from configuration as the Lambdas build it: the authorizer
by `build_authorizer(AuthorizerConfig.from_env(env))`, the issuing functions by a cold start of
their handler modules, on moto.

The guard (the `test_every_...` tests near the end) finds the settings in the code itself:

* environment variables: every string constant of `authorizer/` and `auth_service/` that names
  one (AUTH_*, AWS_*), and every name the configuration readers ask for while reading full
  configurations of both sides;
* the keys of an `AUTH_TRUSTED_ISSUERS` entry, per `type` (`authorizer.tokens.issuers.keys_for`);
* the deploy parameters of serverless.yml;
* the options of `auth-service serve`.

Each must have an entry in the tables at the end of this module, naming the tests that show its
effect (here or elsewhere), or, for the few names we set but never read, why. A new setting
fails the guard until it has one; so does a deploy parameter that sets a variable none of the
functions it reaches reads.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import http.client
import importlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock
from urllib.parse import urlencode, urlsplit

import boto3
import jwt
import pytest
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from moto.cognitoidp.utils import check_secret_hash

import authorizer.aws.ssm
from auth_service.cli.main import _parser as cli_parser
from auth_service.cognito.token_exchange import ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
from auth_service.config import ServiceConfig
from auth_service.denylist import Denylist
from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from auth_service.local.serve import ServeOptions, run
from auth_service.local.service_definition import load_service_definition
from auth_service.login_throttle import LoginThrottle
from auth_service.tables import create_tables
from auth_service.tokens import TokenIssuer
from auth_service.users import UserTable
from authorizer.aws.credentials import from_environment
from authorizer.errors import ConfigurationError
from authorizer.gateway.authorization import Authorizer
from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig
from authorizer.gateway.cookies import CookieNames, csrf_hash
from authorizer.tokens import issuers
from authorizer.tokens.cognito import cognito_issuer
from authorizer.tokens.jwks_cache import JwksCache
from authorizer.tokens.keys import VerificationKey
from tests.conftest import AUDIENCE, DENYLIST, ISSUER, USERS
from tests.unit import cognito_support
from tests.unit import test_authorizer_aws_client as aws_client_tests
from tests.unit.dynamodb_endpoint import closed_port, faulty_dynamodb
from tests.unit.local_fixtures import service as fixture_service
from tests.unit.test_authorizer_aws_client import LocalServer, send
from tests.unit.test_authorizer_issuers import CLIENT, POOL, cognito_token
from tests.unit.test_jwks_cache import JwksServer
from tests.unit.test_local_serve import start_serve
from tests.unit.test_service_handlers import http_event as service_event
from tests.unit.test_service_handlers import payload

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
PASSWORD = "settings-" + uuid.uuid4().hex
APP = "https://app.example.test"
PARTNER = "https://login.partner.example.test"
FORM = "application/x-www-form-urlencoded"


# =========================================================================== the authorizer


def authorizer_env(ring: KeyRing, **env: str | None) -> dict[str, str]:
    """A deployed authorizer's environment; a value of None leaves that variable out."""
    base: dict[str, str | None] = {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_JWKS": json.dumps(ring.jwks()),
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AWS_REGION": REGION,
        **env,
    }
    return {name: value for name, value in base.items() if value is not None}


def build(ring: KeyRing, **env: str | None) -> Authorizer:
    return build_authorizer(AuthorizerConfig.from_env(authorizer_env(ring, **env)))


def http_event(
    token: str | None = None,
    route: str = "GET /orders",
    *,
    headers: Mapping[str, str] | None = None,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) REQUEST authorizer event."""
    method, path = route.split(" ")
    all_headers = {"host": "api1.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    if token is not None:
        all_headers["authorization"] = f"Bearer {token}"
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:api1/$default/{method}{path}",
        "identitySource": [],
        "routeKey": route,
        "rawPath": path,
        "headers": all_headers,
        "requestContext": {"http": {"method": method, "path": path}, "routeKey": route},
    }
    if cookies is not None:
        event["cookies"] = cookies
    return event


def allowed(authorizer: Authorizer, token: str | None, route: str = "GET /orders", **kw: Any) -> bool:
    answer = authorizer.handle(http_event(token, route, **kw))
    return bool(answer["isAuthorized"])


def issuer_of(ring: KeyRing, *, clock: Callable[[], float] = time.time, **settings: Any) -> TokenIssuer:
    """Our token issuer as the login function builds it (lifetimes shortened for tests)."""
    options: dict[str, Any] = {
        "audience": AUDIENCE,
        "client_id": "web",
        "access_ttl": 300,
        "refresh_ttl": 3600,
    }
    options.update(settings)
    return TokenIssuer(ring, issuer=ISSUER, clock=clock, **options)


def own_token(ring: KeyRing, scope: str = "profile", **settings: Any) -> str:
    return issuer_of(ring, **settings).issue(f"user-{uuid.uuid4().hex[:8]}", scope).access_token


def jti_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def denylist(client: Any, table: str = DENYLIST) -> Denylist:
    return Denylist(client, table, max_token_lifetime=3600, leeway=30)


@pytest.fixture(scope="module")
def other_ring() -> KeyRing:
    return load_key_ring(generate_private_key_pem("RS256"))


@pytest.fixture(scope="module")
def pool_ring() -> KeyRing:
    """Stands in for a user pool's or a partner's signing key."""
    return load_key_ring(generate_private_key_pem("RS256"))


# --------------------------------------------------------------------------- our own tokens


def test_issuer_decides_whose_tokens_are_ours(dynamodb: Any, ring: KeyRing) -> None:
    token = own_token(ring)
    assert allowed(build(ring), token)
    assert not allowed(build(ring, AUTH_ISSUER="https://other-auth.example.test"), token)


def test_audience_decides_which_tokens_are_for_this_api(dynamodb: Any, ring: KeyRing) -> None:
    token = own_token(ring)  # aud: orders-api
    assert allowed(build(ring), token)
    assert not allowed(build(ring, AUTH_AUDIENCE="billing-api"), token)
    assert allowed(build(ring, AUTH_AUDIENCE="billing-api, orders-api"), token)


def test_denylist_table_is_where_revocations_are_read(dynamodb: Any, ring: KeyRing) -> None:
    create_tables(dynamodb, denylist="another-denylist")
    token = own_token(ring)
    denylist(dynamodb).revoke_jti(jti_of(token), "test")
    assert not allowed(build(ring), token)
    assert allowed(build(ring, AUTH_DENYLIST_TABLE="another-denylist"), token)


def test_jwks_inline_decides_which_keys_verify(dynamodb: Any, ring: KeyRing, other_ring: KeyRing) -> None:
    token = own_token(ring)
    assert allowed(build(ring), token)
    assert not allowed(build(ring, AUTH_JWKS=json.dumps(other_ring.jwks())), token)


def test_jwks_file_decides_which_keys_verify(
    dynamodb: Any, ring: KeyRing, other_ring: KeyRing, tmp_path: Path
) -> None:
    ours, theirs = tmp_path / "ours.json", tmp_path / "theirs.json"
    ours.write_text(json.dumps(ring.jwks()))
    theirs.write_text(json.dumps(other_ring.jwks()))
    token = own_token(ring)
    assert allowed(build(ring, AUTH_JWKS=None, AUTH_JWKS_FILE=str(ours)), token)
    assert not allowed(build(ring, AUTH_JWKS=None, AUTH_JWKS_FILE=str(theirs)), token)


@pytest.fixture
def ssm_on_moto(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The authorizer's SSM reads go to the in-process moto server (as DynamoDB's do, conftest)."""
    real = authorizer.aws.ssm.get_parameter

    def on_moto(name: str, region: str, credentials: Any, endpoint: str | None = None) -> str:
        return real(name, region, credentials, endpoint or moto_endpoint)

    monkeypatch.setattr(authorizer.aws.ssm, "get_parameter", on_moto)


def test_jwks_ssm_parameter_decides_which_keys_verify(
    dynamodb: Any, ring: KeyRing, other_ring: KeyRing, ssm_on_moto: None
) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/settings/ours", Type="String", Value=json.dumps(ring.jwks()))
    ssm.put_parameter(Name="/settings/theirs", Type="String", Value=json.dumps(other_ring.jwks()))
    token = own_token(ring)
    assert allowed(build(ring, AUTH_JWKS=None, AUTH_JWKS_SSM_PARAMETER="/settings/ours"), token)
    assert not allowed(build(ring, AUTH_JWKS=None, AUTH_JWKS_SSM_PARAMETER="/settings/theirs"), token)


def test_region_decides_which_denylist_is_read(dynamodb: Any, ring: KeyRing) -> None:
    # The same table in two regions; the token is revoked in us-east-1 only.
    create_tables(boto3.client("dynamodb", region_name="eu-west-1"), denylist=DENYLIST)
    token = own_token(ring)
    denylist(dynamodb).revoke_jti(jti_of(token), "test")
    assert not allowed(build(ring), token)
    assert allowed(build(ring, AWS_REGION="eu-west-1"), token)
    # AWS_DEFAULT_REGION counts when AWS_REGION is unset; with neither, us-east-1.
    assert allowed(build(ring, AWS_REGION=None, AWS_DEFAULT_REGION="eu-west-1"), token)
    assert not allowed(build(ring, AWS_REGION=None), token)


def test_leeway_decides_whether_a_just_expired_token_passes(dynamodb: Any, ring: KeyRing) -> None:
    # Issued 400 s ago for 390 s: expired 10 s ago.
    token = own_token(ring, access_ttl=390, clock=lambda: time.time() - 400)
    assert allowed(build(ring), token)  # default leeway 30 s
    assert not allowed(build(ring, AUTH_LEEWAY_SECONDS="0"), token)


def long_scope(length: int) -> str:
    """A scope string that makes a token about `length` bytes longer."""
    return " ".join(f"scope{index:05d}" for index in range(length // 10))


def test_max_token_bytes_bounds_our_tokens(dynamodb: Any, ring: KeyRing) -> None:
    token = own_token(ring, scope=long_scope(9000))
    assert 8192 < len(token) < 16384
    assert not allowed(build(ring), token)
    assert allowed(build(ring, AUTH_MAX_TOKEN_BYTES="16384"), token)
    assert not allowed(build(ring, AUTH_MAX_TOKEN_BYTES="1024"), own_token(ring, scope=long_scope(1200)))


def test_max_token_bytes_bounds_trusted_issuers_tokens_too(
    dynamodb: Any, ring: KeyRing, pool_ring: KeyRing
) -> None:
    trusted = json.dumps([oidc_entry(pool_ring)])
    large = partner_token(pool_ring, scope=long_scope(9000))
    assert 8192 < len(large) < 16384
    assert not allowed(build(ring, AUTH_TRUSTED_ISSUERS=trusted), large)
    assert allowed(build(ring, AUTH_TRUSTED_ISSUERS=trusted, AUTH_MAX_TOKEN_BYTES="16384"), large)
    small = partner_token(pool_ring, scope=long_scope(1200))
    assert allowed(build(ring, AUTH_TRUSTED_ISSUERS=trusted), small)
    assert not allowed(build(ring, AUTH_TRUSTED_ISSUERS=trusted, AUTH_MAX_TOKEN_BYTES="1024"), small)


def test_revocation_cache_seconds_is_how_long_not_revoked_is_believed(dynamodb: Any, ring: KeyRing) -> None:
    results = {}
    for seconds in (None, "0"):  # default 5 s
        authorizer = build(ring, AUTH_REVOCATION_CACHE_SECONDS=seconds)
        token = own_token(ring)
        assert allowed(authorizer, token)
        denylist(dynamodb).revoke_jti(jti_of(token), "test")
        results[seconds] = allowed(authorizer, token)
    assert results == {None: True, "0": False}


def test_revocation_grace_seconds_answers_from_the_last_state_while_dynamodb_fails(
    dynamodb: Any, ring: KeyRing, moto_endpoint: str
) -> None:
    results = {}
    for seconds in (None, "60"):  # default 0: fail closed
        with faulty_dynamodb(moto_endpoint) as endpoint:
            authorizer = build(
                ring,
                AUTH_DYNAMODB_ENDPOINT=endpoint.url,
                AUTH_REVOCATION_CACHE_SECONDS="0",
                AUTH_REVOCATION_GRACE_SECONDS=seconds,
            )
            token = own_token(ring)
            assert allowed(authorizer, token)
            endpoint.always = "http_500"
            results[seconds] = allowed(authorizer, token)
    assert results == {None: False, "60": True}


def test_dynamodb_endpoint_is_where_the_authorizer_reads_the_denylist(dynamodb: Any, ring: KeyRing) -> None:
    token = own_token(ring)
    assert allowed(build(ring), token)  # the default endpoint (moto here, conftest)
    # Nothing listens there: the authorizer fails closed.
    assert not allowed(build(ring, AUTH_DYNAMODB_ENDPOINT=f"http://127.0.0.1:{closed_port()}"), token)


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts signature verifications (each still the real check)."""
    calls: list[int] = []
    real_post_init = VerificationKey.__post_init__

    def counting_post_init(self: VerificationKey) -> None:
        real_post_init(self)
        check = self.verify_signature

        def counted(data: bytes, signature: bytes) -> bool:
            calls.append(1)
            return check(data, signature)

        object.__setattr__(self, "verify_signature", counted)

    monkeypatch.setattr(VerificationKey, "__post_init__", counting_post_init)
    return calls


def test_verified_token_cache_size_decides_whether_a_token_is_verified_again(
    dynamodb: Any, ring: KeyRing, signature_checks: list[int]
) -> None:
    # The decision is the same by design; what changes is the signature check skipped.
    token = own_token(ring)
    for size, expected in ((None, 1), ("0", 3)):  # default 1000
        authorizer = build(ring, AUTH_VERIFIED_TOKEN_CACHE_SIZE=size)
        signature_checks.clear()
        assert all(allowed(authorizer, token) for _ in range(3))
        assert len(signature_checks) == expected, size


def test_http_api_simple_responses_decides_the_answer_format(dynamodb: Any, ring: KeyRing) -> None:
    token = own_token(ring)
    assert build(ring).handle(http_event(token))["isAuthorized"] is True
    policy = build(ring, AUTH_HTTP_API_SIMPLE_RESPONSES="false").handle(http_event(token))
    assert "isAuthorized" not in policy
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_log_allowed_decides_whether_an_allowed_request_is_logged(
    dynamodb: Any, ring: KeyRing, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lambda_jwt_auth")
    lines = {}
    for value in (None, "true"):  # default false
        token = own_token(ring)
        caplog.clear()
        assert allowed(build(ring, AUTH_LOG_ALLOWED=value), token)
        lines[value] = [r for r in caplog.records if '"outcome": "allow"' in r.getMessage()]
    assert lines[None] == [] and len(lines["true"]) == 1


def test_route_scopes_decide_which_routes_need_which_scopes(dynamodb: Any, ring: KeyRing) -> None:
    token = own_token(ring, scope="profile")
    assert allowed(build(ring), token, "POST /orders")
    rules = json.dumps({"POST /orders": ["orders:write"]})
    assert not allowed(build(ring, AUTH_ROUTE_SCOPES=rules), token, "POST /orders")
    assert allowed(
        build(ring, AUTH_ROUTE_SCOPES=rules), own_token(ring, scope="orders:write"), "POST /orders"
    )


# --------------------------------------------------------------------------- trusted issuers


def partner_token(ring: KeyRing, **overrides: Any) -> str:
    """An OIDC issuer's access token; None drops a claim, `headers` adds header parameters."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": PARTNER,
        "sub": "partner-user",
        "aud": AUDIENCE,
        "iat": now,
        "auth_time": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    headers = overrides.pop("headers", {})
    claims = {name: value for name, value in {**claims, **overrides}.items() if value is not None}
    key = ring.current
    assert key.private_key is not None
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, **headers})


def cognito_entry(ring: KeyRing | None, **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"issuer": POOL, "type": "cognito", "client_ids": [CLIENT]}
    if ring is not None:
        entry["jwks"] = ring.jwks()
    return {**entry, **overrides}


def oidc_entry(ring: KeyRing | None, **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"issuer": PARTNER, "audiences": [AUDIENCE]}
    if ring is not None:
        entry["jwks"] = ring.jwks()
    return {**entry, **overrides}


def trusting(ring: KeyRing, *entries: dict[str, Any], **env: str | None) -> Authorizer:
    return build(ring, AUTH_TRUSTED_ISSUERS=json.dumps(list(entries)), **env)


@pytest.fixture
def jwks_servers() -> Iterator[Callable[..., JwksServer]]:
    started: list[JwksServer] = []

    def start(*rings: KeyRing) -> JwksServer:
        server = JwksServer()
        server.publish(*rings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_trusted_issuers_decide_which_other_issuers_are_trusted(
    dynamodb: Any, ring: KeyRing, pool_ring: KeyRing
) -> None:
    token = cognito_token(pool_ring)
    assert not allowed(build(ring), token)
    assert allowed(trusting(ring, cognito_entry(pool_ring)), token)


def test_issuer_key_is_the_exact_iss_trusted(dynamodb: Any, ring: KeyRing, pool_ring: KeyRing) -> None:
    other_pool = cognito_issuer(REGION, "us-east-1_AnotherPool")
    for make, entry in ((cognito_token, cognito_entry), (partner_token, oidc_entry)):
        token = make(pool_ring)
        assert allowed(trusting(ring, entry(pool_ring)), token)
        assert not allowed(trusting(ring, entry(pool_ring, issuer=other_pool)), token)


def test_type_key_decides_which_claims_make_a_token(dynamodb: Any, ring: KeyRing, pool_ring: KeyRing) -> None:
    # A pool's access token names its app client in `client_id`; an OIDC token its audience in `aud`.
    pool_token = cognito_token(pool_ring)
    assert allowed(trusting(ring, cognito_entry(pool_ring)), pool_token)
    as_oidc = {"issuer": POOL, "jwks": pool_ring.jwks(), "audiences": [CLIENT]}  # no type: oidc
    assert not allowed(trusting(ring, as_oidc), pool_token)
    partner = partner_token(pool_ring)
    assert allowed(trusting(ring, oidc_entry(pool_ring)), partner)
    as_cognito = {"issuer": PARTNER, "type": "cognito", "jwks": pool_ring.jwks(), "client_ids": [AUDIENCE]}
    assert not allowed(trusting(ring, as_cognito), partner)


@pytest.mark.parametrize("kind", ["cognito", "oidc"])
def test_jwks_uri_key_is_where_keys_are_fetched(
    dynamodb: Any,
    ring: KeyRing,
    pool_ring: KeyRing,
    other_ring: KeyRing,
    jwks_servers: Callable[..., JwksServer],
    kind: str,
) -> None:
    entry, token = (
        (cognito_entry, cognito_token(pool_ring))
        if kind == "cognito"
        else (oidc_entry, partner_token(pool_ring))
    )
    right, wrong = jwks_servers(pool_ring), jwks_servers(other_ring)
    assert allowed(trusting(ring, entry(None, jwks_uri=right.url)), token)
    assert not allowed(trusting(ring, entry(None, jwks_uri=wrong.url)), token)


@pytest.mark.parametrize("kind", ["cognito", "oidc"])
def test_jwks_key_is_the_keys_trusted(
    dynamodb: Any, ring: KeyRing, pool_ring: KeyRing, other_ring: KeyRing, kind: str
) -> None:
    entry, token = (
        (cognito_entry, cognito_token(pool_ring))
        if kind == "cognito"
        else (oidc_entry, partner_token(pool_ring))
    )
    assert allowed(trusting(ring, entry(pool_ring)), token)
    assert not allowed(trusting(ring, entry(other_ring)), token)


@pytest.mark.parametrize("kind", ["cognito", "oidc"])
def test_jwks_file_key_is_the_keys_trusted(
    dynamodb: Any, ring: KeyRing, pool_ring: KeyRing, other_ring: KeyRing, kind: str, tmp_path: Path
) -> None:
    entry, token = (
        (cognito_entry, cognito_token(pool_ring))
        if kind == "cognito"
        else (oidc_entry, partner_token(pool_ring))
    )
    right, wrong = tmp_path / "right.json", tmp_path / "wrong.json"
    right.write_text(json.dumps(pool_ring.jwks()))
    wrong.write_text(json.dumps(other_ring.jwks()))
    assert allowed(trusting(ring, entry(None, jwks_file=str(right))), token)
    assert not allowed(trusting(ring, entry(None, jwks_file=str(wrong))), token)


def test_token_use_key_decides_access_or_id_tokens(dynamodb: Any, ring: KeyRing, pool_ring: KeyRing) -> None:
    id_token = cognito_token(pool_ring, token_use="id", aud=CLIENT, client_id=None, scope=None)
    assert not allowed(trusting(ring, cognito_entry(pool_ring)), id_token)  # default: access
    assert allowed(trusting(ring, cognito_entry(pool_ring, token_use="id")), id_token)


def test_client_ids_key_is_the_app_clients_trusted(dynamodb: Any, ring: KeyRing, pool_ring: KeyRing) -> None:
    token = cognito_token(pool_ring)
    assert allowed(trusting(ring, cognito_entry(pool_ring)), token)
    assert not allowed(trusting(ring, cognito_entry(pool_ring, client_ids=["another-client"])), token)


def test_audiences_key_is_the_audiences_trusted(dynamodb: Any, ring: KeyRing, pool_ring: KeyRing) -> None:
    token = partner_token(pool_ring)
    assert allowed(trusting(ring, oidc_entry(pool_ring)), token)
    assert not allowed(trusting(ring, oidc_entry(pool_ring, audiences=["billing-api"])), token)


def test_algorithms_key_is_the_algorithms_an_oidc_issuer_may_use(dynamodb: Any, ring: KeyRing) -> None:
    ec_ring = load_key_ring(generate_private_key_pem("ES256"))
    token = partner_token(ec_ring)
    assert not allowed(trusting(ring, oidc_entry(ec_ring)), token)  # default: RS256
    assert allowed(trusting(ring, oidc_entry(ec_ring, algorithms=["RS256", "ES256"])), token)


def test_required_groups_key_refuses_users_outside_them(
    dynamodb: Any, ring: KeyRing, pool_ring: KeyRing
) -> None:
    outsider = cognito_token(pool_ring, **{"cognito:groups": ["users"]})
    assert allowed(trusting(ring, cognito_entry(pool_ring)), outsider)
    strict = cognito_entry(pool_ring, required_groups=["admins", "ops"])
    assert not allowed(trusting(ring, strict), outsider)
    assert allowed(trusting(ring, strict), cognito_token(pool_ring, **{"cognito:groups": ["ops"]}))


@pytest.mark.parametrize("kind", ["cognito", "oidc"])
def test_required_scopes_key_refuses_tokens_the_issuer_did_not_grant_them(
    dynamodb: Any, ring: KeyRing, pool_ring: KeyRing, kind: str
) -> None:
    make, entry = (cognito_token, cognito_entry) if kind == "cognito" else (partner_token, oidc_entry)
    both, one, none = (
        make(pool_ring, scope="orders/read orders/write"),
        make(pool_ring, scope="orders/read"),
        make(pool_ring, scope=None),
    )
    relaxed = trusting(ring, entry(pool_ring))
    assert allowed(relaxed, one) and allowed(relaxed, none)
    strict = trusting(ring, entry(pool_ring, required_scopes=["orders/read", "orders/write"]))
    assert allowed(strict, both)
    assert not allowed(strict, one)  # all of them, not any
    assert not allowed(strict, none)
    # Checked on the scope the issuer signed: scopes our configuration grants do not count.
    granting = trusting(
        ring, entry(pool_ring, required_scopes=["orders/write"], default_scope="orders/write")
    )
    assert not allowed(granting, one)
    assert allowed(granting, both)


def test_group_scopes_key_grants_scopes_by_cognito_group(
    dynamodb: Any, ring: KeyRing, pool_ring: KeyRing
) -> None:
    rules = json.dumps({"POST /orders": ["orders:write"]})
    buyer = cognito_token(pool_ring, **{"cognito:groups": ["buyers"]})
    assert not allowed(
        trusting(ring, cognito_entry(pool_ring), AUTH_ROUTE_SCOPES=rules), buyer, "POST /orders"
    )
    mapped = cognito_entry(pool_ring, group_scopes={"buyers": "orders:write"})
    assert allowed(trusting(ring, mapped, AUTH_ROUTE_SCOPES=rules), buyer, "POST /orders")


@pytest.mark.parametrize("kind", ["cognito", "oidc"])
def test_default_scope_key_grants_scopes_to_every_token(
    dynamodb: Any, ring: KeyRing, pool_ring: KeyRing, kind: str
) -> None:
    make, entry = (cognito_token, cognito_entry) if kind == "cognito" else (partner_token, oidc_entry)
    rules = json.dumps({"GET /me": ["profile"]})
    token = make(pool_ring)
    assert not allowed(trusting(ring, entry(pool_ring), AUTH_ROUTE_SCOPES=rules), token, "GET /me")
    assert allowed(
        trusting(ring, entry(pool_ring, default_scope="profile"), AUTH_ROUTE_SCOPES=rules), token, "GET /me"
    )


@pytest.mark.parametrize("kind", ["cognito", "oidc"])
def test_preload_key_fetches_the_keys_at_cold_start(
    dynamodb: Any, ring: KeyRing, pool_ring: KeyRing, jwks_servers: Callable[..., JwksServer], kind: str
) -> None:
    # The issuer's JWKS endpoint is up at cold start and down at the first request.
    entry, token = (
        (cognito_entry, cognito_token(pool_ring))
        if kind == "cognito"
        else (oidc_entry, partner_token(pool_ring))
    )
    results = {}
    for preload in (None, True):  # default: fetched on the first request
        server = jwks_servers(pool_ring)
        authorizer = trusting(ring, entry(None, jwks_uri=server.url, preload=preload))
        server.stop()
        results[preload] = allowed(authorizer, token)
    assert results == {None: False, True: True}


def test_typ_key_is_the_header_typ_an_oidc_issuer_sets(
    dynamodb: Any, ring: KeyRing, pool_ring: KeyRing
) -> None:
    typed = partner_token(pool_ring, headers={"typ": "at+jwt"})
    assert not allowed(trusting(ring, oidc_entry(pool_ring)), typed)  # default: none, or JWT
    assert allowed(trusting(ring, oidc_entry(pool_ring, typ="at+jwt")), typed)
    # Compared as a header typ is read: case-insensitive, "application/" optional.
    assert allowed(trusting(ring, oidc_entry(pool_ring, typ="application/AT+JWT")), typed)
    assert not allowed(trusting(ring, oidc_entry(pool_ring, typ="at+jwt")), partner_token(pool_ring))


# A value of the right shape for each key that belongs to one kind of issuer only.
_ONE_KIND_SAMPLES: dict[str, Any] = {
    "client_ids": ["c"],
    "token_use": "access",
    "required_groups": ["admins"],
    "group_scopes": {"admins": "admin"},
    "audiences": ["a"],
    "algorithms": ["RS256"],
    "typ": "at+jwt",
    "ignored_header_parameters": ["x5t"],
}


@pytest.mark.parametrize(
    ("kind", "key"),
    [(kind, key) for kind in ("cognito", "oidc") for key in sorted(issuers._KEYS - issuers.keys_for(kind))],
)
def test_keys_of_the_other_kind_of_issuer_are_refused(kind: str, key: str) -> None:
    entry = cognito_entry(None) if kind == "cognito" else oidc_entry(None, jwks={"keys": []})
    entry[key] = _ONE_KIND_SAMPLES[key]
    with pytest.raises(ConfigurationError, match=f"of type {kind}: {key!r} is for"):
        issuers.parse_trusted_issuers([entry])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (cognito_entry(None, jwks={"keys": []}, preload=True), "'preload' fetches keys from 'jwks_uri'"),
        (
            oidc_entry(None, jwks_file="/opt/keys.json", preload=True),
            "'preload' fetches keys from 'jwks_uri'",
        ),
        (cognito_entry(None, token_use="id", required_scopes=["x"]), "carry no `scope`"),
        (oidc_entry(None, jwks={"keys": []}, typ="application/"), "'typ' must name a media type"),
    ],
)
def test_trusted_issuer_settings_that_could_not_take_effect_are_refused(
    entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        issuers.parse_trusted_issuers([entry])


# --------------------------------------------------------------------------- the JWKS cache


def keyword_defaults(function: Callable[..., object]) -> dict[str, Any]:
    """The defaults of `function`'s keyword-only parameters (to give objects it builds a clock)."""
    defaults = function.__kwdefaults__
    assert defaults is not None
    return defaults


class FakeClock:
    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


def test_jwks_fetch_timeout_bounds_a_fetch(
    dynamodb: Any, ring: KeyRing, pool_ring: KeyRing, jwks_servers: Callable[..., JwksServer]
) -> None:
    server = jwks_servers(pool_ring)
    server.delay = 0.5  # a slow endpoint
    trusted = oidc_entry(None, jwks_uri=server.url)
    assert allowed(trusting(ring, trusted), partner_token(pool_ring))  # default: 2000 ms
    assert not allowed(trusting(ring, trusted, AUTH_JWKS_FETCH_TIMEOUT_MS="100"), partner_token(pool_ring))


def test_jwks_cooldown_spaces_out_refetches_for_unknown_kids(
    dynamodb: Any,
    ring: KeyRing,
    pool_ring: KeyRing,
    other_ring: KeyRing,
    jwks_servers: Callable[..., JwksServer],
) -> None:
    results = {}
    for seconds in (None, "0"):  # default 60 s
        server = jwks_servers(pool_ring)
        authorizer = trusting(ring, oidc_entry(None, jwks_uri=server.url), AUTH_JWKS_COOLDOWN_SECONDS=seconds)
        assert allowed(authorizer, partner_token(pool_ring))
        assert not allowed(authorizer, partner_token(other_ring))  # unknown kid: one refetch
        server.publish(pool_ring, other_ring)  # the issuer rotates its keys in
        results[seconds] = allowed(authorizer, partner_token(other_ring))
    assert results == {None: False, "0": True}


def test_jwks_max_age_is_when_keys_are_fetched_again(
    dynamodb: Any,
    ring: KeyRing,
    pool_ring: KeyRing,
    other_ring: KeyRing,
    jwks_servers: Callable[..., JwksServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setitem(keyword_defaults(JwksCache.__init__), "clock", clock)
    results = {}
    for seconds in (None, "60"):  # default 3600 s
        server = jwks_servers(pool_ring)
        authorizer = trusting(ring, oidc_entry(None, jwks_uri=server.url), AUTH_JWKS_MAX_AGE_SECONDS=seconds)
        assert allowed(authorizer, partner_token(pool_ring))
        server.publish(other_ring)  # the issuer withdraws the key
        clock.now += 120
        results[seconds] = allowed(authorizer, partner_token(pool_ring))
    assert results == {None: True, "60": False}


# --------------------------------------------------------------------------- cookies


COOKIE_ENV = {"AUTH_COOKIES": "on", "AUTH_ALLOWED_ORIGINS": APP}


PREFIXED = CookieNames.for_prefix(True)


def cookie_session(ring: KeyRing, names: CookieNames = PREFIXED) -> tuple[list[str], str]:
    """A browser session's cookies and its CSRF token."""
    csrf = uuid.uuid4().hex
    access = issuer_of(ring).issue("alice", "profile", csrf_hash=csrf_hash(csrf)).access_token
    return [f"{names.access}={access}", f"{names.csrf}={csrf}"], csrf


def test_cookies_setting_lets_the_authorizer_read_the_access_cookie(dynamodb: Any, ring: KeyRing) -> None:
    cookies, _ = cookie_session(ring)
    assert not allowed(build(ring), None, "GET /me", cookies=cookies)  # default: off
    assert allowed(build(ring, **COOKIE_ENV), None, "GET /me", cookies=cookies)


def test_allowed_origins_decide_who_may_post_with_the_cookies(dynamodb: Any, ring: KeyRing) -> None:
    cookies, csrf = cookie_session(ring)
    headers = {"origin": APP, "x-csrf-token": csrf}
    assert allowed(build(ring, **COOKIE_ENV), None, "POST /orders", headers=headers, cookies=cookies)
    others = {**COOKIE_ENV, "AUTH_ALLOWED_ORIGINS": "https://other.example.test"}
    assert not allowed(build(ring, **others), None, "POST /orders", headers=headers, cookies=cookies)


def test_cookie_secure_prefix_decides_the_cookie_names_read(dynamodb: Any, ring: KeyRing) -> None:
    plain, _ = cookie_session(ring, CookieNames.for_prefix(False))  # access_token=...
    assert not allowed(build(ring, **COOKIE_ENV), None, "GET /me", cookies=plain)  # default: __Host-
    assert allowed(
        build(ring, **COOKIE_ENV, AUTH_COOKIE_SECURE_PREFIX="false"), None, "GET /me", cookies=plain
    )


def test_token_sources_decide_whether_the_cookie_counts(dynamodb: Any, ring: KeyRing) -> None:
    cookies, _ = cookie_session(ring)
    assert allowed(build(ring, **COOKIE_ENV), None, "GET /me", cookies=cookies)  # default with cookies on
    assert not allowed(
        build(ring, **COOKIE_ENV, AUTH_TOKEN_SOURCES="header"), None, "GET /me", cookies=cookies
    )


# --------------------------------------------------------------------------- AWS credentials


EXPECTED_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "AKIDEXPECTED",
    "AWS_SECRET_ACCESS_KEY": "expected-secret",
    "AWS_SESSION_TOKEN": "expected-token",
}
EXPECTED_KEYS = BotoCredentials(*EXPECTED_ENVIRONMENT.values())


def signed_with(credentials: BotoCredentials, handler: BaseHTTPRequestHandler, body: bytes) -> bool:
    """Whether the request carries the signature botocore's own signer makes with `credentials`
    (at the request's X-Amz-Date)."""
    headers = handler.headers
    signed_at = datetime.strptime(headers.get("X-Amz-Date", ""), "%Y%m%dT%H%M%SZ")
    request = AWSRequest(
        method="POST",
        url=f"http://{headers['Host']}/",
        data=body,
        headers={"Content-Type": headers["Content-Type"], "X-Amz-Target": headers["X-Amz-Target"]},
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
        SigV4Auth(credentials, "dynamodb", REGION).add_auth(request)
    return bool(request.headers["Authorization"] == headers.get("Authorization"))


def signature_checking_dynamodb(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """BatchGetItem without items, for requests signed with EXPECTED_KEYS only; anything else
    gets DynamoDB's 400 UnrecognizedClientException."""
    if signed_with(EXPECTED_KEYS, handler, body):
        tables = json.loads(body)["RequestItems"]
        answer: dict[str, Any] = {"Responses": {table: [] for table in tables}, "UnprocessedKeys": {}}
        status = 200
    else:
        answer, status = {"__type": "com.amazon.coral.service#UnrecognizedClientException"}, 400
    send(handler, status, json.dumps(answer).encode(), {"Content-Type": "application/x-amz-json-1.0"})


def container_credentials(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """The container credential provider: EXPECTED_KEYS, for the right Authorization only."""
    if handler.headers.get("Authorization") != "container-token":
        send(handler, 403, b'{"message": "no"}')
        return
    document = {
        "AccessKeyId": EXPECTED_KEYS.access_key,
        "SecretAccessKey": EXPECTED_KEYS.secret_key,
        "Token": EXPECTED_KEYS.token,
        "Expiration": "2099-01-01T00:00:00Z",
    }
    send(handler, 200, json.dumps(document).encode())


# Small local servers answering with a function of (handler, body); they record requests.
local_server = aws_client_tests.local_server


_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
)


def with_credentials(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """The process environment holds exactly these of AWS's credential variables (read there)."""
    for name in _CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_access_key_secret_and_session_token_sign_the_denylist_request(
    ring: KeyRing, local_server: Callable[..., LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb = local_server(signature_checking_dynamodb)
    expected = EXPECTED_ENVIRONMENT
    token = own_token(ring)

    def decision(**variables: str) -> bool:
        with_credentials(monkeypatch, **variables)
        return allowed(build(ring, AUTH_DYNAMODB_ENDPOINT=dynamodb.url), token)

    assert decision(**expected)
    assert not decision()  # none: throwaway keys for a local endpoint
    assert not decision(**{**expected, "AWS_ACCESS_KEY_ID": "AKIDOTHER"})
    assert not decision(**{**expected, "AWS_SECRET_ACCESS_KEY": "other-secret"})
    assert not decision(**{**expected, "AWS_SESSION_TOKEN": "other-token"})
    assert not decision(**{k: v for k, v in expected.items() if k != "AWS_SESSION_TOKEN"})


def test_container_credentials_and_their_authorization_token(
    ring: KeyRing, local_server: Callable[..., LocalServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dynamodb, endpoint = local_server(signature_checking_dynamodb), local_server(container_credentials)
    token_file = tmp_path / "token"
    token = own_token(ring)

    def decision(**variables: str) -> bool:
        with_credentials(monkeypatch, **variables)
        return allowed(build(ring, AUTH_DYNAMODB_ENDPOINT=dynamodb.url), token)

    uri = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url + "2018-06-01/credentials"}
    assert decision(**uri, AWS_CONTAINER_AUTHORIZATION_TOKEN="container-token")
    assert not decision(**uri)  # no token: the endpoint refuses
    assert not decision(**uri, AWS_CONTAINER_AUTHORIZATION_TOKEN="another-token")
    token_file.write_text("container-token\n")
    assert decision(**uri, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(token_file))
    token_file.write_text("another-token\n")
    assert not decision(**uri, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(token_file))
    assert not decision()  # no credentials at all: throwaway keys for a local endpoint


def test_relative_container_credentials_uri_is_a_source_of_credentials(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ECS's form, fetched from 169.254.170.2 (not reachable from a test): without it, and
    # without a local DynamoDB endpoint, there are no credentials and the cold start fails.
    with_credentials(monkeypatch)
    with pytest.raises(ConfigurationError, match="no AWS credentials"):
        build(ring)
    with_credentials(monkeypatch, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI="/v2/credentials/abc")
    assert isinstance(build(ring), Authorizer)


# =========================================================================== the issuing functions
# Their handler modules cold-start from the environment (cognito_support.handlers), on moto.


def service_env(pem: str, **env: str | None) -> dict[str, str]:
    base: dict[str, str | None] = {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AUTH_USERS_TABLE": USERS,
        "AUTH_SIGNING_KEY": pem,
        **env,
    }
    return {name: value for name, value in base.items() if value is not None}


@contextlib.contextmanager
def cold_start(pem: str, **env: str | None) -> Iterator[dict[str, ModuleType]]:
    with cognito_support.handlers(service_env(pem, **env)) as handlers:
        yield handlers


def call(handlers: dict[str, ModuleType], name: str, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = handlers[name].handler(event, None)
    return response


def login_event(
    username: str = "alice", password: str = PASSWORD, ip: str = "203.0.113.7", **headers: str
) -> dict[str, Any]:
    event = service_event(
        "POST", "/auth/login", {"username": username, "password": password}, headers=headers
    )
    event["requestContext"]["http"]["sourceIp"] = ip
    return event


def login(handlers: dict[str, ModuleType], **kw: Any) -> dict[str, Any]:
    return call(handlers, "login", login_event(**kw))


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def header_of(token: str) -> dict[str, Any]:
    return dict(jwt.get_unverified_header(token))


@pytest.fixture
def alice(dynamodb: Any) -> str:
    """alice in the user table (password PASSWORD, scopes "profile introspect"); returns her sub."""
    return UserTable(dynamodb, USERS).add("alice", PASSWORD, "profile introspect")


def issued(handlers: dict[str, ModuleType], **kw: Any) -> dict[str, Any]:
    """A login's body; the login must succeed."""
    response = login(handlers, **kw)
    assert response["statusCode"] == 200, response
    return dict(payload(response))


def test_issuer_is_the_iss_of_issued_tokens(alice: str, rsa_pem: str) -> None:
    with cold_start(rsa_pem) as handlers:
        assert claims_of(issued(handlers)["access_token"])["iss"] == ISSUER
    with cold_start(rsa_pem, AUTH_ISSUER="https://other-auth.example.test") as handlers:
        assert claims_of(issued(handlers)["access_token"])["iss"] == "https://other-auth.example.test"


def test_audience_is_the_aud_of_issued_access_tokens(alice: str, rsa_pem: str) -> None:
    with cold_start(rsa_pem) as handlers:
        assert claims_of(issued(handlers)["access_token"])["aud"] == AUDIENCE
    with cold_start(rsa_pem, AUTH_AUDIENCE="billing-api, orders-api") as handlers:
        assert claims_of(issued(handlers)["access_token"])["aud"] == "billing-api"


def test_signing_key_sources_decide_which_key_signs(
    alice: str, rsa_pem: str, dynamodb: Any, tmp_path: Path
) -> None:
    other_pem = generate_private_key_pem("ES256")
    kid, other_kid = load_key_ring(rsa_pem).current.kid, load_key_ring(other_pem).current.kid
    key_file = tmp_path / "key.pem"
    key_file.write_text(other_pem)
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/settings/key", Type="SecureString", Value=other_pem
    )
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="settings-key", SecretString=other_pem
    )
    with cold_start(rsa_pem) as handlers:
        assert header_of(issued(handlers)["access_token"])["kid"] == kid
    for variable, value in (
        ("AUTH_SIGNING_KEY", other_pem),
        ("AUTH_SIGNING_KEY_FILE", str(key_file)),
        ("AUTH_SIGNING_KEY_SSM_PARAMETER", "/settings/key"),
        ("AUTH_SIGNING_KEY_SECRET_ID", secret["ARN"]),
    ):
        with cold_start(rsa_pem, **{"AUTH_SIGNING_KEY": None, variable: value}) as handlers:
            header = header_of(issued(handlers)["access_token"])
            assert (header["kid"], header["alg"]) == (other_kid, "ES256"), variable


def test_users_table_is_where_passwords_are_checked(alice: str, rsa_pem: str, dynamodb: Any) -> None:
    create_tables(dynamodb, denylist="other-denylist", users="other-users")
    with cold_start(rsa_pem) as handlers:
        assert login(handlers)["statusCode"] == 200
    with cold_start(rsa_pem, AUTH_USERS_TABLE="other-users") as handlers:
        assert login(handlers)["statusCode"] == 401


@pytest.mark.parametrize(
    ("variable", "token", "default", "other"),
    [
        ("AUTH_ACCESS_TOKEN_TTL", "access_token", 900, 120),
        ("AUTH_REFRESH_TOKEN_TTL", "refresh_token", 2_592_000, 3600),
    ],
)
def test_token_lifetimes(
    alice: str, rsa_pem: str, variable: str, token: str, default: int, other: int
) -> None:
    for value, lifetime in ((None, default), (str(other), other)):
        with cold_start(rsa_pem, **{variable: value}) as handlers:
            claims = claims_of(issued(handlers)[token])
            assert claims["exp"] - claims["iat"] == lifetime


def test_client_id_is_the_client_id_claim(alice: str, rsa_pem: str) -> None:
    with cold_start(rsa_pem) as handlers:
        assert claims_of(issued(handlers)["access_token"])["client_id"] == "lambda-jwt-auth"
    with cold_start(rsa_pem, AUTH_CLIENT_ID="web-app") as handlers:
        assert claims_of(issued(handlers)["access_token"])["client_id"] == "web-app"


def introspect_event(caller: str, token: str) -> dict[str, Any]:
    return service_event("POST", "/auth/introspect", f"token={token}", content_type=FORM, token=caller)


def test_introspection_scope_is_what_a_caller_needs(alice: str, rsa_pem: str) -> None:
    with cold_start(rsa_pem) as handlers:
        caller = issued(handlers)["access_token"]  # scope "profile introspect"
        assert call(handlers, "introspect", introspect_event(caller, caller))["statusCode"] == 200
    with cold_start(rsa_pem, AUTH_INTROSPECTION_SCOPE="audit") as handlers:
        assert call(handlers, "introspect", introspect_event(caller, caller))["statusCode"] == 403


def test_max_body_bytes_bounds_request_bodies(alice: str, rsa_pem: str) -> None:
    padded = login_event(password="x" * 20_000)
    with cold_start(rsa_pem) as handlers:
        assert call(handlers, "login", padded)["statusCode"] == 413
    with cold_start(rsa_pem, AUTH_MAX_BODY_BYTES="32768") as handlers:
        assert call(handlers, "login", padded)["statusCode"] == 401


def refresh_event(token: str) -> dict[str, Any]:
    return service_event("POST", "/auth/refresh", {"refresh_token": token})


def test_leeway_decides_whether_a_just_expired_refresh_token_refreshes(dynamodb: Any, rsa_pem: str) -> None:
    ring = load_key_ring(rsa_pem)
    for value, status in ((None, 200), ("0", 401)):  # default 30 s
        # Issued 400 s ago for 390 s: expired 10 s ago.
        token = (
            issuer_of(ring, refresh_ttl=390, clock=lambda: time.time() - 400)
            .issue("u1", "profile")
            .refresh_token
        )
        with cold_start(rsa_pem, AUTH_LEEWAY_SECONDS=value) as handlers:
            assert call(handlers, "refresh", refresh_event(token))["statusCode"] == status


def test_max_token_bytes_bounds_tokens_the_issuing_functions_read(dynamodb: Any, rsa_pem: str) -> None:
    ring = load_key_ring(rsa_pem)
    for value, status in ((None, 401), ("16384", 200)):  # default 8192
        token = issuer_of(ring).issue("u1", long_scope(9000)).refresh_token
        assert 8192 < len(token) < 16384
        with cold_start(rsa_pem, AUTH_MAX_TOKEN_BYTES=value) as handlers:
            assert call(handlers, "refresh", refresh_event(token))["statusCode"] == status


def test_denylist_table_is_where_the_issuing_functions_read_revocations(
    alice: str, rsa_pem: str, dynamodb: Any
) -> None:
    create_tables(dynamodb, denylist="another-denylist")
    with cold_start(rsa_pem) as handlers:
        caller = issued(handlers)["access_token"]
    denylist(dynamodb).revoke_jti(jti_of(caller), "test")
    with cold_start(rsa_pem) as handlers:
        assert call(handlers, "introspect", introspect_event(caller, caller))["statusCode"] == 401
    with cold_start(rsa_pem, AUTH_DENYLIST_TABLE="another-denylist") as handlers:
        assert call(handlers, "introspect", introspect_event(caller, caller))["statusCode"] == 200


def test_dynamodb_endpoint_is_where_the_issuing_functions_go(alice: str, rsa_pem: str) -> None:
    with cold_start(rsa_pem) as handlers:
        assert login(handlers)["statusCode"] == 200
    with cold_start(rsa_pem, AUTH_DYNAMODB_ENDPOINT=f"http://127.0.0.1:{closed_port()}") as handlers:
        assert login(handlers)["statusCode"] == 503


def test_region_is_where_the_issuing_functions_go(
    alice: str, rsa_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same tables in eu-west-1, without alice.
    create_tables(boto3.client("dynamodb", region_name="eu-west-1"), denylist=DENYLIST, users=USERS)
    with cold_start(rsa_pem) as handlers:
        assert login(handlers)["statusCode"] == 200
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with cold_start(rsa_pem) as handlers:
        assert login(handlers)["statusCode"] == 401
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with cold_start(rsa_pem) as handlers:
        assert login(handlers)["statusCode"] == 401


# --------------------------------------------------------------------------- cookies at login


def cookie_login(handlers: dict[str, ModuleType], origin: str = APP) -> dict[str, Any]:
    return login(handlers, **{"x-token-delivery": "cookie", "origin": origin})


def test_cookies_setting_turns_cookie_delivery_on(alice: str, rsa_pem: str) -> None:
    with cold_start(rsa_pem) as handlers:
        assert cookie_login(handlers)["statusCode"] == 400  # default off: not enabled
    with cold_start(rsa_pem, **COOKIE_ENV) as handlers:
        response = cookie_login(handlers)
        assert response["statusCode"] == 200 and len(response["cookies"]) == 4


def test_allowed_origins_decide_who_may_log_in_with_cookies(alice: str, rsa_pem: str) -> None:
    with cold_start(rsa_pem, **COOKIE_ENV) as handlers:
        assert cookie_login(handlers, APP)["statusCode"] == 200
    with cold_start(
        rsa_pem, **{**COOKIE_ENV, "AUTH_ALLOWED_ORIGINS": "https://other.example.test"}
    ) as handlers:
        assert cookie_login(handlers, APP)["statusCode"] == 403


def test_cookie_samesite_is_the_cookies_samesite(alice: str, rsa_pem: str) -> None:
    for value, attribute in ((None, "SameSite=Strict"), ("Lax", "SameSite=Lax")):
        with cold_start(rsa_pem, **COOKIE_ENV, AUTH_COOKIE_SAMESITE=value) as handlers:
            cookies = cookie_login(handlers)["cookies"]
            assert all(cookie.endswith(attribute) for cookie in cookies), cookies


def test_cookie_secure_prefix_decides_the_cookie_names_set(alice: str, rsa_pem: str) -> None:
    for value, prefixes in (
        (None, ("__Host-", "__Secure-")),
        ("false", ("access_token", "refresh_token", "csrf_token")),
    ):
        with cold_start(rsa_pem, **COOKIE_ENV, AUTH_COOKIE_SECURE_PREFIX=value) as handlers:
            cookies = cookie_login(handlers)["cookies"]
            assert all(cookie.startswith(prefixes) for cookie in cookies), cookies


# --------------------------------------------------------------------------- login throttling


class ThrottleClock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def throttle_clock(monkeypatch: pytest.MonkeyPatch) -> ThrottleClock:
    """The clock the login function's throttle is built with."""
    clock = ThrottleClock()
    monkeypatch.setitem(keyword_defaults(LoginThrottle.__init__), "clock", clock)
    return clock


def statuses(handlers: dict[str, ModuleType], *attempts: dict[str, Any]) -> list[int]:
    return [login(handlers, **attempt)["statusCode"] for attempt in attempts]


WRONG: dict[str, Any] = {"password": "wrong-password-123"}


def test_max_failures_per_user(alice: str, rsa_pem: str, throttle_clock: ThrottleClock) -> None:
    with cold_start(rsa_pem) as handlers:
        assert statuses(handlers, WRONG, WRONG) == [401, 401]  # default 5
    with cold_start(rsa_pem, AUTH_LOGIN_MAX_FAILURES_PER_USER="1") as handlers:
        assert statuses(handlers, {**WRONG, "username": "bob"}, {**WRONG, "username": "bob"}) == [401, 429]


def test_max_failures_per_ip(alice: str, rsa_pem: str, throttle_clock: ThrottleClock) -> None:
    attempts = [{**WRONG, "username": f"user{n}", "ip": "198.51.100.9"} for n in range(2)]
    with cold_start(rsa_pem) as handlers:
        assert statuses(handlers, *attempts) == [401, 401]  # default 50
    with cold_start(rsa_pem, AUTH_LOGIN_MAX_FAILURES_PER_IP="1") as handlers:
        attempts = [{**WRONG, "username": f"user{n}", "ip": "198.51.100.10"} for n in range(2)]
        assert statuses(handlers, *attempts) == [401, 429]


def test_lockout_seconds_is_how_long_a_lock_lasts(
    alice: str, rsa_pem: str, throttle_clock: ThrottleClock
) -> None:
    for value, retry_after in ((None, "900"), ("120", "120")):
        username = f"locked-{uuid.uuid4().hex[:6]}"
        with cold_start(
            rsa_pem, AUTH_LOGIN_MAX_FAILURES_PER_USER="1", AUTH_LOGIN_LOCKOUT_SECONDS=value
        ) as handlers:
            assert login(handlers, username=username, **WRONG)["statusCode"] == 401
            refused = login(handlers, username=username, **WRONG)
            assert (refused["statusCode"], refused["headers"]["Retry-After"]) == (429, retry_after)


def test_failure_window_is_how_long_failures_add_up(
    alice: str, rsa_pem: str, throttle_clock: ThrottleClock
) -> None:
    results = {}
    for value in (None, "60"):  # default 900 s
        username = f"slow-{uuid.uuid4().hex[:6]}"
        with cold_start(
            rsa_pem, AUTH_LOGIN_MAX_FAILURES_PER_USER="2", AUTH_LOGIN_FAILURE_WINDOW_SECONDS=value
        ) as handlers:
            first = login(handlers, username=username, **WRONG)["statusCode"]
            throttle_clock.now += 120
            results[value] = [
                first,
                *statuses(handlers, {**WRONG, "username": username}, {**WRONG, "username": username}),
            ]
    assert results == {None: [401, 401, 429], "60": [401, 401, 401]}


# --------------------------------------------------------------------------- a Cognito user pool
# The pool lives in moto (mock_aws); its JWKS is fetched over HTTP from the in-process moto
# server (conftest), which shares moto's data.


@pytest.fixture
def pool(dynamodb: Any, moto_endpoint: str) -> cognito_support.Pool:
    return cognito_support.create_pool(
        boto3.client("cognito-idp", region_name=REGION), endpoint=moto_endpoint.rstrip("/")
    )


def pool_env(pool: cognito_support.Pool, **env: str | None) -> dict[str, str | None]:
    return {
        "AUTH_COGNITO_USER_POOL_ID": pool.pool_id,
        "AUTH_COGNITO_CLIENT_ID": pool.client_id,
        "AUTH_COGNITO_JWKS_URI": pool.jwks_uri,
        **env,
    }


def exchange(handlers: dict[str, ModuleType], subject_token: str) -> dict[str, Any]:
    body = urlencode(
        {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject_token,
            "subject_token_type": ID_TOKEN_TYPE,
        }
    )
    return call(handlers, "token", service_event("POST", "/auth/token", body, content_type=FORM))


def cognito_login(handlers: dict[str, ModuleType], username: str) -> dict[str, Any]:
    return login(handlers, username=username, password=cognito_support.PASSWORD)


def test_identity_backend_decides_who_checks_passwords(rsa_pem: str, pool: cognito_support.Pool) -> None:
    pool.add_user("carol")  # in the pool, not in the user table
    with cold_start(rsa_pem, **pool_env(pool)) as handlers:  # default: table
        assert cognito_login(handlers, "carol")["statusCode"] == 401
    with cold_start(rsa_pem, **pool_env(pool, AUTH_IDENTITY_BACKEND="cognito")) as handlers:
        assert cognito_login(handlers, "carol")["statusCode"] == 200


def test_user_pool_id_enables_the_token_exchange(rsa_pem: str, pool: cognito_support.Pool) -> None:
    pool.add_user("carol")
    id_token = pool.tokens("carol")["IdToken"]
    with cold_start(rsa_pem) as handlers:  # default: no pool
        response = exchange(handlers, id_token)
        assert (response["statusCode"], payload(response)["error"]) == (400, "unsupported_grant_type")
    with cold_start(rsa_pem, **pool_env(pool)) as handlers:
        assert exchange(handlers, id_token)["statusCode"] == 200


def test_client_id_decides_whose_pool_tokens_are_exchanged(rsa_pem: str, pool: cognito_support.Pool) -> None:
    pool.add_user("carol")
    other_client, _ = pool.new_client()
    id_token = pool.tokens("carol")["IdToken"]
    with cold_start(rsa_pem, **pool_env(pool)) as handlers:
        assert exchange(handlers, id_token)["statusCode"] == 200
    with cold_start(rsa_pem, **pool_env(pool, AUTH_COGNITO_CLIENT_ID=other_client)) as handlers:
        assert exchange(handlers, id_token)["statusCode"] == 400


def forwarded_to(upstream: str) -> Callable[[BaseHTTPRequestHandler, bytes], None]:
    """Passes each AWS JSON request on to `upstream` (moto's server) and its answer back."""
    target = urlsplit(upstream)

    def forward(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
        connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=10)
        try:
            connection.request("POST", "/", body, headers)
            answer = connection.getresponse()
            content_type = answer.getheader("Content-Type", "application/json")
            send(handler, answer.status, answer.read(), {"Content-Type": content_type})
        finally:
            connection.close()

    return forward


def test_client_secret_is_sent_for_an_app_client_with_one(
    rsa_pem: str, pool: cognito_support.Pool, moto_endpoint: str, local_server: Callable[..., LocalServer]
) -> None:
    client_id, secret = pool.new_client(secret=True)
    assert secret is not None
    pool.add_user("carol")
    proxy = local_server(forwarded_to(moto_endpoint))  # moto takes any SECRET_HASH: look at it
    endpoint = proxy.url.rstrip("/")
    env = pool_env(
        pool,
        AUTH_IDENTITY_BACKEND="cognito",
        AUTH_COGNITO_CLIENT_ID=client_id,
        AUTH_COGNITO_ENDPOINT=endpoint,
    )
    for value in (None, secret):  # default: none
        proxy.requests.clear()
        with cold_start(rsa_pem, **env, AUTH_COGNITO_CLIENT_SECRET=value) as handlers:
            assert cognito_login(handlers, "carol")["statusCode"] == 200
        (sent,) = [
            json.loads(body)["AuthParameters"].get("SECRET_HASH")
            for _, headers, body in proxy.requests
            if headers.get("X-Amz-Target", "").endswith("InitiateAuth")
        ]
        if value is None:
            assert sent is None
        else:  # checked with moto's own implementation
            assert check_secret_hash(secret, client_id, "carol", sent)


def test_cognito_region_is_the_pools_region(rsa_pem: str, dynamodb: Any, moto_endpoint: str) -> None:
    pool = cognito_support.create_pool(
        boto3.client("cognito-idp", region_name="eu-west-1"), endpoint=moto_endpoint.rstrip("/")
    )
    pool.add_user("carol")
    id_token = pool.tokens("carol")["IdToken"]
    assert claims_of(id_token)["iss"] == cognito_issuer("eu-west-1", pool.pool_id)
    # Default: the function's region, where the pool is not.
    with (
        pytest.raises(ConfigurationError, match="set AUTH_COGNITO_REGION"),
        cold_start(rsa_pem, **pool_env(pool)),
    ):
        pass
    with cold_start(rsa_pem, **pool_env(pool, AUTH_COGNITO_REGION="eu-west-1")) as handlers:
        assert exchange(handlers, id_token)["statusCode"] == 200


def test_cognito_endpoint_is_where_cognito_is_called(rsa_pem: str, pool: cognito_support.Pool) -> None:
    pool.add_user("carol")
    env = pool_env(pool, AUTH_IDENTITY_BACKEND="cognito")
    with cold_start(rsa_pem, **env) as handlers:  # default: AWS (moto here)
        assert cognito_login(handlers, "carol")["statusCode"] == 200
    with cold_start(rsa_pem, **env, AUTH_COGNITO_ENDPOINT=f"http://127.0.0.1:{closed_port()}") as handlers:
        assert cognito_login(handlers, "carol")["statusCode"] == 503


def test_cognito_jwks_uri_is_where_the_pools_keys_are_fetched(
    rsa_pem: str, pool: cognito_support.Pool, other_ring: KeyRing, jwks_servers: Callable[..., JwksServer]
) -> None:
    pool.add_user("carol")
    id_token = pool.tokens("carol")["IdToken"]
    with cold_start(rsa_pem, **pool_env(pool)) as handlers:
        assert exchange(handlers, id_token)["statusCode"] == 200
    wrong_keys = jwks_servers(other_ring)
    with cold_start(rsa_pem, **pool_env(pool, AUTH_COGNITO_JWKS_URI=wrong_keys.url)) as handlers:
        assert exchange(handlers, id_token)["statusCode"] == 400


def test_group_scopes_and_default_scope_are_the_scopes_pool_users_get(
    rsa_pem: str, pool: cognito_support.Pool
) -> None:
    pool.add_user("carol", groups=["orders"])
    env = pool_env(pool, AUTH_IDENTITY_BACKEND="cognito")
    scopes = {}
    for extra in (
        {},
        {"AUTH_COGNITO_GROUP_SCOPES": json.dumps({"orders": "orders:read"})},
        {"AUTH_COGNITO_DEFAULT_SCOPE": "basic"},
    ):
        with cold_start(rsa_pem, **env, **extra) as handlers:
            scopes[tuple(extra)] = payload(cognito_login(handlers, "carol"))["scope"]
    assert scopes == {
        (): "profile",
        ("AUTH_COGNITO_GROUP_SCOPES",): "profile orders:read",
        ("AUTH_COGNITO_DEFAULT_SCOPE",): "basic",
    }


def test_max_token_bytes_bounds_the_pool_tokens_exchanged(rsa_pem: str, pool: cognito_support.Pool) -> None:
    pool.add_user("carol")
    id_token = pool.tokens("carol")["IdToken"]
    assert 512 < len(id_token) < 8192
    with cold_start(rsa_pem, **pool_env(pool)) as handlers:  # default 8192
        assert exchange(handlers, id_token)["statusCode"] == 200
    with cold_start(rsa_pem, **pool_env(pool, AUTH_MAX_TOKEN_BYTES="512")) as handlers:
        assert exchange(handlers, id_token)["statusCode"] == 400


# =========================================================================== deploy parameters and `serve`


SERVERLESS_YML = ROOT / "serverless.yml"


def test_authorizer_result_ttl_param_is_api_gateways_cache_of_answers() -> None:
    # What the local gateway (and API Gateway) caches for; test_local_gateway shows a TTL at work.
    ttl = {"authorizerResultTtl": "300"}
    assert load_service_definition(SERVERLESS_YML).authorizers["jwtAuthorizer"].result_ttl_seconds == 0
    assert load_service_definition(SERVERLESS_YML, ttl).authorizers["jwtAuthorizer"].result_ttl_seconds == 300
    # With browser sessions there is no identity source to key a cache on: no cache (README).
    browser = load_service_definition(SERVERLESS_YML, {**ttl, "cookies": "on"}).authorizers["jwtAuthorizer"]
    assert browser.result_ttl_seconds == 0


@pytest.fixture
def serve_options(tmp_path: Path, rsa_pem: str, monkeypatch: pytest.MonkeyPatch) -> ServeOptions:
    for name in ("AUTH_AUDIENCE", "AUTH_COOKIES", "AUTH_ALLOWED_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    key = tmp_path / "key.pem"
    key.write_text(rsa_pem)
    return ServeOptions(port=0, signing_key_file=key, config=fixture_service.write(tmp_path))


def serve_banner(options: ServeOptions, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """The URL `serve` listens on, and what it printed, once it served."""
    capsys.readouterr()
    serving = start_serve(options)
    assert serving.finish() == 0
    return serving.url, capsys.readouterr().out


def test_serve_host_is_where_it_listens_and_the_issuer(
    serve_options: ServeOptions, capsys: pytest.CaptureFixture[str]
) -> None:
    assert serve_banner(serve_options, capsys)[0].startswith("http://127.0.0.1:")
    serve_options.host = "localhost"
    assert serve_banner(serve_options, capsys)[0].startswith("http://localhost:")


def test_serve_signing_key_is_the_key_the_functions_sign_with(
    serve_options: ServeOptions, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "signing key: from --signing-key" in serve_banner(serve_options, capsys)[1]
    serve_options.signing_key_file = None
    assert "signing key: ephemeral RS256" in serve_banner(serve_options, capsys)[1]


def test_serve_cookies_and_allowed_origins(
    serve_options: ServeOptions, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, out = serve_banner(serve_options, capsys)
    assert "Browser sessions (cookies) on" not in out  # default: off
    serve_options.cookies = True
    url, out = serve_banner(serve_options, capsys)
    port = url.rsplit(":", 1)[1]
    assert f"allowed origins: http://localhost:{port},http://127.0.0.1:{port}" in out
    serve_options.allowed_origins = [APP]
    assert (
        f"Browser sessions (cookies) on; allowed origins: {APP}\n" in serve_banner(serve_options, capsys)[1]
    )
    # AUTH_COOKIES in the environment is read as the functions read it ("yes" is on for them too).
    serve_options.cookies = False
    monkeypatch.setenv("AUTH_COOKIES", "yes")
    assert f"allowed origins: {APP}" in serve_banner(serve_options, capsys)[1]


def _refused_at_start(serve_options: ServeOptions) -> None:
    # Should it serve after all, it stops on its own (and the test fails instead of hanging).
    stop = threading.Event()
    timer = threading.Timer(20, stop.set)
    timer.start()
    try:
        assert run(serve_options, stop=stop) == 2
    finally:
        timer.cancel()


def test_serve_refuses_allowed_origins_without_cookies(
    serve_options: ServeOptions, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_options.allowed_origins = [APP]
    _refused_at_start(serve_options)
    assert "--allowed-origin is for browser sessions: add --cookies" in capsys.readouterr().err


def test_serve_refuses_an_allowed_origin_browsers_never_send_before_listening(
    serve_options: ServeOptions, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_options.cookies = True
    serve_options.allowed_origins = ["https://app.example.com/"]  # a trailing slash: no browser sends it
    _refused_at_start(serve_options)
    err = capsys.readouterr().err
    assert "--allowed-origin 'https://app.example.com/' is not an exact origin as browsers send it" in err
    assert "listening" not in err and "is required" not in err


# =========================================================================== the guard

_SETTING_NAME = re.compile(r"(?:AUTH|AWS)_[A-Z0-9_]+|HTTPS_PROXY|NO_PROXY|https_proxy|no_proxy")


def names_in_code() -> set[str]:
    """Every string constant of our code that is exactly the name of an environment variable."""
    names = set()
    for package in ("authorizer", "auth_service"):
        for path in (ROOT / package).rglob("*.py"):
            for node in _nodes(ast.parse(path.read_text(encoding="utf-8"))):
                text = node.value if isinstance(node, ast.Constant) else None
                if isinstance(text, str) and _SETTING_NAME.fullmatch(text):
                    names.add(text)
    return names


def _nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """ast.walk, but not into the mutants of a function that scripts/mutation.py's mutmut writes
    beside it (`x_name__mutmut_3`): their strings are mutated ("auth_time" as "AUTH_TIME")."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name:
            continue
        yield node
        yield from _nodes(node)


class RecordingEnviron(dict[str, str]):
    """An environment that remembers every name it was asked for."""

    def __init__(self, values: Mapping[str, str] = {}) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, name: str, default: Any = None) -> Any:
        self.asked.add(name)
        return super().get(name, default)


def names_read(read: Callable[[RecordingEnviron], object], *environments: Mapping[str, str]) -> set[str]:
    asked: set[str] = set()
    for values in environments:
        environ = RecordingEnviron(values)
        with contextlib.suppress(ConfigurationError):
            read(environ)
        asked |= environ.asked
    return asked


def authorizer_reads() -> set[str]:
    """The names the authorizer asks for at cold start: its configuration and AWS's credentials."""
    configuration = names_read(AuthorizerConfig.from_env, {})
    credentials = names_read(
        lambda env: from_environment(env, local_endpoint=True),
        {},
        {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"},
        {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1/creds"},
    )
    return configuration | credentials


def service_reads() -> set[str]:
    """The names the issuing functions ask for at cold start (with a user pool, every branch)."""
    return names_read(ServiceConfig.from_env, {}, {"AUTH_IDENTITY_BACKEND": "cognito"})


def deploy_parameter_uses() -> dict[str, list[tuple[str, ...]]]:
    """Each param of serverless.yml's params.default, and where in the file `${param:...}` uses it."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # CloudFormation tags
    document = yaml.load(SERVERLESS_YML.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 - a SafeLoader
    uses: dict[str, list[tuple[str, ...]]] = {name: [] for name in document["params"]["default"]}

    def walk(value: Any, path: tuple[str, ...]) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, (*path, str(key)))
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, (*path, str(index)))
        elif isinstance(value, str):
            for match in re.finditer(r"\$\{param:([\w.-]+)", value):
                uses.setdefault(match.group(1), []).append(path)

    for key, value in document.items():
        if key != "params":
            walk(value, (key,))
    return uses


def serve_option_names() -> set[str]:
    commands = next(a for a in cli_parser()._actions if isinstance(a, argparse._SubParsersAction))
    serve = commands.choices["serve"]
    return {
        action.option_strings[-1]
        for action in serve._actions
        if action.option_strings and action.dest != "help"
    }


def resolve(reference: Callable[..., object] | str) -> Callable[..., object]:
    """A test of this module, or "test_module.py::test_name" of tests/unit."""
    if callable(reference):
        return reference
    module_file, name = reference.split("::")
    module = importlib.import_module(f"tests.unit.{module_file.removesuffix('.py')}")
    test: Callable[..., object] | None = getattr(module, name, None)
    assert callable(test) and name.startswith("test_"), f"{reference} is not a test"
    return test


def check_table(kind: str, found: set[Any], table: Mapping[Any, tuple[Any, ...]]) -> None:
    missing = sorted(map(str, found - set(table)))
    stale = sorted(map(str, set(table) - found))
    assert not missing, (
        f"{kind} without a test of its effect (add one, and list it at the end of {__name__}): {missing}"
    )
    assert not stale, f"{kind} listed here but no longer in the code: {stale}"
    for setting, tests in table.items():
        assert tests, f"{setting}: no test listed"
        for test in tests:
            resolve(test)


def test_every_environment_variable_has_an_effect_test() -> None:
    read = authorizer_reads() | service_reads()
    assert read <= names_in_code()  # every name read is also spelled out somewhere
    check_table("environment variables", names_in_code() - set(NOT_READ), ENVIRONMENT)
    assert not set(NOT_READ) & (read | set(ENVIRONMENT)), "a name in NOT_READ is read after all"


def test_every_trusted_issuer_key_has_an_effect_test() -> None:
    keys = {(kind, key) for kind in ("cognito", "oidc") for key in issuers.keys_for(kind)}
    check_table("AUTH_TRUSTED_ISSUERS keys", keys, TRUSTED_ISSUER_KEYS)


def test_every_serve_option_has_an_effect_test() -> None:
    check_table("`auth-service serve` options", serve_option_names(), SERVE_OPTIONS)


def test_every_deploy_parameter_reaches_a_setting_with_an_effect() -> None:
    readers = {"authorizer": authorizer_reads(), "service": service_reads()}
    for param, paths in deploy_parameter_uses().items():
        assert paths, f"params.{param} is used nowhere in serverless.yml"
        for path in paths:
            if len(path) >= 3 and path[-2] == "environment":
                variable, function = path[-1], path[1] if path[0] == "functions" else None
                assert variable in ENVIRONMENT, f"params.{param} sets {variable}, which nothing tests"
                sides = (
                    ["authorizer" if function == "authorizer" else "service"] if function else list(readers)
                )
                assert any(variable in readers[side] for side in sides), (
                    f"params.{param} sets {variable} for {function or 'all functions'}: none of them reads it"
                )
            else:
                known = path in DEPLOY_PARAMETERS.get(param, {}) or path in DEPLOY_TIME.get(param, {})
                assert known, f"params.{param} is used at {path}: list it in DEPLOY_PARAMETERS or DEPLOY_TIME"
    uses = deploy_parameter_uses()
    for table in (DEPLOY_PARAMETERS, DEPLOY_TIME):
        for name, where in table.items():
            assert set(where) <= set(uses.get(name, [])), (
                f"params.{name} is no longer used at all of {set(where)}"
            )
    for tested in DEPLOY_PARAMETERS.values():
        for tests in tested.values():
            assert tests and all(resolve(test) for test in tests)


# =========================================================================== the tables
# Each setting, and the tests that show a request it changes. Tests elsewhere are named
# "test_module.py::test_name" (in tests/unit); each was checked to compare a decision with and
# without the setting, or at two values.

_CLI_LIFETIMES = "test_service_cli.py::test_revoke_lifetime_and_leeway_from_the_environment"
_CLI_TABLES = "test_service_cli.py::test_users_add_defaults_and_tables_from_the_environment"

ENVIRONMENT: dict[str, tuple[Callable[..., object] | str, ...]] = {
    "AUTH_METRICS_NAMESPACE": (
        "test_authorizer_handler.py::test_handler_writes_one_emf_line_per_invocation",
        "test_authorizer_handler.py::test_handler_writes_no_metrics_without_a_namespace",
        "test_service_handlers.py::test_issuing_functions_write_their_metrics",
        "test_service_handlers.py::test_issuing_functions_write_no_metrics_without_a_namespace",
    ),
    "AUTH_METRICS_SERVICE": (
        "test_authorizer_handler.py::test_handler_writes_one_emf_line_per_invocation",
        "test_metrics.py::test_metrics_are_off_unless_a_namespace_is_set",
    ),
    "AUTH_ISSUER": (test_issuer_decides_whose_tokens_are_ours, test_issuer_is_the_iss_of_issued_tokens),
    "AUTH_AUDIENCE": (
        test_audience_decides_which_tokens_are_for_this_api,
        test_audience_is_the_aud_of_issued_access_tokens,
    ),
    "AUTH_DENYLIST_TABLE": (
        test_denylist_table_is_where_revocations_are_read,
        test_denylist_table_is_where_the_issuing_functions_read_revocations,
        _CLI_LIFETIMES,
    ),
    "AUTH_JWKS": (test_jwks_inline_decides_which_keys_verify,),
    "AUTH_JWKS_FILE": (test_jwks_file_decides_which_keys_verify,),
    "AUTH_JWKS_SSM_PARAMETER": (test_jwks_ssm_parameter_decides_which_keys_verify,),
    "AWS_REGION": (test_region_decides_which_denylist_is_read, test_region_is_where_the_issuing_functions_go),
    "AWS_DEFAULT_REGION": (
        test_region_decides_which_denylist_is_read,
        test_region_is_where_the_issuing_functions_go,
    ),
    "AUTH_DYNAMODB_ENDPOINT": (
        test_dynamodb_endpoint_is_where_the_authorizer_reads_the_denylist,
        test_dynamodb_endpoint_is_where_the_issuing_functions_go,
    ),
    "AUTH_LEEWAY_SECONDS": (
        test_leeway_decides_whether_a_just_expired_token_passes,
        test_leeway_decides_whether_a_just_expired_refresh_token_refreshes,
        _CLI_LIFETIMES,
    ),
    "AUTH_MAX_TOKEN_BYTES": (
        test_max_token_bytes_bounds_our_tokens,
        test_max_token_bytes_bounds_trusted_issuers_tokens_too,
        test_max_token_bytes_bounds_tokens_the_issuing_functions_read,
        test_max_token_bytes_bounds_the_pool_tokens_exchanged,
    ),
    "AUTH_REVOCATION_CACHE_SECONDS": (test_revocation_cache_seconds_is_how_long_not_revoked_is_believed,),
    "AUTH_REVOCATION_GRACE_SECONDS": (
        test_revocation_grace_seconds_answers_from_the_last_state_while_dynamodb_fails,
    ),
    "AUTH_VERIFIED_TOKEN_CACHE_SIZE": (
        test_verified_token_cache_size_decides_whether_a_token_is_verified_again,
    ),
    "AUTH_HTTP_API_SIMPLE_RESPONSES": (test_http_api_simple_responses_decides_the_answer_format,),
    "AUTH_LOG_ALLOWED": (test_log_allowed_decides_whether_an_allowed_request_is_logged,),
    "AUTH_ROUTE_SCOPES": (test_route_scopes_decide_which_routes_need_which_scopes,),
    "AUTH_TRUSTED_ISSUERS": (test_trusted_issuers_decide_which_other_issuers_are_trusted,),
    "AUTH_JWKS_FETCH_TIMEOUT_MS": (test_jwks_fetch_timeout_bounds_a_fetch,),
    "AUTH_JWKS_COOLDOWN_SECONDS": (test_jwks_cooldown_spaces_out_refetches_for_unknown_kids,),
    "AUTH_JWKS_MAX_AGE_SECONDS": (test_jwks_max_age_is_when_keys_are_fetched_again,),
    "AUTH_KEYS_MAX_AGE_SECONDS": (
        "test_key_rotation.py::test_keys_max_age_is_when_the_issuing_side_signs_with_a_promoted_key",
        "test_key_rotation.py::test_the_authorizers_own_keys_are_re_read_after_max_age_and_on_an_unknown_kid",
        "test_key_rotation.py::test_a_token_seen_over_and_over_is_verified_again_once_the_keys_age",
    ),
    "AWS_ENDPOINT_URL_KMS": (
        "test_key_rotation.py::test_aws_endpoint_url_kms_is_where_the_issuing_side_signs",
    ),
    "AUTH_COOKIES": (
        test_cookies_setting_lets_the_authorizer_read_the_access_cookie,
        test_cookies_setting_turns_cookie_delivery_on,
        test_serve_cookies_and_allowed_origins,
    ),
    "AUTH_ALLOWED_ORIGINS": (
        test_allowed_origins_decide_who_may_post_with_the_cookies,
        test_allowed_origins_decide_who_may_log_in_with_cookies,
    ),
    "AUTH_COOKIE_SAMESITE": (test_cookie_samesite_is_the_cookies_samesite,),
    "AUTH_COOKIE_SECURE_PREFIX": (
        test_cookie_secure_prefix_decides_the_cookie_names_read,
        test_cookie_secure_prefix_decides_the_cookie_names_set,
    ),
    "AUTH_TOKEN_SOURCES": (test_token_sources_decide_whether_the_cookie_counts,),
    "AWS_ACCESS_KEY_ID": (
        test_access_key_secret_and_session_token_sign_the_denylist_request,
        "test_local_dynamodb.py::test_dummy_credentials_only_when_none_are_set",
    ),
    "AWS_SECRET_ACCESS_KEY": (test_access_key_secret_and_session_token_sign_the_denylist_request,),
    "AWS_SESSION_TOKEN": (test_access_key_secret_and_session_token_sign_the_denylist_request,),
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": (test_container_credentials_and_their_authorization_token,),
    "AWS_CONTAINER_AUTHORIZATION_TOKEN": (test_container_credentials_and_their_authorization_token,),
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": (test_container_credentials_and_their_authorization_token,),
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": (
        test_relative_container_credentials_uri_is_a_source_of_credentials,
    ),
    "AWS_ENDPOINT_URL_DYNAMODB": (
        "test_authorizer_endpoints.py::test_an_sdk_endpoint_variable_sends_the_denylist_read_there",
        "test_authorizer_endpoints.py::test_our_endpoint_setting_wins_over_the_sdk_ones_in_a_real_request",
    ),
    "AWS_ENDPOINT_URL_SSM": (
        "test_authorizer_endpoints.py::test_an_sdk_endpoint_variable_sends_the_ssm_jwks_read_there",
    ),
    "AWS_ENDPOINT_URL": (
        "test_authorizer_endpoints.py::test_an_sdk_endpoint_variable_sends_the_denylist_read_there",
        "test_authorizer_endpoints.py::test_an_sdk_endpoint_variable_sends_the_ssm_jwks_read_there",
    ),
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": (
        "test_authorizer_endpoints.py::test_ignoring_configured_endpoints_sends_the_read_to_the_regions_own",
    ),
    "AWS_CA_BUNDLE": (
        "test_authorizer_endpoints.py::test_aws_ca_bundle_is_what_an_https_endpoint_is_trusted_by",
    ),
    "HTTPS_PROXY": (
        "test_authorizer_proxy.py::test_a_jwks_fetch_goes_through_the_proxy_and_tls_is_checked_with_the_real_host",
        "test_authorizer_proxy.py::test_the_denylist_read_goes_through_the_proxy",
    ),
    "NO_PROXY": (
        "test_authorizer_proxy.py::test_a_jwks_fetch_goes_through_the_proxy_and_tls_is_checked_with_the_real_host",
    ),
    # The lower-case spellings, read as urllib and the SDKs read them, when the upper-case are unset.
    "https_proxy": ("test_authorizer_proxy.py::test_the_proxy_url_and_its_credentials",),
    "no_proxy": ("test_authorizer_proxy.py::test_which_hosts_go_through_the_proxy",),
    "AWS_PROFILE": ("test_local_dynamodb.py::test_dummy_credentials_only_when_none_are_set",),
    "AUTH_SIGNING_KEY": (test_signing_key_sources_decide_which_key_signs,),
    "AUTH_SIGNING_KEY_FILE": (test_signing_key_sources_decide_which_key_signs,),
    "AUTH_SIGNING_KEY_SSM_PARAMETER": (test_signing_key_sources_decide_which_key_signs,),
    "AUTH_SIGNING_KEY_SECRET_ID": (test_signing_key_sources_decide_which_key_signs,),
    "AUTH_USERS_TABLE": (test_users_table_is_where_passwords_are_checked, _CLI_TABLES),
    "AUTH_ACCESS_TOKEN_TTL": (test_token_lifetimes, _CLI_LIFETIMES),
    "AUTH_REFRESH_TOKEN_TTL": (test_token_lifetimes, _CLI_LIFETIMES),
    "AUTH_CLIENT_ID": (test_client_id_is_the_client_id_claim,),
    "AUTH_INTROSPECTION_SCOPE": (test_introspection_scope_is_what_a_caller_needs,),
    "AUTH_CLIENTS_TABLE": ("test_oauth_token_endpoint.py::test_the_clients_table_turns_machine_clients_on",),
    "AUTH_MAX_BODY_BYTES": (test_max_body_bytes_bounds_request_bodies,),
    "AUTH_LOGIN_MAX_FAILURES_PER_USER": (test_max_failures_per_user,),
    "AUTH_LOGIN_MAX_FAILURES_PER_IP": (test_max_failures_per_ip,),
    "AUTH_LOGIN_LOCKOUT_SECONDS": (test_lockout_seconds_is_how_long_a_lock_lasts,),
    "AUTH_LOGIN_FAILURE_WINDOW_SECONDS": (test_failure_window_is_how_long_failures_add_up,),
    "AUTH_IDENTITY_BACKEND": (test_identity_backend_decides_who_checks_passwords,),
    "AUTH_COGNITO_USER_POOL_ID": (test_user_pool_id_enables_the_token_exchange,),
    "AUTH_COGNITO_CLIENT_ID": (test_client_id_decides_whose_pool_tokens_are_exchanged,),
    "AUTH_COGNITO_CLIENT_SECRET": (test_client_secret_is_sent_for_an_app_client_with_one,),
    "AUTH_COGNITO_REGION": (test_cognito_region_is_the_pools_region,),
    "AUTH_COGNITO_ENDPOINT": (test_cognito_endpoint_is_where_cognito_is_called,),
    "AUTH_COGNITO_JWKS_URI": (test_cognito_jwks_uri_is_where_the_pools_keys_are_fetched,),
    "AUTH_COGNITO_GROUP_SCOPES": (test_group_scopes_and_default_scope_are_the_scopes_pool_users_get,),
    "AUTH_COGNITO_DEFAULT_SCOPE": (test_group_scopes_and_default_scope_are_the_scopes_pool_users_get,),
}

# Names our code spells out but never reads, and why.
NOT_READ = {
    "AWS_EC2_METADATA_DISABLED": "set for botocore by `auth-service serve` (auth_service.local.dynamodb)",
    **{
        name: "set for the handlers by `auth-service serve`'s containers, as Lambda sets it"
        for name in (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME",
        )
    },
}

_BOTH = ("cognito", "oidc")
TRUSTED_ISSUER_KEYS: dict[tuple[str, str], tuple[Callable[..., object] | str, ...]] = {
    **{(kind, "issuer"): (test_issuer_key_is_the_exact_iss_trusted,) for kind in _BOTH},
    **{(kind, "type"): (test_type_key_decides_which_claims_make_a_token,) for kind in _BOTH},
    **{(kind, "jwks_uri"): (test_jwks_uri_key_is_where_keys_are_fetched,) for kind in _BOTH},
    **{(kind, "jwks"): (test_jwks_key_is_the_keys_trusted,) for kind in _BOTH},
    **{(kind, "jwks_file"): (test_jwks_file_key_is_the_keys_trusted,) for kind in _BOTH},
    **{
        (kind, "required_scopes"): (test_required_scopes_key_refuses_tokens_the_issuer_did_not_grant_them,)
        for kind in _BOTH
    },
    **{(kind, "default_scope"): (test_default_scope_key_grants_scopes_to_every_token,) for kind in _BOTH},
    **{(kind, "preload"): (test_preload_key_fetches_the_keys_at_cold_start,) for kind in _BOTH},
    ("cognito", "token_use"): (test_token_use_key_decides_access_or_id_tokens,),
    ("cognito", "client_ids"): (test_client_ids_key_is_the_app_clients_trusted,),
    ("cognito", "required_groups"): (test_required_groups_key_refuses_users_outside_them,),
    ("cognito", "group_scopes"): (test_group_scopes_key_grants_scopes_by_cognito_group,),
    ("oidc", "audiences"): (test_audiences_key_is_the_audiences_trusted,),
    ("oidc", "algorithms"): (test_algorithms_key_is_the_algorithms_an_oidc_issuer_may_use,),
    ("oidc", "typ"): (test_typ_key_is_the_header_typ_an_oidc_issuer_sets,),
    ("oidc", "ignored_header_parameters"): (
        "test_authorizer_issuers.py::test_setting_ignored_header_parameters_lets_x5t_through_for_that_issuer_only",
    ),
}

SERVE_OPTIONS: dict[str, tuple[Callable[..., object] | str, ...]] = {
    "--host": (test_serve_host_is_where_it_listens_and_the_issuer,),
    "--port": ("test_local_serve.py::test_port_in_use_is_reported",),
    "--users": ("test_local_serve.py::test_serve_sets_up_environment_dynamodb_and_users",),
    "--signing-key": (test_serve_signing_key_is_the_key_the_functions_sign_with,),
    "--dynamodb-endpoint": ("test_local_serve.py::test_existing_users_are_kept_on_a_given_endpoint",),
    "--config": ("test_local_serve.py::test_bad_config_is_reported_with_status_2",),
    "--cognito": ("test_cognito_local.py::test_serve_with_cognito",),
    "--cookies": (test_serve_cookies_and_allowed_origins,),
    "--allowed-origin": (
        test_serve_cookies_and_allowed_origins,
        test_serve_refuses_allowed_origins_without_cookies,
        test_serve_refuses_an_allowed_origin_browsers_never_send_before_listening,
    ),
    "--metrics": ("test_local_serve.py::test_serve_writes_metrics_only_when_asked",),
    "--containers": (
        "test_local_serve.py::test_containers_per_function_are_configurable",
        "test_local_lambda_runtime.py::test_a_container_starts_only_when_all_are_busy_and_never_beyond_the_maximum",
    ),
}

# Params used in serverless.yml other than as an environment variable: where, and the tests.
DEPLOY_PARAMETERS: dict[str, dict[tuple[str, ...], tuple[Callable[..., object] | str, ...]]] = {
    "issuer": {("resources", "Outputs", "ApiUrl", "Value"): (test_issuer_is_the_iss_of_issued_tokens,)},
    "authorizerResultTtl": {
        ("custom", "browserSessions", "off", "resultTtlInSeconds"): (
            test_authorizer_result_ttl_param_is_api_gateways_cache_of_answers,
            "test_local_gateway.py::test_cache_is_keyed_by_identity_sources_and_expires",
        )
    },
    "cookies": {
        path: ("test_cookie_sessions.py::test_the_cookies_param_switches_the_authorizers_identity_sources",)
        for path in (
            ("provider", "httpApi", "cors"),
            ("provider", "httpApi", "authorizers", "jwtAuthorizer", "identitySource"),
            ("provider", "httpApi", "authorizers", "jwtAuthorizer", "resultTtlInSeconds"),
        )
    },
}


# Params that set a property of the deployed functions, which no local request can show, and
# what checks them.
DEPLOY_TIME: dict[str, dict[tuple[str, ...], str]] = {
    "keyRotationSchedule": {
        path: "the EventBridge rule of the rotation (cfn-lint checks the expression; "
        "test_key_rotation.py::test_the_scheduled_rotation_runs_one_step_per_run runs its target)"
        for path in deploy_parameter_uses()["keyRotationSchedule"]
    },
    "kmsAliasPrefix": {
        path: "IAM: scripts/check_policies.py requires it on kms:Sign and on the rotation's KMS grants; "
        "key_rotation creates the aliases and tags "
        "(test_key_rotation.py::test_revoking_the_current_key_without_a_next_one_signs_with_a_new_key_at_once)"
        for path in deploy_parameter_uses()["kmsAliasPrefix"]
    },
    "authorizerArtifact": {
        (
            "functions",
            "authorizer",
            "package",
            "artifact",
        ): "the zip deployed (scripts/check_deploy.sh packages it)"
    },
    "serviceArtifact": {
        ("functions", name, "package", "artifact"): "the zip deployed (scripts/check_deploy.sh packages it)"
        for name in load_service_definition(SERVERLESS_YML).functions
        if name != "authorizer"
    },
    "authorizerSnapStart": {
        (
            "functions",
            "authorizer",
            "snapStart",
        ): "scripts/check_deploy.sh packages the SnapStart variant and checks it"
    },
    # Monitoring (README: "Monitoring"): CloudFormation parameters of the alarms, the dashboard and
    # tracing; scripts/check_policies.py checks the alarms against the metric names the code writes.
    **{
        param: {
            path: "the alarms, dashboard or tracing of the stack (scripts/check_policies.py, cfn-lint)"
            for path in deploy_parameter_uses()[param]
            if "environment" not in path
        }
        for param in (
            "metricsNamespace",
            "alarmTopicArn",
            "alarmReuseDetections",
            "alarmLockouts",
            "alarmAuthorizerP99Ms",
            "tracing",
        )
    },
    # Several regions (README: "Several regions"): which tables this stack makes, and where their
    # replicas are; cfn-lint and scripts/check_policies.py check every variant of the tables.
    **{
        param: {
            path: "the stack's tables and their replicas (scripts/check_policies.py checks each variant)"
            for path in deploy_parameter_uses()[param]
        }
        for param in ("replicaRegions", "primaryRegion", "alarmReplicationLatencyMs")
    },
    "loginReservedConcurrency": {
        (
            "functions",
            name,
            "reservedConcurrency",
        ): "Lambda's reserved concurrency of the function (deploy time only)"
        for name in ("login", "token")
    },
}
