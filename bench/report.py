"""The rows of the benchmark and the one table they are printed as (text, Markdown or JSON)."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("cryptography", "PyJWT", "python-jose", "joserfc", "authlib", "boto3", "botocore", "moto")


@dataclass(frozen=True)
class Row:
    section: str
    name: str
    value: float  # in `unit`
    unit: str  # "µs", "ms", "MB", "MiB", "requests", "stages"
    ratio: float | None = None  # value / the reference's value, measured in the same run
    reference: str | None = None  # what the ratio is to
    target: str | None = None  # the target, in words ("≤ 2.00x", "≤ 10 µs")
    passed: bool | None = None  # None: no target
    # Warm rows: `value` and `ratio` are CPU time (what the targets judge); these the wall time.
    wall: float | None = None  # in `unit`
    wall_ratio: float | None = None

    @property
    def result(self) -> str:
        return "" if self.passed is None else ("PASS" if self.passed else "FAIL")


def time_row(
    section: str,
    name: str,
    seconds: float,
    *,
    ratio: float | None = None,
    reference: str | None = None,
    max_ratio: float | None = None,
    max_microseconds: float | None = None,
    unit: str = "µs",
    wall: float | None = None,
    wall_ratio: float | None = None,
) -> Row:
    """A timing row, with its ratio to `reference` and checked against at most one target."""
    scale = 1e6 if unit == "µs" else 1e3
    value = seconds * scale
    target = passed = None
    if max_ratio is not None and ratio is not None:
        target, passed = f"≤ {max_ratio:.2f}x", ratio <= max_ratio
    elif max_microseconds is not None:
        target, passed = f"≤ {max_microseconds:g} µs", seconds * 1e6 <= max_microseconds
    return Row(
        section,
        name,
        value,
        unit,
        ratio,
        reference if ratio is not None else None,
        target,
        passed,
        wall * scale if wall is not None else None,
        wall_ratio,
    )


def _value(row: Row, value: float | None = None) -> str:
    value = row.value if value is None else value
    if row.unit == "requests":
        return f"{value:g} req"
    if row.unit == "stages":
        return f"{value:g} stages"
    if row.unit in ("MB", "MiB"):
        return f"{value:.1f} {row.unit}"
    return f"{value:,.1f} {row.unit}" if value < 1000 else f"{value:,.0f} {row.unit}"


def _ratio(row: Row) -> str:
    return "" if row.ratio is None else f"{row.ratio:.2f}x {row.reference}"


def _cells(row: Row) -> list[str]:
    wall = "" if row.wall is None else _value(row, row.wall)
    wall_ratio = "" if row.wall_ratio is None else f"{row.wall_ratio:.2f}x"
    return [row.name, _value(row), _ratio(row), wall, wall_ratio, row.target or "", row.result]


HEADER = [
    "Measurement",
    "Value (CPU time if warm)",
    "Ratio (same run)",
    "Wall",
    "Wall ratio",
    "Target",
    "Result",
]


def text_table(rows: list[Row]) -> str:
    lines = [_cells(row) for row in rows]
    widths = [max(len(h), *(len(cells[i]) for cells in lines)) for i, h in enumerate(HEADER)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    out = [fmt(HEADER), fmt(["-" * w for w in widths])]
    section = None
    for row, cells in zip(rows, lines, strict=True):
        if row.section != section:
            section = row.section
            out.append(f"[{section}]")
        out.append(fmt(cells))
    return "\n".join(out)


def markdown_table(rows: list[Row]) -> str:
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            out.append(f"| **{section}** |" + "  |" * (len(HEADER) - 1))
        cells = _cells(row)
        cells[-1] = f"**{cells[-1]}**" if cells[-1] == "FAIL" else cells[-1]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def summary(rows: list[Row]) -> str:
    checked = [row for row in rows if row.passed is not None]
    failed = [row.name for row in checked if not row.passed]
    head = f"{len(checked) - len(failed)}/{len(checked)} targets met"
    return head + (f"; FAIL: {'; '.join(failed)}" if failed else "")


def machine() -> dict[str, Any]:
    """CPU, cores, Python and library versions: what BENCHMARKS.md records with a table."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": versions,
    }


def machine_text(info: dict[str, Any]) -> str:
    libraries = ", ".join(f"{name} {version}" for name, version in info["libraries"].items())
    return f"{info['cpu']}, {info['cores']} cores, Python {info['python']} ({info['platform']})\n{libraries}"


def machine_markdown(info: dict[str, Any]) -> str:
    libraries = ", ".join(f"{name} {version}" for name, version in info["libraries"].items())
    return (
        f"- CPU: {info['cpu']}, {info['cores']} cores\n"
        f"- Python {info['python']} ({info['platform']})\n"
        f"- {libraries}"
    )


def json_report(rows: list[Row], info: dict[str, Any]) -> str:
    return json.dumps(
        {"machine": info, "rows": [asdict(row) | {"result": row.result} for row in rows]}, indent=2
    )
