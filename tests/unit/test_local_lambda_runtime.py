"""Lambda functions as pools of container processes: on demand, reuse, maximum, failures, shutdown."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from auth_service.local import container
from auth_service.local.container import (
    ColdStartError,
    Container,
    ContainerExitedError,
    ContainerGoneError,
    FunctionError,
    FunctionResultError,
    FunctionTimeoutError,
)
from auth_service.local.container_limits import DEFAULT_MAX_CONTAINERS, ContainerLimits
from auth_service.local.container_template import ContainerTemplate
from auth_service.local.lambda_runtime import FunctionPool, PoolClosedError
from auth_service.local.lambda_worker import LambdaContext
from auth_service.local.service_definition import FunctionDefinition
from tests.processes import running, still_running

REPO_ROOT = Path(__file__).resolve().parents[2]


def definition(
    attribute: str,
    *,
    timeout: int = 3,
    module: str = "tests.unit.local_fixtures.handlers",
    environment: dict[str, str] | None = None,
) -> FunctionDefinition:
    return FunctionDefinition(
        name=attribute,
        module=module,
        attribute=attribute,
        environment=MappingProxyType(environment or {}),
        memory_size_mb=512,
        timeout_seconds=timeout,
    )


@pytest.fixture
def pools() -> Iterator[list[FunctionPool]]:
    """Pools made by `make_pool`, all closed after the test."""
    made: list[FunctionPool] = []
    yield made
    for pool in made:
        pool.close()


def make_pool(
    pools: list[FunctionPool], function: FunctionDefinition, max_containers: int = 2
) -> FunctionPool:
    pool = FunctionPool(function, service="svc", code_root=REPO_ROOT, max_containers=max_containers)
    pools.append(pool)
    return pool


def concurrently(pool: FunctionPool, events: list[dict[str, Any]]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=len(events)) as threads:
        return list(threads.map(pool.invoke, events))


# --- the context object (built inside the container) ------------------------------------------


def test_context_counts_down_to_zero() -> None:
    now = [1000.0]
    context = LambdaContext(
        aws_request_id="8f5e6c1a-0000-4000-8000-000000000000",
        function_name="f",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
        log_stream_name="2024/01/01/[$LATEST]abc",
        deadline=1002.0,
        clock=lambda: now[0],
    )
    assert context.get_remaining_time_in_millis() == 2000
    now[0] += 1.5
    assert context.get_remaining_time_in_millis() == 500
    now[0] += 5
    assert context.get_remaining_time_in_millis() == 0
    assert context.memory_limit_in_mb == "256"
    assert context.log_group_name == "/aws/lambda/f"


# --- on demand, reuse, maximum ----------------------------------------------------------------


def test_nothing_starts_before_the_first_invocation(pools: list[FunctionPool]) -> None:
    pool = make_pool(pools, definition("identify"))
    assert pool.containers == [] and pool.containers_started == 0
    assert pool.function_name == "svc-local-identify"


def test_a_warm_container_is_reused_with_its_module_state(pools: list[FunctionPool]) -> None:
    pool = make_pool(pools, definition("identify"), max_containers=4)
    first = pool.invoke({})
    second = pool.invoke({})
    # One cold start; the module's counter lives on in the container, not in this process.
    assert first["pid"] == second["pid"] != os.getpid()
    assert (first["invocations"], second["invocations"]) == (1, 2)
    assert pool.containers_started == 1


def test_a_container_starts_only_when_all_are_busy_and_never_beyond_the_maximum(
    pools: list[FunctionPool],
) -> None:
    pool = make_pool(pools, definition("slow"), max_containers=3)
    runs = concurrently(pool, [{"seconds": 0.5}] * 6)
    by_container: dict[int, list[tuple[float, float]]] = {}
    for run in runs:
        by_container.setdefault(run["pid"], []).append((run["started"], run["ended"]))
    assert len(by_container) == 3 == pool.containers_started
    for spans in by_container.values():  # one invocation at a time per container
        spans.sort()
        assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans))
    # Warm and idle now: sequential invocations start nothing new, and visit every container
    # (the one idle longest first), so per-container state is seen.
    visited = {pool.invoke({"seconds": 0})["pid"] for _ in range(3)}
    assert visited == set(by_container)
    assert pool.containers_started == 3


def test_containers_have_their_own_module_state(pools: list[FunctionPool]) -> None:
    pool = make_pool(pools, definition("identify"), max_containers=2)
    together = concurrently(pool, [{"seconds": 0.5}] * 2)
    # Two containers, each with its own counter: neither saw the other's invocation.
    assert len({run["pid"] for run in together}) == 2
    assert [run["invocations"] for run in together] == [1, 1]
    after = [pool.invoke({}) for _ in range(2)]
    assert {run["pid"] for run in after} == {run["pid"] for run in together}
    assert [run["invocations"] for run in after] == [2, 2]


# --- failures ---------------------------------------------------------------------------------


def test_a_crashing_container_is_replaced(pools: list[FunctionPool]) -> None:
    crash = make_pool(pools, definition("crash"))
    with pytest.raises(ContainerExitedError, match="exit status 9"):
        crash.invoke({"status": 9})
    assert crash.containers == []
    with pytest.raises(ContainerExitedError):
        crash.invoke({"status": 9})
    assert crash.containers_started == 2  # a new container for the next invocation


def test_a_container_that_died_while_idle_is_not_given_work(pools: list[FunctionPool]) -> None:
    pool = make_pool(pools, definition("identify"))
    pid = pool.invoke({})["pid"]
    os.kill(pid, signal.SIGKILL)
    assert not still_running([pid])
    replacement = pool.invoke({})
    assert replacement["pid"] != pid and replacement["invocations"] == 1


def test_a_container_found_dead_at_the_handover_is_replaced(
    pools: list[FunctionPool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the idle check cannot close: the worker dies after the check, before the event
    is written. The event never reached it, so another container runs it."""
    pool = make_pool(pools, definition("identify"))
    pid = pool.invoke({})["pid"]
    os.kill(pid, signal.SIGKILL)
    assert not still_running([pid])
    # The idle check answers as it would have just before the death, once: only the write fails.
    real_usable = Container.usable
    lied: list[Container] = []

    def stale_usable(self: Container) -> bool:
        if not lied:
            lied.append(self)
            return True
        return bool(real_usable.fget(self))  # type: ignore[attr-defined]

    monkeypatch.setattr(Container, "usable", property(stale_usable))
    replacement = pool.invoke({})
    assert lied, "the pool asked whether the dead container was usable"
    assert replacement["pid"] != pid and replacement["invocations"] == 1
    assert pool.containers_started == 2


def test_an_event_written_to_a_dead_worker_is_reported_as_never_delivered(pools: list[FunctionPool]) -> None:
    pool = make_pool(pools, definition("identify"))
    pid = pool.invoke({})["pid"]
    (worker,) = pool.containers
    os.kill(pid, signal.SIGKILL)
    assert not still_running([pid])
    assert not worker.usable  # its closed channel shows before the template reports the exit
    with pytest.raises(ContainerGoneError, match="signal 9"):
        worker.invoke({}, "request", 5.0)


def test_a_failed_cold_start_is_not_remembered(
    pools: list[FunctionPool], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = make_pool(pools, definition("handler", module="tests.unit.local_fixtures.broken_import"))
    monkeypatch.setenv("LOCAL_FIXTURE_FAIL_IMPORT", "1")
    with pytest.raises(ColdStartError, match="cold start failed on purpose"):
        pool.invoke({})
    assert pool.containers == []
    err = capsys.readouterr().err
    assert "[handler#1] Traceback" in err and "RuntimeError: cold start failed on purpose" in err
    monkeypatch.delenv("LOCAL_FIXTURE_FAIL_IMPORT")
    assert pool.invoke({}) == "recovered"
    assert pool.containers_started == 2


def test_a_hanging_cold_start_is_ended(pools: list[FunctionPool], monkeypatch: pytest.MonkeyPatch) -> None:
    # Lambda allows 10 s of init and then the function's timeout: here 0 s and then 1 s.
    monkeypatch.setattr(container, "INIT_TIMEOUT_SECONDS", 0.0)
    monkeypatch.setenv("LOCAL_FIXTURE_IMPORT_SECONDS", "30")
    pool = make_pool(pools, definition("handler", module="tests.unit.local_fixtures.slow_import", timeout=1))
    started = time.monotonic()
    with pytest.raises(ColdStartError, match="took over 1s"):
        pool.invoke({})
    assert time.monotonic() - started < 10
    assert pool.containers == []
    monkeypatch.setenv("LOCAL_FIXTURE_IMPORT_SECONDS", "0")
    assert pool.invoke({}) == "imported"


def test_a_missing_handler_attribute_is_a_failed_cold_start(pools: list[FunctionPool]) -> None:
    pool = make_pool(pools, definition("no_such_handler"))
    with pytest.raises(ColdStartError, match="no_such_handler"):
        pool.invoke({})
    assert pool.containers == []


def test_a_handler_error_keeps_the_container(pools: list[FunctionPool]) -> None:
    pool = make_pool(pools, definition("scripted"))
    with pytest.raises(FunctionError, match="ValueError: broken") as raised:
        pool.invoke({"body": '{"raise": "broken"}'})
    assert raised.value.error_type == "ValueError"
    assert pool.invoke({"body": '{"return": 5}'}) == 5
    assert pool.containers_started == 1


def test_overrunning_the_timeout_kills_the_container(
    pools: list[FunctionPool], capsys: pytest.CaptureFixture[str]
) -> None:
    pool = make_pool(pools, definition("slow", timeout=1))
    pid = pool.invoke({"seconds": 0})["pid"]
    started = time.monotonic()
    with pytest.raises(FunctionTimeoutError):
        pool.invoke({"seconds": 30})
    assert time.monotonic() - started < 5  # interrupted, not waited out
    assert "[slow#1]" in capsys.readouterr().err.split("Task timed out")[0]
    assert not still_running([pid])
    assert pool.invoke({"seconds": 0})["pid"] != pid


def test_results_must_be_json_serialisable(pools: list[FunctionPool]) -> None:
    pool = make_pool(pools, definition("scripted"))
    with pytest.raises(FunctionResultError, match="not JSON-serialisable"):
        pool.invoke({"body": '{"unserialisable": 1}'})


def test_the_event_crosses_a_json_boundary(pools: list[FunctionPool]) -> None:
    pool = make_pool(pools, definition("scripted"))
    event: dict[str, Any] = {"body": '{"return": {"a": [1, 2]}}', "nested": {"a": 1}}
    assert pool.invoke(event) == {"a": [1, 2]}
    assert event["nested"] == {"a": 1}
    with pytest.raises(TypeError):
        pool.invoke({"not json": {1, 2}})
    assert pool.invoke({"body": '{"return": 1}'}) == 1  # nothing was sent: the container is fine
    assert pool.containers_started == 1


# --- environment and logs ---------------------------------------------------------------------


def test_the_container_environment(pools: list[FunctionPool], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_ISSUER", "http://127.0.0.1:9")
    function = definition("environment", environment={"AUTH_AUDIENCE": "from serverless.yml"})
    seen = make_pool(pools, function).invoke({})
    assert seen["AUTH_ISSUER"] == "http://127.0.0.1:9"  # serve's environment
    assert seen["AUTH_AUDIENCE"] == "from serverless.yml"  # the function's, over serve's
    assert os.environ.get("AUTH_AUDIENCE") != "from serverless.yml"


def test_log_lines_are_labelled_and_arrive_before_the_result(
    pools: list[FunctionPool], capsys: pytest.CaptureFixture[str]
) -> None:
    pool = make_pool(pools, definition("noisy"))
    for tag in ("one", "two"):
        assert pool.invoke({"tag": tag}) == "logged"
        captured = capsys.readouterr()
        assert f"[noisy#1] to stdout {tag}\n" in captured.out
        assert captured.err == f"[noisy#1] to stderr {tag}\n"


def test_each_cold_start_is_announced_with_the_container_and_its_pid(
    pools: list[FunctionPool], capsys: pytest.CaptureFixture[str]
) -> None:
    pool = make_pool(pools, definition("identify"), max_containers=2)
    pids = {run["pid"] for run in concurrently(pool, [{"seconds": 0.5}] * 2)}
    announced = [line for line in capsys.readouterr().out.splitlines() if "cold start" in line]
    assert sorted(line.split()[0] for line in announced) == ["[identify#1]", "[identify#2]"]
    assert {int(line.rsplit("pid ", 1)[1]) for line in announced} == pids


# --- shutdown ---------------------------------------------------------------------------------


def test_close_stops_idle_and_busy_containers(pools: list[FunctionPool]) -> None:
    pool = make_pool(pools, definition("slow", timeout=60), max_containers=2)
    idle_pid = pool.invoke({"seconds": 0})["pid"]
    failures: list[BaseException] = []

    def busy() -> None:
        try:
            pool.invoke({"seconds": 30})
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=busy) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while pool.containers_started < 2 or len(pool.containers) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # both invocations are in their handlers
    pids = [container.pid for container in pool.containers]
    assert idle_pid in pids
    started = time.monotonic()
    pool.close()
    for thread in threads:
        thread.join(timeout=10)
    assert time.monotonic() - started < 8  # the grace period, then killed
    assert not still_running(pids, timeout=0)
    assert len(failures) == 2 and all(isinstance(f, ContainerExitedError) for f in failures)
    with pytest.raises(PoolClosedError):
        pool.invoke({"seconds": 0})


def test_closing_the_template_ends_its_containers() -> None:
    template = ContainerTemplate()
    pool = FunctionPool(definition("identify"), service="svc", code_root=REPO_ROOT, template=template)
    try:
        worker = pool.invoke({})["pid"]
        assert template.pid is not None and running(template.pid)
        template.close()
        assert not still_running([worker, template.pid])
        with pytest.raises(ColdStartError, match="stopping"):  # no template, no new container
            pool.invoke({})
    finally:
        pool.close()


ORPHAN_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from types import MappingProxyType
    from auth_service.local.lambda_runtime import FunctionPool
    from auth_service.local.service_definition import FunctionDefinition

    function = FunctionDefinition("identify", "tests.unit.local_fixtures.handlers", "identify",
                                  MappingProxyType({}), 128, 3)
    pool = FunctionPool(function, service="svc", code_root=Path(sys.argv[1]))
    print("worker", pool.invoke({})["pid"], pool._template.pid, flush=True)
    sys.stdin.read()  # until the test kills this process
    """
)


def test_a_killed_parent_leaves_no_container_behind() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT, str(REPO_ROOT)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        line = ""
        while not line.startswith("worker"):
            line = parent.stdout.readline()
            assert line, "the parent exited before starting a container"
        worker, template = (int(pid) for pid in line.split()[1:])
        assert running(worker) and running(template)
        parent.kill()  # no chance to clean up: the template and the worker must notice on their own
        parent.wait(timeout=10)
        assert not still_running([worker, template], timeout=10), "a process outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


# --- limits -----------------------------------------------------------------------------------


def test_container_limits() -> None:
    assert ContainerLimits().for_function("any") == DEFAULT_MAX_CONTAINERS > 1
    limits = ContainerLimits.parse(["2", "refresh=6", "authorizer=1"])
    assert [limits.for_function(name) for name in ("login", "refresh", "authorizer")] == [2, 6, 1]
    limits.check(["login", "refresh", "authorizer"])
    with pytest.raises(ValueError, match=r"no function of serverless\.yml: refresh"):
        limits.check(["login", "authorizer"])
    for bad in (["0"], ["refresh=0"], ["many"], ["refresh="]):
        with pytest.raises(ValueError):
            ContainerLimits.parse(bad)
