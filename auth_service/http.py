"""HTTP API (payload 2.0) requests and JSON responses for the issuing endpoints.

Every way a request can be wrong ends here as a 4xx with an OAuth-style `error` code; an
unexpected failure is a 500 with no detail, and the log says what kind of exception it was.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from authorizer import metrics as _metrics
from authorizer.errors import AuthError, TokenError, UnavailableError
from authorizer.log import bind_request, log_event
from authorizer.tokens.bearer import bearer_token
from authorizer.tokens.verifier import is_unicode

logger = logging.getLogger("lambda_jwt_auth.http")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
MAX_HEADERS = 100  # API Gateway allows more; no endpoint of ours needs more than a handful
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


class HttpError(Exception):
    def __init__(
        self, status: int, error: str, description: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.headers = dict(headers or {})


def unauthorized(description: str, error: str = "invalid_token") -> HttpError:
    return HttpError(401, error, description, {"WWW-Authenticate": f'Bearer error="{error}"'})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: bytes
    request_id: str = ""
    cookies: tuple[str, ...] = field(default=())
    # The client address API Gateway saw (requestContext.http.sourceIp), never a header's claim.
    source_ip: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def bearer_token(self) -> str | None:
        return bearer_token(self.header("authorization"))

    @property
    def media_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()


def parse_request(event: Any, max_body_bytes: int) -> Request:
    if not isinstance(event, Mapping):
        raise HttpError(400, "invalid_request", "malformed request")
    raw_headers = event.get("headers") or {}
    headers = (
        {str(k).lower(): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, Mapping) else {}
    )
    if len(headers) > MAX_HEADERS:
        raise HttpError(431, "invalid_request", f"more than {MAX_HEADERS} request headers")
    context = _mapping(event.get("requestContext"))
    http = _mapping(context.get("http"))
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise HttpError(400, "invalid_request", "malformed request body")
    # Checked before decoding, so an oversized body costs nothing to refuse.
    if len(body) > max_body_bytes * 4 // 3 + 4:
        raise HttpError(413, "invalid_request", f"request body is larger than {max_body_bytes} bytes")
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, "invalid_request", "request body is not valid base64") from None
    else:
        data = body.encode("utf-8", "surrogatepass")
    if len(data) > max_body_bytes:
        raise HttpError(413, "invalid_request", f"request body is larger than {max_body_bytes} bytes")
    cookies = event.get("cookies")
    return Request(
        method=str(http.get("method", "")),
        path=str(http.get("path", event.get("rawPath", ""))),
        headers=headers,
        body=data,
        request_id=str(context.get("requestId", "")),
        cookies=tuple(c for c in cookies if isinstance(c, str)) if isinstance(cookies, list) else (),
        source_ip=source_ip if isinstance(source_ip := http.get("sourceIp"), str) else None,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(request: Request) -> str:
    try:
        return request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "invalid_request", "request body is not UTF-8") from None


def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object; 415 for another content type, 400 for anything malformed."""
    if request.media_type != JSON_TYPE:
        raise HttpError(415, "invalid_request", f"Content-Type must be {JSON_TYPE}")
    return _json_object(_text(request))


def read_params(request: Request) -> dict[str, Any]:
    """Form-encoded parameters (RFC 7009/7662 style), or a JSON object."""
    if request.media_type == FORM_TYPE:
        try:
            pairs = parse_qsl(_text(request), keep_blank_values=True, strict_parsing=bool(request.body))
        except ValueError:
            raise HttpError(400, "invalid_request", "malformed form body") from None
        params: dict[str, Any] = {}
        for name, value in pairs:
            if name in params:
                raise HttpError(400, "invalid_request", f"parameter {name!r} appears more than once")
            params[name] = value
        return params
    if request.media_type == JSON_TYPE:
        return _json_object(_text(request))
    raise HttpError(415, "invalid_request", f"Content-Type must be {FORM_TYPE} or {JSON_TYPE}")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise HttpError(400, "invalid_request", "request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise HttpError(400, "invalid_request", "request body must be a JSON object")
    return value


def required_text(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise HttpError(400, "invalid_request", f"{name!r} is required and must be a non-empty string")
    return _unicode(value, name)


def optional_text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HttpError(400, "invalid_request", f"{name!r} must be a string")
    return _unicode(value, name)


def _unicode(value: str, name: str) -> str:
    # JSON may escape lone surrogates ("\ud800"); no password, token or name can hold one.
    if not is_unicode(value):
        raise HttpError(400, "invalid_request", f"{name!r} is not valid Unicode text")
    return value


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON_TYPE, **NO_STORE, **(headers or {})},
        "body": json.dumps(body),
    }


def empty_response(status: int = 204) -> dict[str, Any]:
    return {"statusCode": status, "headers": dict(NO_STORE), "body": ""}


def error_response(error: HttpError) -> dict[str, Any]:
    return json_response(
        error.status, {"error": error.error, "error_description": error.description}, error.headers
    )


Endpoint = Callable[[Request], dict[str, Any]]
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def endpoint(
    func: Endpoint, *, max_body_bytes: int, metrics: _metrics.Emitter | None = None
) -> LambdaHandler:
    """Adapt a plain `Request -> response` function to a Lambda handler with uniform errors.

    `metrics` writes the invocation's CloudWatch metrics (authorizer.metrics): `Requests`,
    `ClientErrors` / `ServerErrors`, and what `func` counted; None writes none."""
    emitter = metrics or _metrics.Emitter(None)

    @functools.wraps(func)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        request_id = getattr(context, "aws_request_id", None)
        with bind_request(request_id, _route(event)):
            response = _respond(func, event, max_body_bytes)
            status = response["statusCode"]
            log_event(
                logger,
                "request",
                logging.ERROR if status >= 500 else logging.INFO,
                status=status,
                outcome="ok" if status < 400 else json.loads(response["body"] or "{}").get("error", "error"),
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            _metrics.count(_metrics.REQUESTS)
            if status >= 400:
                _metrics.count(_metrics.SERVER_ERRORS if status >= 500 else _metrics.CLIENT_ERRORS)
            emitter.flush()
            return response

    return handler


def _respond(func: Endpoint, event: Any, max_body_bytes: int) -> dict[str, Any]:
    try:
        return func(parse_request(event, max_body_bytes))
    except HttpError as exc:
        return error_response(exc)
    except UnavailableError as exc:
        return error_response(HttpError(503, exc.error, str(exc), {"Retry-After": "1"}))
    except TokenError as exc:
        return error_response(unauthorized(str(exc), exc.error))
    except AuthError as exc:
        # RFC 6750 §3.1: a token without the scope a request needs is told so in the challenge.
        challenge = (
            {"WWW-Authenticate": f'Bearer error="{exc.error}"'} if exc.error == "insufficient_scope" else {}
        )
        return error_response(HttpError(403, exc.error, str(exc), challenge))
    except Exception as exc:
        # The type, never the message: messages can carry request data.
        log_event(logger, "unhandled_error", logging.ERROR, error=type(exc).__name__)
        return error_response(HttpError(500, "server_error", "internal error"))


def _route(event: Any) -> str | None:
    route = event.get("routeKey") if isinstance(event, Mapping) else None
    return route if isinstance(route, str) else None
