"""`python -m bench --quick` completes and reports every row (no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_ROWS = [
    *(
        name
        for alg in ("RS256", "ES256", "EdDSA")
        for name in (
            f"raw cryptography verify, fresh {alg} token each call (reference)",
            f"PyJWT jwt.decode, {alg}",
            f"joserfc jwt.decode + claims, {alg}",
            f"ours: handler, HTTP API 2.0, never-seen {alg} token",
        )
    ),
    "python-jose jwt.decode, RS256",
    "python-jose jwt.decode, ES256",
    "ours: handler, REST REQUEST, never-seen RS256 token",
    "ours: handler, REST TOKEN, never-seen RS256 token",
    "ours: handler, HTTP API 2.0, same RS256 token again",
    "ours: handler, REST REQUEST, same RS256 token again",
    "ours: handler, REST TOKEN, same RS256 token again",
    "typical authorizer, REST TOKEN, RS256 (one GetItem on local moto per call)",
    "bare interpreter: python -S, os._exit (median of 1)",
    "typical authorizer, net of interpreter start (JWKS and GetItem over HTTPS)",
    "ours, net of interpreter start, as authorizer.zip ships it (BatchGetItem over HTTPS)",
    "ours, net, from a zip without bytecode (every module compiled at start)",
    "ours, net, BatchGetItem over plain HTTP (its difference to the HTTPS row is TLS)",
    "typical authorizer: peak RSS after first authorization",
    "ours: peak RSS after first authorization",
    "revocation-cache miss (a new jti)",
    "within the cache window (same token again)",
    "argon2id verify alone (median of 1)",
    "login handler minus its DynamoDB wait: the hash and everything else (median of 1)",
    "whole login handler call, wall time (information: moto is slow; median of 1)",
    "of which waiting on DynamoDB (union of in-flight requests, at the handler's client)",
    "sequential DynamoDB stages per login (round trips waited for one after another)",
]


def test_quick_run_reports_every_row() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    names = [row["name"] for row in report["rows"]]
    missing = [name for name in EXPECTED_ROWS if name not in names]
    assert not missing, missing
    for prefix in (
        "ours: first authorization alone (after imports)",
        "typical: first authorization alone (after imports)",
        "BatchGetItem requests in",
        "TLS context, system CA bundle loaded whole",
        "TLS context as authorizer/aws/tls.py builds it",
        "argon2id parameters of stored hashes",
        "DynamoDB requests per login",
        "DynamoDB (moto) answering",
    ):
        assert any(name.startswith(prefix) for name in names), prefix
    warm = [row for row in report["rows"] if row["section"].startswith("warm")]
    assert warm and all(row["wall"] is not None and row["ratio"] is not None for row in warm)
    for row in report["rows"]:
        assert row["value"] >= 0, row
        assert (row["target"] is None) == (row["passed"] is None), row
        assert row["result"] in ("", "PASS", "FAIL"), row
    assert report["machine"]["libraries"]["cryptography"] != "not installed"


def test_the_kms_signing_benchmark_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.kms_signing", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for row in ("local PEM key", "KMS key (moto, HTTP)", "per million tokens"):
        assert row in done.stdout
