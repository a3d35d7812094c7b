"""A trusted issuer's `required_scopes` and `required_groups` (authorizer.tokens.claim_checks).

test_authorizer_issuers and test_settings_effects show which tokens these settings refuse; this
file shows what a refusal says: the error class (its OAuth code is `insufficient_scope`, the
token itself being valid) and a reason that names what the token lacks, as the operator reads it
in the authorizer's deny log line.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import jwt
import pytest

from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from auth_service.tables import create_tables
from authorizer.errors import InsufficientScopeError
from authorizer.gateway.bootstrap import build_authorizer, trusted_verifier
from authorizer.gateway.config import AuthorizerConfig, JwksCacheSettings
from authorizer.tokens.issuers import parse_trusted_issuers
from authorizer.tokens.verifier import TokenVerifier
from tests.unit.test_authorizer_issuers import CLIENT, POOL, cognito_token, http_event

PARTNER = "https://login.partner.example.test"
PARTNER_AUDIENCE = "orders-api"
DENYLIST = "claim-checks-denylist"


@pytest.fixture(scope="module")
def issuer_ring() -> KeyRing:
    """The trusted issuer's signing key (an OIDC issuer or a Cognito pool: both sign RS256)."""
    return load_key_ring(generate_private_key_pem("RS256"))


def oidc_token(ring: KeyRing, **overrides: Any) -> str:
    """An OIDC issuer's access token; a claim set to None is left out."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": PARTNER, "aud": PARTNER_AUDIENCE, "sub": "partner-user", "jti": str(uuid.uuid4()),
        "iat": now, "exp": now + 300,
    }  # fmt: skip
    claims = {k: v for k, v in {**claims, **overrides}.items() if v is not None}
    key = ring.current
    assert key.private_key is not None
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def oidc_entry(ring: KeyRing, **settings: Any) -> dict[str, Any]:
    return {"issuer": PARTNER, "audiences": [PARTNER_AUDIENCE], "jwks": ring.jwks(), **settings}


def cognito_entry(ring: KeyRing, **settings: Any) -> dict[str, Any]:
    return {"issuer": POOL, "type": "cognito", "jwks": ring.jwks(), "client_ids": [CLIENT], **settings}


def verifier_for(entry: dict[str, Any]) -> TokenVerifier:
    (trusted,) = parse_trusted_issuers([entry])
    verifier = trusted_verifier(trusted, JwksCacheSettings(1.0, 60, 3600), leeway=30, max_token_bytes=8192)
    assert isinstance(verifier, TokenVerifier)
    return verifier


def named_after(reason: str, lead: str) -> list[str]:
    """The comma-separated names a refusal lists after `lead`, as an operator reads them."""
    assert lead in reason, reason
    return reason.split(lead, 1)[1].split(", ")


@pytest.mark.parametrize("kind", ["oidc", "cognito"])
def test_a_refusal_for_required_scopes_names_each_scope_the_token_lacks(
    kind: str, issuer_ring: KeyRing
) -> None:
    make, entry = (oidc_token, oidc_entry) if kind == "oidc" else (cognito_token, cognito_entry)
    required = ["orders/read", "orders/write", "orders/refund"]
    verifier = verifier_for(entry(issuer_ring, required_scopes=required))
    with pytest.raises(InsufficientScopeError) as refused:
        verifier.verify(make(issuer_ring, scope="orders/read openid"))
    # Only the missing ones, each by its own name; the one held is not listed.
    assert named_after(str(refused.value), "lacks the scopes ") == ["orders/refund", "orders/write"]


@pytest.mark.parametrize("kind", ["oidc", "cognito"])
def test_a_token_without_scope_lacks_the_required_scopes(kind: str, issuer_ring: KeyRing) -> None:
    """No `scope` claim at all is a valid token lacking scopes (insufficient_scope), not a bad claim."""
    make, entry = (oidc_token, oidc_entry) if kind == "oidc" else (cognito_token, cognito_entry)
    verifier = verifier_for(entry(issuer_ring, required_scopes=["orders/read"]))
    with pytest.raises(InsufficientScopeError) as refused:
        verifier.verify(make(issuer_ring, scope=None))
    assert refused.value.error == "insufficient_scope"
    assert named_after(str(refused.value), "lacks the scopes ") == ["orders/read"]


def test_a_refusal_for_required_groups_names_the_groups_any_of_which_would_do(issuer_ring: KeyRing) -> None:
    verifier = verifier_for(cognito_entry(issuer_ring, required_groups=["ops", "admins"]))
    for groups in (["users"], None):  # in other groups; in none
        with pytest.raises(InsufficientScopeError) as refused:
            verifier.verify(cognito_token(issuer_ring, **{"cognito:groups": groups}))
        assert named_after(str(refused.value), "none of the groups ") == ["admins", "ops"]


def test_the_deny_log_line_says_which_required_scope_is_missing(
    dynamodb: Any, ring: KeyRing, issuer_ring: KeyRing, caplog: pytest.LogCaptureFixture
) -> None:
    create_tables(dynamodb, denylist=DENYLIST)
    env = {
        "AUTH_ISSUER": "https://auth.example.test",
        "AUTH_AUDIENCE": "orders-api",
        "AUTH_JWKS": json.dumps(ring.jwks()),
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AUTH_REVOCATION_CACHE_SECONDS": "0",
        "AWS_REGION": "us-east-1",
        "AUTH_TRUSTED_ISSUERS": json.dumps([oidc_entry(issuer_ring, required_scopes=["orders/write"])]),
    }
    authorizer = build_authorizer(AuthorizerConfig.from_env(env))
    caplog.set_level(logging.INFO, logger="lambda_jwt_auth.authorizer")
    token = oidc_token(issuer_ring, scope="orders/read")
    assert authorizer.handle(http_event(token)) == {"isAuthorized": False}
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "lambda_jwt_auth.authorizer"]
    assert line["outcome"] == "deny"
    assert line["reason"].startswith("InsufficientScopeError: ")
    assert named_after(line["reason"], "lacks the scopes ") == ["orders/write"]
    assert token not in caplog.text
