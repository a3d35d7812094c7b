"""Interleaved timing: every op's calls of one round side by side, wall and CPU time, GC on.

A round times each op in turn over `number` calls, each with an input of its own (never one
input over and over: caches, branch predictors and the allocator would then measure a case no
user has). Interleaving puts the ops compared side by side in time, so a noisy moment on a
shared machine hurts them alike; ratios are the median of same-round ratios. The garbage
collector stays on, as it is on Lambda: allocation-heavy code pays for its collections.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class Budget:
    """How much to measure: calls per round, rounds, fresh processes for cold starts."""

    number: int  # calls per round of a fast (microseconds) operation
    rounds: int
    slow_number: int  # calls per round of a slow one (a DynamoDB round trip, a login)
    cold_runs: int
    warmup: int

    @classmethod
    def full(cls) -> Budget:
        return cls(number=100, rounds=51, slow_number=20, cold_runs=11, warmup=100)

    @classmethod
    def quick(cls) -> Budget:
        return cls(number=5, rounds=3, slow_number=2, cold_runs=1, warmup=2)

    def fresh_inputs(self, *, slow: bool = False) -> int:
        """How many distinct inputs one op consumes."""
        return self.warmup + (self.slow_number if slow else self.number) * self.rounds


@dataclass(frozen=True)
class Op:
    """One thing to time: `call(*item)` once per input; `rounds[r]` are the inputs of round r."""

    name: str
    call: Callable[..., object]
    rounds: Sequence[Sequence[tuple[Any, ...]]]
    warmup: Sequence[tuple[Any, ...]] = ()


class Times(NamedTuple):
    wall: list[float]  # seconds per call, one figure per round
    cpu: list[float]  # this process's CPU seconds per call (not another process's, e.g. moto's)


def round_robin(ops: Sequence[Op]) -> dict[str, Times]:
    for op in ops:
        for item in op.warmup:
            op.call(*item)
    times = {op.name: Times([], []) for op in ops}
    wall, cpu = time.perf_counter, time.process_time
    for round_ in range(min(len(op.rounds) for op in ops)):
        for op in ops:
            inputs, call = op.rounds[round_], op.call
            start_cpu, start = cpu(), wall()
            for item in inputs:
                call(*item)
            elapsed, used = wall() - start, cpu() - start_cpu
            times[op.name].wall.append(elapsed / len(inputs))
            times[op.name].cpu.append(used / len(inputs))
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def paired_ratio(times: Sequence[float], reference: Sequence[float]) -> float:
    """The median over rounds of time / reference time in the same round."""
    return statistics.median(t / r for t, r in zip(times, reference, strict=True) if r > 0)


def split_fresh(
    items: Sequence[tuple[Any, ...]], budget: Budget, *, slow: bool = False
) -> tuple[list[Any], list[list[Any]]]:
    """Warm-up inputs and rounds of distinct inputs, from `budget.fresh_inputs()` items."""
    if len(items) < budget.fresh_inputs(slow=slow):
        raise ValueError(f"need {budget.fresh_inputs(slow=slow)} distinct inputs, got {len(items)}")
    warmup = list(items[: budget.warmup])
    rest = items[budget.warmup :]
    n = budget.slow_number if slow else budget.number
    return warmup, [list(rest[i * n : (i + 1) * n]) for i in range(budget.rounds)]
