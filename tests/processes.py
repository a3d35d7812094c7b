"""Whether processes the tests started (serve's containers) are still running (Linux /proc)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path


def running(pid: int) -> bool:
    """Whether `pid` is a live process (an exited one not yet reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone before, or while, /proc was read
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def still_running(pids: Iterable[int], timeout: float = 5.0) -> list[int]:
    """The processes among `pids` that are still running after up to `timeout` seconds."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while (left := [pid for pid in pids if running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
