"""Reading and checking CloudWatch Embedded Metric Format lines, as CloudWatch Logs would.

The rules are those of the EMF specification (CloudWatch user guide, "Embedded metric format
specification"): a JSON object whose `_aws` member holds an integer millisecond `Timestamp` and
`CloudWatchMetrics`, a list of directives, each a `Namespace`, `Dimensions` (lists of at most 30
names, each a string member of the root) and `Metrics` (at most 100 of `{"Name", "Unit"}`, each
`Name` a numeric member of the root, or a list of numbers).
"""

from __future__ import annotations

import json
from typing import Any

UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
    "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
    "Count/Second", "None",
}  # fmt: skip


def check_emf(document: Any) -> None:
    """Fail (AssertionError) unless `document` is a valid EMF document."""
    assert isinstance(document, dict)
    meta = document["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000
    directives = meta["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        namespace = directive["Namespace"]
        assert isinstance(namespace, str) and 0 < len(namespace) <= 255 and not namespace.startswith("AWS/")
        for dimension_set in directive["Dimensions"]:
            assert 0 < len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(document[name], str) and document[name]
        metrics = directive["Metrics"]
        assert 0 < len(metrics) <= 100
        for metric in metrics:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            assert metric["Unit"] in UNITS
            value = document[metric["Name"]]
            values = value if isinstance(value, list) else [value]
            assert values and all(type(v) in (int, float) for v in values), metric


def emf_lines(output: str) -> list[dict[str, Any]]:
    """Every EMF document among `output`'s lines, each checked; other lines are skipped."""
    found = []
    for line in output.splitlines():
        if line.startswith('{"_aws"'):
            document = json.loads(line)
            check_emf(document)
            found.append(document)
    return found


def metric_values(document: dict[str, Any]) -> dict[str, float]:
    """The metrics of one EMF document, by name."""
    names = [m["Name"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    return {name: document[name] for name in names}
