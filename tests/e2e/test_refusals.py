"""Forged, tampered, expired, wrong-issuer, wrong-audience, wrong-type and revoked tokens never pass."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from auth_service.keys import generate_private_key_pem, load_key_ring
from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def sign(service: Service, headers: dict[str, Any] | None = None, key: Any = None, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": service.url,
        "sub": "e2e-user",
        "aud": "lambda-jwt-auth-api",
        "iat": now,
        "auth_time": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "scope": "profile",
        "sid": str(uuid.uuid4()),
        "client_id": "lambda-jwt-auth",
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    ring = service.ring
    header = {"typ": "at+jwt", "kid": ring.current.kid, **(headers or {})}
    return jwt.encode(payload, key or ring.current.private_key, algorithm="RS256", headers=header)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_well_formed_token_passes(service: Service) -> None:
    # The control for every refusal below: same signer, only one thing changed each time.
    assert service.me(sign(service)).status_code == 200


def forgeries(service: Service) -> dict[str, str]:
    good = sign(service)
    head, body, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    public_pem = service.ring.current.private_key.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    other = load_key_ring(generate_private_key_pem("RS256")).current
    hs_header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": service.ring.current.kid}).encode())
    import hashlib
    import hmac

    hs_signing_input = f"{hs_header}.{body}".encode()
    hs_sig = b64(hmac.new(public_pem, hs_signing_input, hashlib.sha256).digest())
    none_header = b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": service.ring.current.kid}).encode())
    return {
        "tampered payload": f"{head}.{b64(json.dumps({**claims, 'scope': 'admin profile'}).encode())}.{sig}",
        "tampered signature": f"{head}.{body}.{sig[:-4]}AAAA",
        "alg none": f"{none_header}.{body}.",
        "HS256 with the public key": f"{hs_header}.{body}.{hs_sig}",
        "another key, same kid": sign(service, key=other.private_key),
        "expired": sign(service, iat=int(time.time()) - 4000, exp=int(time.time()) - 3000),
        "not yet valid": sign(service, nbf=int(time.time()) + 3000),
        "issued in the future": sign(service, iat=int(time.time()) + 3000, exp=int(time.time()) + 6000),
        "issuer with trailing slash": sign(service, iss=service.url + "/"),
        "issuer prefix": sign(service, iss=service.url + ".evil.test"),
        "wrong audience": sign(service, aud="another-api"),
        "refresh token type": sign(service, headers={"typ": "rt+jwt"}, token_use="refresh"),
        "no typ": sign(service, headers={"typ": None}),
        "jku header": sign(service, headers={"jku": "https://evil.test/jwks.json"}),
        "no jti": sign(service, jti=None),
        "garbage": "not.a.token",
        "huge": "a" * 9000 + "." + "b" * 10 + "." + "c",
    }


def test_forgeries_are_refused(service: Service) -> None:
    for name, token in forgeries(service).items():
        status = service.me(token).status_code
        assert status == 403, f"{name}: {status}"
        # The issuing side refuses them too: as a logout bearer, and as a refresh token.
        logout = requests.post(
            f"{service.url}/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert logout.status_code == 401, f"{name}: logout {logout.status_code}"
        refresh = requests.post(f"{service.url}/auth/refresh", json={"refresh_token": token}, timeout=10)
        assert refresh.status_code == 401, f"{name}: refresh {refresh.status_code}"


def test_real_refresh_token_is_not_an_access_token(service: Service) -> None:
    tokens = service.login()
    assert service.me(tokens["refresh_token"]).status_code == 403
    swapped = requests.post(
        f"{service.url}/auth/refresh", json={"refresh_token": tokens["access_token"]}, timeout=10
    )
    assert swapped.status_code == 401


def test_revoked_jti_is_refused(service: Service) -> None:
    token = sign(service)
    revoke = requests.post(f"{service.url}/auth/revoke", data={"token": token}, timeout=10)
    assert revoke.status_code == 200
    assert service.me(token).status_code == 403
