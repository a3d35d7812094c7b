"""Each adapter over the verifier library, through its framework's own test client or event:
the Lambda decorator with Powertools' published ALB and function-URL sample events, FastAPI's and
Starlette's TestClient, Flask's test client, and a Powertools resolver."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from authorizer import JwtVerifier, TokenClaims
from authorizer.principal import Principal, authenticated
from tests.unit.test_inspect_token import SigningKey, make_key, sign

EVENTS = Path(__file__).resolve().parents[1] / "events" / "powertools"
ISSUER = "https://auth.example.com"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return make_key("ES256")


@pytest.fixture(scope="module")
def verifier(key: SigningKey) -> JwtVerifier:
    return JwtVerifier(issuer=ISSUER, audience="orders-api", jwks={"keys": [key.jwk]})


def token(key: SigningKey, scope: str = "orders:read", **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "u-1", "aud": "orders-api", "iat": now, "exp": now + 300}
    return sign(key, {**claims, "jti": str(uuid.uuid4()), "scope": scope, **overrides})


def challenge(headers: Any) -> str:
    return str(headers["WWW-Authenticate"] if "WWW-Authenticate" in headers else headers["www-authenticate"])


# --- the Lambda decorator: ALB and function URL, where no authorizer runs ------------------------


def alb_event(authorization: str | None) -> dict[str, Any]:
    event = json.loads((EVENTS / "albMultiValueHeadersEvent.json").read_text(encoding="utf-8"))
    if authorization is not None:
        event["multiValueHeaders"]["authorization"] = [authorization]
    return dict(event)


def url_event(authorization: str | None) -> dict[str, Any]:
    event = json.loads((EVENTS / "lambdaFunctionUrlEventWithHeaders.json").read_text(encoding="utf-8"))
    if authorization is not None:
        event["headers"]["authorization"] = authorization
    return dict(event)


@pytest.mark.parametrize("make_event", [alb_event, url_event], ids=["alb", "function-url"])
def test_the_decorator_verifies_on_alb_and_function_urls(
    verifier: JwtVerifier, key: SigningKey, make_event: Any
) -> None:
    @authenticated(scopes=("orders:read",), verifier=verifier)
    def handler(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200, "body": principal.sub}

    assert handler(make_event(f"Bearer {token(key)}"), None) == {"statusCode": 200, "body": "u-1"}
    missing = handler(make_event(None), None)
    assert missing["statusCode"] == 401
    expired = handler(make_event(f"Bearer {token(key, exp=int(time.time()) - 600)}"), None)
    assert expired["statusCode"] == 401 and "expired" in json.loads(expired["body"])["error_description"]
    scoped = handler(make_event(f"Bearer {token(key, scope='profile')}"), None)
    assert scoped["statusCode"] == 403
    if make_event is alb_event:  # an ALB with multi-value headers wants them back that way
        assert scoped["multiValueHeaders"]["WWW-Authenticate"] == [
            'Bearer error="insufficient_scope", scope="orders:read"'
        ]
        assert scoped["statusDescription"] == "403 Forbidden" and scoped["isBase64Encoded"] is False
    else:
        assert challenge(scoped["headers"]) == 'Bearer error="insufficient_scope", scope="orders:read"'


def test_two_authorization_headers_on_an_alb_are_refused(verifier: JwtVerifier, key: SigningKey) -> None:
    @authenticated(verifier=verifier)
    def handler(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200}

    event = alb_event(f"Bearer {token(key)}")
    event["multiValueHeaders"]["Authorization"] = [f"Bearer {token(key)}"]
    assert handler(event, None)["statusCode"] == 401


# --- FastAPI, Starlette (ASGI), Flask -----------------------------------------------------------


def test_fastapi_dependency(verifier: JwtVerifier, key: SigningKey) -> None:
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    from authorizer.adapters.fastapi import bearer_claims

    app = FastAPI()
    reader = bearer_claims(verifier, scopes=("orders:read",))

    @app.get("/orders")
    def orders(claims: TokenClaims = Depends(reader)) -> dict[str, str]:  # noqa: B008 - FastAPI's idiom
        return {"sub": claims.sub}

    client = TestClient(app)
    assert client.get("/orders", headers={"Authorization": f"Bearer {token(key)}"}).json() == {"sub": "u-1"}
    refused = client.get("/orders")
    assert refused.status_code == 401 and challenge(refused.headers) == 'Bearer error="invalid_token"'
    assert refused.json()["detail"]["error"] == "invalid_token"
    forbidden = client.get("/orders", headers={"Authorization": f"Bearer {token(key, scope='profile')}"})
    assert forbidden.status_code == 403


def test_asgi_middleware_with_starlette(verifier: JwtVerifier, key: SigningKey) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from authorizer.adapters.asgi import JwtAuthMiddleware

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.state.jwt_claims.sub})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/whoami", whoami), Route("/health", health)])
    client = TestClient(JwtAuthMiddleware(app, verifier, scopes=("orders:read",), exempt=("/health",)))
    assert client.get("/whoami", headers={"Authorization": f"Bearer {token(key)}"}).json() == {"sub": "u-1"}
    assert client.get("/health").json() == {"ok": True}
    refused = client.get("/whoami", headers={"Authorization": "Bearer not.a.token"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
    assert challenge(refused.headers) == 'Bearer error="invalid_token"'


def test_flask_decorator(verifier: JwtVerifier, key: SigningKey) -> None:
    from flask import Flask, g

    from authorizer.adapters.flask import require_token

    app = Flask(__name__)

    @app.get("/orders")
    @require_token(verifier, scopes=("orders:read",))
    def orders() -> dict[str, str]:
        return {"sub": g.jwt_claims.sub}

    client = app.test_client()
    assert client.get("/orders", headers={"Authorization": f"Bearer {token(key)}"}).get_json() == {
        "sub": "u-1"
    }
    refused = client.get("/orders", headers={"Authorization": f"Bearer {token(key, aud='other')}"})
    assert refused.status_code == 401 and "aud" in refused.get_json()["error_description"]
    assert challenge(refused.headers) == 'Bearer error="invalid_token"'


# --- Powertools for AWS Lambda's event handler ---------------------------------------------------


def test_powertools_middleware(verifier: JwtVerifier, key: SigningKey) -> None:
    from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver

    from authorizer.adapters.powertools import jwt_middleware

    app = LambdaFunctionUrlResolver()
    app.use(middlewares=[jwt_middleware(verifier, scopes=("orders:read",))])

    @app.get("/")
    def index() -> dict[str, str]:
        return {"sub": app.context["jwt_claims"].sub}

    answer = app.resolve(url_event(f"Bearer {token(key)}"), None)
    assert answer["statusCode"] == 200 and json.loads(answer["body"]) == {"sub": "u-1"}
    refused = app.resolve(url_event(None), None)
    assert refused["statusCode"] == 401 and json.loads(refused["body"])["error"] == "invalid_token"
    assert challenge(refused["headers"]) == 'Bearer error="invalid_token"'
