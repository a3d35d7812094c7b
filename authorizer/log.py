"""One JSON object per log line. Callers pass identifiers (jti, sub), never tokens or secrets.

Every line written while a request is handled carries that request's id and route, bound once by
the Lambda adapter (`bind_request`), so CloudWatch Logs Insights can follow one request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_request: ContextVar[dict[str, str]] = ContextVar("lambda_jwt_auth_request", default={})  # noqa: B039
# What json.dumps(record, default=str) builds on every call, built once.
_encode = json.JSONEncoder(default=str).encode


@contextmanager
def bind_request(request_id: str | None, route: str | None = None) -> Iterator[None]:
    """Tag every log line of the enclosed request with its id and route."""
    token = _request.set({k: v for k, v in (("request_id", request_id), ("route", route)) if v})
    try:
        yield
    finally:
        _request.reset(token)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    if not logger.isEnabledFor(level):
        return  # nothing to build: this line would be dropped
    record: dict[str, Any] = {"event": event}
    record.update(_request.get())
    for name, value in fields.items():
        if value is not None:
            record[name] = value
    logger.log(level, _encode(record))
