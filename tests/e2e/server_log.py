"""The `authorize` lines `auth-service serve` prints: why the authorizer refused a request.

`serve` prints every function's log lines (one JSON object each, after the name of the
container that printed it when there are several) to its output, which the test fixtures keep
in a list. A test takes `mark()` before a request and `refusal(mark)` after it: the `reason` of
the first `authorize` line printed since (the line never holds the token).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

WAIT_SECONDS = 5.0
_PREFIX = re.compile(
    r"^\[[^\]\s]+\] "
)  # the line is printed before the answer, but read from the pipe a moment later


class ServerLog:
    def __init__(self, output: Sequence[str]) -> None:
        self._output = output

    def mark(self) -> int:
        return len(self._output)

    def lines(self, since: int, event: str) -> list[dict[str, Any]]:
        found = []
        for line in list(self._output[since:]):
            line = _PREFIX.sub("", line, count=1)  # `[authorizer#2] `: which container printed it
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("event") == event:
                    found.append(record)
        return found

    def decision(self, since: int) -> dict[str, Any]:
        """The first `authorize` line logged since `since`, whatever its outcome (waits for it).

        Wait for it after a request whose line must not be read as the next request's: the
        answer comes back before its line is read from the pipe.
        """
        deadline = time.monotonic() + WAIT_SECONDS
        while not (decisions := self.lines(since, "authorize")):
            if time.monotonic() > deadline:
                raise AssertionError(f"no authorize line was logged (output since: {self._output[since:]})")
            time.sleep(0.002)
        return decisions[0]

    def refusal(self, since: int) -> str:
        """The reason of the first `authorize` refusal logged since `since` (waits for it)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            refusals = [line for line in self.lines(since, "authorize") if line.get("outcome") == "deny"]
            if refusals:
                return str(refusals[0]["reason"])
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no authorize refusal was logged (output since: {self._output[since:]})"
                )
            time.sleep(0.002)
