"""API Gateway authorizer events, parsed into one request type.

Three shapes arrive at one handler: REST API TOKEN, REST API REQUEST (also HTTP API payload 1.0)
and HTTP API payload 2.0. Header lookup is case-insensitive, as HTTP requires.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeGuard

from authorizer.gateway.cookies import cookie_pairs, cookie_value
from authorizer.tokens.bearer import bearer_token


class EventFormat(Enum):
    REST_TOKEN = "rest-token"  # noqa: S105 - an event format, not a secret
    REST_REQUEST = "rest-request"  # also HTTP API payload 1.0: answered with an IAM policy
    HTTP_V2 = "http-v2"


# The members as module constants: an Enum member read through its class costs several times a
# global's lookup, on every request.
REST_TOKEN, REST_REQUEST, HTTP_V2 = EventFormat.REST_TOKEN, EventFormat.REST_REQUEST, EventFormat.HTTP_V2


class MalformedEventError(ValueError):
    """The event is none of the formats API Gateway sends to an authorizer."""


@dataclass(frozen=True)
class ApiArn:
    """`arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{METHOD}/{path}`."""

    prefix: str  # everything up to and including the stage
    method: str
    path: str  # "/" + the rest, as sent (a concrete path on REST, the route's path on HTTP APIs)

    @classmethod
    def parse(cls, arn: object) -> ApiArn:
        if not isinstance(arn, str):
            raise MalformedEventError("event has no execute-api ARN")
        # A route's ARN comes again with each of its requests: parsed once (bounded: REST API
        # method ARNs hold the concrete path).
        return _parse_arn(arn)

    @classmethod
    def _parse(cls, arn: str) -> ApiArn:
        if not arn.startswith("arn:"):
            raise MalformedEventError("event has no execute-api ARN")
        # arn:partition:execute-api:region:account:api/stage/METHOD/path — the path may hold ':'.
        fields = arn.split(":", 5)
        parts = fields[5].split("/", 3) if len(fields) == 6 else []
        if fields[2:3] != ["execute-api"] or len(parts) < 3 or not all(parts[:3]):
            raise MalformedEventError("event ARN is not an execute-api method ARN")
        api_id, stage, method = parts[0], parts[1], parts[2]
        path = "/" + (parts[3] if len(parts) == 4 else "")
        head = ":".join(fields[:5])
        return cls(prefix=f"{head}:{api_id}/{stage}", method=method.upper(), path=path)


# Not frozen: built once per request on the hot path, where a frozen dataclass pays an
# `object.__setattr__` per field; nothing changes a request after parsing.
_parse_arn = functools.lru_cache(maxsize=256)(ApiArn._parse)


@dataclass(slots=True)
class AuthorizationRequest:
    format: EventFormat
    token: str | None  # the bearer token, or None when absent or not a Bearer credential
    method: str  # the request's own method and path
    path: str
    arn: ApiArn
    # The matched route template ("ANY", "/orders/{id}"), where API Gateway names one.
    route: tuple[str, str] | None = None
    # The REQUEST / payload 2.0 event itself, read only when a cookie may stand in for a missing
    # Authorization header (authorizer.gateway.cookies); None for REST TOKEN events, which carry no more
    # than their one identity source.
    event: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def cookie(self, name: str) -> str | None:
        """Cookie `name` of the request: payload 2.0 `cookies`, else the Cookie header."""
        if self.event is None:
            return None
        pairs = cookie_pairs(self.event.get("cookies"), header(self.event.get("headers"), "cookie"))
        return cookie_value(pairs, name)

    def header_value(self, name: str) -> str | None:
        return header(self.event.get("headers"), name) if self.event is not None else None

    @property
    def route_key(self) -> str:
        method, path = self.route or (self.method, self.path)
        return f"{method} {path}"


def header(headers: object, name: str) -> str | None:
    """The value of header `name`, whatever its case; a non-string value counts as absent.

    The spelling API Gateway writes is looked up first (HTTP APIs lower-case every name; REST
    APIs keep the client's, usually `Authorization`): one dict lookup instead of a scan of the
    20-odd headers a browser sends. Only when neither is there is every name compared.
    """
    if headers.__class__ is dict:
        value = headers.get(name)
        if value.__class__ is str:
            return value
        value = headers.get(_canonical(name))
        if value.__class__ is str:
            return value
    elif not _is_mapping(headers):
        return None
    return _scan(headers, name)


@functools.lru_cache(maxsize=32)
def _canonical(name: str) -> str:
    """`Authorization`, `Sec-Fetch-Site`: how clients spell a header name."""
    return "-".join(part.capitalize() for part in name.split("-"))


def _scan(headers: Mapping[str, Any], name: str) -> str | None:
    wanted = name.lower()
    # Comparing lengths first spares lower() on most names: a name that lowers to an ASCII one
    # has that one's length (only U+0130 changes length, into non-ASCII).
    size = len(wanted) if wanted.isascii() else None
    for key, value in headers.items():
        if (
            isinstance(key, str)
            and (size is None or len(key) == size)
            and key.lower() == wanted
            and isinstance(value, str)
        ):
            return value
    return None


def parse_event(event: Any) -> AuthorizationRequest:
    if event.__class__ is not dict and not _is_mapping(event):
        raise MalformedEventError("event is not a JSON object")
    if event.get("version") == "2.0":
        return _http_v2(event)
    if event.get("type") == "TOKEN":
        arn = ApiArn.parse(event.get("methodArn"))
        return AuthorizationRequest(
            REST_TOKEN, bearer_token(event.get("authorizationToken")), arn.method, arn.path, arn
        )
    if event.get("type") == "REQUEST":
        arn = ApiArn.parse(event.get("methodArn") or event.get("routeArn"))
        method = _text(event.get("httpMethod")) or arn.method
        path = _text(event.get("path")) or arn.path
        resource = _text(event.get("resource"))
        token = bearer_token(header(event.get("headers"), "authorization"))
        return AuthorizationRequest(
            REST_REQUEST,
            token,
            method.upper(),
            path,
            arn,
            (method.upper(), resource) if resource else None,
            event,
        )
    raise MalformedEventError("unrecognised authorizer event")


def _http_v2(event: Mapping[str, Any]) -> AuthorizationRequest:
    # The event as HTTP APIs send it, read in one straight line (every request has one); any
    # other shape (a field missing or of another type) is read by `_http_v2_checked`, which
    # gives the same answer for this one (tests/unit/test_authorizer_events.py compares them).
    try:
        value = event["headers"]["authorization"]
        method = event["requestContext"]["http"]["method"]
        arn, path, route_key = event["routeArn"], event["rawPath"], event["routeKey"]
    except (KeyError, TypeError):
        return _http_v2_checked(event)
    if (
        value.__class__ is str
        and method.__class__ is str
        and arn.__class__ is str
        and path.__class__ is str
        and route_key.__class__ is str
        and method
        and path
        and event["headers"].__class__ is dict
    ):
        api, route, upper = _shape(arn, route_key, method)
        token = bearer_token(value) or _identity_source_token(event)
        return AuthorizationRequest(HTTP_V2, token, upper, path, api, route, event)
    return _http_v2_checked(event)


@functools.lru_cache(maxsize=256)
def _shape(arn: str, route_key: str, method: str) -> tuple[ApiArn, tuple[str, str] | None, str]:
    """The parsed ARN, route and method of a route's requests, which repeat (bounded)."""
    return _parse_arn(arn), _route(route_key), _upper(method)


def _http_v2_checked(event: Mapping[str, Any]) -> AuthorizationRequest:
    arn = ApiArn.parse(event.get("routeArn"))
    token = bearer_token(header(event.get("headers"), "authorization")) or _identity_source_token(event)
    context = event.get("requestContext")
    http = context.get("http") if _is_mapping(context) else None
    http = http if _is_mapping(http) else {}
    method = _text(http.get("method")) or arn.method
    path = _text(event.get("rawPath")) or _text(http.get("path")) or arn.path
    route_key = _text(event.get("routeKey"))
    return AuthorizationRequest(HTTP_V2, token, _upper(method), path, arn, _route(route_key), event)


def _identity_source_token(event: Mapping[str, Any]) -> str | None:
    """The bearer token of the route's first identity source (when no `authorization` header)."""
    sources = event.get("identitySource")
    if isinstance(sources, list) and sources:
        return bearer_token(sources[0])
    return None


@functools.lru_cache(maxsize=256)
def _route(route_key: str) -> tuple[str, str] | None:
    """("GET", "/orders/{id}") of a route key; None for `$default`, which names neither."""
    if " " not in route_key:
        return None
    method, _, path = route_key.partition(" ")
    return method.upper(), path


# Methods come in a handful of spellings: each upper-cased once (bounded: the text is the client's).
_upper = functools.lru_cache(maxsize=64)(str.upper)


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    # Events are dicts (from JSON): the C check first, the slower ABC check only for others.
    return isinstance(value, (dict, Mapping))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
