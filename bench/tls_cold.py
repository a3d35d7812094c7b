"""The TLS context a cold start builds, with this machine's CAs: the largest part of a first HTTPS
call (bench/cold.py measures whole cold starts over HTTPS).

In fresh processes: the system's CA bundle loaded whole (ssl.create_default_context, what urllib
builds for every JWKS fetch), and the context authorizer/aws/tls.py builds with no
AWS_CA_BUNDLE (with the system's CAs in a hashed directory, none are loaded until a handshake
asks for one). It depends on this machine's CA store, which the row names.
"""

from __future__ import annotations

import json
import statistics
import sys

from bench.cold import _run, deployed_code
from bench.report import Row, time_row

SECTION = "TLS context at a cold start (this machine's CA store)"

CONTEXT_CHILD = """
import json, os, sys, time
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
    _, out = _run([sys.executable, "-S", "-c", CONTEXT_CHILD, kind], env)
    result = json.loads(out.strip().splitlines()[-1])
    return float(result["seconds"]), str(result["source"]), int(result["cas"])


def measure(runs: int) -> list[Row]:
    bundle: list[float] = []
    ours: list[float] = []
    with deployed_code() as (shipped, _):
        for _ in range(runs):
            bundle_seconds, _, bundle_cas = _context("bundle", shipped)
            ours_seconds, source, ours_cas = _context("ours", shipped)
            bundle.append(bundle_seconds)
            ours.append(ours_seconds)
    system = statistics.median(bundle)
    return [
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
