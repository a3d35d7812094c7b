"""What the client gets back: a Lambda's payload format 2.0 output, or one of API Gateway's own
error responses (`{"message": "..."}`).

For 2.0 integrations API Gateway accepts either a full response object (`statusCode`, `headers`,
`cookies`, `body`, `isBase64Encoded`) or any other JSON value, which it sends as a 200
application/json body. A string result is sent as-is, as in AWS's own example
(`"Hello from Lambda!"` becomes the body `Hello from Lambda!`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_JSON = "application/json"


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), if any."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class MalformedIntegrationResponseError(ValueError):
    """The function's output is not a response API Gateway could send."""


def gateway_error(status: int, message: str) -> GatewayResponse:
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return GatewayResponse(status, [("content-type", _JSON)], body)


NOT_FOUND = gateway_error(404, "Not Found")
UNAUTHORIZED = gateway_error(401, "Unauthorized")
FORBIDDEN = gateway_error(403, "Forbidden")
PAYLOAD_TOO_LARGE = gateway_error(413, "Request Entity Too Large")
INTERNAL_SERVER_ERROR = gateway_error(500, "Internal Server Error")


def _header_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise MalformedIntegrationResponseError(f"header value {value!r} is not a string or number")


def from_integration_output(output: Any) -> GatewayResponse:
    """Turn a Lambda's (JSON-decoded) output into the response API Gateway would send."""
    if not (isinstance(output, Mapping) and "statusCode" in output):
        text = output if isinstance(output, str) else json.dumps(output)
        return GatewayResponse(200, [("content-type", _JSON)], text.encode("utf-8"))

    status = output["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedIntegrationResponseError(f"statusCode {status!r} is not an HTTP status")

    raw_headers = output.get("headers") or {}
    if not isinstance(raw_headers, Mapping):
        raise MalformedIntegrationResponseError("headers must be an object")
    headers = [(str(name), _header_value(value)) for name, value in raw_headers.items()]

    cookies = output.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise MalformedIntegrationResponseError("cookies must be a list of strings")
    # Each cookie becomes its own Set-Cookie header (they cannot be comma-joined).
    headers.extend(("set-cookie", cookie) for cookie in cookies)

    body = output.get("body")
    if body is None:
        payload = b""
    elif not isinstance(body, str):
        raise MalformedIntegrationResponseError("body must be a string")
    elif output.get("isBase64Encoded") is True:
        try:
            payload = base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise MalformedIntegrationResponseError("body is not valid base64") from exc
    else:
        payload = body.encode("utf-8")
    return GatewayResponse(status, headers, payload)
