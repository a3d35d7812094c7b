"""Lambda functions as pools of containers, each container a process of its own (container.py).

What is kept from real Lambda, because handlers and tests depend on it:
- a container's module state (clients, keys, caches) is its own, and so is the cold start of our
  code: the handler module is imported in the container's process, before its first
  invocation, with the function's literal environment from serverless.yml over serve's
  environment (values that need a deploy, `${...}`, are left to serve's environment). The
  third-party libraries are imported once, by the template the containers are forked from
  (container_template.py), so local cold starts are shorter than Lambda's;
- one invocation at a time per container; a function runs up to its maximum number of
  containers at once (container_limits.py). A new container starts only when all of the
  function's containers are busy; idle ones are reused, the one idle longest first, so
  consecutive requests see every warm container. Beyond the maximum, invocations wait for a
  container (Lambda would throttle them);
- events and results cross a JSON boundary, so a handler shares no objects with the gateway and
  a result that Lambda could not serialise fails here too;
- a failed cold start is not remembered: that container is discarded and the next invocation
  starts another;
- an invocation that overruns the function's timeout fails and its container is killed (Lambda
  resets the environment); a container that exits or crashes is replaced by the next invocation;
- the context object: request id, function name and ARN, memory, log group and stream (one
  stream per container), remaining time.
Not emulated: the memory size is reported, not enforced; idle containers live until serve stops
(Lambda reclaims them after a while).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from auth_service.local.container import Container, ContainerGoneError, InvocationError, stop_containers
from auth_service.local.container_limits import DEFAULT_MAX_CONTAINERS
from auth_service.local.container_template import ContainerTemplate
from auth_service.local.service_definition import FunctionDefinition

LOCAL_STAGE = "local"
# Containers that may be found dead at the handover of one event before its invocation fails.
_GONE_RETRIES = 2


class PoolClosedError(InvocationError):
    """The server is stopping: no invocation starts any more."""


def _python_path(code_root: str) -> list[str]:
    """The code root first (Lambda's /var/task), then what this process imports from."""
    entries: list[str] = []
    for entry in (code_root, *sys.path):
        absolute = os.path.abspath(entry or os.getcwd())
        if absolute not in entries and os.path.exists(absolute):
            entries.append(absolute)
    return entries


class FunctionPool:
    """The containers of one function: started on demand, reused warm, at most `max_containers`."""

    def __init__(
        self,
        definition: FunctionDefinition,
        *,
        service: str,
        code_root: Path,
        max_containers: int = DEFAULT_MAX_CONTAINERS,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        environment: Callable[[], Mapping[str, str]] = lambda: os.environ,
        template: ContainerTemplate | None = None,
    ) -> None:
        """`template` forks the containers (default: this process's shared one)."""
        if max_containers < 1:
            raise ValueError("a function needs at least one container")
        self.definition = definition
        self.max_containers = max_containers
        # The name Serverless gives the deployed function: service-stage-function.
        self.function_name = f"{service}-{LOCAL_STAGE}-{definition.name}"
        self.function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{self.function_name}"
        self._code_root = str(code_root)
        self._environment = environment
        self._template = template or ContainerTemplate.shared()
        self._changed = threading.Condition()
        self._idle: deque[Container] = deque()
        self._busy: set[Container] = set()
        self._starting = 0
        self._closed = False
        self.containers_started = 0  # every cold start tried, failed ones included

    @property
    def containers(self) -> list[Container]:
        """The containers running now, idle or busy."""
        with self._changed:
            return [*self._idle, *self._busy]

    def invoke(self, event: Mapping[str, Any]) -> Any:
        """Run the handler on `event` in an idle container, or a new one; return its result.

        The event crosses to the container as JSON: one that is not JSON raises TypeError.
        """
        for attempt in range(_GONE_RETRIES + 1):
            container = self._acquire()
            try:
                return container.invoke(event, str(uuid.uuid4()), self.definition.timeout_seconds)
            except ContainerGoneError:
                # It died idle, just before the event reached it: another container runs it.
                if attempt == _GONE_RETRIES:
                    raise
            finally:
                self._release(container)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop every container; invocations in progress fail, later ones are refused."""
        stop_containers(self._close())

    def _close(self) -> list[Container]:
        with self._changed:
            self._closed = True
            containers = [*self._idle, *self._busy]
            self._idle.clear()
            self._changed.notify_all()
        return containers

    def _acquire(self) -> Container:
        with self._changed:
            while True:
                if self._closed:
                    raise PoolClosedError(f"{self.definition.name}: the server is stopping")
                while self._idle:
                    container = self._idle.popleft()
                    if container.usable:
                        self._busy.add(container)
                        return container
                    container.kill()  # exited while idle: replaced below
                if len(self._busy) + self._starting < self.max_containers:
                    self._starting += 1
                    self.containers_started += 1
                    number = self.containers_started
                    break
                self._changed.wait()
        try:
            container = self._start(number)
        except BaseException:
            with self._changed:
                self._starting -= 1
                self._changed.notify()
            raise
        with self._changed:
            self._starting -= 1
            self._busy.add(container)
            if not self._closed:
                return container
            self._busy.discard(container)
        container.stop()
        raise PoolClosedError(f"{self.definition.name}: the server is stopping")

    def _release(self, container: Container) -> None:
        with self._changed:
            self._busy.discard(container)
            keep = container.usable and not self._closed
            if keep:
                self._idle.append(container)
            self._changed.notify()
        if not keep:
            container.stop()

    def _start(self, number: int) -> Container:
        label = f"[{self.definition.name}#{number}]"
        log_stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        path = _python_path(self._code_root)
        environment = {
            **self._environment(),
            **self.definition.environment,
            # Set by Lambda in every function's environment.
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.definition.memory_size_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "LAMBDA_TASK_ROOT": self._code_root,
            "PYTHONPATH": os.pathsep.join(path),
        }
        config = {
            "module": self.definition.module,
            "attribute": self.definition.attribute,
            "definition_name": self.definition.name,
            "function_name": self.function_name,
            "function_arn": self.function_arn,
            "memory_limit_in_mb": self.definition.memory_size_mb,
            "log_stream_name": log_stream,
        }
        container = Container.start(
            label,
            config,
            template=self._template,
            environment=environment,
            cwd=self._code_root,
            path=path,
            timeout_seconds=self.definition.timeout_seconds,
        )
        timing = f"{container.start_ms:.0f} ms (init {container.init_ms:.0f} ms)"
        print(f"{label} cold start {timing}, pid {container.pid}", flush=True)
        return container


def close_pools(pools: Iterable[FunctionPool]) -> None:
    """Stop the containers of every pool together (one grace period, not one per container)."""
    stop_containers([container for pool in pools for container in pool._close()])
