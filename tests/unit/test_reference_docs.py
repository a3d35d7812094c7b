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


def test_every_recorded_variable_has_a_description() -> None:
    generator = _generator()
    described = generator.descriptions()
    recorded = generator.settings()
    assert recorded, "the recording found no variables"
    for setting in recorded:
        assert described.get(setting.name, "").strip(), f"{setting.name} has no description"
    assert set(described) == {setting.name for setting in recorded}
    assert generator.description_problems(recorded, described) == []
    configuration = GENERATED[ROOT / "docs" / "reference" / "configuration.md"]
    assert "| Variable | Default | Deploy param | What it does |" in configuration
    for setting in recorded:
        row = next(line for line in configuration.splitlines() if line.startswith(f"| `{setting.name}` |"))
        assert described[setting.name].strip().replace("|", "\\|") in row, setting.name
        assert "read by " in row and setting.kind in row, setting.name  # the facts stay in the row


@pytest.mark.parametrize("change", ["missing", "empty", "extra"])
def test_a_missing_or_extra_description_fails_the_generator(
    change: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    generator = _generator()
    described = dict(generator.descriptions())
    if change == "missing":
        del described["AUTH_REVOCATION_GRACE_SECONDS"]
        named = "AUTH_REVOCATION_GRACE_SECONDS"
    elif change == "empty":
        described["AUTH_COOKIE_SAMESITE"] = "  "
        named = "AUTH_COOKIE_SAMESITE"
    else:
        described["AUTH_NO_LONGER_READ"] = "A setting the configuration dropped."
        named = "AUTH_NO_LONGER_READ"
    with pytest.raises(generator.DescriptionError, match=named):
        generator.configuration_md(described)
    # The command line fails too, generating and checking alike, and names the variable.
    monkeypatch.setattr(generator, "descriptions", lambda: described)
    monkeypatch.setattr(generator, "OUT", tmp_path)  # were it to write anyway: not into docs/
    for argv in ([], ["--check"]):
        assert generator.main(argv) == 1
        assert named in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_param_that_nothing_describes_fails_the_generator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every deploy param says what it does: its own comment, or the description of its variable."""
    generator = _generator()
    text = (ROOT / "serverless.yml").read_text(encoding="utf-8")
    comment = "    # The replication lag that alarms (ms, average over 5 minutes): it adds to the"
    comment += " revocation delay.\n"
    described = text.replace(comment, "")
    assert described != text, "serverless.yml: the comment above alarmReplicationLatencyMs moved"
    (tmp_path / "serverless.yml").write_text(described, encoding="utf-8")
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    with pytest.raises(generator.DescriptionError, match="alarmReplicationLatencyMs"):
        generator.deploy_parameters_md()
    # A param without a comment of its own that sets a variable takes the variable's description.
    parameters = GENERATED[ROOT / "docs" / "reference" / "deploy-parameters.md"]
    rows = {line.split("|")[1].strip(): line for line in parameters.splitlines() if line.startswith("| `")}
    assert "failed logins allowed per client address" in rows["`loginMaxFailuresPerIp`"]
