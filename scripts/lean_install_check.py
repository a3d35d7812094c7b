#!/usr/bin/env python3
"""`pip install lambda-jwt-auth` alone: only cryptography comes with it, and the verifier works.

Run by CI in a new virtualenv holding nothing but this package (`pip install .`):

    python3 -m venv /tmp/lean && /tmp/lean/bin/pip install .
    /tmp/lean/bin/python scripts/lean_install_check.py

It fails unless the installed distributions are this package, cryptography and cryptography's
own dependencies (and pip's tooling), and unless `JwtVerifier` and `CognitoJwtVerifier` verify an
OIDC and a Cognito token (signed here with cryptography, keys served on 127.0.0.1) and refuse a
tampered one. Standard library and cryptography only: nothing else is there to import.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ALLOWED = {"lambda-jwt-auth", "cryptography", "cffi", "pycparser", "pip", "setuptools", "wheel"}
POOL_ID = "eu-west-1_Lean123"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_of(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64(n), "e": b64(e)}


def token(key: rsa.RSAPrivateKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def serve(routes: dict[str, bytes]) -> str:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = routes.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def main() -> int:
    installed = {dist.metadata["Name"].lower() for dist in importlib.metadata.distributions()}
    extra = sorted(installed - ALLOWED)
    if extra or "lambda-jwt-auth" not in installed:
        print(
            f"lean install: unexpected distributions {extra} (installed: {sorted(installed)})",
            file=sys.stderr,
        )
        return 1
    from authorizer import CognitoJwtVerifier, JwtInvalidSignatureError, JwtVerifier

    oidc_key, pool_key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    routes: dict[str, bytes] = {}
    base = serve(routes)
    routes["/.well-known/openid-configuration"] = json.dumps(
        {"issuer": base, "jwks_uri": f"{base}/jwks.json"}
    ).encode()
    routes["/jwks.json"] = json.dumps({"keys": [jwk_of(oidc_key, "oidc-1")]}).encode()
    routes["/pool/jwks.json"] = json.dumps({"keys": [jwk_of(pool_key, "pool-1")]}).encode()
    now = int(time.time())
    common = {"sub": "u-1", "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}

    oidc = JwtVerifier(issuer=base, audience="orders-api")
    oidc.hydrate()
    good = token(
        oidc_key,
        {"alg": "RS256", "kid": "oidc-1", "typ": "at+jwt"},
        {**common, "iss": base, "aud": "orders-api"},
    )
    assert oidc.verify(good).sub == "u-1"
    tampered = good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB")
    try:
        oidc.verify(tampered)
    except JwtInvalidSignatureError:
        pass
    else:
        raise AssertionError("a tampered token was accepted")

    pool = CognitoJwtVerifier(
        user_pool_id=POOL_ID,
        token_use="access",  # noqa: S106 - a claim value
        client_id="app",
        jwks_uri=f"{base}/pool/jwks.json",
    )
    pool_claims = {
        **common,
        "iss": f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL_ID}",
        "client_id": "app",
        "token_use": "access",
        "scope": "profile",
    }
    assert pool.verify(token(pool_key, {"alg": "RS256", "kid": "pool-1"}, pool_claims)).scope == "profile"
    print(f"lean install: {sorted(installed)}; an OIDC and a Cognito token verified, a tampered one refused")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
