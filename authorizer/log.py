"""One JSON object per log line. Callers pass identifiers (jti, sub), never tokens or secrets.

Every line written while a request is handled carries that request's id and route, bound once by
the Lambda adapter (`bind_request`), so CloudWatch Logs Insights can follow one request.

Nothing is built for a level that is off. (The authorizer logs its refusals; allowed requests
only with AUTH_LOG_ALLOWED, since API Gateway's access log records them.)
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

_request: ContextVar[dict[str, str]] = ContextVar("lambda_jwt_auth_request", default={})  # noqa: B039


class bind_request:  # lower case: used like the function it was, `with bind_request(...)`
    """Tag every log line of the enclosed request with its id and route."""

    __slots__ = ("_bound", "_token")

    def __init__(self, request_id: str | None, route: str | None = None) -> None:
        bound = {}
        if request_id:
            bound["request_id"] = request_id
        if route:
            bound["route"] = route
        self._bound = bound
        self._token: Token[dict[str, str]] | None = None

    def __enter__(self) -> None:
        self._token = _request.set(self._bound)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._token is not None:
            _request.reset(self._token)
            self._token = None


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    if not logger.isEnabledFor(level):
        return  # nothing to build: this line would be dropped
    record = {"event": event, **_request.get(), **{k: v for k, v in fields.items() if v is not None}}
    logger.log(level, json.dumps(record, default=str))
