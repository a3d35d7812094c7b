"""One JSON object per log line. Callers pass identifiers (jti, sub), never tokens or secrets.

Every line written while a request is handled carries that request's id and route, bound once by
the Lambda adapter (`bind_request`), so CloudWatch Logs Insights can follow one request.

The authorizer writes one line per decision, so this is on its hot path: the JSON encoder is
built once, nothing is built for a level that is off, and the record is made without a stack walk
(its location is the one `logging` would have found: `log_event` here).
"""

from __future__ import annotations

import json
import json.encoder
import logging
from collections.abc import Callable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

_request: ContextVar[dict[str, str]] = ContextVar("lambda_jwt_auth_request", default={})  # noqa: B039


def _json_encoder() -> Callable[[dict[str, Any]], str]:
    """`json.dumps(record, default=str)`, its C encoder built once instead of per call.

    (No circular-reference check: a record is a flat dict of identifiers.)
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the same output, built the slow way
        return json.JSONEncoder(default=str, check_circular=False).encode
    encode = make(None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
    return lambda record: "".join(encode(record, 0))


_encode = _json_encoder()


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
    record: dict[str, Any] = {"event": event}
    record.update(_request.get())
    for name, value in fields.items():
        if value is not None:
            record[name] = value
    # Logger.log(level, message) without its frame walk (findCaller), which would land here anyway.
    logger.handle(logger.makeRecord(logger.name, level, *_LOCATION, _encode(record), (), None, "log_event"))


_LOCATION = (log_event.__code__.co_filename, log_event.__code__.co_firstlineno)
