"""Several trusted issuers: our own, Cognito user pools and OIDC issuers, in one authorizer."""

from __future__ import annotations

import base64
import hashlib
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
from authorizer.errors import (
    AudienceMismatchError,
    ConfigurationError,
    InsufficientScopeError,
    IssuerMismatchError,
    TokenTypeError,
)
from authorizer.gateway.bootstrap import build_authorizer, trusted_verifier
from authorizer.gateway.config import AuthorizerConfig, JwksCacheSettings
from authorizer.tokens.cognito import cognito_issuer
from authorizer.tokens.issuers import ScopedVerifier, TrustedIssuer, Verifier, parse_trusted_issuers
from authorizer.tokens.jws import parse_token

OWN = "https://auth.example.test"
POOL = cognito_issuer("us-east-1", "us-east-1_TestPool1")
OTHER_POOL = cognito_issuer("us-east-1", "us-east-1_OtherPool")
CLIENT = "app-client-1"
DENYLIST = "issuers-denylist"
ENTRA = "https://login.microsoftonline.com/00000000-0000-0000-0000-00000000cafe/v2.0"
ENTRA_AUDIENCE = "api://orders"
OIDC_ENTRY: dict[str, Any] = {"issuer": ENTRA, "audiences": [ENTRA_AUDIENCE], "jwks": {"keys": []}}


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
        *(
            ([{**OIDC_ENTRY, "ignored_header_parameters": names}], "may name only x5t, x5t#S256")
            for names in (["jku"], ["x5u"], ["jwk"], ["x5c"], ["crit"], ["b64"], ["zip"], ["cty"], ["kid"])
        ),
        ([{**OIDC_ENTRY, "ignored_header_parameters": [7]}], "list of strings"),
        ([{**OIDC_ENTRY, "ignored_header_parameters": {"x5t": True}}], "list of strings"),
        (
            [{"issuer": POOL, "type": "cognito", "client_ids": ["c"], "ignored_header_parameters": ["x5t"]}],
            "'ignored_header_parameters' is for oidc issuers",
        ),
        ([{**OIDC_ENTRY, "algorithms": ["EdDSA", "ed25519"]}], "algorithms"),
    ],
)
def test_trusted_issuer_configuration_mistakes_are_refused(value: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_trusted_issuers(value)


def test_an_oidc_issuer_may_list_ed25519_and_the_thumbprint_headers() -> None:
    (issuer,) = parse_trusted_issuers(
        [{**OIDC_ENTRY, "algorithms": ["Ed25519", "EdDSA"], "ignored_header_parameters": ["x5t", "x5t#S256"]}]
    )
    assert issuer.algorithms == ("Ed25519", "EdDSA")
    assert issuer.ignored_header_parameters == ("x5t", "x5t#S256")
    (plain,) = parse_trusted_issuers([OIDC_ENTRY])
    assert plain.ignored_header_parameters == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["x"], "entry #0 is not a JSON object"),
        (
            [OIDC_ENTRY, {**OIDC_ENTRY, "Issuer": ENTRA, "aud": ["a"]}],
            "entry #1 has unknown keys: Issuer, aud",
        ),
        ([{"issuer": POOL, "type": "saml"}], f"issuer {POOL!r}: 'type' must be one of cognito, oidc"),
        (
            [{**OIDC_ENTRY, "client_ids": ["c"], "token_use": "id"}],
            f"issuer {ENTRA!r} is of type oidc: 'client_ids' is for cognito issuers (list an OIDC "
            "issuer's accepted `aud` values in 'audiences'); 'token_use' is for cognito issuers "
            "(an OIDC issuer's tokens are told apart by their header 'typ')",
        ),
        (
            [{**OIDC_ENTRY, "jwks": None, "jwks_file": "keys.json", "jwks_uri": "https://idp.example.com/keys"}],
            f"issuer {ENTRA!r}: give only one of jwks_uri, jwks, jwks_file",
        ),
        (
            [{**OIDC_ENTRY, "required_scopes": ["orders", ""]}],
            f"issuer {ENTRA!r}: 'required_scopes' must be a list of strings",
        ),
        (
            [{**OIDC_ENTRY, "ignored_header_parameters": [""]}],
            f"issuer {ENTRA!r}: 'ignored_header_parameters' must be a list of strings",
        ),
        ([{**OIDC_ENTRY, "preload": "yes"}], f"issuer {ENTRA!r}: 'preload' has the wrong type"),
        ({"issuer": ENTRA}, "must be a JSON list of issuer objects"),
        ([OIDC_ENTRY, OIDC_ENTRY], "lists the same issuer twice"),
        (
            [{"issuer": POOL, "type": "cognito", "client_ids": ["c"], "token_use": "id",
              "required_scopes": ["a"]}],
            f"issuer {POOL!r}: 'required_scopes' cannot hold for Cognito ID tokens, which carry no `scope`: "
            "trust access tokens (token_use 'access'), or require groups with 'required_groups'",
        ),
        (
            [{**OIDC_ENTRY, "preload": True}],
            f"issuer {ENTRA!r}: 'preload' fetches keys from 'jwks_uri'; keys given in 'jwks' or "
            "'jwks_file' are loaded at cold start anyway (remove 'preload')",
        ),
        (
            [{**OIDC_ENTRY, "algorithms": "HS256"}],
            f"issuer {ENTRA!r}: 'algorithms' must be among RS256, ES256, EdDSA, Ed25519",
        ),
        ([{**OIDC_ENTRY, "algorithms": [1]}], f"issuer {ENTRA!r}: 'algorithms' must be a list of strings"),
        ([{**OIDC_ENTRY, "typ": 1}], f"issuer {ENTRA!r}: 'typ' has the wrong type"),
        ([{**OIDC_ENTRY, "jwks": []}], f"issuer {ENTRA!r}: 'jwks' has the wrong type"),
        (
            [{**OIDC_ENTRY, "jwks": None, "jwks_file": ["a"]}],
            f"issuer {ENTRA!r}: 'jwks_file' has the wrong type",
        ),
        ([{**OIDC_ENTRY, "default_scope": ["a"]}], f"issuer {ENTRA!r}: 'default_scope' has the wrong type"),
        (
            [{"issuer": POOL, "type": "cognito", "client_ids": ["c"], "required_groups": [""]}],
            f"issuer {POOL!r}: 'required_groups' must be a list of strings",
        ),
    ],
    ids=[
        "not an object", "unknown keys", "type", "keys of the other type", "two key sources",
        "required_scopes", "ignored_header_parameters", "a wrong type", "not a list", "twice",
        "scopes on ID tokens", "preload without a URL", "algorithms", "algorithms not strings", "typ",
        "jwks", "jwks_file", "default_scope", "required_groups",
    ],
)  # fmt: skip
def test_a_configuration_mistake_is_named_whole(value: Any, message: str) -> None:
    # The whole message: where the mistake is (which entry, which issuer) and what to do.
    with pytest.raises(ConfigurationError) as refused:
        parse_trusted_issuers(value)
    assert str(refused.value) == message


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_plain_http_is_for_an_issuer_and_keys_on_this_machine_only(scheme: str, host: str) -> None:
    # A local emulator (moto, cognito-local) speaks plain http on a loopback address.
    local = f"{scheme}://{host}:9229/us-east-1_Local"
    (issuer,) = parse_trusted_issuers([{"issuer": local, "type": "cognito", "client_ids": ["c"]}])
    assert (issuer.issuer, issuer.jwks_uri) == (local, local + "/.well-known/jwks.json")
    (oidc,) = parse_trusted_issuers([{**OIDC_ENTRY, "jwks": None, "jwks_uri": f"http://{host}:8080/keys"}])
    assert oidc.jwks_uri == f"http://{host}:8080/keys"


@pytest.mark.parametrize("host", ["idp.example.com", "10.0.0.7", "localhost.example.com", "[::2]"])
def test_keys_are_never_fetched_in_plain_text_from_another_machine(host: str) -> None:
    # Anyone on the way could swap the keys of an http JWKS, and then any token they sign
    # verifies: jwks_uri is https, as the issuer is.
    with pytest.raises(ConfigurationError) as refused:
        parse_trusted_issuers([{**OIDC_ENTRY, "jwks": None, "jwks_uri": f"http://{host}/keys"}])
    assert str(refused.value) == (
        f"issuer {ENTRA!r}: 'jwks_uri' must be an https:// URL (plain http only on this machine: "
        "localhost, 127.0.0.1 or [::1])"
    )
    with pytest.raises(ConfigurationError, match="'issuer' must be the exact https:// URL"):
        parse_trusted_issuers([{**OIDC_ENTRY, "issuer": f"http://{host}/pool"}])
    (https,) = parse_trusted_issuers([{**OIDC_ENTRY, "jwks": None, "jwks_uri": f"https://{host}/keys"}])
    assert https.jwks_uri == f"https://{host}/keys"


@pytest.mark.parametrize("kind", ["oidc", "cognito"])
def test_keys_from_a_file_are_the_only_source(kind: str) -> None:
    # A bundled file: no URL at all, not even Cognito's default one.
    audiences = {"client_ids": ["c"]} if kind == "cognito" else {"audiences": ["a"]}
    (issuer,) = parse_trusted_issuers([{"issuer": POOL, "type": kind, "jwks_file": "pool.json", **audiences}])
    assert (issuer.jwks_file, issuer.jwks_uri, issuer.jwks) == ("pool.json", None, None)


def test_group_scopes_alone_grant_nothing_to_a_token_outside_the_groups(pool_ring: KeyRing) -> None:
    (trusted,) = parse_trusted_issuers([entry(pool_ring, group_scopes={"buyers": "orders:write"})])
    verifier = built_verifier(trusted)
    assert verifier.verify(cognito_token(pool_ring)).scope == "aws.cognito.signin.user.admin"
    assert verifier.verify(cognito_token(pool_ring, scope=None)).scope == ""
    buyer = cognito_token(pool_ring, **{"cognito:groups": ["buyers"]})
    assert verifier.verify(buyer).scope == "aws.cognito.signin.user.admin orders:write"


def test_one_audience_may_be_given_as_a_string() -> None:
    (issuer,) = parse_trusted_issuers([{**OIDC_ENTRY, "audiences": ENTRA_AUDIENCE}])
    assert issuer.audiences == (ENTRA_AUDIENCE,)


def built_verifier(trusted: TrustedIssuer) -> Verifier:
    """The verifier the authorizer builds for a trusted issuer (its defaults)."""
    settings = JwksCacheSettings(timeout_seconds=1, cooldown_seconds=30, max_age_seconds=3600)
    return trusted_verifier(trusted, settings, leeway=30, max_token_bytes=8192)


def test_a_scoped_verifier_adds_the_same_scopes_to_a_token_and_to_its_parse(pool_ring: KeyRing) -> None:
    (trusted,) = parse_trusted_issuers(
        [entry(pool_ring, default_scope="profile", group_scopes={"buyers": "orders:write profile"})]
    )
    verifier = built_verifier(trusted)
    assert isinstance(verifier, ScopedVerifier)
    token = cognito_token(pool_ring, **{"cognito:groups": ["buyers", "sellers"]})
    granted = "aws.cognito.signin.user.admin profile orders:write"
    assert verifier.verify(token).scope == granted
    assert verifier.verify_parsed(parse_token(token)).scope == granted
    with pytest.raises(AudienceMismatchError):  # still the verifier's whole judgement
        verifier.verify(cognito_token(pool_ring, client_id="another-client"))


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
        ({"iss": OTHER_POOL}, "UntrustedIssuerError"),
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
    from authorizer.gateway.bootstrap import trusted_verifier
    from authorizer.gateway.config import JwksCacheSettings

    (trusted,) = parse_trusted_issuers([entry(pool_ring, required_groups=["admins"])])
    verifier = trusted_verifier(trusted, JwksCacheSettings(1.0, 60, 3600), leeway=30, max_token_bytes=8192)
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
    from authorizer.tokens.issuers import TrustedIssuers

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


# --------------------------------------------------------------------------- header parameters per issuer


@pytest.fixture(scope="module")
def entra_rings() -> tuple[KeyRing, KeyRing]:
    return load_key_ring(generate_private_key_pem("RS256")), load_key_ring(generate_private_key_pem("RS256"))


def x5t_of(ring: KeyRing) -> str:
    # Entra publishes each key's certificate thumbprint; any 20 bytes stand for it here.
    return base64.urlsafe_b64encode(hashlib.sha1(ring.current.kid.encode()).digest()).decode().rstrip("=")  # noqa: S324


def entra_entry(rings: tuple[KeyRing, ...], **overrides: Any) -> dict[str, Any]:
    keys = [{**ring.current.public_jwk, "x5t": x5t_of(ring)} for ring in rings]
    for key in keys:  # as Entra publishes them: no alg, no key_ops
        key.pop("alg"), key.pop("key_ops", None)
    return {**OIDC_ENTRY, "jwks": {"keys": keys}, **overrides}


def entra_token(signer: KeyRing, *, kid: str | None = None, **headers: Any) -> str:
    """Shaped as Microsoft Entra ID signs: header {typ, alg, kid, x5t}; the claims we require."""
    now = int(time.time())
    claims = {
        "iss": ENTRA, "aud": ENTRA_AUDIENCE, "sub": "entra-user", "jti": str(uuid.uuid4()),
        "iat": now, "nbf": now, "exp": now + 3600, "scp": "orders.read", "tid": "cafe",
    }  # fmt: skip
    header = {"typ": "JWT", "alg": "RS256", "kid": kid or signer.current.kid, **headers}
    assert signer.current.private_key is not None
    return jwt.encode(claims, signer.current.private_key, algorithm="RS256", headers=header)


def test_setting_ignored_header_parameters_lets_x5t_through_for_that_issuer_only(
    environment: dict[str, str], entra_rings: tuple[KeyRing, KeyRing], caplog: Any
) -> None:
    signer, _ = entra_rings
    token = entra_token(signer, x5t=x5t_of(signer))
    assert list(jwt.get_unverified_header(token)) == ["alg", "kid", "typ", "x5t"]
    allowed = [entra_entry(entra_rings, ignored_header_parameters=["x5t"])]
    assert authorize(environment, allowed, token)["isAuthorized"] is True
    with caplog.at_level("INFO", logger="lambda_jwt_auth"):
        assert authorize(environment, [entra_entry(entra_rings)], token) == {"isAuthorized": False}
    assert "header parameter(s) not accepted: x5t" in caplog.text
    # Allowing x5t allows nothing else: x5t#S256 must be named too.
    sha256 = entra_token(signer, **{"x5t#S256": x5t_of(signer) + "AAAAAAAAAAAAAAAAAAAAAAAA"})
    assert authorize(environment, allowed, sha256) == {"isAuthorized": False}
    both = [entra_entry(entra_rings, ignored_header_parameters=["x5t", "x5t#S256"])]
    assert authorize(environment, both, sha256)["isAuthorized"] is True


def test_an_x5t_naming_another_key_selects_nothing(
    environment: dict[str, str], entra_rings: tuple[KeyRing, KeyRing]
) -> None:
    first, second = entra_rings
    trusted = [entra_entry(entra_rings, ignored_header_parameters=["x5t"])]
    # Signed by the kid's key, x5t naming the other key: the kid's key verifies it.
    assert authorize(environment, trusted, entra_token(first, x5t=x5t_of(second)))["isAuthorized"] is True
    # Signed by the key the x5t names, under the other key's kid: refused, x5t is never a key.
    forged = entra_token(second, kid=first.current.kid, x5t=x5t_of(second))
    assert authorize(environment, trusted, forged) == {"isAuthorized": False}
    # And with no kid at all, x5t does not stand in for it.
    keyed = entra_token(first, x5t=x5t_of(first))
    stripped = {k: v for k, v in jwt.get_unverified_header(keyed).items() if k != "kid"}
    unkeyed = jwt.encode(
        jwt.decode(keyed, options={"verify_signature": False}),
        first.current.private_key,
        algorithm="RS256",
        headers=stripped,
    )
    assert "kid" not in jwt.get_unverified_header(unkeyed)
    assert authorize(environment, trusted, unkeyed) == {"isAuthorized": False}


def test_our_own_tokens_stay_as_strict_when_an_issuer_may_send_x5t(
    environment: dict[str, str], ring: KeyRing, entra_rings: tuple[KeyRing, KeyRing]
) -> None:
    own = TokenIssuer(
        ring, issuer=OWN, audience="orders-api", client_id="web", access_ttl=900, refresh_ttl=3600
    )
    token = own.issue("u1", "profile").access_token
    trusted = [entra_entry(entra_rings, ignored_header_parameters=["x5t", "x5t#S256"])]
    assert authorize(environment, trusted, token)["isAuthorized"] is True
    for name in ("x5t", "x5t#S256"):
        decoded = {**jwt.get_unverified_header(token), name: x5t_of(ring)}
        resigned = jwt.encode(
            jwt.decode(token, options={"verify_signature": False}),
            ring.current.private_key,
            algorithm=ring.current.alg,
            headers=decoded,
        )
        assert authorize(environment, trusted, resigned) == {"isAuthorized": False}


def test_a_token_of_another_type_is_refused_as_that_and_not_as_a_missing_claim(pool_ring: KeyRing) -> None:
    """A Cognito access token offered where ID tokens are trusted names the type mismatch (it
    lacks `aud` too, but that is not what is wrong), and the article reads right."""
    from authorizer.errors import TokenTypeError
    from authorizer.tokens.cognito import COGNITO_ID
    from authorizer.tokens.verifier import REFRESH, TokenVerifier

    verifier = TokenVerifier(pool_ring.key_set(), issuer=POOL, audience=CLIENT, token_type=COGNITO_ID)
    with pytest.raises(TokenTypeError, match=r"^not a Cognito ID token \(token_use must be id\)$"):
        verifier.verify(cognito_token(pool_ring))
    refresh = TokenVerifier(pool_ring.key_set(), issuer=POOL, audience=CLIENT, token_type=REFRESH)
    with pytest.raises(TokenTypeError, match=r"^not a refresh token"):
        refresh.verify(cognito_token(pool_ring))
    assert REFRESH.article == "a refresh" and COGNITO_ID.article == "a Cognito ID"
