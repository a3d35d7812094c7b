"""Memory and cold-start cost of the authorizer, to size its Lambda function.

Runs the real authorizer (handler module, configuration from the environment, a moto server as
the DynamoDB endpoint) in fresh processes and reports, per process: the time to import and
build it (cold start), the time of the first authorization (one DynamoDB round trip), the peak
resident memory after init and after N warm authorizations of distinct tokens (the revocation
cache holds one entry per token).

    python bench/authorizer_memory.py [--runs 5] [--tokens 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, os, sys, time
start = time.perf_counter()
import authorizer.handler as h
built = time.perf_counter()
def status_mb(field):  # this process image's own figures (ru_maxrss would carry the parent's peak)
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(status[field].split()[0]) / 1024
rss_after_init = status_mb("VmRSS")
from auth_service.keys import load_key_ring
from auth_service.tokens import TokenIssuer
ring = load_key_ring(open(os.environ["BENCH_KEY_FILE"]).read())
issuer = TokenIssuer(ring, issuer=os.environ["AUTH_ISSUER"], audience=os.environ["AUTH_AUDIENCE"],
                     client_id="bench", access_ttl=900, refresh_ttl=3600)
tokens = [issuer.issue(f"user-{i}", "profile").access_token for i in range(int(sys.argv[1]))]
def event(token):
    return {"version": "2.0", "type": "REQUEST", "routeKey": "GET /me", "rawPath": "/me",
            "routeArn": "arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/me",
            "headers": {"authorization": "Bearer " + token},
            "requestContext": {"http": {"method": "GET", "path": "/me"}}}
rss_before_loop = status_mb("VmRSS")  # the tokens issued included
first_start = time.perf_counter()
assert h.handler(event(tokens[0]), None)["isAuthorized"]
first = time.perf_counter() - first_start
for token in tokens[1:]:
    assert h.handler(event(token), None)["isAuthorized"]
print(json.dumps({
    "cold_start_ms": (built - start) * 1000,
    "first_authorization_ms": first * 1000,
    "rss_after_init_mb": rss_after_init,
    "max_rss_mb": status_mb("VmHWM"),
    "rss_growth_while_authorizing_mb": status_mb("VmRSS") - rss_before_loop,
    "verified_token_cache_entries": len(h._authorizer.verifier),
    "revocation_cache_entries": len(h._authorizer.revocations._cache),
}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=2000)
    args = parser.parse_args()

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request otherwise

    from auth_service.keys import generate_private_key_pem, load_key_ring
    from auth_service.tables import create_tables

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AUTH_ISSUER": "https://auth.bench.example",
        "AUTH_AUDIENCE": "bench-api",
        "AUTH_DENYLIST_TABLE": "bench-denylist",
        "AUTH_DYNAMODB_ENDPOINT": endpoint,
    }
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
    create_tables(client, denylist="bench-denylist")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "key.pem"
        pem = generate_private_key_pem("RS256")
        key_file.write_text(pem)
        env["BENCH_KEY_FILE"] = str(key_file)
        env["AUTH_JWKS"] = json.dumps(load_key_ring(pem).jwks())
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(args.tokens)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        # The token issuing in the child (key loading, signing) is not part of the authorizer.
    server.stop()
    print(f"authorizer, {args.runs} fresh processes, {args.tokens} distinct tokens each (median, min-max):")
    for name in (
        "cold_start_ms",
        "first_authorization_ms",
        "rss_after_init_mb",
        "max_rss_mb",
        "rss_growth_while_authorizing_mb",
        "verified_token_cache_entries",
        "revocation_cache_entries",
    ):
        values = [result[name] for result in results]
        print(f"  {name:24s} {statistics.median(values):8.1f}   ({min(values):.1f} - {max(values):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
