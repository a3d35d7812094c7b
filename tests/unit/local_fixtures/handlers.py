"""Integration handlers: echo the event, return a scripted result, fail, or report the container.

Each runs in a container process of its own (auth_service/local/lambda_runtime.py), so what a
test wants from a handler travels in the event, and what it learns comes back in the result.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from typing import Any

# Invocations this container has served: module state, one count per container.
_INVOCATIONS = 0


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(
            {
                "event": event,
                "context": {
                    "aws_request_id": context.aws_request_id,
                    "function_name": context.function_name,
                    "memory_limit_in_mb": context.memory_limit_in_mb,
                    "invoked_function_arn": context.invoked_function_arn,
                    "log_group_name": context.log_group_name,
                    "log_stream_name": context.log_stream_name,
                    "remaining_ms": context.get_remaining_time_in_millis(),
                },
            }
        ),
    }


def script_body(script: dict[str, Any]) -> bytes:
    """The request body that makes `scripted` return `script["return"]`, or raise, or misbehave."""
    return json.dumps(script).encode()


def scripted(event: dict[str, Any], context: Any) -> Any:
    """Does what the request body says: {"return": value}, {"raise": message}, {"unserialisable": 1}."""
    body = event.get("body") or "{}"
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    script = json.loads(body)
    if "raise" in script:
        raise ValueError(script["raise"])
    if "unserialisable" in script:
        return {"statusCode": 200, "body": object()}
    return script.get("return")


def identify(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Which container ran this, and how many invocations it has served (itself included)."""
    global _INVOCATIONS
    _INVOCATIONS += 1
    time.sleep(float(event.get("seconds", 0)))
    return {"pid": os.getpid(), "invocations": _INVOCATIONS}


def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Sleeps (event["seconds"], default 0.2) and says when and where it ran."""
    started = time.time()
    time.sleep(float(event.get("seconds", 0.2)))
    return {"pid": os.getpid(), "started": started, "ended": time.time()}


def crash(event: dict[str, Any], context: Any) -> None:
    """Ends the container's process, as a segfault or `os._exit` in a library would."""
    sys.stdout.flush()
    os._exit(int(event.get("status", 7)))


def noisy(event: dict[str, Any], context: Any) -> str:
    """Writes a line to stdout and to stderr (the container's log), then answers."""
    print(f"to stdout {event['tag']}")
    print(f"to stderr {event['tag']}", file=sys.stderr)
    return "logged"


def environment(event: dict[str, Any], context: Any) -> dict[str, str | None]:
    """The variables `auth-service serve` sets, as a handler sees them at invocation."""
    names = (
        "AUTH_ISSUER",
        "AUTH_AUDIENCE",
        "AUTH_DENYLIST_TABLE",
        "AUTH_USERS_TABLE",
        "AUTH_DYNAMODB_ENDPOINT",
        "AWS_REGION",
    )
    found: dict[str, str | None] = {name: os.environ.get(name) for name in names}
    found["has_signing_key"] = "yes" if os.environ.get("AUTH_SIGNING_KEY") else "no"
    found["has_jwks"] = "yes" if os.environ.get("AUTH_JWKS") else "no"
    if os.environ.get("AUTH_METRICS_NAMESPACE"):  # only with `serve --metrics`
        found["metrics"] = f"{os.environ['AUTH_METRICS_NAMESPACE']} {os.environ.get('AUTH_METRICS_SERVICE')}"
    return found
