"""Instructions per authorization, part by part: `python -m bench.instructions [--calls 300]`.

Where `python -m bench` times, this counts: each part of one never-seen RS256 authorization runs
in a process of its own under valgrind (`--tool=cachegrind --cache-sim=no`, which counts every
instruction executed), once with `--calls` calls and once with none; the difference divided by
`--calls` is that part's instructions per call, the same from run to run (PYTHONHASHSEED=0) where
times are not. Inputs are the benchmark's: HTTP API 2.0 sample events, a token never seen per
call. The denylist answer for their shared `jti` is put in the revocation cache beforehand (under
valgrind a run outlasts the 5 s window, and a DynamoDB round trip is not what is counted here).

Needs valgrind (Debian: `apt-get install valgrind`). About two minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from bench import events
from bench.warm import lambda_like_logging, raw_inputs, raw_verify
from bench.world import Keys, authorizer_env

# Each part measured, and what it adds to the one before it (see `table`).
MODES = (
    "raw",
    "parse_event",
    "parse_token",
    "verify_parsed",
    "issuers",
    "cache",
    "decide",
    "handle",
    "handler",
    "same",
)
WARMUP = 20


def _child(mode: str, calls: int, scratch: Path) -> None:
    """The workload of one part: `calls` calls after a warm-up (inputs built either way)."""
    from auth_service.keys import load_key_ring

    pems = json.loads((scratch / "keys.json").read_text())
    keys = Keys(rings={alg: load_key_ring(pem) for alg, pem in pems.items()}, pems=pems)
    tokens: list[str] = json.loads((scratch / "tokens.json").read_text())
    os.environ.update(authorizer_env(keys, "http://127.0.0.1:9"))  # never called: see the module doc
    lambda_like_logging()
    if mode == "raw":
        check = raw_verify(keys, "RS256")
        for item in raw_inputs("RS256", tokens)[: WARMUP + calls]:
            check(*item)
        return
    import authorizer.handler as entry
    from authorizer.gateway.events import parse_event
    from authorizer.tokens import revocation
    from authorizer.tokens.jws import parse_token

    authorizer = entry._authorizer
    claims = authorizer.verifier.verify(tokens[0])
    answer = revocation._Answer(None, time.time() + 3600)  # the shared jti: not revoked
    authorizer.revocations._remember(revocation._cache_key(claims), answer)
    same = mode == "same"
    invocations = events.invocations("HTTP API 2.0", [tokens[1]] * len(tokens) if same else tokens)
    texts = [event["headers"]["authorization"][7:] for event, _ in invocations]
    issuers = cast(Any, authorizer.verifier)._verifier  # the TrustedIssuers behind the token cache
    (own,) = issuers._verifiers.values()
    work: dict[str, tuple[Any, list[Any]]] = {
        "parse_event": (parse_event, [(event,) for event, _ in invocations]),
        "parse_token": (parse_token, [(text,) for text in texts]),
        "verify_parsed": (own.verify_parsed, [(parse_token(text),) for text in texts]),
        "issuers": (issuers.verify, [(text,) for text in texts]),
        "cache": (authorizer.verifier.verify, [(text,) for text in texts]),
        "decide": (authorizer.decide, [(parse_event(event),) for event, _ in invocations]),
        "handle": (authorizer.handle, [(event,) for event, _ in invocations]),
        "handler": (entry.handler, invocations),
        "same": (entry.handler, invocations),
    }
    call, inputs = work[mode]
    for item in inputs[: WARMUP + calls]:
        call(*item)


def _instructions(mode: str, calls: int, scratch: Path) -> int:
    valgrind = shutil.which("valgrind")
    assert valgrind is not None  # main checked
    done = subprocess.run(
        [
            valgrind,
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "bench.instructions",
            "--child",
            mode,
            str(calls),
            str(scratch),
        ],
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def table(per_call: dict[str, float]) -> list[tuple[str, float]]:
    """The parts of one authorization, each the difference of two measured modes."""
    p = per_call
    return [
        ("the RS256 signature check itself (public_key.verify, also the reference)", p["raw"]),
        ("reading the event (token, route, method, path)", p["parse_event"]),
        ("parsing the token (dots, base64url, JSON)", p["parse_token"]),
        ("header, algorithm and claim checks; the claims object", p["verify_parsed"] - p["raw"]),
        ("choosing the issuer's verifier", p["issuers"] - p["verify_parsed"] - p["parse_token"]),
        ("the verified-token cache (a miss, a store, an eviction)", p["cache"] - p["issuers"]),
        ("revocation check (cached), route scopes, the decision", p["decide"] - p["cache"]),
        ("the answer and the Lambda entry point", p["handler"] - p["decide"] - p["parse_event"]),
        ("whole handler, a never-seen token", p["handler"]),
        ("whole handler, the same token again", p["same"]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CALLS", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, calls, scratch = args.child
        _child(mode, int(calls), Path(scratch))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as directory:
        scratch = Path(directory)
        keys = Keys.generate()
        (scratch / "keys.json").write_text(json.dumps(dict(keys.pems)))
        (scratch / "tokens.json").write_text(json.dumps(keys.fresh_tokens("RS256", WARMUP + args.calls + 2)))
        per_call = {}
        for mode in MODES:
            print(f"[bench] {mode}", file=sys.stderr, flush=True)
            counted = _instructions(mode, args.calls, scratch) - _instructions(mode, 0, scratch)
            per_call[mode] = counted / args.calls
    print("| Part of one RS256 authorization (HTTP API 2.0 sample event) | Instructions per call |")
    print("|---|---|")
    for name, value in table(per_call):
        print(f"| {name} | {value:,.0f} |")
    print(f"\nwhole handler / signature check: {per_call['handler'] / per_call['raw']:.2f}x in instructions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
