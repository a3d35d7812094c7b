"""`auth-service revoke --user` (the real CLI, a subprocess) racing refreshes against `serve`.

The CLI reaches the server's DynamoDB through a proxy of this test's that holds its write of the
sign-out back: until 0.4 s past the next whole second (so refreshes that pass their checks
before the write lands sign their pairs at or after its "not before", the case of issue 11), or
past the CLI's read timeout once, so that the SDK sends it again (the first attempt lands late,
its answer lost). Meanwhile a client refreshes on and on. Once the CLI has answered, every token
of the old session must be refused at /me, by refresh and by introspection.

The proxy also rewrites the `Date` of DynamoDB's answers, to see the CLI warn about a clock that
differs from DynamoDB's.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3
import jwt
import pytest
import requests

from auth_service.tables import LOCAL_USERS_TABLE
from auth_service.users import UserTable
from tests.e2e.conftest import USERS, Service, cli

pytestmark = pytest.mark.e2e

PASSWORD = "racing " + secrets.token_urlsafe(9)
Hold = Callable[[float, list[float]], float]  # (arrival, earlier arrivals) -> when to send it on


class HoldingProxy:
    """Forwards DynamoDB requests to `target`. A PutItem of a `user#` item (a sign-out) is sent
    on only at the moment `hold` names; `date` may rewrite the `Date` of every answer."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        assert parts.hostname is not None and parts.port is not None
        self.hold: Hold = lambda arrived, earlier: arrived
        self.date: Callable[[str], str] = lambda date: date
        self.held: list[float] = []  # when each sign-out write arrived
        proxy, host, port = self, parts.hostname, parts.port

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("X-Amz-Target", "").endswith(".PutItem") and b'"user#' in body:
                    arrived, earlier = time.time(), list(proxy.held)
                    proxy.held.append(arrived)
                    time.sleep(max(0.0, proxy.hold(arrived, earlier) - time.time()))
                upstream = http.client.HTTPConnection(host, port, timeout=10)
                skip = ("host", "connection")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                upstream.request("POST", self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                self.send_response_only(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "date"):
                        self.send_header(name, value)
                self.send_header("Date", proxy.date(answer.getheader("Date") or formatdate(usegmt=True)))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[HoldingProxy]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture(scope="module")
def proxy(service: Service) -> Iterator[HoldingProxy]:
    with HoldingProxy(service.dynamodb_endpoint).running() as running:
        yield running


def revoke_user(username: str, proxy: HoldingProxy) -> subprocess.CompletedProcess[str]:
    """`auth-service revoke --user` as an operator runs it, against the proxy."""
    return cli("revoke", "--user", username, "--dynamodb-endpoint", proxy.url)


def new_user(service: Service) -> str:
    """A user of this test's own, in the server's users table: no other test is signed out."""
    name = f"racer-{secrets.token_hex(4)}"
    client = boto3.client(
        "dynamodb",
        endpoint_url=service.dynamodb_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",  # the local endpoint takes any credentials; no secret
        aws_secret_access_key="testing",
    )
    UserTable(client, LOCAL_USERS_TABLE).add(name, PASSWORD, "profile")
    return name


def log_in(service: Service, username: str) -> dict[str, Any]:
    response = requests.post(
        f"{service.url}/auth/login", json={"username": username, "password": PASSWORD}, timeout=10
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def refresh(service: Service, refresh_token: str) -> requests.Response:
    return requests.post(f"{service.url}/auth/refresh", json={"refresh_token": refresh_token}, timeout=10)


def iat(pair: dict[str, Any]) -> int:
    return int(jwt.decode(pair["access_token"], options={"verify_signature": False})["iat"])


class Client(threading.Thread):
    """Refreshes on and on until refused; keeps every pair it was given."""

    def __init__(self, service: Service, first: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.service = service
        self.pairs = [first]
        self.refused = threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            response = refresh(self.service, self.pairs[-1]["refresh_token"])
            if response.status_code != 200:
                self.refused.set()
                return
            self.pairs.append(response.json())
            time.sleep(0.1)

    def stop(self) -> list[dict[str, Any]]:
        self.refused.wait(timeout=3)  # its next refresh after the sign-out must be refused
        self._halt.set()
        self.join(timeout=15)
        return self.pairs


def survivors(service: Service, pairs: list[dict[str, Any]]) -> list[str]:
    """Where a token of `pairs` still works: /me, introspection, refresh (last: it rotates)."""
    admin = service.login(next(u["username"] for u in USERS if "introspect" in u["scope"]))
    found = []
    for index, pair in enumerate(pairs):
        if service.me(pair["access_token"]).status_code == 200:
            found.append(f"/me accepts the access token of pair {index}")
        for kind in ("access_token", "refresh_token"):
            answer = requests.post(
                f"{service.url}/auth/introspect",
                data={"token": pair[kind]},
                headers={"Authorization": f"Bearer {admin['access_token']}"},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            if answer.json()["active"]:
                found.append(f"introspection: the {kind} of pair {index} is active")
    for index, pair in enumerate(pairs):
        if refresh(service, pair["refresh_token"]).status_code == 200:
            found.append(f"refresh of pair {index} gives a new pair")
    return found


# How far past the not-before a sign-out lands at the earliest: the client refreshes every
# 0.1 s plus a refresh's time, so a window this wide holds a refresh even on a loaded machine.
WINDOW = 0.4


def into_the_next_second(arrived: float, earlier: list[float]) -> float:
    # WINDOW past the whole second after the first attempt arrived. Held longer than the CLI's
    # read timeout (1 s), that attempt is sent again: the repeat is held to the same moment.
    return max(arrived, math.floor((earlier or [arrived])[0]) + 1 + WINDOW)


def past_the_read_timeout_once(arrived: float, earlier: list[float]) -> float:
    # The CLI's client gives up after 1 s (auth_service.aws.ISSUING_CONFIG) and sends it again.
    # The first attempt lands late, its answer lost. The repeat comes 1 s after it: if the first
    # arrived just past a whole second, the repeat would land just past the not-before, and no
    # refresh might fall between; it too is held to WINDOW past that second.
    if not earlier:
        return arrived + 1 + WINDOW
    return max(arrived, math.floor(earlier[0]) + 1 + WINDOW)


@pytest.mark.parametrize(
    "hold", [into_the_next_second, past_the_read_timeout_once], ids=["boundary", "retry"]
)
def test_no_token_of_the_session_outlives_the_cli_sign_out(
    service: Service, proxy: HoldingProxy, hold: Hold
) -> None:
    username = new_user(service)
    first = log_in(service, username)  # never shown to /me: no "not revoked" answer is cached
    proxy.hold, proxy.held = hold, []
    client = Client(service, first)
    client.start()
    revoked = revoke_user(username, proxy)
    assert revoked.returncode == 0, revoked.stderr
    assert "warning" not in revoked.stderr  # DynamoDB's own Date: the clocks agree
    printed = json.loads(revoked.stdout)
    assert (printed["revoked"], printed["username"]) == ("user", username)
    assert proxy.held and printed["signed_out_at"] - 0.001 <= proxy.held[0]  # held after t was read
    pairs = client.stop()
    assert client.refused.is_set()
    assert any(iat(pair) >= printed["not_before"] for pair in pairs), (
        "no refresh signed a pair from the not-before on: the race did not happen"
    )
    assert survivors(service, pairs) == []
    # Signing out everywhere locks nobody out: a new login works at once, everywhere (and so
    # the judges above can say yes).
    assert survivors(service, [log_in(service, username)]) == [
        "/me accepts the access token of pair 0",
        "introspection: the access_token of pair 0 is active",
        "introspection: the refresh_token of pair 0 is active",
        "refresh of pair 0 gives a new pair",
    ]


def test_the_cli_warns_when_its_clock_differs_from_dynamodbs(service: Service, proxy: HoldingProxy) -> None:
    username = new_user(service)
    proxy.hold = lambda arrived, earlier: arrived
    proxy.date = lambda date: formatdate(time.time() + 5, usegmt=True)  # DynamoDB 5 s ahead of us
    try:
        revoked = revoke_user(username, proxy)
    finally:
        proxy.date = lambda date: date
    assert revoked.returncode == 0, revoked.stderr
    # `Date` has whole seconds and the answer takes time on a loaded machine: the estimate is
    # the middle of an interval about a second wide, so "about 4 s" is as right as "about 5 s".
    warned = re.search(r"warning: this machine's clock is about (\d+) s behind DynamoDB's", revoked.stderr)
    assert warned is not None, revoked.stderr
    assert 4 <= int(warned.group(1)) <= 6, revoked.stderr
    assert json.loads(revoked.stdout)["revoked"] == "user"  # a warning, not a failure
