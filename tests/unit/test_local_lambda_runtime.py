"""In-process Lambda functions: cold start environment, context object, timeouts, JSON boundary."""

from __future__ import annotations

import os
from types import MappingProxyType
from typing import Any

import pytest

from auth_service.local.lambda_runtime import (
    FunctionResultError,
    FunctionTimeoutError,
    LambdaContext,
    LocalFunction,
    overlaid_environment,
)
from auth_service.local.service_definition import FunctionDefinition
from tests.unit.local_fixtures import handlers


class SteppingClock:
    """Advances by `step` seconds every time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def definition(attribute: str, *, timeout: int = 3, module: str | None = None) -> FunctionDefinition:
    return FunctionDefinition(
        name=attribute,
        module=module or "tests.unit.local_fixtures.handlers",
        attribute=attribute,
        environment=MappingProxyType({}),
        memory_size_mb=512,
        timeout_seconds=timeout,
    )


def test_overlay_restores_changed_and_absent_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_OVERLAY_EXISTING", "before")
    monkeypatch.delenv("LOCAL_OVERLAY_NEW", raising=False)
    with overlaid_environment({"LOCAL_OVERLAY_EXISTING": "during", "LOCAL_OVERLAY_NEW": "during"}):
        assert os.environ["LOCAL_OVERLAY_EXISTING"] == "during"
        assert os.environ["LOCAL_OVERLAY_NEW"] == "during"
    assert os.environ["LOCAL_OVERLAY_EXISTING"] == "before"
    assert "LOCAL_OVERLAY_NEW" not in os.environ


def test_overlay_restores_after_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_OVERLAY_NEW", raising=False)
    with pytest.raises(RuntimeError), overlaid_environment({"LOCAL_OVERLAY_NEW": "x"}):
        raise RuntimeError
    assert "LOCAL_OVERLAY_NEW" not in os.environ


def test_context_counts_down_to_zero() -> None:
    clock = SteppingClock(0.0)
    context = LambdaContext(
        function_name="f",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
        timeout_seconds=2,
        clock=clock,
    )
    assert context.get_remaining_time_in_millis() == 2000
    clock.now += 1.5
    assert context.get_remaining_time_in_millis() == 500
    clock.now += 5
    assert context.get_remaining_time_in_millis() == 0
    assert context.memory_limit_in_mb == "256"
    assert len(context.aws_request_id) == 36


def test_cold_start_happens_once() -> None:
    function = LocalFunction(definition("scripted"), service="svc")
    assert not function.initialized
    handlers.NEXT = {"ok": True}
    try:
        assert function.invoke({}) == {"ok": True}
        assert function.invoke({}) == {"ok": True}
    finally:
        handlers.NEXT = None
    assert function.initialized
    assert function.invocations == 2
    assert function.function_name == "svc-local-scripted"


def test_overrunning_the_timeout_fails_the_invocation(capsys: pytest.CaptureFixture[str]) -> None:
    function = LocalFunction(definition("scripted", timeout=1), service="svc", clock=SteppingClock(1.5))
    with pytest.raises(FunctionTimeoutError):
        function.invoke({})
    assert "Task timed out" in capsys.readouterr().err


def test_results_must_be_json_serialisable() -> None:
    function = LocalFunction(definition("scripted"), service="svc")
    handlers.NEXT = {"value": {1, 2}}
    try:
        with pytest.raises(FunctionResultError):
            function.invoke({})
    finally:
        handlers.NEXT = None


def test_the_event_is_a_copy() -> None:
    function = LocalFunction(definition("scripted"), service="svc")
    event: dict[str, Any] = {"nested": {"a": 1}}
    handlers.NEXT = None
    function.invoke(event)
    assert event == {"nested": {"a": 1}}


def test_missing_handler_attribute_is_reported() -> None:
    function = LocalFunction(definition("no_such_handler"), service="svc")
    with pytest.raises(AttributeError, match="no_such_handler"):
        function.invoke({})
    assert not function.initialized
