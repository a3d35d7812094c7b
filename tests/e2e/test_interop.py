"""Our tokens verify with two independent implementations: PyJWT's PyJWKClient and python-jose."""

from __future__ import annotations

import jwt
import pytest
import requests
from jose import jwt as jose_jwt

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def test_pyjwt_jwks_client_verifies_our_access_token(service: Service) -> None:
    token = service.login()["access_token"]
    client = jwt.PyJWKClient(f"{service.url}/.well-known/jwks.json")
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, key.key, algorithms=["RS256"], audience="lambda-jwt-auth-api", issuer=service.url
    )
    assert claims["scope"] == "profile orders:read"
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"


def test_python_jose_verifies_our_access_token(service: Service) -> None:
    token = service.login()["access_token"]
    jwks = requests.get(f"{service.url}/.well-known/jwks.json", timeout=10).json()
    claims = jose_jwt.decode(
        token, jwks, algorithms=["RS256"], audience="lambda-jwt-auth-api", issuer=service.url
    )
    assert claims["client_id"] == "lambda-jwt-auth"
