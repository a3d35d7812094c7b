"""`SideBySide`: calls run concurrently, in the caller's context, and none outlives the request."""

from __future__ import annotations

import contextvars
import threading

import pytest

from auth_service.side_by_side import SideBySide

REQUEST = contextvars.ContextVar("request", default="none")


def test_work_runs_here_while_the_others_run_at_the_same_time() -> None:
    both = threading.Barrier(3, timeout=10)  # passes only when all three are running at once
    threads: list[str] = []

    def call() -> None:
        threads.append(threading.current_thread().name)
        both.wait()

    def work() -> str:
        both.wait()
        return "issued"

    assert SideBySide("test").alongside(work, [call, call]) == "issued"
    assert len(threads) == 2 and threading.current_thread().name not in threads


def test_the_others_are_done_when_work_raises_and_works_error_wins() -> None:
    done: list[str] = []
    release = threading.Event()

    def slow() -> None:
        release.wait(10)
        done.append("write")
        raise RuntimeError("the write's own failure")

    def work() -> None:
        release.set()
        raise ValueError("the work's failure")

    with pytest.raises(ValueError, match="the work's failure"):
        SideBySide().alongside(work, [slow])
    assert done == ["write"]


def test_a_failure_of_another_call_is_raised_when_work_succeeded() -> None:
    def fails() -> None:
        raise RuntimeError("unexpected")

    with pytest.raises(RuntimeError, match="unexpected"):
        SideBySide().alongside(lambda: None, [fails])


def test_calls_see_the_callers_context() -> None:
    side_by_side = SideBySide()
    REQUEST.set("request-1")
    assert side_by_side.start(REQUEST.get).result() == "request-1"
    seen: list[str] = []
    side_by_side.all([lambda: seen.append(REQUEST.get()), lambda: seen.append(REQUEST.get())])
    assert seen == ["request-1", "request-1"]
