"""Warm per-token cost of the authorizer against raw `cryptography`, side by side in one run.

    python bench/verify_micro.py [--tokens 2000] [--rounds 7] [--json]

For each key type (RS256, ES256, EdDSA) it signs `--tokens` distinct access tokens of ours and
times, interleaved round by round (the best round of each counts: the machine is shared):

* `raw`: `cryptography`'s verify of each token's signature, nothing else (the physical limit);
* `verifier`: `TokenVerifier.verify`, every check of a token (parse, key, signature, claims);
* `decide`: `Authorizer.decide` of a never-seen token: the verified-token cache misses, the
  revocation answer is cached (as on a warm container), route scopes are checked;
* `handler`: `Authorizer.handle` of an HTTP API event, event in, response out, with the JSON log
  line written through `logging` to a null stream. As on Lambda, each event is fresh from
  `json.loads` (the runtime's) just before the call; that `json.loads` is timed on its own and
  subtracted;
* `repeat decide` / `repeat handler`: the same token again (the verified-token cache answers).

The authorizer is built by `build_authorizer` from the environment a deployment sets; only its
revocation list is given an in-process DynamoDB stand-in (no endpoint is contacted, and every
answer is cached before timing starts). Ratios are against `raw` of the same tokens.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import logging
import os
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
    authorizer: Authorizer = build_authorizer(AuthorizerConfig.from_env(env))
    authorizer.revocations = RevocationList(NothingRevoked(), TABLE, cache_seconds=3600)  # type: ignore[arg-type]
    issuer = TokenIssuer(
        ring, issuer=ISSUER, audience=AUDIENCE, client_id="web", access_ttl=900, refresh_ttl=3600
    )
    tokens = [issuer.issue(f"user-{uuid.uuid4()}", "profile orders:read").access_token for _ in range(count)]
    verifier = TokenVerifier(ring.key_set(), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS)
    events = [http_event(token) for token in tokens]
    event_texts = [json.dumps(event) for event in events]
    requests = [parse_event(event) for event in events]
    for token in tokens:  # the revocation answers are cached, as on a warm container
        authorizer.revocations.check(verifier.verify(token))
    return {
        "authorizer": authorizer,
        "verifier": verifier,
        "tokens": tokens,
        "events": events,
        "event_texts": event_texts,
        "requests": requests,
        "raw": [raw_verifier(alg, ring.current.private_key.public_key(), token) for token in tokens],
    }


def forget_verified_tokens(authorizer: Authorizer) -> None:
    clear = getattr(authorizer.verifier, "clear", None)
    if clear is not None:
        clear()


# CPU time of this thread, not wall time: on a shared machine the time other processes hold the
# CPU would otherwise land in whichever pass was running. (--clock wall to compare.)
CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def per_call(run: Callable[[], None], count: int) -> float:
    """Seconds per call of one pass over `count` items (`run` makes the pass)."""
    gc.disable()
    try:
        start = clock()
        run()
        return (clock() - start) / count
    finally:
        gc.enable()


def measure(alg: str, count: int, rounds: int) -> dict[str, float]:
    lab = build(alg, count)
    authorizer, verifier = lab["authorizer"], lab["verifier"]
    tokens, events, requests, raw = lab["tokens"], lab["events"], lab["requests"], lab["raw"]
    event_texts, loads = lab["event_texts"], json.loads
    decide, handle, verify = authorizer.decide, authorizer.handle, verifier.verify
    repeat_request, repeat_event = requests[0], events[0]
    # Sanity first: every path accepts every token.
    forget_verified_tokens(authorizer)
    assert all(decide(request).allowed for request in requests)
    assert all(handle(event)["isAuthorized"] for event in events)

    def raw_pass() -> None:
        for check in raw:
            check()

    def verifier_pass() -> None:
        for token in tokens:
            verify(token)

    def decide_pass() -> None:
        for request in requests:
            decide(request)

    def handler_pass() -> None:
        for text in event_texts:
            handle(loads(text))

    def loads_pass() -> None:
        for text in event_texts:
            loads(text)

    def repeat_decide_pass() -> None:
        for _ in range(count):
            decide(repeat_request)

    def repeat_handler_pass() -> None:
        for _ in range(count):
            handle(repeat_event)

    best: dict[str, float] = {}
    for _ in range(rounds):
        timings = {"raw": per_call(raw_pass, count), "verifier": per_call(verifier_pass, count)}
        forget_verified_tokens(authorizer)
        timings["decide"] = per_call(decide_pass, count)
        forget_verified_tokens(authorizer)
        timings["handler"] = per_call(handler_pass, count) - per_call(loads_pass, count)
        timings["repeat decide"] = per_call(repeat_decide_pass, count)
        timings["repeat handler"] = per_call(repeat_handler_pass, count)
        for name, seconds in timings.items():
            best[name] = min(best.get(name, seconds), seconds)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=2000, help="distinct tokens per key type")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds; the best counts")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="thread CPU time or wall time")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
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
