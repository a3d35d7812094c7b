"""bench/dynamodb_wait.py: the wait is the union of in-flight intervals; stages are the longest chain."""

from __future__ import annotations

from bench.dynamodb_wait import chain_length, merged, wait_of


def test_overlapping_requests_are_waited_for_once() -> None:
    assert merged([(0, 2), (1, 3), (5, 6)]) == [(0, 3), (5, 6)]
    wait = wait_of([(1, 3), (0, 2), (5, 6)])
    assert (wait.requests, wait.seconds, wait.stages) == (3, 4, 2)


def test_stages_are_the_longest_chain_of_requests_one_after_another() -> None:
    # A read side by side with two writes made one after the other: two stages, not one
    # (the read overlaps both) and not three.
    assert chain_length([(0, 2), (2.5, 4), (0.1, 3)]) == 2
    assert chain_length([(0, 1), (1, 2), (2, 3)]) == 3  # answered, then sent: one after another
    assert chain_length([(0, 1), (0, 1)]) == 1
    assert chain_length([]) == 0
    assert wait_of([]).seconds == 0
