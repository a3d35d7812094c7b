"""Integration handlers: echo the event, return a scripted result, or fail."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

# What `scripted` returns next (an exception instance is raised instead); set by the tests.
NEXT: Any = None

_active = 0
_active_lock = threading.Lock()
MAX_ACTIVE = 0


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
                    "remaining_ms": context.get_remaining_time_in_millis(),
                },
            }
        ),
    }


def scripted(event: dict[str, Any], context: Any) -> Any:
    if isinstance(NEXT, BaseException):
        raise NEXT
    return NEXT


def slow(event: dict[str, Any], context: Any) -> dict[str, int]:
    """Sleeps while counting how many invocations overlap (one container: never more than 1)."""
    global _active, MAX_ACTIVE
    with _active_lock:
        _active += 1
        MAX_ACTIVE = max(MAX_ACTIVE, _active)
    time.sleep(0.05)
    with _active_lock:
        _active -= 1
    return {"ok": 1}


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
    return found
