"""Every attack of the catalogue against the authorizer's Lambda handler, in every event format.

One real `Authorizer` per key type (RS256, ES256, EdDSA), built by `build_authorizer` from the
same environment variables a deployment sets, on a moto DynamoDB denylist table, trusting our
issuer and a Cognito user pool (access tokens only). Each forged token must be refused:

- REST API TOKEN and REQUEST events: raise exactly `Exception("Unauthorized")` (API Gateway's 401);
- HTTP API payload 2.0, simple responses: exactly `{"isAuthorized": False}`;
- HTTP API payload 2.0, IAM policies: a policy with only Deny statements, covering the route.

The controls first show that the same authorizers accept the valid baseline of each material, so
no refusal below is an accident of configuration.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auth_service.denylist import Denylist
from auth_service.keys import generate_private_key_pem, load_key_ring
from auth_service.tables import create_tables
from authorizer.authorization import Authorizer
from authorizer.bootstrap import build_authorizer
from authorizer.config import AuthorizerConfig
from authorizer.events import parse_event
from tests.security.catalogue import CATALOGUE, Attack, Forged, applicable, just_over_limit
from tests.security.conftest import Attackers
from tests.security.forging import FAMILY_OF_KEY_TYPE, KEY_TYPES, Material, Victim, new_pool

pytestmark = pytest.mark.security

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
CLIENT_ID = "web-app"
SCOPE = "profile introspect orders:read"
DENYLIST = "security-denylist"
POOL_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AttackLab1"
POOL_CLIENT = "attack-lab-client"
REST_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:restapi01/prod"
HTTP_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:httpapi01/$default"
FORMATS = ("rest-token", "rest-request", "http-simple", "http-iam")


# --------------------------------------------------------------------------- events


def make_event(fmt: str, token: str) -> dict[str, Any]:
    """An API Gateway authorizer event for `GET /me` carrying `Authorization: Bearer <token>`."""
    authorization = f"Bearer {token}"
    if fmt == "rest-token":
        return {"type": "TOKEN", "methodArn": f"{REST_PREFIX}/GET/me", "authorizationToken": authorization}
    if fmt == "rest-request":
        headers = {"Authorization": authorization, "Host": "restapi01.execute-api.us-east-1.amazonaws.com"}
        return {
            "type": "REQUEST",
            "methodArn": f"{REST_PREFIX}/GET/me",
            "resource": "/me",
            "path": "/me",
            "httpMethod": "GET",
            "headers": headers,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "queryStringParameters": None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": "/me",
                "httpMethod": "GET",
                "stage": "prod",
                "apiId": "restapi01",
            },
        }
    headers = {"authorization": authorization, "host": "httpapi01.execute-api.us-east-1.amazonaws.com"}
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"{HTTP_PREFIX}/GET/me",
        "identitySource": [authorization],
        "routeKey": "GET /me",
        "rawPath": "/me",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "httpapi01",
            "http": {"method": "GET", "path": "/me", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
            "routeKey": "GET /me",
            "stage": "$default",
        },
    }


def route_arn(fmt: str) -> str:
    return f"{HTTP_PREFIX if fmt.startswith('http') else REST_PREFIX}/GET/me"


def _matches(pattern: str, arn: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn, flags=re.DOTALL) is not None


def iam_effects(policy: dict[str, Any], arn: str) -> set[str]:
    """The effects of the statements of an authorizer policy that cover `arn`."""
    document = policy["policyDocument"]
    assert document["Version"] == "2012-10-17"
    effects = set()
    for statement in document["Statement"]:
        assert statement["Action"] == "execute-api:Invoke"
        resources = statement["Resource"]
        for resource in [resources] if isinstance(resources, str) else resources:
            if _matches(resource, arn):
                effects.add(statement["Effect"])
    return effects


# --------------------------------------------------------------------------- the lab

REUSE_SECONDS = 2  # a forged token is reused across event formats / checks for at most this long


@dataclass
class Lab:
    """One key type: its forging material and the two authorizers built for it."""

    material: Material
    simple: Authorizer  # AUTH_HTTP_API_SIMPLE_RESPONSES=true (also answers REST events)
    iam: Authorizer  # AUTH_HTTP_API_SIMPLE_RESPONSES=false
    forged: dict[str, tuple[float, Forged]] = field(default_factory=dict)

    def forge(self, case: Attack) -> Forged:
        """The case's token, reused for a moment only: time-relative cases must stay what they say."""
        made = self.forged.get(case.id)
        if made is None or time.monotonic() - made[0] > REUSE_SECONDS:
            made = self.forged[case.id] = (time.monotonic(), case.build(self.material))
        return made[1]

    def authorizer(self, fmt: str) -> Authorizer:
        return self.iam if fmt == "http-iam" else self.simple

    def handle(self, fmt: str, token: str) -> Any:
        return self.authorizer(fmt).handle(make_event(fmt, token))


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, denylist=DENYLIST)
        yield client


@pytest.fixture(scope="module")
def labs(dynamodb: Any, attackers: Attackers) -> dict[str, Lab]:
    pool = new_pool(POOL_ISSUER, POOL_CLIENT)
    trusted = [
        {
            "issuer": POOL_ISSUER,
            "type": "cognito",
            "client_ids": [POOL_CLIENT],
            "token_use": "access",
            "jwks": pool.ring.jwks(),
        }
    ]
    denylist = Denylist(dynamodb, DENYLIST, max_token_lifetime=3600, leeway=30)
    labs = {}
    for alg in KEY_TYPES:
        ring = load_key_ring(generate_private_key_pem(alg))
        env = {
            "AUTH_ISSUER": ISSUER,
            "AUTH_AUDIENCE": AUDIENCE,
            "AUTH_DENYLIST_TABLE": DENYLIST,
            "AUTH_JWKS": json.dumps(ring.jwks()),
            "AUTH_ROUTE_SCOPES": json.dumps({"GET /me": ["profile"]}),
            "AUTH_TRUSTED_ISSUERS": json.dumps(trusted),
            "AWS_REGION": "us-east-1",
            # Production defaults otherwise: 5 s revocation cache, 30 s leeway, 8192-byte tokens.
        }
        material = Material(
            alg=alg,
            ring=ring,
            issuer=ISSUER,
            audience=AUDIENCE,
            client_id=CLIENT_ID,
            scope=SCOPE,
            victim=Victim(sub=f"victim-{alg}", sid=f"victim-session-{alg}", jti=f"victim-jti-{alg}"),
            attackers=attackers.rings,
            k1_key=attackers.k1,
            pool=pool,
            denylist=denylist,
        )
        labs[alg] = Lab(
            material=material,
            simple=build_authorizer(AuthorizerConfig.from_env(env)),
            iam=build_authorizer(
                AuthorizerConfig.from_env({**env, "AUTH_HTTP_API_SIMPLE_RESPONSES": "false"})
            ),
        )
    return labs


# --------------------------------------------------------------------------- expectations


def assert_refused(lab: Lab, fmt: str, token: str) -> None:
    if fmt in ("rest-token", "rest-request"):
        with pytest.raises(Exception) as info:  # API Gateway reads only the message
            lab.handle(fmt, token)
        assert info.value.args == ("Unauthorized",), f"raised {info.value!r} instead of Unauthorized"
        return
    response = lab.handle(fmt, token)
    if fmt == "http-simple":
        assert response == {"isAuthorized": False}
        return
    statements = response["policyDocument"]["Statement"]
    assert statements, response
    assert all(statement["Effect"] == "Deny" for statement in statements), response
    assert iam_effects(response, route_arn(fmt)) == {"Deny"}, response
    assert "context" not in response, response


def assert_allowed(lab: Lab, fmt: str, token: str) -> dict[str, Any]:
    response: dict[str, Any] = lab.handle(fmt, token)
    if fmt == "http-simple":
        assert response["isAuthorized"] is True, response
    else:
        assert iam_effects(response, route_arn(fmt)) == {"Allow"}, response
    return response


# --------------------------------------------------------------------------- controls


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_control_the_baseline_is_allowed(labs: dict[str, Lab], key_type: str, fmt: str) -> None:
    lab = labs[key_type]
    response = assert_allowed(lab, fmt, lab.material.baseline())
    assert response["context"]["sub"] == lab.material.victim.sub


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_control_a_token_exactly_at_the_size_limit_is_allowed(
    labs: dict[str, Lab], key_type: str, fmt: str
) -> None:
    lab = labs[key_type]
    token = just_over_limit(lab.material, extra=0)
    assert len(token) == lab.material.max_token_bytes
    assert_allowed(lab, fmt, token)


@pytest.mark.parametrize("fmt", FORMATS)
def test_control_the_trusted_pools_access_token_is_allowed(labs: dict[str, Lab], fmt: str) -> None:
    lab = labs["RS256"]
    assert_allowed(lab, fmt, lab.material.pool_token())


# --------------------------------------------------------------------------- the catalogue


def _params() -> list[Any]:
    params = []
    for key_type in KEY_TYPES:
        for case in applicable(key_type):
            reason = case.vulns.get("authorizer")
            marks = [pytest.mark.xfail(strict=True, reason=f"VULN: {reason}")] if reason else []
            params.append(pytest.param(key_type, case, id=f"{key_type}-{case.id}", marks=marks))
    return params


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("key_type", "case"), _params())
def test_authorizer_refuses(labs: dict[str, Lab], key_type: str, case: Attack, fmt: str) -> None:
    lab = labs[key_type]
    forged = lab.forge(case)
    for token in forged.prelude:  # whatever they get (a REST refusal raises): they set the stage
        with contextlib.suppress(Exception):
            lab.handle(fmt, token)
    assert_refused(lab, fmt, forged.token)


# Why each family of attack must be refused: the authorizer's refusal reason (the class name of the
# `AuthError`) must be one of these. A refusal for another reason means the forgery is broken (a
# "signed by our key" token whose signature does not verify proves nothing about the claim it
# tampers with), so the case would pass without testing anything.
RIGHT_REASONS: dict[str, set[str]] = {
    "alg none": {"AlgorithmNotAllowedError", "MalformedTokenError"},
    "HMAC key confusion": {"AlgorithmNotAllowedError"},
    "algorithm switching": {"AlgorithmNotAllowedError", "InvalidSignatureError", "KidNotFoundError"},
    "tampering": {
        "InvalidSignatureError", "MalformedTokenError", "KidNotFoundError", "AlgorithmNotAllowedError",
    },
    "token shape": {"MalformedTokenError", "no bearer token"},
    "key-carrying headers": {"MalformedTokenError"},
    "kid injection": {"KidNotFoundError", "MalformedTokenError"},
    "crit and b64": {"MalformedTokenError"},
    "nested and encrypted": {"MalformedTokenError"},
    "duplicate members": {"AlgorithmNotAllowedError", "InvalidSignatureError"},
    "issuer": {"IssuerMismatchError", "MalformedTokenError", "KidNotFoundError"},
    "audience": {"AudienceMismatchError", "InvalidClaimError"},
    "times": {"TokenExpiredError", "TokenNotYetValidError", "InvalidClaimError"},
    "claim types": {"InvalidClaimError"},
    "token-type confusion": {"TokenTypeError", "InvalidClaimError", "AudienceMismatchError"},
    "revocation": {"TokenRevokedError"},
    "size and parsing": {"MalformedTokenError", "InvalidClaimError"},
}  # fmt: skip
SIGNATURE_FAMILY = {"ecdsa": "EC", "eddsa": "OKP", "rsa": "RSA"}


def right_reasons(case: Attack, key_type: str) -> set[str]:
    if case.group == "malformed signatures":
        # Against a key of the signature's own type the signature itself fails; else the alg pin.
        native = SIGNATURE_FAMILY[case.id.split("-")[0]] == FAMILY_OF_KEY_TYPE[key_type]
        return {"InvalidSignatureError"} if native else {"AlgorithmNotAllowedError"}
    return RIGHT_REASONS[case.group]


@pytest.mark.parametrize(("key_type", "case"), _params())
def test_refused_for_the_right_reason(labs: dict[str, Lab], key_type: str, case: Attack) -> None:
    lab = labs[key_type]
    forged = lab.forge(case)
    for token in forged.prelude:
        lab.simple.decide(parse_event(make_event("http-simple", token)))
    decision = lab.simple.decide(parse_event(make_event("http-simple", forged.token)))
    assert not decision.allowed, decision
    assert decision.reason.split(":")[0] in right_reasons(case, key_type), decision.reason


def test_every_group_has_its_reasons() -> None:
    assert {case.group for case in CATALOGUE} - {"malformed signatures"} <= set(RIGHT_REASONS)


def test_every_case_runs_for_some_key_type() -> None:
    assert all(case.key_types & set(KEY_TYPES) for case in CATALOGUE)
