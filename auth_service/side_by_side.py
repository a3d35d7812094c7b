"""Independent round trips of one request, at the same time: it waits for the longest, not the sum.

A login makes several DynamoDB requests that do not depend on each other (a counter write and a
read of the user's item; the settling counter writes and the tokens' issue). `SideBySide` runs
them concurrently in a small pool kept for the container, each call in a copy of the caller's
context (the request's logging context). Nothing it starts outlives the request: `alongside`
waits for everything it started, even when the work in this thread raises, and callers wait for
what they `start`. boto3 clients are thread-safe; their connection pool (10) exceeds the pool's
workers.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")

MAX_WORKERS = 2  # a login never has more than two calls in flight besides its own thread


class SideBySide:
    def __init__(self, thread_name_prefix: str = "side-by-side") -> None:
        self._prefix = thread_name_prefix
        self._workers: ThreadPoolExecutor | None = None

    def start(self, call: Callable[[], T]) -> Future[T]:
        """Start `call` in the pool; the caller must wait for it (`result()`) before it answers."""
        if self._workers is None:
            self._workers = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix=self._prefix)
        return self._workers.submit(contextvars.copy_context().run, call)

    def alongside(self, work: Callable[[], T], others: Iterable[Callable[[], object]]) -> T:
        """`work` in this thread while `others` run in the pool; returns when all are done.

        `others` must handle their own failures: an exception of theirs is raised here only when
        `work` succeeded, and `work`'s own exception wins over theirs.
        """
        pending = [self.start(call) for call in others]
        try:
            result = work()
        except BaseException:
            wait(pending)
            raise
        for future in pending:
            future.result()
        return result

    def all(self, calls: Iterable[Callable[[], object]]) -> None:
        """Run `calls` concurrently, the first in this thread; returns when all are done."""
        listed = list(calls)
        if listed:
            self.alongside(listed[0], listed[1:])
