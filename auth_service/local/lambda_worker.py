"""The runtime inside one emulated Lambda container: a process of its own, like Lambda's.

The container template (lambda_template.py) forks a process per container, gives it the
function's environment (lambda_runtime.py builds it) and runs `serve_channel` on one end of a
socket pair, the container's only channel to its pool. Over it, one JSON object per line:

    pool -> worker   {"module": ..., "attribute": ..., "function_name": ..., ...}   once, first
    worker -> pool   {"ready": init_ms}  or  {"init_error": {"errorType", "errorMessage"}}
    pool -> worker   {"request_id": ..., "deadline": epoch seconds, "event": ...}   per invocation
    worker -> pool   {"result": ...}  or  {"error": {...}}  or  {"result_error": message}

The handler module is imported once, before the first invocation (the cold start), and serves
one invocation at a time until the pool closes the channel (then this process exits) or kills
it. The handler's own stdout and stderr are the container's log, which serve relays labelled;
both are flushed before each answer, so a log line is relayed before the response it belongs to.

Only the standard library is imported here: the cold start measured is the handler's own (less
the third-party libraries the template imported before forking).
"""

from __future__ import annotations

import importlib
import json
import logging
import socket
import sys
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

# The exit status of a container whose cold start failed (the pool reports the error it sent).
INIT_FAILED_STATUS = 3


class LambdaContext:
    """The attributes and method of the Python runtime's context object that handlers use."""

    def __init__(
        self,
        *,
        aws_request_id: str,
        function_name: str,
        memory_limit_in_mb: int,
        invoked_function_arn: str,
        log_stream_name: str,
        deadline: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.aws_request_id = aws_request_id
        self.function_name = function_name
        self.function_version = "$LATEST"
        # The Python runtime reads this from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, so it is a string.
        self.memory_limit_in_mb = str(memory_limit_in_mb)
        self.invoked_function_arn = invoked_function_arn
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name  # one per container, as in CloudWatch
        self.identity = None
        self.client_context = None
        self._clock = clock
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))


def _error(exc: BaseException) -> dict[str, str]:
    return {"errorType": type(exc).__name__, "errorMessage": str(exc)}


def _send(writer: IO[bytes], message: dict[str, Any]) -> None:
    # Whatever the handler wrote comes first: the pool relays it before it answers the caller.
    sys.stdout.flush()
    sys.stderr.flush()
    writer.write(json.dumps(message).encode() + b"\n")
    writer.flush()


def _load_handler(config: dict[str, Any]) -> Callable[[Any, Any], Any]:
    module = importlib.import_module(config["module"])
    handler = getattr(module, config["attribute"], None)
    if not callable(handler):
        raise AttributeError(
            f"{config['module']} has no callable {config['attribute']!r}"
            f" (handler of function {config['definition_name']!r})"
        )
    return handler  # type: ignore[no-any-return]


def _invoke(handler: Callable[[Any, Any], Any], config: dict[str, Any], request: dict[str, Any]) -> Any:
    context = LambdaContext(
        aws_request_id=request["request_id"],
        function_name=config["function_name"],
        memory_limit_in_mb=config["memory_limit_in_mb"],
        invoked_function_arn=config["function_arn"],
        log_stream_name=config["log_stream_name"],
        deadline=request["deadline"],
    )
    try:
        result = handler(request["event"], context)
    except Exception as exc:  # what Lambda reports as the invocation's error, traceback logged
        traceback.print_exc()
        return {"error": _error(exc)}
    try:
        return {"result": json.loads(json.dumps(result))}
    except (TypeError, ValueError) as exc:
        problem = f"{config['definition_name']} returned a value that is not JSON-serialisable: {exc}"
        return {"result_error": problem}


def serve_channel(channel: socket.socket) -> int:
    reader = channel.makefile("rb")
    writer = channel.makefile("wb")
    config = json.loads(reader.readline())
    # What CloudWatch shows: the functions' JSON log lines, one per event (as serve logs today).
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    started = time.monotonic()
    try:
        handler = _load_handler(config)
    except Exception as exc:
        traceback.print_exc()
        _send(writer, {"init_error": _error(exc)})
        return INIT_FAILED_STATUS
    _send(writer, {"ready": round((time.monotonic() - started) * 1000, 1)})
    for line in reader:  # ends when the pool closes the channel
        _send(writer, _invoke(handler, config, json.loads(line)))
    return 0
