"""How long a call waits on DynamoDB: the union of its requests' in-flight intervals, at the client.

`InFlight` hooks botocore clients: a request is in flight from `before-send` (signed, about to
go out) to `response-received` (answered and parsed, or failed), each attempt of a retry on its
own. Requests made side by side overlap, so their intervals are merged, not summed: what is
left is the time the caller had at least one request outstanding.

Its sequential stages are the longest chain of requests each sent after the one before it was
answered: the round trips it waited for one after the other (requests side by side are one
stage, however their times happen to overlap with the stages around them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_SENT = "before-send.dynamodb"
_ANSWERED = "response-received.dynamodb"


@dataclass(frozen=True)
class Wait:
    requests: int
    seconds: float  # the union of the in-flight intervals
    stages: int  # the longest chain of requests, each sent after the previous one was answered


def merged(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of closed intervals, as disjoint intervals in order."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def chain_length(intervals: Iterable[tuple[float, float]]) -> int:
    """The most requests of which each was sent after the one before it was answered."""
    depths: list[tuple[float, int]] = []  # (answered, depth) of the requests seen so far
    for start, end in sorted(intervals):
        depth = 1 + max((d for answered, d in depths if answered <= start), default=0)
        depths.append((end, depth))
    return max((d for _, d in depths), default=0)


def wait_of(intervals: list[tuple[float, float]]) -> Wait:
    union = merged(intervals)
    return Wait(len(intervals), sum(end - start for start, end in union), chain_length(intervals))


class InFlight:
    """Records the in-flight interval of every DynamoDB request of the clients it watches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent = threading.local()
        self._intervals: list[tuple[float, float]] = []
        self._clients: list[Any] = []

    def watch(self, client: Any) -> InFlight:
        client.meta.events.register(_SENT, self._on_sent)
        client.meta.events.register(_ANSWERED, self._on_answered)
        self._clients.append(client)
        return self

    def close(self) -> None:
        for client in self._clients:
            client.meta.events.unregister(_SENT, self._on_sent)
            client.meta.events.unregister(_ANSWERED, self._on_answered)
        self._clients.clear()

    def take(self) -> Wait:
        """The wait of the requests since the last `take`; forgets them."""
        with self._lock:
            intervals, self._intervals = self._intervals, []
        return wait_of(intervals)

    def _on_sent(self, **_: Any) -> None:
        # A thread has one request in flight at a time: its start is kept per thread.
        self._sent.at = time.perf_counter()

    def _on_answered(self, **_: Any) -> None:
        answered = time.perf_counter()
        sent = getattr(self._sent, "at", None)
        self._sent.at = None
        if sent is not None:
            with self._lock:
                self._intervals.append((sent, answered))
