"""The socket side of `auth-service serve`: HTTP/1.1 in, HttpApiGateway.handle, HTTP out.

Binding happens in the constructor, so with port 0 the real port is known (and can become the
token issuer URL) before any handler module is imported. Request lines are logged without their
query string: query strings may carry credentials.
"""

from __future__ import annotations

import socket
import sys
import threading
import traceback
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from auth_service.local.events import new_request_id
from auth_service.local.gateway import MAX_BODY_BYTES
from auth_service.local.responses import (
    INTERNAL_SERVER_ERROR,
    PAYLOAD_TOO_LARGE,
    GatewayResponse,
)

# Framing is the server's business, not the function's: these are never copied from a response.
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


class RequestGateway(Protocol):
    def handle(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> GatewayResponse: ...


class _BodyTooLargeError(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], gateway: RequestGateway) -> None:
        self.gateway = gateway
        super().__init__(address, _RequestHandler)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like API Gateway
    server: _Server

    def __getattr__(self, name: str) -> Any:
        # http.server dispatches to do_<METHOD>; every method goes to the gateway, which answers
        # 404 for methods no route accepts, as API Gateway does.
        if name.startswith("do_"):
            return self._forward
        raise AttributeError(name)

    def _forward(self) -> None:
        target = self.path
        if "://" in target.split("?", 1)[0]:  # absolute-form (RFC 9112 3.2.2), as proxies send
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        raw_path, _, raw_query = target.partition("?")
        try:
            body = self._read_body()
        except _BodyTooLargeError:
            self.close_connection = True  # the rest of the body is never read
            self._write(_with_request_id(PAYLOAD_TOO_LARGE))
            return
        try:
            response = self.server.gateway.handle(
                self.command,
                raw_path,
                raw_query,
                list(self.headers.items()),
                body,
                self.client_address[0],
            )
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = _with_request_id(INTERNAL_SERVER_ERROR)
        self._write(response)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise _BodyTooLargeError
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                raise _BodyTooLargeError
            body += self.rfile.read(size)
            self.rfile.readline()  # the CRLF after each chunk

    def _write(self, response: GatewayResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.partition("?")[0]
        self.log_message('"%s %s" %s', self.command, path, str(code))


def _with_request_id(response: GatewayResponse) -> GatewayResponse:
    return GatewayResponse(
        response.status, [*response.headers, ("apigw-requestid", new_request_id())], response.body
    )


class LocalHttpServer:
    def __init__(self, gateway: RequestGateway, host: str = "127.0.0.1", port: int = 0) -> None:
        server_class = _Server6 if ":" in host else _Server
        self._server = server_class((host, port), gateway)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def set_gateway(self, gateway: RequestGateway) -> None:
        """Swap the gateway, e.g. once the environment that depends on the port is ready."""
        self._server.gateway = gateway

    def start(self) -> None:
        """Serve on a background thread until shutdown()."""
        if self._thread is not None:
            raise RuntimeError("the server is already started")
        # A short poll interval makes shutdown() prompt; the cost is an idle wake-up per 0.1s.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name=f"http-{self.port}", daemon=True
        )
        self._thread.start()

    def shutdown(self) -> None:
        """Stop accepting requests and release the socket; safe to call more than once."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
