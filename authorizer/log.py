"""One JSON object per log line. Callers pass identifiers (jti, sub), never tokens or secrets.

Every line written while a request is handled carries that request's id and route, bound once by
the Lambda adapter (`bind_request`, or `bind_invocation` in a Lambda handler), so CloudWatch
Logs Insights can follow one request.

Nothing is built for a level that is off. (The authorizer logs its refusals; allowed requests
only with AUTH_LOG_ALLOWED, since API Gateway's access log records them.)

The authorizer's modules name their loggers with `get_logger`: the standard `logging` module
(and what it imports: traceback, threading, string...) is imported when a first line is
written, not at every cold start of a function that, allowing requests, writes none.
"""

from __future__ import annotations

import json
import sys
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import logging

# logging's levels, so that callers need not import it (tests/unit/test_authorizer_log.py checks them).
DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
PACKAGE = "lambda_jwt_auth"
_package_level: list[int] = []  # set_package_level's, until logging is imported


class LoggerLike(Protocol):
    def isEnabledFor(self, level: int) -> bool: ...

    def log(self, level: int, msg: str, *args: Any) -> None: ...


class LazyLogger:
    """`logging.getLogger(name)`, looked up (and `logging` imported) at its first use."""

    __slots__ = ("_logger", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: logging.Logger | None = None

    @property
    def logger(self) -> logging.Logger:
        if self._logger is None:
            import logging

            if _package_level:
                package = logging.getLogger(PACKAGE)
                level = _package_level.pop()
                if package.level == logging.NOTSET:  # unless set since, by whoever imported logging
                    package.setLevel(level)
            self._logger = logging.getLogger(self.name)
        return self._logger

    def isEnabledFor(self, level: int) -> bool:
        return self.logger.isEnabledFor(level)

    def log(self, level: int, msg: str, *args: Any) -> None:
        self.logger.log(level, msg, *args)

    def info(self, msg: str, *args: Any) -> None:
        self.logger.info(msg, *args)

    def warning(self, msg: str, *args: Any) -> None:
        self.logger.warning(msg, *args)

    def error(self, msg: str, *args: Any) -> None:
        self.logger.error(msg, *args)


def get_logger(name: str) -> LazyLogger:
    return LazyLogger(name)


def set_package_level(level: int) -> None:
    """`logging.getLogger("lambda_jwt_auth").setLevel(level)`, now if `logging` is imported (the
    Lambda runtime imports it), else when a first line is written."""
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.getLogger(PACKAGE).setLevel(level)
    else:
        _package_level[:] = [level]


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


_invocation: ContextVar[str | None] = ContextVar("lambda_jwt_auth_invocation", default=None)
# Tag every log line of this Lambda invocation with its id (`context.aws_request_id`), until the
# next invocation's call. For a Lambda handler, which runs one invocation at a time: no reset is
# needed (the next call replaces it), and none is paid for on the authorizer's hot path.
bind_invocation = _invocation.set


def log_event(logger: LoggerLike, event: str, level: int = INFO, **fields: Any) -> None:
    if not logger.isEnabledFor(level):
        return  # nothing to build: this line would be dropped
    invocation = _invocation.get()
    bound = _request.get()
    if invocation is not None and "request_id" not in bound:
        bound = {"request_id": invocation, **bound}
    record = {"event": event, **bound, **{k: v for k, v in fields.items() if v is not None}}
    logger.log(level, json.dumps(record, default=str))
