"""How many containers each function of `auth-service serve` may run at once (`--containers`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# Enough for concurrent requests to really race and for per-container caches to differ, on a
# laptop: each container is a Python process, started only when the others are busy
# (docs/quickstart.md).
DEFAULT_MAX_CONTAINERS = 4


@dataclass(frozen=True)
class ContainerLimits:
    """How many containers each function may run at once: `default`, or its own maximum."""

    default: int = DEFAULT_MAX_CONTAINERS
    per_function: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in (("every function", self.default), *self.per_function.items()):
            if value < 1:
                raise ValueError(f"containers for {name} must be at least 1, not {value}")

    @classmethod
    def parse(cls, values: Sequence[str]) -> ContainerLimits:
        """`--containers` values: N (every function) or FUNCTION=N (that one), repeatable."""
        default = DEFAULT_MAX_CONTAINERS
        per_function: dict[str, int] = {}
        for value in values:
            name, _, number = value.rpartition("=")
            try:
                count = int(number)
            except ValueError:
                raise ValueError(f"--containers {value!r}: expected N or FUNCTION=N") from None
            if name:
                per_function[name] = count
            else:
                default = count
        return cls(default, per_function)

    def for_function(self, name: str) -> int:
        return self.per_function.get(name, self.default)

    def check(self, functions: Iterable[str]) -> None:
        unknown = sorted(set(self.per_function) - set(functions))
        if unknown:
            raise ValueError(f"--containers names no function of serverless.yml: {', '.join(unknown)}")
