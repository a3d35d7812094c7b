"""Login: the argon2id check alone against the login handler call (moto as DynamoDB).

The handler module is imported as Lambda would (configuration from the environment), a user is
added to the user table, and both are timed alternately, one call at a time (tens of ms each).

Target 5 is about what the handler adds to the hash: its wall time minus the time it waits on
DynamoDB is judged against argon2id alone. The wait is taken at the handler's own client, as
the union of its requests' in-flight intervals (bench/dynamodb_wait.py): requests made side by
side count once. A local moto server answers much slower than DynamoDB does (milliseconds of
its CPU per request, on the cores argon2 runs on), so the wall time is shown for information only.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.counting_proxy import CountingProxy
from bench.dynamodb_wait import InFlight
from bench.report import Row, time_row

LOGIN = "login (argon2id, local moto as DynamoDB)"
USERNAME = "bench-user"
PASSWORD = "correct horse battery staple"  # noqa: S105 - a benchmark user's, created at run time
TARGET_RATIO = 1.20
# OWASP's minimum for argon2id.
MIN_MEMORY_KIB, MIN_TIME_COST, PARALLELISM = 19 * 1024, 2, 1
_PARAMS = re.compile(r"^\$argon2id\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$")


def login_event() -> dict[str, Any]:
    body = json.dumps({"username": USERNAME, "password": PASSWORD})
    return {
        "version": "2.0",
        "routeKey": "POST /auth/login",
        "rawPath": "/auth/login",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.bench.example"},
        "requestContext": {
            "http": {"method": "POST", "path": "/auth/login", "sourceIp": "203.0.113.7"},
            "requestId": "bench-login",
            "routeKey": "POST /auth/login",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def stored_hash(dynamodb_client: Any, table: str) -> str:
    item = dynamodb_client.get_item(TableName=table, Key={"username": {"S": USERNAME}})["Item"]
    return str(item["password_hash"]["S"])


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


COUNT_CHILD = """
import importlib, json, os, sys
sys.path.insert(0, os.getcwd())
from bench.login import login_event
handler = importlib.import_module("auth_service.handlers.login").handler
for _ in range(int(sys.argv[1])):
    assert handler(login_event(), None)["statusCode"] == 200
"""


def count_requests(proxy: CountingProxy, logins: int) -> list[Row]:
    """DynamoDB requests per successful login, counted at `proxy` (a login function of its own)."""
    proxy.reset()
    subprocess.run(
        [sys.executable, "-c", COUNT_CHILD, str(logins)],
        env={**os.environ, "AUTH_DYNAMODB_ENDPOINT": proxy.url},
        cwd=Path(__file__).resolve().parents[1],
        check=True,
        capture_output=True,
    )
    counts = proxy.counts()
    detail = ", ".join(f"{name} {count / logins:g}" for name, count in sorted(counts.items()))
    return [
        Row(
            LOGIN,
            f"DynamoDB requests per login, counted at the endpoint ({detail})",
            proxy.total() / logins,
            "requests",
        ),
        time_row(
            LOGIN,
            "DynamoDB (moto) answering them, per login (their times summed at the proxy, overlaps too)",
            proxy.upstream_seconds() / logins,
            unit="ms",
        ),
    ]


def measure(dynamodb_client: Any, users_table: str, runs: int, proxy: CountingProxy) -> list[Row]:
    from auth_service import runtime
    from auth_service.users import DEFAULT_HASHER

    runtime.users().add(USERNAME, PASSWORD)
    handler = importlib.import_module("auth_service.handlers.login").handler
    event = login_event()

    def login() -> None:
        response = handler(event, None)
        if response["statusCode"] != 200:
            raise RuntimeError(f"the benchmark login failed: {response['statusCode']} {response.get('body')}")

    hashed = stored_hash(dynamodb_client, users_table)
    match = _PARAMS.match(hashed)
    if match is None:
        raise RuntimeError("the stored password hash is not argon2id")
    memory, time_cost, parallelism = (int(group) for group in match.groups())

    def argon2() -> None:
        DEFAULT_HASHER.verify(hashed, PASSWORD)

    waits = InFlight().watch(runtime.dynamodb())  # the client of the handler's every part
    try:
        login()
        argon2()
        if waits.take().requests == 0:
            raise RuntimeError("no DynamoDB request of the login was seen at its client")
        hash_times, login_times, wait_times, stages = [], [], [], []
        for _ in range(runs):
            hash_times.append(_timed(argon2))
            login_times.append(_timed(login))
            wait = waits.take()
            wait_times.append(wait.seconds)
            stages.append(wait.stages)
    finally:
        waits.close()
    alone = statistics.median(hash_times)
    rest = [total - wait for total, wait in zip(login_times, wait_times, strict=True)]
    owasp = memory >= MIN_MEMORY_KIB and time_cost >= MIN_TIME_COST and parallelism == PARALLELISM
    return [
        Row(
            LOGIN,
            f"argon2id parameters of stored hashes: m={memory} KiB, t={time_cost}, p={parallelism}",
            memory / 1024,
            "MiB",
            target="m ≥ 19 MiB, t ≥ 2, p = 1",
            passed=owasp,
        ),
        time_row(LOGIN, f"argon2id verify alone (median of {runs})", alone, unit="ms"),
        time_row(
            LOGIN,
            f"login handler minus its DynamoDB wait: the hash and everything else (median of {runs})",
            statistics.median(rest),
            unit="ms",
            ratio=_median_ratio(rest, hash_times),
            reference="argon2id",
            max_ratio=TARGET_RATIO,
        ),
        time_row(
            LOGIN,
            f"whole login handler call, wall time (information: moto is slow; median of {runs})",
            statistics.median(login_times),
            unit="ms",
            ratio=_median_ratio(login_times, hash_times),
            reference="argon2id",
        ),
        time_row(
            LOGIN,
            "of which waiting on DynamoDB (union of in-flight requests, at the handler's client)",
            statistics.median(wait_times),
            unit="ms",
        ),
        Row(
            LOGIN,
            "sequential DynamoDB stages per login (round trips waited for one after another)",
            statistics.median(stages),
            "stages",
        ),
        *count_requests(proxy, 5),
    ]


def _median_ratio(values: list[float], references: list[float]) -> float:
    """The median of same-round ratios: a noisy moment hurts both sides of a round alike."""
    return statistics.median(value / reference for value, reference in zip(values, references, strict=True))
