"""`auth-service serve` answers GET /demo/... with the demo page, in front of the HTTP API.

Like a CDN behaviour in front of an API: GET and HEAD under /demo go to the page's files
(auth_service/demo), everything else to the API gateway. Deployed, the `demo` function serves the
same files through the API itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from auth_service.demo.assets import demo_response, is_demo_path
from auth_service.local.http_server import RequestGateway
from auth_service.local.responses import GatewayResponse


class DemoPageInFront:
    def __init__(self, api: RequestGateway) -> None:
        self.api = api

    def handle(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> GatewayResponse:
        if method in ("GET", "HEAD") and is_demo_path(raw_path):
            answer = demo_response(raw_path)
            return GatewayResponse(answer.status, list(answer.headers.items()), answer.body)
        return self.api.handle(method, raw_path, raw_query, headers, body, source_ip)
