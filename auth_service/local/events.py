"""The events HTTP API sends to Lambda: payload format 2.0 and the Lambda authorizer 2.0 event.

Shapes follow the API Gateway developer guide ("Create AWS Lambda proxy integrations for HTTP
APIs", "Control access to HTTP APIs with AWS Lambda authorizers"):
- header names are lowercased and repeated headers joined with commas; the Cookie header is
  taken out of `headers` and split into `cookies`;
- repeated query parameters are joined with commas; values are URL-decoded;
- keys with nothing to say (`cookies`, `queryStringParameters`, `pathParameters`, `body`) are
  left out, as the real service does, so handlers must not assume them;
- the body is passed as text only for text/*, application/json, application/xml and
  application/javascript; everything else, including a missing Content-Type and form posts, is
  base64-encoded with `isBase64Encoded: true` (the split observed on real HTTP APIs).
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from auth_service.local.routing import RouteMatch

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/javascript"})


@dataclass(frozen=True)
class ApiIdentity:
    """Who the emulated API is; appears in ARNs and request contexts."""

    api_id: str = "localapi01"
    account_id: str = "123456789012"
    region: str = "us-east-1"
    stage: str = "$default"


def new_request_id() -> str:
    # HTTP API request ids are short base64 strings such as "JKJaXmPLvHcESHA=".
    return base64.b64encode(secrets.token_bytes(11)).decode("ascii")


def is_text_content_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type in _TEXT_TYPES


def _request_time(epoch_seconds: float) -> str:
    moment = time.gmtime(epoch_seconds)
    return (
        f"{moment.tm_mday:02d}/{_MONTHS[moment.tm_mon - 1]}/{moment.tm_year}:"
        f"{moment.tm_hour:02d}:{moment.tm_min:02d}:{moment.tm_sec:02d} +0000"
    )


class HttpApiRequest:
    """One client request, normalised once and rendered into whichever event is needed."""

    def __init__(
        self,
        api: ApiIdentity,
        *,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
        request_id: str,
        now: float,
    ) -> None:
        self.api = api
        self.method = method.upper()
        self.raw_path = raw_path or "/"
        self.raw_query = raw_query
        self.body = body
        self.source_ip = source_ip
        self.request_id = request_id
        self._now = now
        self.cookies: list[str] = []
        joined: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            if key == "cookie":
                self.cookies.extend(c.strip() for c in value.split(";") if c.strip())
                continue
            joined[key] = f"{joined[key]},{value}" if key in joined else value
        # What API Gateway adds in front of every integration.
        forwarded = joined.get("x-forwarded-for")
        joined["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
        joined["x-forwarded-proto"] = "http"
        joined.setdefault("x-amzn-trace-id", f"Root=1-{int(now):08x}-{secrets.token_hex(12)}")
        self.headers: dict[str, str] = joined
        query: dict[str, str] = {}
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        self.query_parameters = query

    @property
    def domain_name(self) -> str:
        # The Host header without its port: "127.0.0.1:8000" -> "127.0.0.1", "[::1]:80" -> "[::1]".
        host = self.headers.get("host") or "localhost"
        if host.startswith("["):
            return host.split("]", 1)[0] + "]"
        return host.split(":", 1)[0]

    def route_arn(self) -> str:
        path = self.raw_path.removeprefix("/")
        return (
            f"arn:aws:execute-api:{self.api.region}:{self.api.account_id}:{self.api.api_id}"
            f"/{self.api.stage}/{self.method}/{path}"
        )

    def identity_value(self, selection: str, route_key: str) -> str | None:
        """The value of one identity source, or None when the request does not carry it."""
        value: str | None = None
        if selection.startswith("$request.header."):
            value = self.headers.get(selection.removeprefix("$request.header.").lower())
            if selection.lower() == "$request.header.cookie" and self.cookies:
                value = "; ".join(self.cookies)
        elif selection.startswith("$request.querystring."):
            value = self.query_parameters.get(selection.removeprefix("$request.querystring."))
        elif selection.startswith("$context."):
            value = self._context_variables(route_key).get(selection.removeprefix("$context."))
        # Stage variables do not exist locally, so `$stageVariables.x` is always missing.
        return value or None  # an empty value counts as missing, as on AWS

    def _context_variables(self, route_key: str) -> Mapping[str, str]:
        return {
            "routeKey": route_key,
            "httpMethod": self.method,
            "path": self.raw_path,
            "stage": self.api.stage,
            "apiId": self.api.api_id,
            "accountId": self.api.account_id,
            "requestId": self.request_id,
            "domainName": self.domain_name,
            "identity.sourceIp": self.source_ip,
            "identity.userAgent": self.headers.get("user-agent", ""),
        }

    def _request_context(self, route_key: str) -> dict[str, Any]:
        domain = self.domain_name
        return {
            "accountId": self.api.account_id,
            "apiId": self.api.api_id,
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {
                "method": self.method,
                "path": self.raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": self.source_ip,
                "userAgent": self.headers.get("user-agent", ""),
            },
            "requestId": self.request_id,
            "routeKey": route_key,
            "stage": self.api.stage,
            "time": _request_time(self._now),
            "timeEpoch": int(self._now * 1000),
        }

    def _common(self, match: RouteMatch) -> dict[str, Any]:
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": match.route.route_key,
            "rawPath": self.raw_path,
            "rawQueryString": self.raw_query,
        }
        if self.cookies:
            event["cookies"] = list(self.cookies)
        event["headers"] = dict(self.headers)
        if self.query_parameters:
            event["queryStringParameters"] = dict(self.query_parameters)
        return event

    def integration_event(
        self, match: RouteMatch, authorizer_context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The payload format 2.0 event; `authorizer_context` is set on authorized routes."""
        event = self._common(match)
        context = self._request_context(match.route.route_key)
        if match.route.authorizer is not None:
            context["authorizer"] = {
                "lambda": dict(authorizer_context) if authorizer_context is not None else None
            }
        event["requestContext"] = context
        if match.path_parameters:
            event["pathParameters"] = dict(match.path_parameters)
        if self.body:
            if is_text_content_type(self.headers.get("content-type")):
                try:
                    event["body"] = self.body.decode("utf-8")
                    event["isBase64Encoded"] = False
                except UnicodeDecodeError:
                    event["body"] = base64.b64encode(self.body).decode("ascii")
                    event["isBase64Encoded"] = True
            else:
                event["body"] = base64.b64encode(self.body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["isBase64Encoded"] = False
        return event

    def authorizer_event(self, match: RouteMatch, identity_values: list[str]) -> dict[str, Any]:
        """The Lambda authorizer payload format 2.0 REQUEST event (it never carries the body)."""
        event: dict[str, Any] = {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": self.route_arn(),
            "identitySource": list(identity_values),
        }
        event.update(self._common(match))
        event["requestContext"] = self._request_context(match.route.route_key)
        if match.path_parameters:
            event["pathParameters"] = dict(match.path_parameters)
        return event
