"""A bounded load test of `auth-service serve`, on loopback only; it stops by itself.

Workers log in, call /me, refresh, send forged tokens and log out, for `--seconds` or until
`--max-requests`, whichever comes first. Every `--race-every` rounds a worker has `--racers`
threads present the same refresh token at once: exactly one may win, and the session must be
revoked afterwards. At the end every logged-out access token is checked again, after the
documented revocation delay: none may still be accepted.

    python scripts/load_test.py [--seconds 20] [--workers 8] [--max-requests 20000]

Exit status 0 only with zero unexpected answers, zero 5xx, zero accepted forgeries and zero lost
revocations.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
REVOCATION_DELAY_SECONDS = 5  # AUTH_REVOCATION_CACHE_SECONDS default; README: "The revocation delay"
PASSWORD = secrets.token_urlsafe(16)  # throwaway users of an in-memory server, new every run


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unexpected: list[str] = field(default_factory=list)
    server_errors: int = 0
    accepted_forgeries: int = 0
    races: int = 0
    race_failures: list[str] = field(default_factory=list)
    logged_out: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    def record(self, kind: str, seconds: float, status: int, expected: set[int]) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if status >= 500:
                self.server_errors += 1
            if status not in expected:
                self.unexpected.append(f"{kind}: {status} (expected {sorted(expected)})")


class Client:
    def __init__(self, url: str, tally: Tally) -> None:
        self.url = url
        self.tally = tally
        self.session = requests.Session()

    def call(
        self, kind: str, method: str, path: str, expected: set[int], **kwargs: object
    ) -> requests.Response:
        started = time.perf_counter()
        response = self.session.request(method, self.url + path, timeout=30, **kwargs)  # type: ignore[arg-type]
        self.tally.record(kind, time.perf_counter() - started, response.status_code, expected)
        return response

    def login(self, username: str) -> dict[str, str]:
        body = {"username": username, "password": PASSWORD}
        response = self.call("login", "POST", "/auth/login", {200}, json=body)
        return dict(response.json()) if response.status_code == 200 else {}

    def me(self, token: str, expected: set[int] = frozenset({200})) -> int:  # type: ignore[assignment]
        headers = {"Authorization": f"Bearer {token}"}
        return self.call("me", "GET", "/me", set(expected), headers=headers).status_code

    def refresh(self, token: str, expected: set[int] = frozenset({200})) -> requests.Response:  # type: ignore[assignment]
        return self.call("refresh", "POST", "/auth/refresh", set(expected), json={"refresh_token": token})


def forged(token: str) -> str:
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["scope"] = "profile admin"
    tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{tampered}.{signature}"


def race(client: Client, username: str, racers: int) -> None:
    """`racers` threads present one refresh token at once: exactly one may win."""
    tokens = client.login(username)
    if not tokens:
        return
    barrier = threading.Barrier(racers)

    def use(_: int) -> int:
        barrier.wait()
        racer = Client(client.url, client.tally)
        return racer.refresh(tokens["refresh_token"], expected={200, 401}).status_code

    with ThreadPoolExecutor(max_workers=racers) as pool:
        statuses = list(pool.map(use, range(racers)))
    with client.tally.lock:
        client.tally.races += 1
        if statuses.count(200) != 1 or statuses.count(401) != racers - 1:
            client.tally.race_failures.append(f"statuses {sorted(statuses)}")
        # The losers' reuse revoked the session: its access token must be refused at the end.
        client.tally.logged_out.append(tokens["access_token"])


def worker(index: int, url: str, tally: Tally, deadline: float, args: argparse.Namespace) -> None:
    client = Client(url, tally)
    username = f"user{index}"
    rounds = 0
    while time.monotonic() < deadline and tally.requests < args.max_requests:
        rounds += 1
        if rounds % args.race_every == 0:
            race(client, username, args.racers)
            continue
        tokens = client.login(username)
        if not tokens:
            continue
        for _ in range(3):
            client.me(tokens["access_token"])
        if client.me(forged(tokens["access_token"]), expected={403}) != 403:
            with tally.lock:
                tally.accepted_forgeries += 1
        refreshed = client.refresh(tokens["refresh_token"])
        if refreshed.status_code != 200:
            continue
        access = refreshed.json()["access_token"]
        client.me(access)
        client.call("logout", "POST", "/auth/logout", {204}, headers={"Authorization": f"Bearer {access}"})
        with tally.lock:
            tally.logged_out.append(access)


def start_server(users: int, workdir: Path) -> tuple[subprocess.Popen[str], str]:
    users_file = workdir / "users.json"
    entries = [{"username": f"user{i}", "password": PASSWORD, "scope": "profile"} for i in range(users)]
    users_file.write_text(json.dumps({"users": entries}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "AWS_"))}
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "auth_service.cli", "serve", "--port", "0", "--users", str(users_file)]
    process = subprocess.Popen(  # noqa: S603 - our own server, started with our own interpreter
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if match := re.search(r"listening on (http://\S+)", line):
            # Drain the rest so the server never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # type: ignore[union-attr]
            return process, match.group(1)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise SystemExit("auth-service serve did not start")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def report(tally: Tally, lost: int, elapsed: float) -> bool:
    print(f"requests served: {tally.requests} in {elapsed:.1f} s ({tally.requests / elapsed:.0f}/s)")
    print(f"{'kind':8s} {'count':>7s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for kind, values in sorted(tally.latencies.items()):
        p50 = statistics.median(values) * 1000
        print(f"{kind:8s} {len(values):7d} {p50:8.1f} {percentile(values, 0.99):8.1f}")
    print(f"refresh races: {tally.races} (exactly one winner each: {tally.races - len(tally.race_failures)})")
    print(f"unexpected answers: {len(tally.unexpected)}; 5xx: {tally.server_errors}; "
          f"accepted forgeries: {tally.accepted_forgeries}; lost revocations: {lost} "
          f"of {len(tally.logged_out)} revoked tokens")  # fmt: skip
    for line in tally.unexpected[:10] + tally.race_failures[:10]:
        print(f"  {line}")
    return not (
        tally.unexpected or tally.server_errors or tally.accepted_forgeries or lost or tally.race_failures
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--race-every", type=int, default=5, help="one refresh race every N rounds")
    parser.add_argument("--racers", type=int, default=6)
    args = parser.parse_args()

    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(args.workers, Path(tmp))
        try:
            started = time.monotonic()
            deadline = started + args.seconds
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                for future in [
                    pool.submit(worker, i, url, tally, deadline, args) for i in range(args.workers)
                ]:
                    future.result()
            elapsed = time.monotonic() - started
            # Every revoked token, checked again once the revocation delay has surely passed.
            time.sleep(REVOCATION_DELAY_SECONDS + 0.5)
            checker = Client(url, Tally())
            lost = sum(checker.me(token, expected={200, 403}) == 200 for token in tally.logged_out)
            ok = report(tally, lost, elapsed)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
