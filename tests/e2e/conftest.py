"""Start the real `auth-service serve` as a subprocess and talk HTTP to it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from tests.e2e.container_log import assert_no_container_left

ROOT = Path(__file__).resolve().parents[2]
USERS = [
    {"username": "alice", "password": "correct horse battery", "scope": "profile orders:read"},
    {"username": "bob", "password": "tr0ub4dor&3 staple", "scope": "profile"},
    {"username": "carol", "password": "introspection please", "scope": "profile introspect"},
    {"username": "dave", "password": "no profile scope here", "scope": "orders:read"},
]


def new_user_environment() -> dict[str, str]:
    """The environment of a new user's shell: no AUTH_ settings and no AWS credentials."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "AWS_"))}


def cli(*arguments: str, module: str = "auth_service.cli") -> subprocess.CompletedProcess[str]:
    """`auth-service ARGUMENTS` (the real CLI, a new process) in a new user's shell; `module`
    auth_service.cli.inspect_token: `inspect-token ARGUMENTS`."""
    return subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT,
        env=new_user_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class Service:
    url: str
    dynamodb_endpoint: str
    ring: KeyRing
    output: list[str]

    def login(self, username: str = "alice") -> dict[str, Any]:
        return log_in(self.url, username)

    def me(self, token: str) -> requests.Response:
        return get_me(self.url, token)


def log_in(url: str, username: str) -> dict[str, Any]:
    """A new session of one of USERS: its tokens."""
    password = next(u["password"] for u in USERS if u["username"] == username)
    credentials = {"username": username, "password": password}
    response = requests.post(f"{url}/auth/login", json=credentials, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def get_me(url: str, token: str) -> requests.Response:
    return requests.get(f"{url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def log_out(url: str, tokens: dict[str, Any]) -> None:
    """POST /auth/logout with the session's access token and refresh token."""
    response = requests.post(
        f"{url}/auth/logout",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        json={"refresh_token": tokens["refresh_token"]},
        timeout=30,
    )
    assert response.status_code == 204, response.text


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("serve")
    users_file = workdir / "users.json"
    users_file.write_text(json.dumps({"users": USERS}))
    # The test holds the server's signing key, so it can also sign well-formed but wrong tokens.
    pem = generate_private_key_pem("RS256")
    key_file = workdir / "signing-key.pem"
    key_file.write_text(pem)
    env = new_user_environment()
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "auth_service.cli", "serve", "--port", "0"]
    command += ["--users", str(users_file), "--signing-key", str(key_file)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    output: list[str] = []
    url = endpoint = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (url is None or endpoint is None):
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if match := re.search(r"listening on (http://\S+)", line):
            url = match.group(1)
        if match := re.search(r"DynamoDB: (http://\S+)", line):
            endpoint = match.group(1)
    if url is None or endpoint is None:
        process.kill()
        pytest.fail("auth-service serve did not start:\n" + "".join(output))
    # Keep draining the output so the server never blocks on a full pipe.
    import threading

    drain = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    drain.start()
    yield Service(url=url, dynamodb_endpoint=endpoint, ring=load_key_ring(pem), output=output)
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(timeout=20) == 0, "serve did not stop cleanly on Ctrl-C"
    finally:
        if process.poll() is None:
            process.kill()
    drain.join(timeout=5)
    assert_no_container_left(output)


# --------------------------------------------------------------------------- serve --cognito

COGNITO_USERS = [
    {"username": "alice", "password": "correct horse battery", "groups": ["orders"]},
    {"username": "bob", "password": "tr0ub4dor&3 staple"},
]
COGNITO_GROUP_SCOPES = {"orders": "orders:read"}


@dataclass
class CognitoService:
    """`auth-service serve --cognito`: our service, logging in through a user pool in moto."""

    url: str
    cognito_endpoint: str
    user_pool_id: str
    client_id: str
    ring: KeyRing
    output: list[str]

    def password(self, username: str) -> str:
        return next(u["password"] for u in COGNITO_USERS if u["username"] == username)

    def login(self, username: str = "alice", password: str | None = None) -> requests.Response:
        body = {"username": username, "password": password or self.password(username)}
        return requests.post(f"{self.url}/auth/login", json=body, timeout=10)

    def me(self, token: str) -> requests.Response:
        return requests.get(f"{self.url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def cognito(self) -> Any:
        """A boto3 Cognito client on the embedded moto server (as a client app would use Cognito)."""
        import boto3

        return boto3.client(
            "cognito-idp",
            endpoint_url=self.cognito_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # moto accepts any key; this is no secret
        )


@pytest.fixture(scope="session")
def cognito_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CognitoService]:
    workdir = tmp_path_factory.mktemp("serve-cognito")
    users_file = workdir / "users.json"
    users_file.write_text(json.dumps({"users": COGNITO_USERS, "group_scopes": COGNITO_GROUP_SCOPES}))
    pem = generate_private_key_pem("RS256")
    key_file = workdir / "signing-key.pem"
    key_file.write_text(pem)
    env = new_user_environment()
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "auth_service.cli", "serve", "--cognito", "--port", "0"]
    command += ["--users", str(users_file), "--signing-key", str(key_file)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    output: list[str] = []
    patterns = {
        "url": r"listening on (http://\S+)",
        "pool": r"Cognito user pool: (\S+)",
        "client": r"Cognito app client: (\S+)",
        "endpoint": r"Cognito endpoint: (http://\S+)",
    }
    found: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(found) < len(patterns):
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        for name, pattern in patterns.items():
            if match := re.search(pattern, line):
                found[name] = match.group(1)
    if len(found) < len(patterns):
        process.kill()
        pytest.fail("auth-service serve --cognito did not start:\n" + "".join(output))
    import threading

    drain = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    drain.start()
    yield CognitoService(
        url=found["url"],
        cognito_endpoint=found["endpoint"],
        user_pool_id=found["pool"],
        client_id=found["client"],
        ring=load_key_ring(pem),
        output=output,
    )
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(timeout=20) == 0, "serve --cognito did not stop cleanly on Ctrl-C"
    finally:
        if process.poll() is None:
            process.kill()
    drain.join(timeout=5)
    assert_no_container_left(output)
