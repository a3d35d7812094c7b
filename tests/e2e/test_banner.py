"""The commands `auth-service serve` prints under "Try it:" work as pasted into bash."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.e2e.conftest import USERS, Service


def test_the_banners_login_and_me_work_as_pasted(service: Service) -> None:
    if shutil.which("curl") is None or shutil.which("bash") is None:
        pytest.skip("needs curl and bash")
    lines = [line.strip() for line in "".join(service.output).splitlines()]
    start = lines.index("Try it:") + 1
    commands = lines[start : start + 5]  # the password prompt, login, the two tokens, /me
    assert commands[0].startswith("printf 'password of alice: '")
    assert "<password>" not in "\n".join(commands)
    password = next(user["password"] for user in USERS if user["username"] == "alice")
    done = subprocess.run(
        ["bash", "-c", "\n".join(commands)],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"sub"' in done.stdout and '"error"' not in done.stdout, done.stdout  # /me answered
    assert password not in done.stdout + done.stderr  # read without echo, never printed
