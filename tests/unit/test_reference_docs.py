"""docs/reference/ is generated from the code (scripts/gen_reference.py): it must match it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "scripts" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


GENERATED = _generator().documents()


@pytest.mark.parametrize("path", sorted(GENERATED), ids=lambda path: path.name)
def test_the_reference_matches_the_code(path: Path) -> None:
    committed = path.read_text(encoding="utf-8") if path.is_file() else ""
    stale = f"{path.relative_to(ROOT)} is stale: run python scripts/gen_reference.py"
    assert committed == GENERATED[path], stale


def test_every_variable_and_param_and_command_is_there() -> None:
    """The recording sees what the configuration reads: the settings issue 17 found missing."""
    configuration = GENERATED[ROOT / "docs" / "reference" / "configuration.md"]
    for variable in ("AUTH_REVOCATION_GRACE_SECONDS", "AUTH_COOKIE_SAMESITE", "AUTH_COOKIE_SECURE_PREFIX",
                     "AUTH_LOGIN_MAX_FAILURES_PER_USER", "AUTH_METRICS_NAMESPACE"):  # fmt: skip
        assert f"| `{variable}` |" in configuration, variable
    parameters = GENERATED[ROOT / "docs" / "reference" / "deploy-parameters.md"]
    for param in ("revocationGraceSeconds", "loginLockoutSeconds", "cookieSameSite", "cookieSecurePrefix"):
        assert f"| `{param}` |" in parameters, param
    cli = GENERATED[ROOT / "docs" / "reference" / "cli.md"]
    for command in ("serve", "users add", "unlock", "revoke", "keys rotate", "clients add"):
        assert f"## `auth-service {command}`" in cli, command
    assert "## `inspect-token`" in cli
