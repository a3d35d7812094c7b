"""GET /demo and GET /demo/{proxy+}: the demo page's files, from the API's own origin."""

from __future__ import annotations

from typing import Any

from auth_service.demo.assets import demo_response


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    path = event.get("rawPath")
    response = demo_response(path if isinstance(path, str) else "")
    return {
        "statusCode": response.status,
        "headers": response.headers,
        "body": response.body.decode("utf-8"),
        "isBase64Encoded": False,
    }
