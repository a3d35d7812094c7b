"""A tiny HTTP proxy that counts the requests reaching a DynamoDB endpoint, by operation.

Put in front of a moto server, it shows how many DynamoDB requests an authorization really
makes, whatever client made them (boto3 or a hand-written SigV4 client): the count is taken
where the requests arrive, not inside our code. The body and the headers pass unchanged, so
signatures still verify.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


class CountingProxy:
    """Forwards every request to `upstream` and counts them, keyed by `X-Amz-Target`. With `tls`
    (a server context), it is an https endpoint in front of the plain-http upstream."""

    def __init__(self, upstream: str, *, tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"upstream must be a plain http:// URL, got {upstream!r}")
        self._upstream = (parts.hostname, parts.port or 80)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._upstream_seconds = 0.0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._scheme = "https" if tls else "http"
        if tls is not None:
            # Handshakes happen as connections are accepted, one at a time: enough here.
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    def start(self) -> CountingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> CountingProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def counts(self) -> dict[str, int]:
        """Requests seen so far, by operation (the part of `X-Amz-Target` after the dot)."""
        with self._lock:
            return dict(self._counts)

    def upstream_seconds(self) -> float:
        """The time the upstream took to answer the requests counted, summed."""
        with self._lock:
            return self._upstream_seconds

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._upstream_seconds = 0.0

    def _timed(self, seconds: float) -> None:
        with self._lock:
            self._upstream_seconds += seconds

    def _count(self, target: str | None) -> None:
        operation = target.rpartition(".")[2] if target else "(no X-Amz-Target)"
        with self._lock:
            self._counts[operation] += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as SDKs expect
            # Headers and body go out as separate writes: without TCP_NODELAY, Nagle holds the body
            # back until the client's delayed ACK (40 ms on Linux), a stall no real endpoint has.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                self._forward()

            def do_GET(self) -> None:
                self._forward()

            def _forward(self) -> None:
                proxy._count(self.headers.get("X-Amz-Target"))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream = http.client.HTTPConnection(*proxy._upstream, timeout=30)
                try:
                    started = time.perf_counter()
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    proxy._timed(time.perf_counter() - started)
                    self.send_response(response.status, response.reason)
                    for name, value in response.getheaders():
                        if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    upstream.close()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
