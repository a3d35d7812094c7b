"""The benchmark: `python -m bench [--quick] [--markdown | --json]`.

Prints one table: each row a time (the median over interleaved rounds; CPU time and wall time
for warm rows) or a count, its ratio to the reference measured in the same run, and the target
with PASS/FAIL. Everything runs locally: a moto server as DynamoDB (behind a TLS endpoint for
cold starts), a local JWKS endpoint, fresh `python -S` processes for cold starts. It measures
whatever code is checked out (BENCHMARKS.md: the method).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from typing import Any

from bench import cold, events, login, requests_count, tls_cold, warm
from bench.counting_proxy import CountingProxy
from bench.report import (
    Row,
    json_report,
    machine,
    machine_markdown,
    machine_text,
    markdown_table,
    summary,
    text_table,
)
from bench.timing import Budget
from bench.world import (
    USERS_TABLE,
    Keys,
    authorizer_env,
    create_tables,
    jwks_server,
    moto_server,
    typical_env,
)


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _handler(proxy: CountingProxy) -> Any:
    """`authorizer.handler.handler`, imported (so built) with DynamoDB behind `proxy`."""
    before = os.environ["AUTH_DYNAMODB_ENDPOINT"]
    os.environ["AUTH_DYNAMODB_ENDPOINT"] = proxy.url
    try:
        return importlib.import_module("authorizer.handler").handler
    finally:
        os.environ["AUTH_DYNAMODB_ENDPOINT"] = before


def _build_authorizer(environ: dict[str, str] | None = None) -> Any:
    from authorizer.gateway.bootstrap import build_authorizer
    from authorizer.gateway.config import AuthorizerConfig

    return build_authorizer(AuthorizerConfig.from_env(environ))


def run(budget: Budget) -> list[Row]:
    _progress("generating keys")
    keys = Keys.generate()
    rows: list[Row] = []
    with moto_server() as dynamodb, jwks_server(keys.jwks()) as jwks_url:
        create_tables(dynamodb)
        ours_env = {**os.environ, **authorizer_env(keys, dynamodb)}
        ours_env["AUTH_SIGNING_KEY"] = keys.pems["RS256"]  # the login function signs
        typical = {**os.environ, **typical_env(jwks_url, dynamodb)}
        # In-process parts read the same configuration from this process's environment.
        os.environ.update(ours_env)
        os.environ.update(typical_env(jwks_url, dynamodb))
        warm.lambda_like_logging()

        _progress("cold starts in fresh processes, over HTTPS")
        jwks_base = jwks_url.removesuffix("/.well-known/jwks.json")
        first = events.rest_token(keys.fresh_tokens("RS256", 1)[0])
        rows += cold.measure(budget.cold_runs, ours_env, typical, dynamodb, jwks_base, first)
        rows += tls_cold.measure(budget.cold_runs)

        _progress("warm: signing tokens and timing verifiers and handlers")
        typical_module = importlib.import_module("bench.typical_authorizer")
        with CountingProxy(dynamodb) as warm_proxy:
            handler = _handler(warm_proxy)
            started = time.monotonic()
            rows += warm.measure_all(keys, handler, typical_module, budget)
            rows += warm.revocation_reads(warm_proxy, time.monotonic() - started)

        _progress("DynamoDB requests per authorization")
        with CountingProxy(dynamodb) as proxy:
            counted = _build_authorizer({**os.environ, "AUTH_DYNAMODB_ENDPOINT": proxy.url})
            rows += requests_count.measure(keys, proxy, counted)

            _progress("login")
            import boto3

            client = boto3.client("dynamodb", endpoint_url=dynamodb)
            rows += login.measure(client, USERS_TABLE, max(1, budget.slow_number // 2), proxy)
    return _ordered(rows)


def _ordered(rows: list[Row]) -> list[Row]:
    sections = [
        warm.WARM,
        warm.REPEAT,
        warm.METRICS,
        warm.TYPICAL,
        warm.READS,
        cold.COLD,
        tls_cold.SECTION,
        requests_count.REQUESTS,
        login.LOGIN,
    ]
    return sorted(rows, key=lambda row: sections.index(row.section))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few iterations only: a smoke test")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    output.add_argument("--json", action="store_true", help="print the rows and the machine as JSON")
    args = parser.parse_args(argv)

    started = time.monotonic()
    rows = run(Budget.quick() if args.quick else Budget.full())
    info = machine()
    if args.json:
        print(json_report(rows, info))
    elif args.markdown:
        print(machine_markdown(info))
        print()
        print(markdown_table(rows))
        print(f"\n{summary(rows)}")
    else:
        print(machine_text(info))
        print()
        print(text_table(rows))
        print(f"\n{summary(rows)}")
    _progress(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
