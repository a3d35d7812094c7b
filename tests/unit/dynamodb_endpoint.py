"""A misbehaving DynamoDB on 127.0.0.1, for the authorizer's own HTTP client (authorizer.aws.client).

`FaultyDynamoDB` listens where the authorizer is told DynamoDB is (AUTH_DYNAMODB_ENDPOINT) and, as
planned per request, answers in DynamoDB's place (a throttling error, an HTTP 500, a garbled or
trickling body...), misbehaves on the connection (resets it, never answers, drops the answer of a
request moto carried out) or passes the request through to moto (the in-process moto server of
tests/conftest.py, which shares its tables with `mock_aws`). Connections are kept alive, as
DynamoDB keeps them, so the client's reuse and reconnection are exercised too.

`plan` is consumed one HTTP request at a time (None passes that request through); once it is
empty, `always` applies (None: no fault).
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

JSON = "application/x-amz-json-1.0"
SLOW_SECONDS = 1.5  # longer than the authorizer's read timeout (1 s)


class Answer:
    def __init__(
        self, status: int, body: bytes | dict[str, Any] | list[Any], headers: dict[str, str] | None = None
    ):
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = {"Content-Type": JSON, "x-amzn-RequestId": "fault-injected", **(headers or {})}


def _error(code: str, namespace: str = "com.amazonaws.dynamodb.v20120810") -> Callable[[Any], Answer]:
    return lambda _: Answer(400, {"__type": f"{namespace}#{code}", "message": "injected"})


def _all_unprocessed(request: Any) -> Answer:
    # Every requested key echoed back as unprocessed, as DynamoDB does when it throttles a batch.
    asked = request["RequestItems"]
    return Answer(200, {"Responses": {table: [] for table in asked}, "UnprocessedKeys": asked})


def _bad_number(request: Any) -> Answer:
    # Well-formed JSON, nonsense for us: an expiry that is no number.
    asked = request["RequestItems"]
    items = {t: [{"pk": ask["Keys"][0]["pk"], "expires_at": {"N": "soon"}}] for t, ask in asked.items()}
    return Answer(200, {"Responses": items, "UnprocessedKeys": {}})


def _bad_checksum(request: Any) -> Answer:
    body = json.dumps({"Responses": {t: [] for t in request["RequestItems"]}, "UnprocessedKeys": {}}).encode()
    return Answer(200, body, {"x-amz-crc32": str((zlib.crc32(body) + 1) & 0xFFFFFFFF)})


ANSWERS: dict[str, Callable[[Any], Answer]] = {
    "throttled": _error("ProvisionedThroughputExceededException"),
    "throttling": _error("ThrottlingException", "com.amazon.coral.availability"),
    "validation": _error("ValidationException", "com.amazon.coral.validate"),
    "http_500": lambda _: Answer(
        500, b"<html><body>Internal Server Error</body></html>", {"Content-Type": "text/html"}
    ),
    "http_503": lambda _: Answer(503, b""),
    "garbage_json": lambda _: Answer(200, b'{"Responses": {"test-denylist": [{"pk"'),
    "html_200": lambda _: Answer(200, b"<html><body>Welcome to nginx!</body></html>"),
    "empty_200": lambda _: Answer(200, b""),
    "json_list": lambda _: Answer(200, []),
    "no_responses": lambda _: Answer(200, {}),
    "wrong_shape": lambda _: Answer(200, {"Responses": "nothing"}),
    "wrong_item_shape": lambda _: Answer(200, {"Responses": {"test-denylist": [{"pk": "not-a-map"}]}}),
    "bad_number": _bad_number,
    "bad_checksum": _bad_checksum,
    "unprocessed": _all_unprocessed,
    "throttled_retry_after": lambda _: Answer(
        400,
        {"__type": "com.amazon.coral.availability#ThrottlingException", "message": "injected"},
        {"x-amz-retry-after": "20000"},  # 20 s, please
    ),
}
# Faults of the connection rather than of the answer.
CONNECTION_FAULTS = {"connection_reset", "silent", "trickle", "lost_response"}


class FaultyDynamoDB:
    def __init__(self, upstream: str) -> None:
        self.plan: deque[str | None] = deque()
        self.always: str | None = None
        self.injected: Counter[str] = Counter()
        self.passed: Counter[str] = Counter()
        self.connections = 0  # TCP connections accepted
        self._upstream = urlsplit(upstream)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> FaultyDynamoDB:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.plan.clear()
            self.always = None
            self.injected.clear()
            self.passed.clear()

    def fail(self, *plan: str | None) -> FaultyDynamoDB:
        self.plan.extend(plan)
        return self

    def requests(self) -> int:
        return sum(self.injected.values()) + sum(self.passed.values())

    def _next(self, operation: str) -> str | None:
        with self._lock:
            kind = self.plan.popleft() if self.plan else self.always
            if kind is None:
                self.passed[operation] += 1
            else:
                self.injected[kind] += 1
            return kind

    def forward(self, headers: dict[str, str], body: bytes) -> Answer:
        connection = http.client.HTTPConnection(
            self._upstream.hostname or "", self._upstream.port, timeout=10
        )
        try:
            connection.request("POST", "/", body, headers)
            response = connection.getresponse()
            data = response.read()
            passed = {
                name: value
                for name, value in response.getheaders()
                if name.lower() in ("content-type", "x-amz-crc32")
            }
            return Answer(response.status, data, passed)
        finally:
            connection.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as DynamoDB

            def setup(self) -> None:
                super().setup()
                with endpoint._lock:
                    endpoint.connections += 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                operation = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                kind = endpoint._next(operation)
                headers = {
                    name: value for name, value in self.headers.items() if name.lower() != "connection"
                }
                if kind is None:
                    self._send(endpoint.forward(headers, body))
                elif kind == "connection_reset":
                    self._reset()
                elif kind == "silent":
                    time.sleep(SLOW_SECONDS)
                    self.close_connection = True
                elif kind == "lost_response":
                    endpoint.forward(headers, body)  # carried out, but the answer never arrives
                    self._reset()
                elif kind == "trickle":
                    self._trickle(json.dumps({"Responses": {}, "UnprocessedKeys": {}}).encode())
                else:
                    self._send(ANSWERS[kind](json.loads(body)))

            def _send(self, answer: Answer) -> None:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def _reset(self) -> None:
                # SO_LINGER 0: close with a TCP RST, as a load balancer dropping the connection.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True

            def _trickle(self, data: bytes) -> None:
                # Headers at once, then the body a byte at a time: each read is quick, the whole slow.
                self.send_response(200)
                self.send_header("Content-Type", JSON)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    for index in range(len(data)):
                        self.wfile.write(data[index : index + 1])
                        self.wfile.flush()
                        time.sleep(SLOW_SECONDS / 10)
                except OSError:
                    pass  # the client gave up, as it should
                self.close_connection = True

        return Handler


@contextmanager
def faulty_dynamodb(upstream: str) -> Iterator[FaultyDynamoDB]:
    endpoint = FaultyDynamoDB(upstream).start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
