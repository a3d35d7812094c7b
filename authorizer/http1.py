"""One HTTP/1.1 connection on a plain socket: just enough for AWS's JSON APIs.

The standard library's http.client costs a cold start ~20-40 ms to import (it loads the email
package to parse headers, and ssl even for plain http). The authorizer needs one kind of
exchange: a request with a body, an answer with Content-Length (or chunked), kept alive. Every
wait, the status line and headers included, is bounded by one deadline, so an endpoint that
trickles its answer fails like one that never answers.
"""

from __future__ import annotations

import socket
import time
from typing import Any

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024


class RemoteDisconnected(ConnectionError):
    """The server closed the connection before (or while) answering."""


class ProtocolError(ConnectionError):
    """The answer is not HTTP/1.x as we read it."""


class Response:
    __slots__ = ("body", "headers", "keep_alive", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes, keep_alive: bool) -> None:
        self.status = status
        self.headers = headers  # names lower-cased; a repeated header keeps its last value
        self.body = body
        self.keep_alive = keep_alive


class Connection:
    def __init__(self, host: str, port: int, *, tls: Any = None, connect_timeout: float) -> None:
        """`tls`: an ssl.SSLContext for https, None for plain http."""
        self.host = host
        self.port = port
        self._tls = tls
        self._connect_timeout = connect_timeout
        self.sock: socket.socket | None = None
        self._buffer = bytearray()

    def open(self) -> None:
        """Connect (and for https, shake hands) within the connect timeout."""
        sock = socket.create_connection((self.host, self.port), timeout=self._connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._buffer.clear()

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def exchange(
        self, method: str, path: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> Response:
        """Send one request and read its whole answer within `timeout` seconds."""
        if self.sock is None:
            self.open()
        sock = self.sock
        assert sock is not None
        deadline = time.monotonic() + timeout
        lines = [f"{method} {path} HTTP/1.1"]
        for name, value in headers.items():
            if any(c in value or c in name for c in "\r\n\0"):
                raise ValueError(f"header {name} holds a line break")
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        sock.settimeout(timeout)
        sock.sendall(head + body)
        return self._read_response(method, deadline)

    def _read_response(self, method: str, deadline: float) -> Response:
        head = self._read_until(b"\r\n\r\n", deadline, MAX_HEAD_BYTES)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ProtocolError("not an HTTP/1.x status line")
        status = int(code)
        headers: dict[str, str] = {}
        for line in header_lines:
            name, colon, value = line.partition(":")
            if not colon:
                raise ProtocolError("a header line without a colon")
            headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        keep_alive = version == "HTTP/1.1" and "close" not in connection
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return Response(status, headers, b"", keep_alive)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked(deadline)
        elif "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                raise ProtocolError("a Content-Length we cannot read")
            body = self._read_exactly(int(length), deadline)
        else:  # the body runs until the server closes the connection
            body = self._read_to_close(deadline)
            keep_alive = False
        return Response(status, headers, body, keep_alive)

    def _read_chunked(self, deadline: float) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self._read_until(b"\r\n", deadline, 1024)
            size_text = size_line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError("a chunk size we cannot read") from None
            total += size
            if size < 0 or total > MAX_BODY_BYTES:
                raise ProtocolError("a chunk size we cannot read")
            if size == 0:
                while self._read_until(b"\r\n", deadline, MAX_HEAD_BYTES):  # trailers, if any
                    pass
                return b"".join(parts)
            parts.append(self._read_exactly(size, deadline))
            if self._read_exactly(2, deadline) != b"\r\n":
                raise ProtocolError("a chunk without its line end")

    def _read_until(self, marker: bytes, deadline: float, limit: int) -> bytes:
        """The bytes up to `marker` (consumed, not returned)."""
        while True:
            found = self._buffer.find(marker)
            if found >= 0:
                data = bytes(self._buffer[:found])
                del self._buffer[: found + len(marker)]
                return data
            if len(self._buffer) > limit:
                raise ProtocolError("the answer's head is too long")
            self._fill(deadline)

    def _read_exactly(self, size: int, deadline: float) -> bytes:
        while len(self._buffer) < size:
            self._fill(deadline)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _read_to_close(self, deadline: float) -> bytes:
        try:
            while len(self._buffer) <= MAX_BODY_BYTES:
                self._fill(deadline)
        except RemoteDisconnected:
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        raise ProtocolError("the answer is too long")

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the answer took longer than the read timeout")
        sock = self.sock
        assert sock is not None
        sock.settimeout(remaining)
        data = sock.recv(65536)
        if not data:
            raise RemoteDisconnected("the server closed the connection")
        self._buffer += data


_TLS: Any = None


def tls_context() -> Any:
    """The ssl.SSLContext of every https connection: imported and built once, on first use
    (plain http, e.g. a local endpoint, never loads ssl; loading the CA bundle costs ms)."""
    global _TLS
    if _TLS is None:
        import ssl

        _TLS = ssl.create_default_context()
    return _TLS
