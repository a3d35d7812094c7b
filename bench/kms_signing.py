"""What signing in KMS costs a login, next to a local key: `python -m bench.kms_signing [--quick]`.

A login issues a pair (an access and a refresh token): two signatures, which with a KMS key go
out side by side (one round trip of waiting, not two). Both sides are our
`TokenIssuer` with the default RS256, one with a PEM key in memory, one with an RSA_2048 KMS
key of a local moto server (its own process, over HTTP on loopback), each call a new pair (new
`jti`s, new claims), interleaved rounds, GC on, medians.

What moto can tell: the time our code, botocore (SigV4, retries, parsing) and one HTTP exchange
per signature add. What it cannot: the network round trip to KMS inside a region and its HSM's
signing time, which come on top in AWS (AWS publishes no latency figure for Sign), nor KMS's
request quotas (RSA Sign shares one per account and region), which a login burst can reach.
The price is a parameter: `--price-per-10k` (USD per 10,000 asymmetric requests, as listed on
the AWS KMS pricing page for your region; default 0.15, what we read there for RSA_2048 Sign).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from typing import Any

import boto3

from auth_service.key_set import KeyState
from auth_service.keys import generate_private_key_pem, key_ring_from_document, load_key_ring
from auth_service.tokens import TokenIssuer
from authorizer.tokens.keys import KeySet
from bench.world import moto_server

REGION = "us-east-1"


def _issuer(ring: Any) -> TokenIssuer:
    return TokenIssuer(
        ring,
        published=KeySet.from_jwks(ring.jwks()),
        issuer="https://auth.bench.example",
        audience="bench-api",
        client_id="bench",
        access_ttl=900,
        refresh_ttl=2_592_000,
    )


def _kms_ring(endpoint: str) -> Any:
    from auth_service import key_rotation
    from auth_service.key_set import NewKeys

    session = boto3.session.Session()
    store = key_rotation.KeyStore(
        session.client("ssm", region_name=REGION, endpoint_url=endpoint),
        lambda: session.client("kms", region_name=REGION, endpoint_url=endpoint),
        signing_parameter="/bench/signing-key",
        jwks_parameter="/bench/jwks",
    )
    new_keys = NewKeys(source="kms", alg="RS256", alias_prefix="alias/bench/")
    key_rotation.initialise(
        store, new_keys, int(time.time()), propagation_seconds=360, retire_after_seconds=1
    )
    document = store.read()
    assert document is not None and document.current.state is KeyState.CURRENT
    from auth_service.key_source import kms_client

    os.environ["AWS_ENDPOINT_URL_KMS"] = endpoint
    return key_ring_from_document(document, lambda: kms_client(REGION))


def measure(rounds: int, per_round: int) -> dict[str, list[float]]:
    local = _issuer(load_key_ring(generate_private_key_pem("RS256")))
    with moto_server() as endpoint:
        kms = _issuer(_kms_ring(endpoint))
        for issuer in (local, kms):  # warm: connections, caches
            for n in range(5):
                issuer.issue(f"warm-{n}", "profile")
        times: dict[str, list[float]] = {"local": [], "kms": []}
        assert gc.isenabled()
        for r in range(rounds):
            for name, issuer in (("local", local), ("kms", kms)):
                start = time.perf_counter()
                for n in range(per_round):
                    issuer.issue(f"user-{r}-{n}", "profile orders:read")  # a fresh pair each call
                times[name].append((time.perf_counter() - start) / per_round)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kms_signing", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few calls: a smoke test")
    parser.add_argument("--price-per-10k", type=float, default=0.15, help="USD per 10,000 KMS Sign requests")
    args = parser.parse_args(argv)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")  # moto takes any credentials
    rounds, per_round = (2, 3) if args.quick else (15, 20)
    times = measure(rounds, per_round)
    local, kms = statistics.median(times["local"]), statistics.median(times["kms"])
    ratio = statistics.median(k / loc for k, loc in zip(times["kms"], times["local"], strict=True))
    per_million = 100 * args.price_per_10k  # one Sign request per token
    print(f"token pair (access + refresh, RS256), median of {rounds} rounds x {per_round} pairs, GC on:")
    print(f"  local PEM key:          {local * 1000:8.2f} ms per pair")
    print(
        f"  KMS key (moto, HTTP):   {kms * 1000:8.2f} ms per pair  ({ratio:.1f}x the local key, same rounds)"
    )
    print(
        f"  KMS adds per login:     {(kms - local) * 1000:8.2f} ms here (loopback and moto); in AWS the "
        "in-region network and HSM time of the 2 Sign calls (side by side) instead"
    )
    print(
        f"cost: 1 kms:Sign per token, 2 per login: ${per_million:.2f} per million tokens, "
        f"${2 * per_million:.2f} per million logins at ${args.price_per_10k}/10k requests "
        "(the key itself: $1 a month; a local key: $0)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
