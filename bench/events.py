"""Authorizer events as API Gateway sends them, and the Lambda context that comes with each.

The templates are API Gateway's published sample events, as Powertools for AWS Lambda ships them
(tests/events/powertools/: the HTTP API payload 2.0 and REST REQUEST authorizer events), and
the REST TOKEN event of AWS's documentation (three fields). Each event built here is a copy of
its template with:

* the header set a browser's `fetch` to an API sends through API Gateway (21 headers with
  `authorization`; HTTP APIs lower-case header names, REST APIs keep them as sent and also
  repeat every header in `multiValueHeaders`), instead of the samples' placeholders;
* the identity source holding the bearer token, as API Gateway fills it;
* a request id and a request time of its own, so no two events are the same object or text.

Every call of a measurement gets a new event and a new context.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "events" / "powertools"
HTTP_V2_SAMPLE = "apiGatewayAuthorizerV2Event.json"
REST_REQUEST_SAMPLE = "apiGatewayAuthorizerRequestEvent.json"
# AWS docs, "Input to a Lambda authorizer" (REST API TOKEN authorizer): the method ARN names the
# stage, method and resource path.
REST_TOKEN_METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request"  # noqa: S105
# The routes the samples name, as a deployment's AUTH_ROUTE_SCOPES would cover them.
ROUTE_SCOPES = {"GET /merchants": ["profile"], "GET /request": ["profile"]}

# What Chromium's fetch() sends to an API on another origin, plus what CloudFront and API
# Gateway add on the way (names as HTTP/2 sends them: lower case).
BROWSER_HEADERS = {
    "accept": "application/json, text/plain, */*",
    "accept-encoding": "gzip, deflate, br, zstd",
    "accept-language": "en-GB,en-US;q=0.9,en;q=0.8",
    "content-length": "0",
    "host": "abcdef123.execute-api.us-east-1.amazonaws.com",
    "origin": "https://app.example.com",
    "priority": "u=1, i",
    "referer": "https://app.example.com/",
    "sec-ch-ua": '"Chromium";v="131", "Not_A Brand";v="24"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Linux"',
    "sec-fetch-dest": "empty",
    "sec-fetch-mode": "cors",
    "sec-fetch-site": "cross-site",
    "user-agent": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    ),
    "x-amzn-trace-id": "Root=1-611cc4a7-0746ebee281cfd967db97b64",
    "x-forwarded-for": "203.0.113.7",
    "x-forwarded-port": "443",
    "x-forwarded-proto": "https",
}
FORMATS = ("HTTP API 2.0", "REST REQUEST", "REST TOKEN")

_serial = itertools.count()


def _sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return loaded


_TEMPLATES = {HTTP_V2_SAMPLE: _sample(HTTP_V2_SAMPLE), REST_REQUEST_SAMPLE: _sample(REST_REQUEST_SAMPLE)}


def _request_id() -> tuple[str, int]:
    serial = next(_serial)
    return f"bench-{serial:012d}", int(time.time() * 1000) + serial


def http_v2(token: str) -> dict[str, Any]:
    """HTTP API payload 2.0: the bearer token in `authorization` and `identitySource`."""
    event = copy.deepcopy(_TEMPLATES[HTTP_V2_SAMPLE])
    request_id, epoch = _request_id()
    headers = dict(BROWSER_HEADERS)
    headers["authorization"] = f"Bearer {token}"
    event["headers"] = headers
    event["identitySource"] = [headers["authorization"]]
    event["requestContext"]["requestId"] = request_id
    event["requestContext"]["timeEpoch"] = epoch
    return event


def rest_request(token: str) -> dict[str, Any]:
    """REST API REQUEST: headers as the client spelled them, and again in `multiValueHeaders`."""
    event = copy.deepcopy(_TEMPLATES[REST_REQUEST_SAMPLE])
    request_id, epoch = _request_id()
    headers = {
        "-".join(part.capitalize() for part in name.split("-")): value
        for name, value in BROWSER_HEADERS.items()
    }
    headers["Authorization"] = f"Bearer {token}"
    event["headers"] = {**event["headers"], **headers}
    event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    event["identitySource"] = event["authorizationToken"] = headers["Authorization"]
    event["requestContext"]["requestId"] = event["requestContext"]["extendedRequestId"] = request_id
    event["requestContext"]["requestTimeEpoch"] = epoch
    return event


def rest_token(token: str) -> dict[str, Any]:
    """REST API TOKEN: the identity source's value and the method ARN, nothing else."""
    return {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": REST_TOKEN_METHOD_ARN}


BUILDERS = {"HTTP API 2.0": http_v2, "REST REQUEST": rest_request, "REST TOKEN": rest_token}


@dataclass(frozen=True, slots=True)
class LambdaContext:
    """The fields of the Lambda runtime's context object a handler may read."""

    aws_request_id: str
    function_name: str = "lambda-jwt-auth-dev-authorizer"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:lambda-jwt-auth-dev-authorizer"
    )


def invocations(format_: str, tokens: list[str]) -> list[tuple[dict[str, Any], LambdaContext]]:
    """One (event, context) per token, every one new."""
    build = BUILDERS[format_]
    out = []
    for token in tokens:
        event = build(token)
        out.append((event, LambdaContext(_request_id()[0])))
    return out


def repeated(format_: str, token: str, count: int) -> Iterator[tuple[dict[str, Any], LambdaContext]]:
    """`count` new events carrying the same token: a client calling again."""
    return iter(invocations(format_, [token] * count))
