"""Cold start: fresh processes, from their start to the first authorization answered.

Each run starts `python`, imports the handler module (which builds everything from its
configuration, as Lambda's init does), and answers one authorization, including one denylist
read against the local DynamoDB endpoint (and, for the typical authorizer, its JWKS fetch). The
parent times the whole child; the same timing of `python -c pass` is the interpreter's own start,
which Lambda pays for either function alike, so "net" subtracts it. Runs are interleaved
(bare, ours, typical, bare, ...) so that a noisy moment hurts all three alike.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
handler = importlib.import_module(sys.argv[1]).handler
answer = handler(json.loads(os.environ["BENCH_EVENT"]), None)
# VmHWM: this process image's peak RSS (getrusage's ru_maxrss would include the parent's, which
# Linux carries across the fork and exec that start a child).
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"answer": answer, "rss_mb": int(status["VmHWM"].split()[0]) / 1024}))
"""


def _run(args: list[str], env: Mapping[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(args, env=dict(env), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])}... failed:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def _child(module: str, env: Mapping[str, str], event: Mapping[str, Any]) -> tuple[float, float]:
    child_env = {**env, "BENCH_DIR": BENCH_DIR, "BENCH_EVENT": json.dumps(event)}
    elapsed, out = _run([sys.executable, "-c", CHILD, module], child_env)
    result = json.loads(out.strip().splitlines()[-1])
    if not allowed(result["answer"]):
        raise RuntimeError(f"{module} refused a valid token at cold start: {result['answer']!r}")
    return elapsed, float(result["rss_mb"])


def measure(
    runs: int,
    ours_env: Mapping[str, str],
    typical_env: Mapping[str, str],
    event: Mapping[str, Any],
) -> list[Row]:
    bare: list[float] = []
    ours: list[tuple[float, float]] = []
    typical: list[tuple[float, float]] = []
    for _ in range(runs):
        bare.append(_run([sys.executable, "-c", "pass"], ours_env)[0])
        ours.append(_child(OURS, ours_env, event))
        typical.append(_child(TYPICAL, typical_env, event))
    interpreter = statistics.median(bare)
    ours_raw = statistics.median(t for t, _ in ours)
    typical_raw = statistics.median(t for t, _ in typical)
    ours_net, typical_net = ours_raw - interpreter, typical_raw - interpreter
    unit = "ms"
    return [
        time_row(COLD, f"bare interpreter: python -c pass (median of {runs})", interpreter, unit=unit),
        time_row(COLD, f"typical authorizer, raw (median of {runs})", typical_raw, unit=unit),
        time_row(COLD, "typical authorizer, net of interpreter start", typical_net, unit=unit),
        time_row(
            COLD,
            f"ours, raw (median of {runs})",
            ours_raw,
            unit=unit,
            ratio=ours_raw / typical_raw,
            reference="typical raw",
        ),
        time_row(
            COLD,
            "ours, net of interpreter start",
            ours_net,
            unit=unit,
            ratio=ours_net / typical_net,
            reference="typical net",
            max_ratio=TARGET_RATIO,
        ),
        Row(
            COLD,
            "typical authorizer: peak RSS after first authorization",
            statistics.median(m for _, m in typical),
            "MB",
        ),
        Row(
            COLD,
            "ours: peak RSS after first authorization",
            statistics.median(m for _, m in ours),
            "MB",
            statistics.median(m for _, m in ours) / statistics.median(m for _, m in typical),
            "typical",
        ),
    ]
