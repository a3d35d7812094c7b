"""`auth-service serve` as a subprocess for one test module, with its own settings."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import ROOT, new_user_environment
from tests.e2e.container_log import assert_no_container_left


@dataclass
class ServeProcess:
    url: str  # as the banner prints it: http://127.0.0.1:<port>
    port: int
    output: list[str]  # everything serve printed, request log lines included


@contextmanager
def running_serve(arguments: Sequence[str], environment: Mapping[str, str]) -> Iterator[ServeProcess]:
    """Start `auth-service serve --port 0 <arguments>` in a new user's shell plus `environment`."""
    env = {**new_user_environment(), "PYTHONUNBUFFERED": "1", **environment}
    command = [sys.executable, "-m", "auth_service.cli", "serve", "--port", "0", *arguments]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    stdout = process.stdout
    output: list[str] = []
    url = None
    deadline = time.monotonic() + 60
    while url is None and time.monotonic() < deadline:
        line = stdout.readline()
        if not line:
            break
        output.append(line)
        if match := re.search(r"listening on (http://\S+)", line):
            url = match.group(1)
    if url is None:
        process.kill()
        pytest.fail("auth-service serve did not start:\n" + "".join(output))
    # Keep draining the output so the server never blocks on a full pipe.
    drain = threading.Thread(target=lambda: output.extend(stdout), daemon=True)
    drain.start()
    try:
        yield ServeProcess(url=url, port=int(url.rsplit(":", 1)[1]), output=output)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=20) == 0, "serve did not stop cleanly on Ctrl-C"
        finally:
            if process.poll() is None:
                process.kill()
            drain.join(timeout=5)
        assert_no_container_left(output)
