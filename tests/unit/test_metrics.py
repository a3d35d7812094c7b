"""authorizer.metrics: the EMF lines it writes are what CloudWatch reads (tests/unit/emf.py)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from authorizer import metrics
from authorizer.env import EnvReader
from authorizer.errors import ConfigurationError
from authorizer.gateway.config import CommonSettings
from tests.unit.emf import check_emf, emf_lines, metric_values


@pytest.fixture(autouse=True)
def _nothing_pending() -> None:
    metrics.Emitter(None).flush()


def test_a_line_per_flush_in_the_configured_namespace() -> None:
    out = io.BytesIO()
    emitter = metrics.Emitter("Orders/Auth", "orders-prod", write=out.write, clock=lambda: 1_800_000_000.1234)
    metrics.count(metrics.ALLOWED)
    metrics.count(metrics.REVOCATION_CACHE_MISSES)
    metrics.milliseconds(metrics.DENYLIST_READ_LATENCY, 4.56789)
    emitter.flush()
    (line,) = out.getvalue().decode().splitlines(keepends=True)
    assert line.endswith("\n")
    (document,) = emf_lines(line)
    assert document["_aws"]["Timestamp"] == 1_800_000_000_123
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Orders/Auth" and directive["Dimensions"] == [["Service"]]
    assert document["Service"] == "orders-prod"
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {
        "Allowed": "Count", "RevocationCacheMisses": "Count", "DenylistReadLatency": "Milliseconds",
    }  # fmt: skip
    assert metric_values(document) == {"Allowed": 1, "RevocationCacheMisses": 1, "DenylistReadLatency": 4.568}
    assert metrics.pending() == {}


def test_counts_add_up_and_each_invocation_starts_over() -> None:
    out = io.BytesIO()
    times = iter([1_800_000_000.0, 1_800_000_001.0, 1_800_000_002.0])
    emitter = metrics.Emitter("NS", write=out.write, clock=lambda: next(times))
    for _ in range(2):
        metrics.count(metrics.ALLOWED)
        metrics.count(metrics.REVOCATION_CACHE_HITS)
        emitter.flush()  # the same shape twice: the cached line, a new timestamp
    metrics.count(metrics.REFUSED)
    metrics.count(metrics.REFUSED, 2)
    emitter.flush()
    emitter.flush()  # nothing counted since: nothing written
    first, second, third = emf_lines(out.getvalue().decode())
    assert metric_values(first) == metric_values(second) == {"Allowed": 1, "RevocationCacheHits": 1}
    assert (first["_aws"]["Timestamp"], second["_aws"]["Timestamp"]) == (1_800_000_000_000, 1_800_000_001_000)
    assert metric_values(third) == {"Refused": 3} and third["Service"] == metrics.DEFAULT_SERVICE


def test_tokens_issued_counts_the_grant_too() -> None:
    out = io.BytesIO()
    metrics.tokens_issued("client_credentials")
    metrics.Emitter("NS", write=out.write).flush()
    (document,) = emf_lines(out.getvalue().decode())
    assert metric_values(document) == {"TokensIssued": 1, "TokensIssued.client_credentials": 1}


def test_without_a_namespace_nothing_is_written_and_nothing_is_kept() -> None:
    out = io.BytesIO()
    metrics.count(metrics.ALLOWED)
    off = metrics.Emitter(None, write=out.write)
    assert not off.enabled
    off.flush()
    assert out.getvalue() == b"" and metrics.pending() == {}


def test_standard_output_by_default(capfd: pytest.CaptureFixture[str]) -> None:
    metrics.count(metrics.LOGINS)
    metrics.Emitter("NS").flush()
    (document,) = emf_lines(capfd.readouterr().out)
    assert metric_values(document) == {"Logins": 1}


def test_the_checker_refuses_what_cloudwatch_would() -> None:
    good = {
        "_aws": {
            "Timestamp": 1_800_000_000_000,
            "CloudWatchMetrics": [
                {"Namespace": "NS", "Dimensions": [["Service"]], "Metrics": [{"Name": "A", "Unit": "Count"}]}
            ],
        },
        "Service": "s",
        "A": 1,
    }
    check_emf(good)
    for broken in (
        {**good, "A": "1"},  # a value that is no number
        {**good, "Service": 5},  # a dimension that is no string
        {key: value for key, value in good.items() if key != "A"},  # a metric without a value
        {**good, "_aws": {**good["_aws"], "Timestamp": 1.5}},
    ):
        with pytest.raises((AssertionError, KeyError)):
            check_emf(json.loads(json.dumps(broken)))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("AWS/Lambda", "must not start with AWS/"),
        ("x" * 256, "1-255 printable ASCII"),
        ("caf\u00e9", "1-255 printable ASCII"),
    ],
)
def test_a_namespace_cloudwatch_would_refuse_fails_at_cold_start(value: str, problem: str) -> None:
    env = EnvReader({"AUTH_METRICS_NAMESPACE": value, "AUTH_METRICS_SERVICE": "ok"})
    CommonSettings.read(env)
    with pytest.raises(ConfigurationError, match=problem):
        env.raise_if_invalid("test")


def test_metrics_are_off_unless_a_namespace_is_set() -> None:
    settings = CommonSettings.read(EnvReader({}))
    assert settings.metrics_namespace is None and settings.metrics_service == metrics.DEFAULT_SERVICE
    env = EnvReader({"AUTH_METRICS_NAMESPACE": "LambdaJwtAuth", "AUTH_METRICS_SERVICE": "orders"})
    settings = CommonSettings.read(env)
    assert (settings.metrics_namespace, settings.metrics_service) == ("LambdaJwtAuth", "orders")


def test_powertools_reads_the_spec_as_we_do() -> None:
    """Powertools for AWS Lambda's EMF serializer (an independent writer) passes our checker, and
    describes the same metrics as our line does."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    theirs = Metrics(namespace="Orders/Auth", service="orders-prod")
    theirs.add_metric(name="Allowed", unit=MetricUnit.Count, value=1)
    theirs.add_metric(name="DenylistReadLatency", unit=MetricUnit.Milliseconds, value=4.5)
    document = theirs.serialize_metric_set()
    check_emf(document)
    out = io.BytesIO()
    metrics.count(metrics.ALLOWED)
    metrics.milliseconds(metrics.DENYLIST_READ_LATENCY, 4.5)
    metrics.Emitter("Orders/Auth", "orders-prod", write=out.write).flush()
    (ours,) = emf_lines(out.getvalue().decode())

    def described(doc: dict[str, object]) -> set[tuple[str, str, str]]:
        meta: Any = doc["_aws"]
        return {
            (d["Namespace"], m["Name"], m["Unit"]) for d in meta["CloudWatchMetrics"] for m in d["Metrics"]
        }

    assert described(ours) == described(document)
    # Powertools writes each value as a list of samples; a single number is the same sample.
    assert {name: [value] for name, value in metric_values(ours).items()} == metric_values(document)
