"""Warm per-token cost of the authorizer against raw `cryptography`, side by side in one run.

    python bench/verify_micro.py [--tokens 1000] [--rounds 5] [--json]

For each key type (RS256, ES256, EdDSA) it signs `--tokens` distinct access tokens of ours and,
token by token (each path right after the others on the same token, so a busy shared machine
slows them alike), times:

* `raw`: `cryptography`'s verify of the token's signature, nothing else (the physical limit);
* `verifier`: `TokenVerifier.verify`, every check of a token (parse, key, signature, claims);
* `decide`: `Authorizer.decide` of a never-seen token: the verified-token cache misses, the
  revocation answer is cached (as on a warm container), route scopes are checked;
* `handler`: `Authorizer.handle` of an HTTP API event, event in, response out, with the JSON log
  line written through `logging` to a null stream. As on Lambda, the event is fresh from
  `json.loads` (the runtime's), which is not counted;
* `handler, no log`: the same with the decision log line off (level WARNING), for reference;
* `repeat decide` / `repeat handler`: the same token again (the verified-token cache answers).

Each figure is the median over all tokens and rounds; ratios are against `raw`. The authorizers
are built by `build_authorizer` from the environment a deployment sets; only their revocation
lists get an in-process DynamoDB stand-in (nothing is contacted, every answer is cached first).
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import logging
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from auth_service.keys import generate_private_key_pem, load_key_ring
from auth_service.tokens import TokenIssuer
from authorizer.authorization import Authorizer
from authorizer.bootstrap import build_authorizer
from authorizer.config import AuthorizerConfig
from authorizer.events import parse_event
from authorizer.revocation import RevocationList
from authorizer.verifier import ACCESS, TokenVerifier

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
TABLE = "bench-denylist"
ROUTE_ARN = "arn:aws:execute-api:us-east-1:123456789012:httpapi01/$default/GET/orders"
ALGORITHMS = ("RS256", "ES256", "EdDSA")


class NothingRevoked:
    """A DynamoDB client that answers every BatchGetItem with no items, in-process."""

    def batch_get_item(self, RequestItems: Any) -> dict[str, Any]:
        return {"Responses": {TABLE: []}, "UnprocessedKeys": {}}


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_verifier(alg: str, public_key: Any, token: str) -> Callable[[], None]:
    """`cryptography` alone on one token: signature bytes and signing input decoded beforehand."""
    head, body, sig = token.split(".")
    data, signature = f"{head}.{body}".encode(), _unb64(sig)
    if alg == "RS256":
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        return lambda: public_key.verify(signature, data, pkcs1, sha256)
    if alg == "ES256":
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        der = encode_dss_signature(r, s)
        ecdsa = ec.ECDSA(hashes.SHA256())
        return lambda: public_key.verify(der, data, ecdsa)
    return lambda: public_key.verify(signature, data)


def http_event(token: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": ROUTE_ARN,
        "identitySource": [f"Bearer {token}"],
        "routeKey": "GET /orders",
        "rawPath": "/orders",
        "rawQueryString": "",
        "headers": {
            "authorization": f"Bearer {token}",
            "host": "httpapi01.execute-api.us-east-1.amazonaws.com",
            "user-agent": "bench",
            "accept": "application/json",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "httpapi01",
            "http": {"method": "GET", "path": "/orders", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
            "requestId": "bench",
            "routeKey": "GET /orders",
            "stage": "$default",
        },
    }


def build(alg: str, count: int) -> dict[str, Any]:
    ring = load_key_ring(generate_private_key_pem(alg))
    env = {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_DENYLIST_TABLE": TABLE,
        "AUTH_JWKS": json.dumps(ring.jwks()),
        "AUTH_ROUTE_SCOPES": json.dumps({"GET /orders": ["orders:read"]}),
        "AUTH_REVOCATION_CACHE_SECONDS": "3600",
        "AWS_REGION": "us-east-1",
        "AUTH_DYNAMODB_ENDPOINT": "http://127.0.0.1:9",  # never contacted
    }
    issuer = TokenIssuer(
        ring, issuer=ISSUER, audience=AUDIENCE, client_id="web", access_ttl=900, refresh_ttl=3600
    )
    tokens = [issuer.issue(f"user-{uuid.uuid4()}", "profile orders:read").access_token for _ in range(count)]
    verifier = TokenVerifier(ring.key_set(), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS)
    # One authorizer per path, so that no path finds a token another one just verified.
    authorizers = {}
    for path in ("decide", "handler", "quiet"):
        authorizer = build_authorizer(AuthorizerConfig.from_env(env))
        revocations = RevocationList(NothingRevoked(), TABLE, cache_seconds=3600)  # type: ignore[arg-type]
        for token in tokens:  # the revocation answers are cached, as on a warm container
            revocations.check(verifier.verify(token))
        authorizer.revocations = revocations
        authorizers[path] = authorizer
    events = [http_event(token) for token in tokens]
    return {
        "authorizers": authorizers,
        "verifier": verifier,
        "tokens": tokens,
        "event_texts": [json.dumps(event) for event in events],
        "requests": [parse_event(event) for event in events],
        "raw": [raw_verifier(alg, ring.current.private_key.public_key(), token) for token in tokens],
    }


def forget_verified_tokens(authorizer: Authorizer) -> None:
    clear = getattr(authorizer.verifier, "clear", None)
    if clear is not None:
        clear()


def measure(alg: str, count: int, rounds: int) -> dict[str, float]:
    lab = build(alg, count)
    authorizers, verify = lab["authorizers"], lab["verifier"].verify
    decide, handle = authorizers["decide"].decide, authorizers["handler"].handle
    handle_quietly = authorizers["quiet"].handle
    tokens, texts, requests, raw = lab["tokens"], lab["event_texts"], lab["requests"], lab["raw"]
    quiet = logging.getLogger("lambda_jwt_auth")
    loads, now = json.loads, time.perf_counter
    samples: dict[str, list[float]] = {
        name: [] for name in ("raw", "verifier", "decide", "handler", "handler, no log")
    }
    gc.disable()
    try:
        for _ in range(rounds):
            for authorizer in authorizers.values():
                forget_verified_tokens(authorizer)
            for index in range(count):
                token, request, text, check = tokens[index], requests[index], texts[index], raw[index]
                start = now()
                check()
                t_raw = now()
                verify(token)
                t_verifier = now()
                assert decide(request).allowed
                t_decide = now()
                event = loads(text)  # as the runtime does right before calling the handler
                t_event = now()
                assert handle(event)["isAuthorized"]
                t_handler = now()
                quiet.setLevel(logging.WARNING)
                event = loads(text)
                t_quiet = now()
                handle_quietly(event)
                t_quiet_end = now()
                quiet.setLevel(logging.INFO)
                samples["raw"].append(t_raw - start)
                samples["verifier"].append(t_verifier - t_raw)
                samples["decide"].append(t_decide - t_verifier)
                samples["handler"].append(t_handler - t_event)
                samples["handler, no log"].append(t_quiet_end - t_quiet)
            gc.collect()
        # The same token again, and again: the verified-token cache answers.
        request, text = requests[0], texts[0]
        samples["repeat decide"], samples["repeat handler"] = [], []
        for _ in range(rounds * 200):
            event = loads(text)
            start = now()
            decide(request)
            middle = now()
            handle(event)
            samples["repeat decide"].append(middle - start)
            samples["repeat handler"].append(now() - middle)
    finally:
        gc.enable()
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=1000, help="distinct tokens per key type")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over all tokens")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    # A real handler on the decision log lines, writing to a null stream (as Lambda writes them).
    null = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run
    logging.basicConfig(stream=null, level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    results = {alg: measure(alg, args.tokens, args.rounds) for alg in ALGORITHMS}
    if args.json:
        print(json.dumps({alg: {k: v * 1e6 for k, v in row.items()} for alg, row in results.items()}))
        return 0
    print(f"{'':8} {'path':16} {'µs/token':>10} {'x raw':>7}")
    for alg, row in results.items():
        for name, seconds in row.items():
            ratio = "" if name.startswith("repeat") else f"{seconds / row['raw']:7.2f}"
            print(f"{alg:8} {name:16} {seconds * 1e6:10.1f} {ratio:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
