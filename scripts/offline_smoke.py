#!/usr/bin/env python3
"""Smoke test of serverless.yml under serverless-offline, end to end, on localhost only.

serverless-offline is an independent emulation of API Gateway's HTTP API: it reads our
serverless.yml (routes, the authorizer attachment, simple responses, payload 2.0, the
`offline` stage's params) on its own, so a wiring mistake that `auth-service serve` would
reproduce faithfully shows up here. The functions run as real Python workers against a moto
DynamoDB server; nothing talks to AWS.

Needs `npm ci` (serverless + serverless-offline in ./node_modules), this package installed in
the running interpreter's environment, and the zips serverless.yml names as artifacts
(scripts/build_lambda.py). Usage: python scripts/offline_smoke.py
Exit status 0 only if every step passed. Never prints the key, the tokens or the password.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from auth_service.tables import create_tables

# The steps themselves are scripts/smoke_deployed.py's, as a user runs them after a deploy.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from smoke_deployed import EXPECTED_FAILURES as STEP_FAILURES
from smoke_deployed import Api, Secrets, SmokeFailure, Target, report, run_steps

ROOT = Path(__file__).resolve().parents[1]
SERVERLESS = ROOT / "node_modules" / ".bin" / "serverless"
STAGE = "offline"
# The table names serverless.yml derives for the offline stage: ${self:service}-${sls:stage}-…
DENYLIST_TABLE = f"lambda-jwt-auth-{STAGE}-denylist"
USERS_TABLE = f"lambda-jwt-auth-{STAGE}-users"
USERNAME = "smoke"
REGION = "us-east-1"

TOTAL_SECONDS = 120  # the whole run, start-up and clean-up included
STARTUP_SECONDS = 60  # until serverless-offline says "Server ready"
CLI_TIMEOUT_SECONDS = 30
STOP_GRACE_SECONDS = 5
# The revocation bound checked is smoke_deployed's default, serverless.yml's: 5 s
# (revocationCacheSeconds) + 0 s (authorizerResultTtl); serverless-offline adds no cache of its own.
OUTPUT_TAIL_LINES = 60

class SmokeTimeout(BaseException):
    """The whole run overran TOTAL_SECONDS (raised by SIGALRM wherever the main thread was).

    A BaseException so that no `except Exception` on the way swallows it; `finally` still runs.
    """


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """A port free right now on 127.0.0.1 (the OS picks it; a tiny race we accept)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class OutputTail:
    """Drains a child's output in a thread (so it never blocks on a full pipe) and keeps the tail."""

    def __init__(self, stream: Any) -> None:
        self.lines: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))
            if "Server ready:" in line:
                self._ready.set()
        self._ready.set()  # EOF: the process ended; wake the waiter so it can say so

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def text(self) -> str:
        return "\n".join(self.lines)


def stop_process_group(process: subprocess.Popen[str]) -> None:
    """Stop serverless-offline, then SIGKILL whatever is left of its process group.

    SIGTERM to node alone first: serverless-offline then stops its python3 workers and deletes
    the artifacts it unpacked. The group kill catches workers of a node that did not get that far.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE_SECONDS)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_GRACE_SECONDS)


@contextmanager
def moto_dynamodb() -> Iterator[str]:
    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per DynamoDB call
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def base_environment() -> dict[str, str]:
    """Our environment without AUTH_/AWS_ settings (no real profile or key can leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "AWS_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",  # moto accepts any credentials; these are not secrets
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        PYTHONUNBUFFERED="1",
    )
    return env


def run_cli(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    """`auth-service …` with this interpreter; stdout returned, never echoed (it may hold a key)."""
    command = [sys.executable, "-m", "auth_service.cli", *args]
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        command,
        input=stdin,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        command_name = " ".join(args[:2])
        raise SmokeFailure(f"auth-service {command_name}: exit {result.returncode}: {result.stderr[-500:]}")
    return result.stdout


# --------------------------------------------------------------------------- set-up


@dataclass
class Fixture:
    base_url: str
    issuer: str
    password: str


def prepare_tables(endpoint: str) -> None:
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )
    create_tables(client, denylist=DENYLIST_TABLE, users=USERS_TABLE)


def add_user(endpoint: str, env: dict[str, str], password: str) -> None:
    run_cli(
        ["users", "add", USERNAME, "--users-table", USERS_TABLE, "--dynamodb-endpoint", endpoint],
        env,
        stdin=password + "\n",
    )


def make_keys(workdir: Path, env: dict[str, str]) -> tuple[str, str]:
    """A fresh RS256 key in the temp dir and its JWKS: (PEM, JWKS JSON)."""
    key_file = workdir / "signing-key.pem"
    run_cli(["keys", "generate", "--out", str(key_file)], env)
    jwks = run_cli(["keys", "jwks", str(key_file)], env)
    return key_file.read_text(encoding="utf-8"), jwks


def serverless_command(http_port: int, lambda_port: int, issuer: str) -> list[str]:
    return [
        str(SERVERLESS),
        "offline",
        "--stage",
        STAGE,
        "--host",
        "127.0.0.1",
        "--httpPort",
        str(http_port),
        "--lambdaPort",
        str(lambda_port),
        # The offline stage's issuer assumes port 3000; ours is wherever the free port is.
        f"--param=issuer={issuer}",
    ]


def offline_environment(env: dict[str, str], endpoint: str, pem: str, jwks: str) -> dict[str, str]:
    offline = dict(env)
    offline.update(
        # The offline stage leaves the SSM parameter names empty: keys come from here instead.
        AUTH_SIGNING_KEY=pem,
        AUTH_JWKS=jwks,
        AUTH_DYNAMODB_ENDPOINT=endpoint,
        # serverless-offline's Python runner puts $VIRTUAL_ENV/bin first on PATH and spawns
        # `python3`: point it at the environment this package is installed in.
        VIRTUAL_ENV=sys.prefix,
        SLS_TELEMETRY_DISABLED="1",
        SLS_NOTIFICATIONS_MODE="off",  # no network look-up of Serverless notifications
        FORCE_COLOR="0",
    )
    return offline


# --------------------------------------------------------------------------- HTTP steps


# --------------------------------------------------------------------------- orchestration


def start_offline(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], OutputTail]:
    # A session of its own: at the end we signal the whole group, python3 workers included.
    process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return process, OutputTail(process.stdout)


def wait_until_ready(process: subprocess.Popen[str], tail: OutputTail) -> None:
    started = time.monotonic()
    if not tail.wait_ready(STARTUP_SECONDS) or process.poll() is not None:
        state = f"exited with {process.returncode}" if process.poll() is not None else "timed out"
        raise SmokeFailure(f"serverless offline did not start ({state})")
    report("serverless offline: Server ready", "-", started)


def missing_artifacts() -> list[str]:
    """Literal `artifact:` paths of serverless.yml that do not exist yet.

    serverless-offline unpacks a function's artifact on its first invocation and crashes if the
    zip is missing, although its Python runner then imports the handler from the working tree
    anyway. A line-level scan is enough here: we only want a clear message before starting.
    """
    text = (ROOT / "serverless.yml").read_text(encoding="utf-8")
    paths = re.findall(r"^\s*artifact:\s*[\'\"]?([^\'\"\s#]+)", text, flags=re.MULTILINE)
    return sorted({path for path in paths if "${" not in path and not (ROOT / path).exists()})


def check_prerequisites() -> None:
    if not SERVERLESS.exists():
        raise SmokeFailure(f"{SERVERLESS.relative_to(ROOT)} is missing: run `npm ci` in {ROOT} first")
    if missing := missing_artifacts():
        raise SmokeFailure(
            f"serverless.yml packages functions as {', '.join(missing)}, which do not exist: "
            "build them first (python scripts/build_lambda.py)"
        )


def smoke(hidden: Secrets) -> None:
    check_prerequisites()
    env = base_environment()
    password = secrets.token_urlsafe(18)
    hidden.add(password)
    http_port, lambda_port = free_port(), free_port()
    # serverless.yml's offline issuer is http://localhost:3000; the port differs, the host does not.
    issuer = f"http://localhost:{http_port}"
    fixture = Fixture(base_url=f"http://127.0.0.1:{http_port}", issuer=issuer, password=password)

    with moto_dynamodb() as endpoint, tempfile.TemporaryDirectory(prefix="offline-smoke-") as workdir:
        started = time.monotonic()
        prepare_tables(endpoint)
        add_user(endpoint, env, password)
        pem, jwks = make_keys(Path(workdir), env)
        hidden.add(pem, *pem.splitlines()[1:-1])
        report("moto DynamoDB, tables, user, key", "-", started)

        offline_env = offline_environment(env, endpoint, pem, jwks)
        process, tail = start_offline(serverless_command(http_port, lambda_port, issuer), offline_env)
        try:
            wait_until_ready(process, tail)
            # scripts/smoke_deployed.py's steps, as a user runs them against a deployed stack.
            target = Target(fixture.base_url, USERNAME, password, issuer=issuer)
            run_steps(Api(target, hidden))
        except BaseException:
            stop_process_group(process)
            print("--- serverless offline output (tail) ---", file=sys.stderr)
            print(hidden.scrub(tail.text()), file=sys.stderr)
            raise
        stop_process_group(process)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise SmokeTimeout(f"the smoke test overran its {TOTAL_SECONDS} s limit")


def with_time_limit(action: Callable[[], None]) -> None:
    # Cleanup needs a few seconds after the alarm, so the alarm leaves it that room.
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(TOTAL_SECONDS - 2 * STOP_GRACE_SECONDS)
    try:
        action()
    finally:
        signal.alarm(0)


# What a failed run may raise; anything else is a bug in this script and keeps its traceback.
EXPECTED_FAILURES: tuple[type[BaseException], ...] = (
    *STEP_FAILURES,
    SmokeTimeout,
    subprocess.SubprocessError,
    OSError,
)


def main() -> int:
    hidden = Secrets()
    started = time.monotonic()
    try:
        with_time_limit(lambda: smoke(hidden))
    except EXPECTED_FAILURES as exc:
        print(f"FAIL offline smoke test: {hidden.scrub(str(exc))}", file=sys.stderr)
        return 1
    print(f"PASS offline smoke test in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
