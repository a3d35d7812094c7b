"""Several trusted issuers: our own, Cognito user pools and OIDC issuers, in one authorizer."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import pytest
from moto.server import ThreadedMotoServer

from auth_service.denylist import Denylist
from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from auth_service.tables import create_tables
from auth_service.tokens import TokenIssuer
from authorizer.bootstrap import build_authorizer
from authorizer.cognito import cognito_issuer
from authorizer.config import AuthorizerConfig
from authorizer.errors import (
    AudienceMismatchError,
    ConfigurationError,
    InsufficientScopeError,
    IssuerMismatchError,
    TokenTypeError,
)
from authorizer.issuers import parse_trusted_issuers

OWN = "https://auth.example.test"
POOL = cognito_issuer("us-east-1", "us-east-1_TestPool1")
OTHER_POOL = cognito_issuer("us-east-1", "us-east-1_OtherPool")
CLIENT = "app-client-1"
DENYLIST = "issuers-denylist"


@pytest.fixture(scope="module")
def pool_ring() -> KeyRing:
    """Stands in for a user pool's signing key (Cognito signs RS256 and sets no typ)."""
    return load_key_ring(generate_private_key_pem("RS256"))


def cognito_token(ring: KeyRing, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": POOL,
        "sub": str(uuid.uuid4()),
        "client_id": CLIENT,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "iat": now,
        "auth_time": now,
        "exp": now + 3600,
        "jti": str(uuid.uuid4()),
        "origin_jti": str(uuid.uuid4()),
        "username": "alice",
    }
    headers = overrides.pop("headers", {})
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    key = ring.current
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, **headers})


def entry(ring: KeyRing, **overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"issuer": POOL, "type": "cognito", "jwks": ring.jwks(), "client_ids": [CLIENT]}
    value.update(overrides)
    return value


@pytest.fixture
def environment(dynamodb: Any, ring: KeyRing) -> dict[str, str]:
    create_tables(dynamodb, denylist=DENYLIST)
    return {
        "AUTH_ISSUER": OWN,
        "AUTH_AUDIENCE": "orders-api",
        "AUTH_JWKS": json.dumps(ring.jwks()),
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AUTH_REVOCATION_CACHE_SECONDS": "0",
        "AWS_REGION": "us-east-1",
    }


def authorize(
    env: dict[str, str], trusted: list[dict[str, Any]], token: str, route: str = "GET /orders"
) -> Any:
    config = AuthorizerConfig.from_env({**env, "AUTH_TRUSTED_ISSUERS": json.dumps(trusted)})
    return build_authorizer(config).handle(http_event(token, route))


def http_event(token: str, route: str = "GET /orders") -> dict[str, Any]:
    method, path = route.split(" ")
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:api1/$default/{method}{path}",
        "routeKey": route,
        "rawPath": path,
        "headers": {"authorization": f"Bearer {token}"},
        "requestContext": {"http": {"method": method, "path": path}},
    }


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"issuer": POOL}, "list"),
        ([{"type": "cognito"}], "'issuer' must be"),
        ([{"issuer": "http://cognito.example.com/pool", "type": "cognito", "client_ids": ["c"]}], "https"),
        ([{"issuer": POOL + "/", "type": "cognito", "client_ids": ["c"]}], "'issuer' must be"),
        ([{"issuer": POOL, "type": "saml", "client_ids": ["c"]}], "'type'"),
        ([{"issuer": POOL, "type": "cognito"}], "'client_ids'"),
        ([{"issuer": POOL, "type": "cognito", "client_ids": []}], "at least one"),
        ([{"issuer": "https://idp.example.com", "audiences": ["a"]}], "jwks_uri, jwks or jwks_file"),
        ([{"issuer": POOL, "type": "cognito", "client_ids": ["c"], "token_use": "refresh"}], "token_use"),
        ([{"issuer": POOL, "type": "cognito", "client_ids": ["c"], "algorithms": ["HS256"]}], "algorithms"),
        ([{"issuer": POOL, "type": "cognito", "client_ids": ["c"], "jwks_uri": "file:///etc/x"}], "jwks_uri"),
        ([{"issuer": POOL, "type": "cognito", "client_ids": ["c"], "clientids": ["c"]}], "unknown keys"),
        (
            [{"issuer": POOL, "type": "cognito", "client_ids": ["c"], "jwks": {}, "jwks_uri": POOL}],
            "only one",
        ),
        ([{"issuer": POOL, "type": "cognito", "client_ids": ["c"]}] * 2, "same issuer twice"),
        (
            [{"issuer": POOL, "type": "cognito", "client_ids": ["c"], "group_scopes": {"a": ["x"]}}],
            "group_scopes",
        ),
    ],
)
def test_trusted_issuer_configuration_mistakes_are_refused(value: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_trusted_issuers(value)


def test_cognito_jwks_uri_defaults_to_the_pools_well_known_url() -> None:
    (issuer,) = parse_trusted_issuers([{"issuer": POOL, "type": "cognito", "client_ids": ["c"]}])
    assert issuer.jwks_uri == POOL + "/.well-known/jwks.json"
    assert issuer.token_use == "access" and issuer.algorithms == ("RS256",)


def test_our_own_issuer_cannot_be_listed_again(environment: dict[str, str]) -> None:
    value = json.dumps([{"issuer": OWN, "audiences": ["x"], "jwks": {"keys": []}}])
    with pytest.raises(ConfigurationError, match="must not list our own issuer"):
        AuthorizerConfig.from_env({**environment, "AUTH_TRUSTED_ISSUERS": value})


# --------------------------------------------------------------------------- verification


def test_our_tokens_and_pool_tokens_are_both_accepted(
    environment: dict[str, str], ring: KeyRing, pool_ring: KeyRing
) -> None:
    own = TokenIssuer(
        ring, issuer=OWN, audience="orders-api", client_id="web", access_ttl=900, refresh_ttl=3600
    )
    trusted = [entry(pool_ring)]
    assert authorize(environment, trusted, own.issue("u1", "profile").access_token)["isAuthorized"]
    response = authorize(environment, trusted, cognito_token(pool_ring, sub="cognito-user"))
    assert response["isAuthorized"] is True
    assert response["context"]["sub"] == "cognito-user"
    assert response["context"]["iss"] == POOL


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": OTHER_POOL}, "IssuerMismatchError"),
        ({"client_id": "another-client"}, "AudienceMismatchError"),
        ({"token_use": "id"}, "TokenTypeError"),
        ({"headers": {"typ": "at+jwt"}}, "TokenTypeError"),
        ({"exp": int(time.time()) - 3600}, "TokenExpiredError"),
        ({"jti": None}, "InvalidClaimError"),
    ],
)
def test_pool_tokens_that_do_not_fit_are_refused(
    environment: dict[str, str], pool_ring: KeyRing, overrides: dict[str, Any], reason: str, caplog: Any
) -> None:
    with caplog.at_level("INFO", logger="lambda_jwt_auth"):
        assert authorize(environment, [entry(pool_ring)], cognito_token(pool_ring, **overrides)) == {
            "isAuthorized": False
        }
    assert reason in caplog.text


def test_a_token_signed_by_another_pools_key_is_refused(
    environment: dict[str, str], pool_ring: KeyRing
) -> None:
    other = load_key_ring(generate_private_key_pem("RS256"))
    forged = cognito_token(other)  # right iss and client, wrong key (its kid is unknown)
    assert authorize(environment, [entry(pool_ring)], forged) == {"isAuthorized": False}


def test_id_tokens_are_checked_by_aud(environment: dict[str, str], pool_ring: KeyRing) -> None:
    trusted = [entry(pool_ring, token_use="id")]
    id_token = cognito_token(pool_ring, token_use="id", aud=CLIENT, client_id=None)
    assert authorize(environment, trusted, id_token)["isAuthorized"] is True
    wrong_aud = cognito_token(pool_ring, token_use="id", aud="someone-else", client_id=None)
    assert authorize(environment, trusted, wrong_aud) == {"isAuthorized": False}
    # An access token is not an ID token.
    assert authorize(environment, trusted, cognito_token(pool_ring)) == {"isAuthorized": False}


def test_required_groups_and_scopes(environment: dict[str, str], pool_ring: KeyRing) -> None:
    trusted = [entry(pool_ring, required_groups=["admins", "ops"], required_scopes=["orders/read"])]
    good = cognito_token(pool_ring, **{"cognito:groups": ["ops"], "scope": "orders/read openid"})
    assert authorize(environment, trusted, good)["isAuthorized"] is True
    no_group = cognito_token(pool_ring, **{"cognito:groups": ["users"], "scope": "orders/read"})
    assert authorize(environment, trusted, no_group) == {"isAuthorized": False}
    no_scope = cognito_token(pool_ring, **{"cognito:groups": ["admins"], "scope": "openid"})
    assert authorize(environment, trusted, no_scope) == {"isAuthorized": False}


def test_group_scopes_grant_route_scopes(environment: dict[str, str], pool_ring: KeyRing) -> None:
    env = {
        **environment,
        "AUTH_ROUTE_SCOPES": json.dumps({"GET /me": ["profile"], "POST /orders": ["orders:write"]}),
    }
    trusted = [entry(pool_ring, default_scope="profile", group_scopes={"buyers": "orders:write"})]
    buyer = cognito_token(pool_ring, **{"cognito:groups": ["buyers"]})
    reader = cognito_token(pool_ring)
    assert authorize(env, trusted, buyer, "POST /orders")["isAuthorized"] is True
    assert authorize(env, trusted, reader, "POST /orders") == {"isAuthorized": False}
    response = authorize(env, trusted, reader, "GET /me")
    assert response["isAuthorized"] is True
    assert response["context"]["scope"] == "aws.cognito.signin.user.admin profile"


def test_revoked_origin_jti_and_signed_out_user_are_refused(
    dynamodb: Any, environment: dict[str, str], pool_ring: KeyRing
) -> None:
    denylist = Denylist(dynamodb, DENYLIST, max_token_lifetime=3600, leeway=30)
    origin, sub = str(uuid.uuid4()), str(uuid.uuid4())
    trusted = [entry(pool_ring)]
    assert authorize(environment, trusted, cognito_token(pool_ring, origin_jti=origin))["isAuthorized"]
    dynamodb.put_item(
        TableName=DENYLIST,
        Item={"pk": {"S": f"origin#{origin}"}, "expires_at": {"N": str(int(time.time()) + 3600)}},
    )
    assert authorize(environment, trusted, cognito_token(pool_ring, origin_jti=origin)) == {
        "isAuthorized": False
    }
    old = cognito_token(pool_ring, sub=sub, iat=int(time.time()) - 5)
    denylist.revoke_user(sub, "test")
    assert authorize(environment, trusted, old) == {"isAuthorized": False}


def test_our_refresh_token_is_not_a_pool_token(
    environment: dict[str, str], ring: KeyRing, pool_ring: KeyRing
) -> None:
    own = TokenIssuer(
        ring, issuer=OWN, audience="orders-api", client_id="web", access_ttl=900, refresh_ttl=3600
    )
    refresh = own.issue("u1", "profile").refresh_token
    assert authorize(environment, [entry(pool_ring)], refresh) == {"isAuthorized": False}


def test_verifier_errors_have_their_own_classes(environment: dict[str, str], pool_ring: KeyRing) -> None:
    from authorizer.bootstrap import trusted_verifier
    from authorizer.config import JwksCacheSettings

    (trusted,) = parse_trusted_issuers([entry(pool_ring, required_groups=["admins"])])
    verifier = trusted_verifier(trusted, JwksCacheSettings(1.0, 60, 3600), 30)
    with pytest.raises(AudienceMismatchError):
        verifier.verify(cognito_token(pool_ring, client_id="x", **{"cognito:groups": ["admins"]}))
    with pytest.raises(TokenTypeError):
        verifier.verify(cognito_token(pool_ring, token_use="id", **{"cognito:groups": ["admins"]}))
    with pytest.raises(InsufficientScopeError):
        verifier.verify(cognito_token(pool_ring))
    assert verifier.verify(cognito_token(pool_ring, **{"cognito:groups": ["admins"]})).groups == ("admins",)


def test_unknown_issuer_is_refused_before_any_key_lookup(
    environment: dict[str, str], pool_ring: KeyRing
) -> None:
    from authorizer.issuers import TrustedIssuers

    with pytest.raises(IssuerMismatchError):
        TrustedIssuers({}).verify(cognito_token(pool_ring, iss="https://evil.example.com"))


# --------------------------------------------------------------------------- a real (moto) user pool


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def moto_pool() -> Iterator[dict[str, Any]]:
    """A user pool in moto's server mode, the only way the JWKS is served over HTTP.

    moto's server shares state with `mock_aws`, which resets it: this fixture uses no
    `mock_aws`, and keeps the denylist table on the same server.
    """
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    client = session.client("cognito-idp", endpoint_url=endpoint)
    pool = client.create_user_pool(PoolName="issuers-test")["UserPool"]["Id"]
    app = client.create_user_pool_client(
        UserPoolId=pool,
        ClientName="app",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    client.admin_create_user(UserPoolId=pool, Username="carol", MessageAction="SUPPRESS")
    client.admin_set_user_password(
        UserPoolId=pool, Username="carol", Password="Passw0rd!Passw0rd", Permanent=True
    )
    client.create_group(UserPoolId=pool, GroupName="readers")
    client.admin_add_user_to_group(UserPoolId=pool, Username="carol", GroupName="readers")
    create_tables(session.client("dynamodb", endpoint_url=endpoint), denylist=DENYLIST)
    yield {"endpoint": endpoint, "pool": pool, "client_id": app, "cognito": client}
    server.stop()


def test_real_pool_tokens_are_accepted_through_the_jwks_endpoint(
    moto_pool: dict[str, Any], ring: KeyRing
) -> None:
    cognito = moto_pool["cognito"]
    result = cognito.initiate_auth(
        ClientId=moto_pool["client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "carol", "PASSWORD": "Passw0rd!Passw0rd"},
    )["AuthenticationResult"]
    issuer = cognito_issuer("us-east-1", moto_pool["pool"])
    trusted = [
        {
            "issuer": issuer,
            "type": "cognito",
            "jwks_uri": f"{moto_pool['endpoint']}/{moto_pool['pool']}/.well-known/jwks.json",
            "client_ids": [moto_pool["client_id"]],
            "group_scopes": {"readers": "profile"},
            "preload": True,
        }
    ]
    env = {
        "AUTH_ISSUER": OWN,
        "AUTH_AUDIENCE": "orders-api",
        "AUTH_JWKS": json.dumps(ring.jwks()),
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AUTH_DYNAMODB_ENDPOINT": moto_pool["endpoint"],
        "AUTH_ROUTE_SCOPES": json.dumps({"GET /me": ["profile"]}),
        "AWS_REGION": "us-east-1",
    }
    response = authorize(env, trusted, result["AccessToken"], "GET /me")
    assert response["isAuthorized"] is True
    assert response["context"]["groups"] == "readers"
    # The ID token of the same login is not an access token.
    assert authorize(env, trusted, result["IdToken"], "GET /me") == {"isAuthorized": False}
    # An app client the authorizer does not trust.
    other = [{**trusted[0], "client_ids": ["not-this-app"]}]
    assert authorize(env, other, result["AccessToken"], "GET /me") == {"isAuthorized": False}
