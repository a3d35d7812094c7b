"""What `auth-service serve` prints about its containers, read back by the end-to-end tests.

Each function's container prints its log lines labelled `[function#n]`, and serve announces each
cold start as `[function#n] cold start ... ms (init ... ms), pid N`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.processes import still_running

_LABELLED = re.compile(r"^\[(?P<function>[\w-]+)#(?P<number>\d+)\] (?P<message>.*)$")
_COLD_START = re.compile(r"^cold start .*, pid (?P<pid>\d+)$")


@dataclass(frozen=True)
class LogRecord:
    container: str  # "authorizer#2"
    function: str
    record: dict[str, Any]  # the JSON log line


def labelled_records(output: Iterable[str], function: str) -> Iterator[LogRecord]:
    """The JSON log lines of `function`'s containers, in the order serve printed them."""
    for line in list(output):
        match = _LABELLED.match(line.rstrip("\n"))
        if match is None or match["function"] != function:
            continue
        try:
            record = json.loads(match["message"])
        except ValueError:
            continue
        if isinstance(record, dict):
            yield LogRecord(f"{function}#{match['number']}", function, record)


def container_pids(output: Iterable[str]) -> list[int]:
    """The process id of every container serve started."""
    pids = []
    for line in list(output):
        match = _LABELLED.match(line.rstrip("\n"))
        if match and (started := _COLD_START.match(match["message"])):
            pids.append(int(started["pid"]))
    return pids


def assert_no_container_left(output: Iterable[str], timeout: float = 5.0) -> None:
    """Every container serve started is gone (serve has stopped)."""
    left = still_running(container_pids(output), timeout)
    assert not left, f"containers outlived serve: pids {left}"
