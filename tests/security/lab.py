"""The authorizer lab of the security suite: one real `Authorizer` per key type (RS256, ES256,
EdDSA), built by `build_authorizer` from the environment a deployment sets, on a moto denylist
table, trusting our issuer and a Cognito user pool (access tokens only); and API Gateway events
for `GET /me` in each format. Used by test_authorizer_attacks.py and the catalogue summary.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auth_service.denylist import Denylist
from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from auth_service.tables import create_tables
from authorizer.gateway.authorization import Authorizer
from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig
from tests.fuzz import contract
from tests.fuzz.world import authorizer_dynamodb_on_moto
from tests.security import expectations
from tests.security.catalogue import Attack, Forged
from tests.security.forging import KEY_TYPES, Material, Victim, new_pool

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
    targets: dict[str, contract.Target]  # the model's view of this lab's configuration
    denylist: contract.DenylistLookup  # what the denylist table holds for a token
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


@contextmanager
def denylist_table() -> Iterator[Any]:
    """A moto DynamoDB with the denylist table (a client of it): every lab's revocations go here.
    The authorizer reads it through a moto server, so the lab also works outside pytest
    (`python -m tests.security.catalogue --summary`)."""
    with authorizer_dynamodb_on_moto(), mock_aws(), pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            patch.setenv(name, value)  # moto takes any credentials; no real ones are read
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, denylist=DENYLIST)
        yield client


def build_labs(dynamodb: Any, attackers: Mapping[str, KeyRing], k1: Any) -> dict[str, Lab]:
    """One lab per key type: an authorizer trusting our issuer and a Cognito pool (access tokens)."""
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
            attackers=attackers,
            k1_key=k1,
            pool=pool,
            denylist=denylist,
        )
        labs[alg] = Lab(
            material=material,
            targets=expectations.targets_of(material, trusted_pool=True),
            denylist=expectations.table_denylist(dynamodb, DENYLIST),
            simple=build_authorizer(AuthorizerConfig.from_env(env)),
            iam=build_authorizer(
                AuthorizerConfig.from_env({**env, "AUTH_HTTP_API_SIMPLE_RESPONSES": "false"})
            ),
        )
    return labs
