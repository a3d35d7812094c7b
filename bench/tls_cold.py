"""Cold start over HTTPS: what TLS adds to a fresh process's first authorization, and what the TLS
context itself costs with the system's CAs.

The other cold-start rows talk plain HTTP to moto, as a local DynamoDB is reached; in AWS every
call is HTTPS. Here, in fresh processes (run as bench/cold.py runs them, from the zip's layout):

* our cold start with its BatchGetItem sent over TLS to 127.0.0.1 (a TLS proxy in front of moto,
  whose certificate a CA made at run time signed; AWS_CA_BUNDLE names that CA), next to the same
  through a plain-HTTP proxy, and of each the first authorization alone (the handler call, after
  imports);
* the TLS context alone: the system's CA bundle loaded whole (ssl.create_default_context, what the
  authorizer built before for DynamoDB, and urllib for every JWKS fetch), and the one
  authorizer/aws/tls.py builds with no AWS_CA_BUNDLE (with the system's CAs in a hashed directory,
  none are loaded until a handshake asks for one). It depends on this machine's CA store, which
  the row names.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.cold import OURS, ChildRun, _child, _run, deployed_code
from bench.counting_proxy import CountingProxy
from bench.local_tls import LocalCA
from bench.report import Row, time_row

SECTION = "cold start over HTTPS (TLS to 127.0.0.1, a CA made at run time)"

CONTEXT_CHILD = """
import json, os, sys, time
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__]
sys.path.insert(0, os.environ["BENCH_CODE_DIR"])
import ssl
from authorizer.aws import tls
started = time.perf_counter()
context = tls.client_context() if sys.argv[1] == "ours" else ssl.create_default_context()
seconds = time.perf_counter() - started
cas = context.cert_store_stats()["x509_ca"]
print(json.dumps({"seconds": seconds, "source": tls.trust_source(), "cas": cas}))
"""


def _context(kind: str, code: str) -> tuple[float, str, int]:
    env = {"BENCH_CODE_DIR": code, "PATH": "/usr/bin:/bin"}  # no AWS_CA_BUNDLE, no SSL_CERT_*
    _, out = _run([sys.executable, "-c", CONTEXT_CHILD, kind], env)
    result = json.loads(out.strip().splitlines()[-1])
    return float(result["seconds"]), str(result["source"]), int(result["cas"])


def measure(runs: int, ours_env: Mapping[str, str], dynamodb: str, event: Mapping[str, Any]) -> list[Row]:
    plain: list[ChildRun] = []
    https: list[ChildRun] = []
    bundle: list[float] = []
    ours: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as scratch, deployed_code() as (shipped, _):
        ca = LocalCA(Path(scratch))
        # Both through the same kind of proxy in front of moto, one of them over TLS: the
        # difference is TLS alone.
        with (
            CountingProxy(dynamodb) as plain_proxy,
            CountingProxy(dynamodb, tls=ca.server_context()) as proxy,
        ):
            base = {**ours_env, "PYTHONDONTWRITEBYTECODE": "1", "BENCH_CODE_DIR": shipped}
            over_http = {**base, "AUTH_DYNAMODB_ENDPOINT": plain_proxy.url}
            over_tls = {**base, "AUTH_DYNAMODB_ENDPOINT": proxy.url, "AWS_CA_BUNDLE": str(ca.ca_file)}
            for _ in range(runs):
                plain.append(_child(OURS, over_http, event))
                https.append(_child(OURS, over_tls, event))
                bundle_seconds, _, bundle_cas = _context("bundle", shipped)
                ours_seconds, source, ours_cas = _context("ours", shipped)
                bundle.append(bundle_seconds)
                ours.append(ours_seconds)
            if proxy.total() < runs:
                raise RuntimeError("the HTTPS runs did not reach the TLS endpoint")
    plain_cold = statistics.median(run.seconds for run in plain)
    https_cold = statistics.median(run.seconds for run in https)
    plain_call = statistics.median(run.first_call for run in plain)
    https_call = statistics.median(run.first_call for run in https)
    system = statistics.median(bundle)
    return [
        time_row(
            SECTION, f"ours, raw, BatchGetItem over plain HTTP (median of {runs})", plain_cold, unit="ms"
        ),
        time_row(
            SECTION,
            f"ours, raw, BatchGetItem over HTTPS, CA via AWS_CA_BUNDLE (median of {runs})",
            https_cold,
            unit="ms",
            ratio=https_cold / plain_cold,
            reference="plain HTTP",
        ),
        time_row(SECTION, "first authorization alone (after imports), plain HTTP", plain_call, unit="ms"),
        time_row(
            SECTION,
            "first authorization alone (after imports), HTTPS: connect, handshake, answer",
            https_call,
            unit="ms",
            ratio=https_call / plain_call,
            reference="plain HTTP",
        ),
        time_row(
            SECTION,
            f"TLS context, system CA bundle loaded whole (create_default_context: {bundle_cas} CAs)",
            system,
            unit="ms",
        ),
        time_row(
            SECTION,
            f"TLS context as authorizer/aws/tls.py builds it ({source}: {ours_cas} CAs loaded)",
            statistics.median(ours),
            unit="ms",
            ratio=statistics.median(ours) / system,
            reference="whole bundle",
        ),
    ]
