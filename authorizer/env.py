"""Typed reading of environment variables that collects every problem before failing.

Configuration is read once at cold start; a misconfigured function should fail with one message
that lists everything wrong, not one problem per deploy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from authorizer.errors import ConfigurationError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class EnvReader:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or default

    def required(self, name: str, hint: str = "") -> str:
        value = self.text(name)
        if value is None:
            self.problems.append(f"{name} is required{': ' + hint if hint else ''}")
            return ""
        return value

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name} must be a whole number, got {raw!r}")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            self.problems.append(f"{name} must be at least {minimum}{upper}, got {value}")
            return default
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        self.problems.append(f"{name} must be true or false, got {raw!r}")
        return default

    def json(self, name: str) -> Any:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            self.problems.append(f"{name} is not valid JSON ({exc.msg} at position {exc.pos})")
            return None

    def one_of(self, *names: str) -> tuple[str, str] | None:
        """The single variable of `names` that is set, as (name, value); at most one may be."""
        present = [(name, value) for name in names if (value := self.text(name)) is not None]
        if len(present) > 1:
            self.problems.append(
                f"set only one of {', '.join(names)}; found {', '.join(n for n, _ in present)}"
            )
        return present[0] if present else None

    def raise_if_invalid(self, what: str) -> None:
        if self.problems:
            listing = "\n  - ".join(self.problems)
            raise ConfigurationError(f"invalid {what} configuration:\n  - {listing}")
