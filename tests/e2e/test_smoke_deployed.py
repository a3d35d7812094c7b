"""scripts/smoke_deployed.py, the script a user runs after a deploy, against `auth-service serve`.

CI runs it against serverless-offline too (scripts/offline_smoke.py drives the same steps).
"""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.conftest import ROOT, USERS, Service, new_user_environment

SCRIPT = ROOT / "scripts" / "smoke_deployed.py"


def _smoke(url: str, *arguments: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {**new_user_environment(), "SMOKE_PASSWORD": password}
    return subprocess.run(
        [sys.executable, str(SCRIPT), url, *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _password(username: str) -> str:
    return next(str(u["password"]) for u in USERS if u["username"] == username)


def test_every_step_passes_against_serve(service: Service) -> None:
    done = _smoke(service.url, "--username", "alice", password=_password("alice"))
    assert done.returncode == 0, done.stdout + done.stderr
    steps = [line for line in done.stdout.splitlines() if line.startswith("ok ")]
    assert len(steps) == 13, done.stdout
    assert "PyJWT verified it" in done.stdout and "refused at" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("PASS smoke test in ")
    assert "eyJ" not in done.stdout + done.stderr and _password("alice") not in done.stdout + done.stderr


def test_a_failing_step_fails_the_run_and_says_which(service: Service) -> None:
    wrong = _smoke(service.url, "--username", "dave", password="not-daves-password")  # one failure of 5
    assert wrong.returncode == 1
    assert "FAIL smoke test: POST /auth/login -> 200: expected 200, got 401" in wrong.stderr
    assert "not-daves-password" not in wrong.stdout + wrong.stderr
    issuer = ("--issuer", "https://auth.example.com")
    elsewhere = _smoke(service.url, "--username", "alice", *issuer, password=_password("alice"))
    assert elsewhere.returncode == 1
    assert "issuer is" in elsewhere.stderr and "expected 'https://auth.example.com'" in elsewhere.stderr
