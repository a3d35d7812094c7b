"""What every measurement shares: signing keys, tokens, events, and the local endpoints.

The endpoints run on 127.0.0.1 only: a moto server as DynamoDB (its own process, so its work is
not counted against ours except as the wait for its answer) and a small HTTP server publishing
our JWKS for the typical authorizer's `PyJWKClient`.
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt

from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from bench.events import ROUTE_SCOPES

ALGORITHMS = ("RS256", "ES256", "EdDSA")
ISSUER = "https://auth.bench.example"
AUDIENCE = "bench-api"
DENYLIST_TABLE = "bench-denylist"
USERS_TABLE = "bench-users"
REGION = "us-east-1"
# The jti every "revocation answer cached" token shares: its denylist answer is read once and
# then cached, while each token is still new to the verifier (their `auth_time` differs).
SHARED_JTI = "bench-shared-jti"
# Dummy credentials: only local endpoints are ever called.
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the moto server exited at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the moto server did not listen on port {port} within {seconds} s")


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in its own process; yields its endpoint URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def jwks_server(document: Mapping[str, Any]) -> Iterator[str]:
    """Serves `document` at /.well-known/jwks.json; yields that URL."""
    body = json.dumps(document).encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # no 40 ms Nagle / delayed-ACK stall between headers and body

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Keys:
    """One signing key per algorithm; their public halves form the trusted JWKS."""

    rings: Mapping[str, KeyRing]
    pems: Mapping[str, str]
    # Numbers every token this run signs: RS256 and EdDSA signatures are deterministic, so two
    # tokens with equal claims would be one token, and a cache of verified tokens would hit.
    _serial: Iterator[int] = field(default_factory=itertools.count)

    @classmethod
    def generate(cls) -> Keys:
        pems = {alg: generate_private_key_pem(alg) for alg in ALGORITHMS}
        return cls(rings={alg: load_key_ring(pem) for alg, pem in pems.items()}, pems=pems)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [jwk for ring in self.rings.values() for jwk in ring.jwks()["keys"]]}

    def public_key(self, alg: str) -> Any:
        private = self.rings[alg].current.private_key
        assert private is not None
        return private.public_key()

    def token(self, alg: str, *, jti: str, auth_time: int, sub: str = "bench-user") -> str:
        """An access token shaped like the ones `auth_service.tokens.TokenIssuer` issues."""
        key = self.rings[alg].current
        assert key.private_key is not None
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": sub,
            "iat": now,
            "scope": "profile",
            "sid": "bench-session",
            "client_id": "bench",
            "auth_time": auth_time,
            "aud": AUDIENCE,
            "exp": now + 3600,
            "jti": jti,
        }
        return jwt.encode(claims, key.private_key, algorithm=alg, headers={"typ": "at+jwt", "kid": key.kid})

    def fresh_tokens(self, alg: str, count: int, *, jti: str = SHARED_JTI) -> list[str]:
        """`count` tokens never signed before in this run (so never seen), sharing one `jti`.

        They differ in `auth_time`, unique per token in the run; the rest is what our issuer
        puts in an access token.
        """
        start = int(time.time())
        return [self.token(alg, jti=jti, auth_time=start - next(self._serial)) for _ in range(count)]


def allowed(answer: Any) -> bool:
    """Whether an authorizer answer (simple response or IAM policy) lets the request through."""
    if not isinstance(answer, Mapping):
        return False
    if "isAuthorized" in answer:
        return answer["isAuthorized"] is True
    statements = answer.get("policyDocument", {}).get("Statement", [])
    denied = [
        resource
        for s in statements
        if s.get("Effect") == "Deny"
        for resource in ([s["Resource"]] if isinstance(s.get("Resource"), str) else s.get("Resource", []))
    ]
    # A deny of everything (ours: "<api>/<stage>/*") refuses; a deny of some other routes does not.
    return any(s.get("Effect") == "Allow" for s in statements) and not any(
        resource == "*" or resource.endswith("/*") for resource in denied
    )


def authorizer_env(keys: Keys, dynamodb: str) -> dict[str, str]:
    """Our functions' configuration: public config only, as a deployment would set it."""
    return {
        **DUMMY_AWS,
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_JWKS": json.dumps(keys.jwks()),
        "AUTH_DENYLIST_TABLE": DENYLIST_TABLE,
        "AUTH_USERS_TABLE": USERS_TABLE,
        "AUTH_DYNAMODB_ENDPOINT": dynamodb,
        "AUTH_ROUTE_SCOPES": json.dumps(ROUTE_SCOPES),
        # Everything else as deployed by default: the 5 s revocation cache among them.
    }


def typical_env(jwks_url: str, dynamodb: str) -> dict[str, str]:
    """The typical authorizer's configuration (bench/typical_authorizer.py)."""
    return {
        **DUMMY_AWS,
        "JWKS_URL": jwks_url,
        "TOKEN_ISSUER": ISSUER,
        "TOKEN_AUDIENCE": AUDIENCE,
        "DENYLIST_TABLE": DENYLIST_TABLE,
        "DYNAMODB_ENDPOINT": dynamodb,
    }


def create_tables(dynamodb: str) -> None:
    import boto3

    from auth_service.tables import create_tables as create

    client = boto3.client(
        "dynamodb",
        endpoint_url=dynamodb,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    create(client, denylist=DENYLIST_TABLE, users=USERS_TABLE)
