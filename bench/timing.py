"""timeit-style timing: many calls per repeat, the median of several repeats, per call."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Budget:
    """How much to measure: calls per repeat, repeats, and fresh processes for cold starts."""

    number: int  # calls per repeat of a fast (microseconds) operation
    repeat: int
    slow_number: int  # calls per repeat of a slow one (a DynamoDB round trip, a login)
    cold_runs: int
    warmup: int

    @classmethod
    def full(cls) -> Budget:
        return cls(number=200, repeat=15, slow_number=40, cold_runs=7, warmup=50)

    @classmethod
    def quick(cls) -> Budget:
        return cls(number=5, repeat=2, slow_number=2, cold_runs=1, warmup=2)

    def fresh_inputs(self) -> int:
        """How many distinct inputs a never-seen-input measurement consumes."""
        return self.warmup + self.number * self.repeat


@dataclass(frozen=True)
class Op:
    """One thing to time: `call` once per input; `repeats[r]` are the inputs of round r."""

    name: str
    call: Callable[[Any], object]
    repeats: Sequence[Sequence[Any]]
    warmup: Sequence[Any] = ()


def round_robin(ops: Sequence[Op]) -> dict[str, list[float]]:
    """Seconds per call of each op, one figure per round; every round times every op in turn.

    Interleaving puts the ops compared with each other side by side in time, so a noisy moment
    on a shared machine hurts them alike instead of one of them. Like timeit, the garbage
    collector is off while an op is timed.
    """
    for op in ops:
        for item in op.warmup:
            op.call(item)
    times: dict[str, list[float]] = {op.name: [] for op in ops}
    collecting = gc.isenabled()
    gc.disable()
    try:
        for round_ in range(min(len(op.repeats) for op in ops)):
            for op in ops:
                inputs, call = op.repeats[round_], op.call
                start = time.perf_counter()
                for item in inputs:
                    call(item)
                times[op.name].append((time.perf_counter() - start) / len(inputs))
    finally:
        if collecting:
            gc.enable()
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def paired_ratio(times: Sequence[float], reference: Sequence[float]) -> float:
    """The median over rounds of time / reference time in the same round."""
    return statistics.median(t / r for t, r in zip(times, reference, strict=True))


def same_input(item: Any, budget: Budget, *, slow: bool = False) -> list[list[Any]]:
    """Repeats that pass the same input every time."""
    number = budget.slow_number if slow else budget.number
    return [[item] * number for _ in range(budget.repeat)]


def split_fresh(items: Sequence[Any], budget: Budget) -> tuple[list[Any], list[list[Any]]]:
    """Warm-up inputs and repeats of distinct inputs, from `budget.fresh_inputs()` items."""
    if len(items) < budget.fresh_inputs():
        raise ValueError(f"need {budget.fresh_inputs()} distinct inputs, got {len(items)}")
    warmup = list(items[: budget.warmup])
    rest = items[budget.warmup :]
    n = budget.number
    return warmup, [list(rest[i * n : (i + 1) * n]) for i in range(budget.repeat)]
