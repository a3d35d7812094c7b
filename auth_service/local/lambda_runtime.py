"""Lambda functions run in this process, one emulated container per function.

What is kept from real Lambda, because handlers depend on it:
- the handler module is imported on the first invocation (the cold start), with the function's
  literal environment from serverless.yml overlaid on os.environ while it imports, since the
  handlers read their configuration at import;
- invocations of one function run one at a time, as in a single container;
- events and results cross a JSON boundary, so a handler cannot share objects with the gateway
  and a result that Lambda could not serialise fails here too;
- a failed cold start is not remembered: the next invocation tries to import again;
- an invocation that overruns the function's timeout fails (it is not interrupted: a thread
  cannot be killed, so the result is discarded after the fact).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from auth_service.local.service_definition import FunctionDefinition

LOCAL_STAGE = "local"
# os.environ is process-wide, so only one cold start at a time may overlay it.
_ENVIRON_LOCK = threading.Lock()

Handler = Callable[[Any, Any], Any]


class FunctionTimeoutError(RuntimeError):
    """The invocation took longer than the function's configured timeout."""


class FunctionResultError(TypeError):
    """The handler returned something Lambda could not serialise as JSON."""


class LambdaContext:
    """The attributes and method of the Python runtime's context object that handlers use."""

    def __init__(
        self,
        *,
        function_name: str,
        memory_limit_in_mb: int,
        invoked_function_arn: str,
        timeout_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_version = "$LATEST"
        # The Python runtime reads this from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, so it is a string.
        self.memory_limit_in_mb = str(memory_limit_in_mb)
        self.invoked_function_arn = invoked_function_arn
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._clock = clock
        self._deadline = clock() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))


@contextmanager
def overlaid_environment(overlay: Mapping[str, str]) -> Iterator[None]:
    """Set `overlay` on os.environ for the duration, then put back exactly what was there."""
    with _ENVIRON_LOCK:
        saved = {name: os.environ.get(name) for name in overlay}
        os.environ.update(overlay)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class LocalFunction:
    def __init__(
        self,
        definition: FunctionDefinition,
        *,
        service: str,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.definition = definition
        # The name Serverless gives the deployed function: service-stage-function.
        self.function_name = f"{service}-{LOCAL_STAGE}-{definition.name}"
        self.function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{self.function_name}"
        self._clock = clock
        self._lock = threading.Lock()
        self._handler: Handler | None = None
        self.invocations = 0

    @property
    def initialized(self) -> bool:
        return self._handler is not None

    def _cold_start(self) -> Handler:
        with overlaid_environment(self.definition.environment):
            module = importlib.import_module(self.definition.module)
        handler = getattr(module, self.definition.attribute, None)
        if not callable(handler):
            raise AttributeError(
                f"{self.definition.module} has no callable {self.definition.attribute!r}"
                f" (handler of function {self.definition.name!r})"
            )
        return handler  # type: ignore[no-any-return]

    def invoke(self, event: Mapping[str, Any]) -> Any:
        """Run the handler on a JSON copy of `event` and return its JSON-round-tripped result."""
        payload = json.loads(json.dumps(event))
        with self._lock:
            self.invocations += 1
            if self._handler is None:
                self._handler = self._cold_start()
            context = LambdaContext(
                function_name=self.function_name,
                memory_limit_in_mb=self.definition.memory_size_mb,
                invoked_function_arn=self.function_arn,
                timeout_seconds=self.definition.timeout_seconds,
                clock=self._clock,
            )
            started = self._clock()
            result = self._handler(payload, context)
            elapsed = self._clock() - started
        if elapsed > self.definition.timeout_seconds:
            print(
                f"{context.aws_request_id} Task timed out after {elapsed:.2f} seconds",
                file=sys.stderr,
            )
            raise FunctionTimeoutError(
                f"{self.definition.name} ran {elapsed:.2f}s, over its"
                f" {self.definition.timeout_seconds}s timeout"
            )
        try:
            return json.loads(json.dumps(result))
        except (TypeError, ValueError) as exc:
            raise FunctionResultError(
                f"{self.definition.name} returned a value that is not JSON-serialisable: {exc}"
            ) from exc
