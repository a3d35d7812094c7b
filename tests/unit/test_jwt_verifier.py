"""The verifier as a library (authorizer.tokens.jwt_verifier), through its public API only.

Tokens are made with PyJWT (an independent signer), keys served by a local issuer (discovery
document and JWKS over HTTP); the documentation's example (docs/guide/verifier-library.md) is run as written.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import authorizer
from authorizer import (
    CognitoJwtVerifier,
    JwksUnavailableError,
    JwtAlgorithmNotAllowedError,
    JwtConfigurationError,
    JwtError,
    JwtExpiredError,
    JwtInsufficientScopeError,
    JwtInvalidClaimError,
    JwtInvalidSignatureError,
    JwtInvalidTokenError,
    JwtRevokedError,
    JwtVerifier,
    JwtWrongAudienceError,
    JwtWrongIssuerError,
    JwtWrongTypeError,
    KidNotFoundError,
    RevocationList,
)
from tests.unit.test_inspect_token import FakeIssuer, SigningKey, make_key, serving, sign

ROOT = Path(__file__).resolve().parents[2]
POOL_ID = "eu-west-1_AbC123"
POOL_ISSUER = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL_ID}"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return make_key("RS256")


@pytest.fixture(scope="module")
def issuer(key: SigningKey) -> Iterator[FakeIssuer]:
    fake = FakeIssuer()
    fake.publish([key])
    yield from serving(fake)


def claims(iss: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": iss,
        "sub": "u-1",
        "aud": "orders-api",
        "iat": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
    }
    return {k: v for k, v in {**base, **overrides}.items() if v is not None}


def test_discovery_hydrate_and_verify(issuer: FakeIssuer, key: SigningKey) -> None:
    verifier = JwtVerifier(issuer=issuer.base, audience="orders-api")
    assert issuer.requests == []  # nothing fetched at construction
    verifier.hydrate()
    assert issuer.requests == ["/.well-known/openid-configuration", "/.well-known/jwks.json"]
    token = sign(key, claims(issuer.base, scope="orders:read"))
    verified = verifier.verify(token)
    assert (verified.sub, verified.scope, verified.issuer) == ("u-1", "orders:read", issuer.base)
    verifier.verify(sign(key, claims(issuer.base)))
    assert len(issuer.requests) == 2  # keys cached


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda c, h: (dict(c, exp=int(time.time()) - 100), h), JwtExpiredError),
        (lambda c, h: (dict(c, aud="other-api"), h), JwtWrongAudienceError),
        (lambda c, h: (c, dict(h, typ="rt+jwt")), JwtWrongTypeError),
        (lambda c, h: (c, dict(h, kid="unknown")), KidNotFoundError),
    ],
)
def test_each_refusal_is_a_named_jwt_error(
    issuer: FakeIssuer, key: SigningKey, change: Any, error: type
) -> None:
    verifier = JwtVerifier(issuer=issuer.base, audience="orders-api")
    payload, header = change(claims(issuer.base), {"typ": "at+jwt"})
    token = sign(key, payload, **header)
    with pytest.raises(error) as info:
        verifier.verify(token)
    assert isinstance(info.value, JwtInvalidTokenError) and isinstance(info.value, JwtError)
    assert token not in str(info.value) and token.split(".")[1] not in str(info.value)


def test_a_forged_signature_and_a_swapped_algorithm_are_refused(issuer: FakeIssuer, key: SigningKey) -> None:
    verifier = JwtVerifier(issuer=issuer.base, audience="orders-api", jwks={"keys": [key.jwk]})
    head, body, signature = sign(key, claims(issuer.base)).split(".")
    forged = ".".join((head, body, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")))
    with pytest.raises(JwtInvalidSignatureError):
        verifier.verify(forged)
    other = make_key("ES256")
    with pytest.raises(JwtAlgorithmNotAllowedError):
        verifier.verify(sign(other, claims(issuer.base), kid=key.kid))


def test_any_of_routes_by_exact_issuer(issuer: FakeIssuer, key: SigningKey) -> None:
    pool_key = make_key("RS256")
    ours = JwtVerifier(issuer=issuer.base, audience="orders-api")
    cognito = CognitoJwtVerifier(
        user_pool_id=POOL_ID,
        token_use="access",
        client_id="app-client",
        jwks_uri=f"{issuer.base}/pool/jwks.json",
    )
    import json

    issuer.routes["/pool/jwks.json"] = (200, json.dumps({"keys": [pool_key.jwk]}).encode(), {})
    both = JwtVerifier.any_of(ours, cognito)
    both.hydrate()
    assert both.verify(sign(key, claims(issuer.base))).sub == "u-1"
    pool_token = sign(
        pool_key,
        claims(POOL_ISSUER, aud=None, client_id="app-client", token_use="access", scope="profile"),
        typ=None,
    )
    assert both.verify(pool_token).scopes == {"profile"}
    with pytest.raises(JwtWrongIssuerError):
        both.verify(sign(key, claims(issuer.base + "/")))  # not exactly ours: refused unverified
    with pytest.raises(JwtConfigurationError, match="same issuer"):
        JwtVerifier.any_of(ours, JwtVerifier(issuer=issuer.base, audience="x"))


def test_cognito_checks_token_use_client_and_groups(issuer: FakeIssuer) -> None:
    import json

    pool_key = make_key("RS256")
    issuer.routes["/pool2/jwks.json"] = (200, json.dumps({"keys": [pool_key.jwk]}).encode(), {})
    verifier = CognitoJwtVerifier(
        user_pool_id=POOL_ID,
        token_use="id",
        client_id=["web", "mobile"],
        groups=["admins"],
        jwks_uri=f"{issuer.base}/pool2/jwks.json",
    )
    good = claims(POOL_ISSUER, aud="mobile", token_use="id", **{"cognito:groups": ["admins"]})
    assert verifier.verify(sign(pool_key, good, typ=None)).groups == ("admins",)
    with pytest.raises(JwtWrongTypeError):
        verifier.verify(sign(pool_key, dict(good, token_use="access"), typ=None))
    with pytest.raises(JwtInsufficientScopeError, match="group"):
        verifier.verify(sign(pool_key, dict(good, **{"cognito:groups": ["users"]}), typ=None))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"issuer": "not a url", "audience": "a"}, "issuer must be an https"),
        ({"issuer": "http://auth.example.com", "audience": "a"}, "http:// only on localhost"),
        ({"issuer": "https://auth.example.com", "audience": []}, "at least one"),
        ({"issuer": "https://auth.example.com", "audience": "a", "leeway": 3600}, "leeway"),
        ({"issuer": "https://auth.example.com", "audience": "a", "algorithms": ["HS256"]}, "algorithms"),
        (
            {
                "issuer": "https://auth.example.com",
                "audience": "a",
                "jwks": {"keys": []},
                "jwks_uri": "https://x",
            },
            "not both",
        ),
        (
            {"issuer": "https://auth.example.com", "audience": "a", "jwks": {"keys": [{"kty": "oct"}]}},
            "JWKS key #0",
        ),
    ],
)
def test_configuration_mistakes_raise_at_construction(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(JwtConfigurationError, match=message):
        JwtVerifier(**settings)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"user_pool_id": "nope", "token_use": "access", "client_id": "c"}, "user_pool_id"),
        ({"user_pool_id": POOL_ID, "token_use": "refresh", "client_id": "c"}, "token_use"),
        ({"user_pool_id": POOL_ID, "token_use": "id", "client_id": "c", "required_scopes": ["x"]}, "scope"),
    ],
)
def test_cognito_configuration_mistakes_raise_at_construction(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(JwtConfigurationError, match=message):
        CognitoJwtVerifier(**settings)


def test_hydrate_says_when_no_keys_can_be_had(issuer: FakeIssuer) -> None:
    import json

    # A discovery document that names another issuer (ours) is not this issuer's.
    issuer.routes["/other/.well-known/openid-configuration"] = (
        200,
        json.dumps({"issuer": issuer.base}).encode(),
        {},
    )
    with pytest.raises(JwksUnavailableError, match="not that of issuer"):
        JwtVerifier(issuer=issuer.base + "/other", audience="a").hydrate()
    with pytest.raises(JwksUnavailableError, match="could not be read"):
        JwtVerifier(issuer=issuer.base + "/nowhere", audience="a").hydrate()


def test_revocation_is_opt_in_against_the_denylist(issuer: FakeIssuer, key: SigningKey) -> None:
    class Denylist:
        """DynamoDB's BatchGetItem answering one revoked jti (the RevocationList's client)."""

        def __init__(self, revoked: str) -> None:
            self.revoked = revoked

        def batch_get_item(self, *, RequestItems: Any) -> Any:
            table = next(iter(RequestItems))
            keys = [k["pk"]["S"] for k in RequestItems[table]["Keys"]]
            items = [{"pk": {"S": k}} for k in keys if k == f"jti#{self.revoked}"]
            return {"Responses": {table: items}, "UnprocessedKeys": {}}

    now = int(time.time())
    payload = claims(issuer.base, auth_time=now)
    verifier = JwtVerifier(
        issuer=issuer.base,
        audience="orders-api",
        revocation=RevocationList(Denylist(payload["jti"]), "denylist"),
    )
    with pytest.raises(JwtRevokedError):
        verifier.verify(sign(key, payload))
    assert verifier.verify(sign(key, claims(issuer.base, auth_time=now))).sub == "u-1"
    # A sign-out is judged by when the session began: without auth_time that cannot be told.
    with pytest.raises(JwtInvalidClaimError, match="auth_time"):
        verifier.verify(sign(key, claims(issuer.base)))


def test_the_documented_example_runs_as_written(issuer: FakeIssuer, key: SigningKey) -> None:
    page = (ROOT / "docs" / "guide" / "verifier-library.md").read_text(encoding="utf-8")
    example = re.search(r"```python\n(.*?)```", page, re.DOTALL)
    assert example, "docs/guide/verifier-library.md has no Python example"
    code = example.group(1).replace("https://auth.example.com", issuer.base)
    token = sign(key, claims(issuer.base, scope="orders:read"))
    namespace: dict[str, Any] = {"token": token}
    exec(compile(code, "docs/guide/verifier-library.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["claims"].sub == "u-1"


def test_importing_the_authorizer_package_does_not_load_the_library(key: SigningKey) -> None:
    import json
    import subprocess
    import sys

    code = "import sys, authorizer.handler; print('authorizer.tokens.jwt_verifier' in sys.modules)"
    env = {
        "AUTH_ISSUER": "https://auth.example.com", "AUTH_AUDIENCE": "a", "AUTH_DENYLIST_TABLE": "d",
        "AUTH_JWKS": json.dumps({"keys": [key.jwk]}), "AWS_REGION": "us-east-1", "AUTH_DYNAMODB_ENDPOINT": "http://127.0.0.1:9",
        "PATH": "/usr/bin:/bin",
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "False", done.stderr
    assert set(authorizer.__all__) <= set(dir(authorizer.tokens.jwt_verifier))


def test_revocation_list_for_our_table_reads_what_auth_service_revoke_wrote(
    issuer: FakeIssuer, key: SigningKey, dynamodb: Any, moto_endpoint: str
) -> None:
    from auth_service.denylist import Denylist
    from tests.conftest import DENYLIST

    now = int(time.time())
    revoked, kept = claims(issuer.base, auth_time=now), claims(issuer.base, auth_time=now)
    Denylist(dynamodb, DENYLIST, max_token_lifetime=3600, leeway=30).revoke_jti(revoked["jti"], "test")
    revocation = RevocationList.for_table(
        DENYLIST, region="us-east-1", endpoint=moto_endpoint, cache_seconds=0
    )
    verifier = JwtVerifier(issuer=issuer.base, audience="orders-api", revocation=revocation)
    with pytest.raises(JwtRevokedError):
        verifier.verify(sign(key, revoked))
    assert verifier.verify(sign(key, kept)).sub == "u-1"
