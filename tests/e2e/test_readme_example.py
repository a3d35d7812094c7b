"""The README's "In 30 seconds" example works as pasted into bash, against `auth-service serve`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Service

ROOT = Path(__file__).resolve().parents[2]


def _example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## In 30 seconds", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "README: the 30-second example has no sh block"
    return block.group(1)


def test_the_readme_example_works_as_pasted(service: Service) -> None:
    if shutil.which("curl") is None or shutil.which("bash") is None:
        pytest.skip("needs curl and bash")
    script = _example()
    assert "URL=http://127.0.0.1:8000\n" in script
    script = script.replace("URL=http://127.0.0.1:8000\n", f"URL={service.url}\n")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    me, logout, right_after, later = done.stdout.strip().splitlines()
    assert '"sub"' in me and '"scope": "profile orders:read"' in me, me
    assert logout == "204"
    assert right_after in {"200", "403"}  # within the revocation delay: either, as the README says
    assert later == "403"  # past it: refused
