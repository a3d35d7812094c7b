"""`auth-service serve` end to end with the fixture service: environment, DynamoDB, users, signals.

The real handlers are not needed: the fixture serverless.yml routes to tests/unit/local_fixtures.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import boto3
import pytest
import requests

from auth_service.cli import main as cli
from auth_service.local.container_limits import ContainerLimits
from auth_service.local.dynamodb import EmbeddedDynamoDB
from auth_service.local.serve import (
    LOCAL_DENYLIST_TABLE,
    LOCAL_USERS_TABLE,
    ServeOptions,
    default_config_path,
    run,
)
from auth_service.local.users_file import read_users_document
from tests.e2e.container_log import container_pids
from tests.processes import still_running
from tests.unit.local_fixtures import service

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"


@dataclass
class RunningServe:
    url: str
    thread: threading.Thread
    stop: threading.Event
    result: list[int] = field(default_factory=list)

    def finish(self) -> int:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        return self.result[0]


def start_serve(options: ServeOptions) -> RunningServe:
    ready = threading.Event()
    urls: list[str] = []
    stop = threading.Event()
    result: list[int] = []

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    def target() -> None:
        result.append(run(options, stop=stop, on_ready=on_ready))
        ready.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    assert ready.wait(60), "serve did not become ready"
    assert urls, f"serve exited early with {result}"
    return RunningServe(urls[0], thread, stop, result)


@pytest.fixture
def key_file(tmp_path: Path, rsa_pem: str) -> Path:
    path = tmp_path / "signing-key.pem"
    path.write_text(rsa_pem, encoding="utf-8")
    return path


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.json"
    path.write_text(
        json.dumps({"users": [{"username": "alice", "password": PASSWORD, "scope": "profile admin"}]}),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def options(
    tmp_path: Path, key_file: Path, users_file: Path, monkeypatch: pytest.MonkeyPatch
) -> ServeOptions:
    monkeypatch.delenv("AUTH_AUDIENCE", raising=False)
    return ServeOptions(
        port=0,
        users_file=users_file,
        signing_key_file=key_file,
        config=service.write(tmp_path),
    )


@pytest.fixture
def dynamodb_endpoint() -> Iterator[str]:
    server = EmbeddedDynamoDB()
    yield server.start()
    server.stop()


def test_serve_sets_up_environment_dynamodb_and_users(
    options: ServeOptions, capsys: pytest.CaptureFixture[str], rsa_pem: str
) -> None:
    serving = start_serve(options)
    try:
        seen = requests.get(f"{serving.url}/environment", timeout=10).json()
        endpoint = seen["AUTH_DYNAMODB_ENDPOINT"]
        assert seen == {
            "AUTH_ISSUER": serving.url,
            "AUTH_AUDIENCE": "lambda-jwt-auth-api",
            "AUTH_DENYLIST_TABLE": LOCAL_DENYLIST_TABLE,
            "AUTH_USERS_TABLE": LOCAL_USERS_TABLE,
            "AUTH_DYNAMODB_ENDPOINT": endpoint,
            "AWS_REGION": "us-east-1",
            "has_signing_key": "yes",
            "has_jwks": "yes",
        }
        assert serving.url.startswith("http://127.0.0.1:")
        assert endpoint.startswith("http://127.0.0.1:")
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        assert {LOCAL_DENYLIST_TABLE, LOCAL_USERS_TABLE} <= set(client.list_tables()["TableNames"])
        item = client.get_item(TableName=LOCAL_USERS_TABLE, Key={"username": {"S": "alice"}})["Item"]
        assert item["scope"]["S"] == "profile admin"
        assert PASSWORD not in json.dumps(item)
        assert requests.get(f"{serving.url}/nowhere", timeout=10).status_code == 404
    finally:
        assert serving.finish() == 0

    out = capsys.readouterr().out
    assert f"lambda-jwt-auth listening on {serving.url}\n" in out
    assert "  containers per function (processes, started on demand): echo 4, configured 4," in out
    # The handler ran in a container of its own, which stopped with serve.
    (pid,) = container_pids(out.splitlines())
    assert pid != os.getpid() and not still_running([pid])
    assert f"curl -s -X POST {serving.url}/auth/login" in out
    assert f"curl -s {serving.url}/me" in out
    assert f"{serving.url}/auth/refresh" in out and f"{serving.url}/auth/logout" in out
    assert "alice" in out
    # No secrets on the console.
    assert PASSWORD not in out
    assert "PRIVATE KEY" not in out and rsa_pem.splitlines()[1] not in out
    # Process state is back as it was, and moto is gone.
    assert "AUTH_ISSUER" not in os.environ
    assert "AUTH_SIGNING_KEY" not in os.environ
    with pytest.raises(requests.ConnectionError):
        requests.get(endpoint, timeout=2)


def test_existing_users_are_kept_on_a_given_endpoint(
    options: ServeOptions, dynamodb_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    options.dynamodb_endpoint = dynamodb_endpoint
    for _ in range(2):
        serving = start_serve(options)
        seen = requests.get(f"{serving.url}/environment", timeout=10).json()
        assert seen["AUTH_DYNAMODB_ENDPOINT"] == dynamodb_endpoint
        assert serving.finish() == 0
    out = capsys.readouterr().out
    assert "user 'alice' added" in out
    assert "user 'alice' exists already; left unchanged" in out
    # The given endpoint is not ours to stop.
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    assert LOCAL_USERS_TABLE in client.list_tables()["TableNames"]


def test_bad_config_is_reported_with_status_2(
    options: ServeOptions, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options.config = service.write(tmp_path, "service: x\nfunctions:\n  f:\n    handler: nope\n")
    assert run(options) == 2
    err = capsys.readouterr().err
    assert str(options.config) in err and "handler" in err


def test_bad_users_file_never_echoes_the_password(
    options: ServeOptions, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert options.users_file is not None
    options.users_file.write_text(
        json.dumps({"users": [{"username": "bob", "password": "short", "scope": 5}]}), encoding="utf-8"
    )
    assert run(options) == 2
    captured = capsys.readouterr()
    assert "users[0] (bob): scope must be a string" in captured.err
    assert "short" not in captured.err + captured.out


def test_user_the_user_table_refuses_is_reported(
    options: ServeOptions, capsys: pytest.CaptureFixture[str]
) -> None:
    assert options.users_file is not None
    options.users_file.write_text(
        json.dumps({"users": [{"username": "bob", "password": "short"}]}), encoding="utf-8"
    )
    assert run(options) == 2
    captured = capsys.readouterr()
    assert "user 'bob'" in captured.err and "password must be" in captured.err
    assert "short" not in (captured.err + captured.out).replace("password must be", "")


@pytest.mark.parametrize(
    ("clients", "message"),
    [
        ({"client_id": "svc", "scope": "a"}, "clients[0] (svc): client_secret must be a non-empty string"),
        ({"client_id": "", "client_secret": "hunter2-hunter2-hunter2"}, "clients[0]: client_id must be"),
        ({"client_id": "svc", "client_secret": "short-secret"}, "client 'svc': a client secret must be 16"),
        (
            {"client_id": "svc", "client_secret": "hunter2-hunter2-hunter2", "scope": 1},
            "scope must be a string",
        ),
    ],
)
def test_bad_clients_in_the_users_file_never_echo_the_secret(
    options: ServeOptions,
    capsys: pytest.CaptureFixture[str],
    clients: dict[str, object],
    message: str,
) -> None:
    assert options.users_file is not None
    options.users_file.write_text(json.dumps({"users": [], "clients": [clients]}), encoding="utf-8")
    assert run(options) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "hunter2" not in captured.err + captured.out and "short-secret" not in captured.err + captured.out


def test_port_in_use_is_reported(options: ServeOptions, capsys: pytest.CaptureFixture[str]) -> None:
    first = start_serve(options)
    try:
        options.port = int(first.url.rsplit(":", 1)[1])
        assert run(options) == 2
        assert "cannot listen on 127.0.0.1" in capsys.readouterr().err
    finally:
        assert first.finish() == 0


def test_default_config_is_the_repository_serverless_yml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_config_path() == REPO_ROOT / "serverless.yml"
    service.write(tmp_path)
    assert default_config_path() == tmp_path / "serverless.yml"
    assert ServeOptions().config == tmp_path / "serverless.yml"


SERVE_SCRIPT = """
import sys
from pathlib import Path
from auth_service.local.serve import ServeOptions, run
sys.exit(run(ServeOptions(port=0, config=Path(sys.argv[1]))))
"""


class _Lines:
    """Everything a pipe says, collected on a thread so the test can wait for one line."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, prefix: str, timeout: float) -> str | None:
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(line.startswith(prefix) for line in self.lines), timeout
            )
            return next(line for line in self.lines if line.startswith(prefix)) if found else None

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_the_process_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    config = service.write(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    out, err = _Lines(process.stdout), _Lines(process.stderr)
    try:
        line = out.wait_for("lambda-jwt-auth listening on ", timeout=60)
        assert line is not None, err.text()
        url = line.removeprefix("lambda-jwt-auth listening on ").strip()
        assert requests.get(f"{url}/items/1", timeout=10).status_code == 200
        assert requests.get(f"{url}/configured", timeout=10).status_code == 200
        assert out.wait_for("[configured#1] cold start", timeout=10) is not None
        pids = container_pids(out.lines)
        assert len(pids) == 2 and still_running(pids, timeout=0) == pids
        process.send_signal(signum)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err.text()
    assert not still_running(pids), "a container outlived serve"
    assert "lambda-jwt-auth stopping" in out.text()
    assert "signing key: ephemeral RS256" in out.text()
    assert "PRIVATE KEY" not in out.text() + err.text()


def test_unusable_signing_key_is_reported(
    options: ServeOptions, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file.write_text("not a key at all", encoding="utf-8")
    assert run(options) == 2
    assert f"{key_file}: not a usable signing key" in capsys.readouterr().err


def test_unreachable_dynamodb_endpoint_is_reported(
    options: ServeOptions, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    options.dynamodb_endpoint = f"http://127.0.0.1:{port}"
    assert run(options) == 2
    assert f"cannot prepare the tables at http://127.0.0.1:{port}" in capsys.readouterr().err


def test_containers_per_function_are_configurable(
    options: ServeOptions, capsys: pytest.CaptureFixture[str]
) -> None:
    options.containers = ContainerLimits(2, {"echo": 1})
    serving = start_serve(options)
    assert serving.finish() == 0
    out = capsys.readouterr().out
    assert "  containers per function (processes, started on demand): echo 1, configured 2," in out


def test_containers_for_an_unknown_function_are_reported(
    options: ServeOptions, capsys: pytest.CaptureFixture[str]
) -> None:
    options.containers = ContainerLimits(2, {"nosuch": 3})
    assert run(options) == 2
    assert "--containers names no function of serverless.yml: nosuch" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "containers for every function must be at least 1, not 0"),
        ("echo=0", "containers for echo must be at least 1, not 0"),
        ("lots", "--containers 'lots': expected N or FUNCTION=N"),
    ],
)
def test_the_containers_option_refuses_what_it_cannot_parse(
    tmp_path: Path, value: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = service.write(tmp_path)
    assert cli.main(["serve", "--port", "0", "--config", str(config), "--containers", value]) == 2
    assert problem in capsys.readouterr().err


def test_the_example_users_file_has_users_and_a_machine_client() -> None:
    """examples/users.json, which the README's first command serves, reads as serve reads it."""
    document = read_users_document(Path(__file__).resolve().parents[2] / "examples" / "users.json")
    assert [user.username for user in document.users] == ["alice", "ops"]
    assert [client.client_id for client in document.clients] == ["orders-worker"]
    assert len(document.clients[0].client_secret) >= 16


def test_serve_writes_metrics_only_when_asked(
    options: ServeOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTH_METRICS_NAMESPACE", "FromTheShell")  # a leftover: not used unasked
    for metrics, expected in ((False, None), (True, "LambdaJwtAuth local")):
        options.metrics = metrics
        serving = start_serve(options)
        try:
            seen = requests.get(f"{serving.url}/environment", timeout=10).json()
        finally:
            assert serving.finish() == 0
        assert seen.get("metrics") == expected


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("99999", "must be from 0 to 65535 (0 picks a free port), got 99999"),
        ("80a", "must be a whole number"),
    ],
)
def test_a_port_out_of_range_is_a_usage_error(
    port: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from auth_service.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["serve", "--port", port])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
