"""Cold start: fresh processes, from their start to the first authorization answered.

Each run starts `python`, imports the handler module (which builds everything from its
configuration, as Lambda's init does), and answers one authorization, including one denylist
read against the local DynamoDB endpoint (and, for the typical authorizer, its JWKS fetch). The
parent times the whole child; the same timing of `python -c pass` is the interpreter's own start,
which Lambda pays for either function alike, so "net" subtracts it. Runs are interleaved
(bare, ours, typical, bare, ...) so that a noisy moment hurts all three alike.

Ours runs from a copy of the `authorizer` package laid out as authorizer.zip ships it, with the
unchecked-hash bytecode scripts/build_lambda.py compiles (Lambda cannot keep bytecode compiled at a
cold start: /var/task is read-only); a second row runs it from source alone. The typical
authorizer runs as installed here: its libraries with the bytecode pip compiled, which flatters
it (deployed in a zip, PyJWT would be compiled at every cold start).
"""

from __future__ import annotations

import compileall
import json
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from bench.report import Row, time_row
from bench.world import allowed

COLD = "cold start (fresh process: imports, configuration, keys, first authorization)"
TARGET_RATIO = 0.35
OURS = "authorizer.handler"
TYPICAL = "typical_authorizer"
BENCH_DIR = str(Path(__file__).resolve().parent)

CHILD = """
import importlib, json, os, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
code = os.environ.get("BENCH_CODE_DIR")
if code:  # our package from this copy, as laid out in the zip (not from the editable install)
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__]
    sys.path.insert(0, code)
handler = importlib.import_module(sys.argv[1]).handler
import time
started = time.perf_counter()
answer = handler(json.loads(os.environ["BENCH_EVENT"]), None)
first_call = time.perf_counter() - started
# VmHWM: this process image's peak RSS (getrusage's ru_maxrss would include the parent's, which
# Linux carries across the fork and exec that start a child).
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
rss_mb = int(status["VmHWM"].split()[0]) / 1024
print(json.dumps({"answer": answer, "rss_mb": rss_mb, "first_call": first_call}))
"""


REPO_ROOT = Path(BENCH_DIR).parent


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
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
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


def _child(module: str, env: Mapping[str, str], event: Mapping[str, Any]) -> ChildRun:
    child_env = {**env, "BENCH_DIR": BENCH_DIR, "BENCH_EVENT": json.dumps(event)}
    elapsed, out = _run([sys.executable, "-c", CHILD, module], child_env)
    result = json.loads(out.strip().splitlines()[-1])
    if not allowed(result["answer"]):
        raise RuntimeError(f"{module} refused a valid token at cold start: {result['answer']!r}")
    return ChildRun(elapsed, float(result["rss_mb"]), float(result["first_call"]))


def measure(
    runs: int,
    ours_env: Mapping[str, str],
    typical_env: Mapping[str, str],
    event: Mapping[str, Any],
) -> list[Row]:
    bare: list[float] = []
    ours: list[ChildRun] = []
    source_only: list[ChildRun] = []
    typical: list[ChildRun] = []
    with deployed_code() as (shipped, source):
        no_writes = {"PYTHONDONTWRITEBYTECODE": "1"}
        for _ in range(runs):
            bare.append(_run([sys.executable, "-c", "pass"], ours_env)[0])
            ours.append(_child(OURS, {**ours_env, **no_writes, "BENCH_CODE_DIR": shipped}, event))
            source_only.append(_child(OURS, {**ours_env, **no_writes, "BENCH_CODE_DIR": source}, event))
            typical.append(_child(TYPICAL, typical_env, event))
    interpreter = statistics.median(bare)
    ours_raw = statistics.median(run.seconds for run in ours)
    typical_raw = statistics.median(run.seconds for run in typical)
    ours_net, typical_net = ours_raw - interpreter, typical_raw - interpreter
    source_net = statistics.median(run.seconds for run in source_only) - interpreter
    unit = "ms"
    return [
        time_row(COLD, f"bare interpreter: python -c pass (median of {runs})", interpreter, unit=unit),
        time_row(COLD, f"typical authorizer, raw (median of {runs})", typical_raw, unit=unit),
        time_row(COLD, "typical authorizer, net of interpreter start", typical_net, unit=unit),
        time_row(
            COLD,
            f"ours, raw, as authorizer.zip ships it (median of {runs})",
            ours_raw,
            unit=unit,
            ratio=ours_raw / typical_raw,
            reference="typical raw",
        ),
        time_row(
            COLD,
            "ours, net of interpreter start (with the zip's bytecode)",
            ours_net,
            unit=unit,
            ratio=ours_net / typical_net,
            reference="typical net",
            max_ratio=TARGET_RATIO,
        ),
        time_row(
            COLD,
            "ours, net, from a zip without bytecode (every module compiled at start)",
            source_net,
            unit=unit,
            ratio=source_net / typical_net,
            reference="typical net",
        ),
        Row(
            COLD,
            "typical authorizer: peak RSS after first authorization",
            statistics.median(run.rss_mb for run in typical),
            "MB",
        ),
        Row(
            COLD,
            "ours: peak RSS after first authorization",
            statistics.median(run.rss_mb for run in ours),
            "MB",
            statistics.median(run.rss_mb for run in ours) / statistics.median(run.rss_mb for run in typical),
            "typical",
        ),
    ]
