"""Cold start: fresh processes, from their start to the first authorization answered, over HTTPS.

Each run starts `python -S` (no `site`: no `.pth` file of this machine's environment imports
anything first; site-packages are appended to `sys.path` as plain directories, as a Lambda
zip's are), imports the handler module (which builds everything from its configuration, as
Lambda's init does), answers one authorization and ends with `os._exit`: Lambda freezes a
container after its answer, it does not tear the interpreter down, so teardown is not counted.

The first authorization's DynamoDB read goes over HTTPS to 127.0.0.1: a TLS endpoint in front
of the moto server, its certificate signed by a CA made at run time (bench/local_tls.py), which
the functions trust through `AWS_CA_BUNDLE` (and, for the typical authorizer's JWKS fetch with
urllib, `SSL_CERT_FILE`; the typical authorizer fetches its JWKS over HTTPS too). So the TLS
context, the handshake and the round trip are part of the cold start, as in AWS.

The parent times the whole child; the same timing of `python -S -c "import os; os._exit(0)"`
is the interpreter's own start, which Lambda pays for either function alike, so "net" subtracts
it. Runs are interleaved (bare, ours, typical, ...) so that a noisy moment hurts all alike.

Ours runs from a copy of the `authorizer` package laid out as authorizer.zip ships it, with the
unchecked-hash bytecode scripts/build_lambda.py compiles (Lambda cannot keep bytecode compiled at a
cold start: /var/task is read-only); a second row runs it from source alone, a third over plain
HTTP (TLS's share). The typical authorizer runs as installed here: its libraries with the
bytecode pip compiled, which flatters it (deployed in a zip, PyJWT would be compiled at every
cold start).
"""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import shutil
import site
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from bench.counting_proxy import CountingProxy
from bench.local_tls import LocalCA
from bench.report import Row, time_row
from bench.world import allowed

COLD = "cold start (fresh `python -S` process to the first authorization, DynamoDB over HTTPS)"
TARGET_RATIO = 0.2
OURS = "authorizer.handler"
TYPICAL = "typical_authorizer"
BENCH_DIR = str(Path(__file__).resolve().parent)
REPO_ROOT = Path(BENCH_DIR).parent

CHILD = """
import os, sys
code = os.environ.get("BENCH_CODE_DIR")
sys.path[:0] = ([code] if code else []) + [os.environ["BENCH_DIR"]]
sys.path += os.environ["BENCH_SITE_PACKAGES"].split(os.pathsep)
import importlib, json, time
handler = importlib.import_module(sys.argv[1]).handler
started = time.perf_counter()
answer = handler(json.loads(os.environ["BENCH_EVENT"]), None)
first_call = time.perf_counter() - started
# VmHWM: this process image's peak RSS (getrusage's ru_maxrss would include the parent's, which
# Linux carries across the fork and exec that start a child).
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
rss_mb = int(status["VmHWM"].split()[0]) / 1024
sys.stdout.write(json.dumps({"answer": answer, "rss_mb": rss_mb, "first_call": first_call}) + "\\n")
sys.stdout.flush()
os._exit(0)  # as Lambda freezes the container: no interpreter teardown
"""
BARE = "import os; os._exit(0)"


def site_packages() -> str:
    """This environment's site-packages, as plain `sys.path` entries (no `.pth` processing)."""
    paths = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    return os.pathsep.join(dict.fromkeys(paths))


@contextmanager
def deployed_code() -> Iterator[tuple[str, str]]:
    """Two copies of the `authorizer` package: as shipped in authorizer.zip, and source only.

    scripts/build_lambda.py ships unchecked-hash bytecode beside every source (Lambda's /var/task
    is read-only, so nothing compiled at a cold start is kept); the source-only copy shows what
    a zip without it would cost. Copies, so that whatever __pycache__ the checkout holds (or
    PYTHONDONTWRITEBYTECODE) does not decide the result.
    """
    with tempfile.TemporaryDirectory(prefix="bench-code-") as scratch:
        shipped, source = Path(scratch) / "shipped", Path(scratch) / "source"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "adapters", "jwt_verifier.py", "principal.py")
        for copy in (shipped, source):
            shutil.copytree(REPO_ROOT / "authorizer", copy / "authorizer", ignore=ignore)
        compileall.compile_dir(
            shipped, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
        yield str(shipped), str(source)


def _run(args: list[str], env: Mapping[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(args, env=dict(env), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])}... failed:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


class ChildRun(NamedTuple):
    seconds: float  # the whole process, from its start to its exit
    rss_mb: float
    first_call: float  # of which the first authorization (the handler call, after the imports)


def child(module: str, env: Mapping[str, str], event: Mapping[str, Any]) -> ChildRun:
    child_env = {
        **env,
        "BENCH_DIR": BENCH_DIR,
        "BENCH_EVENT": json.dumps(event),
        "BENCH_SITE_PACKAGES": site_packages(),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    elapsed, out = _run([sys.executable, "-S", "-c", CHILD, module], child_env)
    result = json.loads(out.strip().splitlines()[-1])
    if not allowed(result["answer"]):
        raise RuntimeError(f"{module} refused a valid token at cold start: {result['answer']!r}")
    return ChildRun(elapsed, float(result["rss_mb"]), float(result["first_call"]))


def bare(env: Mapping[str, str]) -> float:
    return _run([sys.executable, "-S", "-c", BARE], env)[0]


def measure(
    runs: int,
    ours_env: Mapping[str, str],
    typical_env: Mapping[str, str],
    dynamodb: str,
    jwks_base: str,
    event: Mapping[str, Any],
) -> list[Row]:
    interpreter: list[float] = []
    ours: list[ChildRun] = []
    source_only: list[ChildRun] = []
    plain: list[ChildRun] = []
    typical: list[ChildRun] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-tls-") as scratch,
        deployed_code() as (shipped, source),
    ):
        ca = LocalCA(Path(scratch))
        with (
            CountingProxy(dynamodb, tls=ca.server_context()) as https_dynamodb,
            CountingProxy(dynamodb) as plain_dynamodb,
            CountingProxy(jwks_base, tls=ca.server_context()) as https_jwks,
        ):
            trust = {"AWS_CA_BUNDLE": str(ca.ca_file), "SSL_CERT_FILE": str(ca.ca_file)}
            over_tls = {**ours_env, **trust, "AUTH_DYNAMODB_ENDPOINT": https_dynamodb.url}
            over_http = {**ours_env, "AUTH_DYNAMODB_ENDPOINT": plain_dynamodb.url}
            typical_tls = {
                **typical_env,
                **trust,
                "DYNAMODB_ENDPOINT": https_dynamodb.url,
                "JWKS_URL": f"{https_jwks.url}/.well-known/jwks.json",
            }
            for _ in range(runs):
                interpreter.append(bare(ours_env))
                ours.append(child(OURS, {**over_tls, "BENCH_CODE_DIR": shipped}, event))
                typical.append(child(TYPICAL, typical_tls, event))
                source_only.append(child(OURS, {**over_tls, "BENCH_CODE_DIR": source}, event))
                plain.append(child(OURS, {**over_http, "BENCH_CODE_DIR": shipped}, event))
            if https_dynamodb.total() < 2 * runs or https_jwks.total() < runs:
                raise RuntimeError("the cold starts did not reach the HTTPS endpoints")
    start = statistics.median(interpreter)

    def net(children: list[ChildRun]) -> float:
        return statistics.median(run.seconds for run in children) - start

    typical_net = net(typical)
    unit = "ms"
    rss = statistics.median(run.rss_mb for run in ours)
    typical_rss = statistics.median(run.rss_mb for run in typical)
    return [
        time_row(COLD, f"bare interpreter: python -S, os._exit (median of {runs})", start, unit=unit),
        time_row(
            COLD,
            "typical authorizer, net of interpreter start (JWKS and GetItem over HTTPS)",
            typical_net,
            unit=unit,
        ),
        time_row(
            COLD,
            "ours, net of interpreter start, as authorizer.zip ships it (BatchGetItem over HTTPS)",
            net(ours),
            unit=unit,
            ratio=net(ours) / typical_net,
            reference="typical",
            max_ratio=TARGET_RATIO,
        ),
        time_row(
            COLD,
            "ours, net, from a zip without bytecode (every module compiled at start)",
            net(source_only),
            unit=unit,
            ratio=net(source_only) / typical_net,
            reference="typical",
        ),
        time_row(
            COLD,
            "ours, net, BatchGetItem over plain HTTP (its difference to the HTTPS row is TLS)",
            net(plain),
            unit=unit,
            ratio=net(plain) / typical_net,
            reference="typical",
        ),
        time_row(
            COLD,
            "ours: first authorization alone (after imports): TLS context, handshake, BatchGetItem",
            statistics.median(run.first_call for run in ours),
            unit=unit,
        ),
        time_row(
            COLD,
            "typical: first authorization alone (after imports): JWKS fetch, GetItem, over HTTPS",
            statistics.median(run.first_call for run in typical),
            unit=unit,
        ),
        Row(COLD, "typical authorizer: peak RSS after first authorization", typical_rss, "MB"),
        Row(COLD, "ours: peak RSS after first authorization", rss, "MB", rss / typical_rss, "typical"),
    ]
