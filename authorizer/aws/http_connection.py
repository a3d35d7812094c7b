"""One HTTP/1.1 connection, for the authorizer's AWS calls and its JWKS and credential fetches.

The standard library's http.client writes each request and reads each answer. This module opens
the socket (TLS with the shared context of authorizer.aws.tls), and adds what http.client lacks:

* one deadline for the whole exchange: every wait, the status line and headers included, gets
  what is left of it (http.client's timeout bounds each read from the socket, so an endpoint
  that trickles its answer could hold a request indefinitely);
* strict framing: the exact bytes http.client consumed are checked against RFC 9112
  (authorizer.aws.http_framing), and the body it returned against them;
* a connection is kept only after one complete, exact answer the server did not ask to close:
  a byte more, buffered or still on the socket, and the answer is refused. Anything that goes
  wrong closes the connection. So no answer can ever be read as the answer to the next request.

Answers are held to a size limit, and the request's `Host` is the caller's (it is signed).
"""

from __future__ import annotations

import http.client
import math
import socket
import ssl
import time
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from authorizer.aws.http_framing import FramingError, check_chunked, check_head
from authorizer.aws.proxy import Proxy, proxy_for
from authorizer.aws.tls import client_context

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024  # a BatchGetItem answer's own limit


class ProtocolError(ConnectionError):
    """The answer is not one exact HTTP/1.1 answer: it is refused and its connection closed."""


class AnswerTooLargeError(ProtocolError):
    """The answer is longer than the caller allows."""


class RemoteDisconnected(ConnectionError):
    """The server closed the connection before answering at all (a kept-alive connection it
    closed while we were idle, typically)."""


class Response(NamedTuple):
    status: int
    headers: dict[str, str]  # names lower-cased; a repeated header keeps its last value
    body: bytes
    keep_alive: bool


def host_header(hostname: str, port: int | None, https: bool) -> str:
    host = f"[{hostname}]" if ":" in hostname else hostname
    return host if port in (None, 443 if https else 80) else f"{host}:{port}"


class Connection:
    """A connection to one host; opened on first use, reopened by the caller after a close."""

    def __init__(self, host: str, port: int, *, tls: bool, connect_timeout: float) -> None:
        self.host = host
        self.port = port
        self._tls = tls
        self._connect_timeout = connect_timeout
        self._http: http.client.HTTPConnection | None = None
        self._wire: _Wire | None = None

    @property
    def is_open(self) -> bool:
        return self._wire is not None

    def open(self, deadline: float = math.inf) -> None:
        """Connect, and for https shake hands, within the connect timeout (and `deadline`)."""
        self.close()
        timeout = min(self._connect_timeout, deadline - time.monotonic())
        if timeout <= 0:
            raise TimeoutError("no time left to connect")
        connect_by = time.monotonic() + timeout
        context = client_context() if self._tls else None
        proxy = proxy_for(self.host) if self._tls else None
        if proxy is None:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        else:
            sock = _tunnel(proxy, self.host, self.port, timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if context is not None:
                sock.settimeout(_left(connect_by))  # the handshake gets what the connect left
                sock = context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self._wire = _Wire(sock)
        # http.client writes requests and reads answers on our socket; it never opens one itself
        # (auto_open 0): a reconnect of its own would bypass TLS and the deadline.
        connection = http.client.HTTPConnection(self.host, self.port)
        connection.auto_open = 0
        connection.sock = self._wire  # what http.client uses of a socket: sendall, makefile, close
        self._http = connection

    def close(self) -> None:
        wire, self._wire, self._http = self._wire, None, None
        if wire is not None:
            wire.sock.close()

    def quiet(self) -> bool:
        """Open, and nothing arrived while idle: no bytes nobody asked for, no close."""
        if self._wire is None:
            return False
        if _unasked(self._wire.sock) is None:
            return True
        self.close()
        return False

    def exchange(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        deadline: float,
        max_body: int = MAX_BODY_BYTES,
    ) -> Response:
        """Send one request and read its whole answer by `deadline` (time.monotonic())."""
        if self._wire is None:
            self.open(deadline)
        try:
            return self._exchange(method, target, headers, body, deadline, max_body)
        except http.client.RemoteDisconnected:
            self.close()
            raise RemoteDisconnected("the server closed the connection without answering") from None
        except (http.client.HTTPException, FramingError) as exc:
            self.close()
            raise ProtocolError(f"{type(exc).__name__}: {str(exc)[:100]}") from None
        except BaseException:
            self.close()
            raise

    def _exchange(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        deadline: float,
        max_body: int,
    ) -> Response:
        """exchange()'s work; any exception it raises closes the connection (in exchange)."""
        connection, wire = self._http, self._wire
        assert connection is not None and wire is not None
        wire.deadline = deadline
        wire.limit = MAX_HEAD_BYTES + max_body
        connection.request(method, target, body, dict(headers))
        response = connection.getresponse()
        answer = wire.answer
        assert answer is not None
        framing = check_head(answer.take_consumed(), method=method)
        if (response.status, response.version, response.chunked) != (
            framing.status,
            framing.version,
            framing.chunked,
        ) or (not framing.chunked and response.length != framing.length):
            raise FramingError("http.client framed the answer otherwise")
        if framing.length is not None and framing.length > max_body:
            raise AnswerTooLargeError(f"the answer is longer than {max_body} bytes")
        data = response.read()
        raw = answer.take_consumed()
        if (check_chunked(raw) if framing.chunked else raw) != data:
            raise FramingError("the body is not what its framing says")
        if answer.buffered:
            raise ProtocolError("bytes after the answer")
        keep_alive = not framing.close and not response.will_close
        if keep_alive:
            unasked = _unasked(wire.sock)
            if unasked:
                raise ProtocolError("bytes after the answer")
            keep_alive = unasked is None  # b"": the server closed the connection
        if not keep_alive:
            self.close()
        names = {name.lower(): value for name, value in response.getheaders()}
        return Response(response.status, names, data, keep_alive)


def get(
    url: str,
    headers: Mapping[str, str],
    *,
    timeout: float,
    max_body: int,
    deadline: float = math.inf,
) -> Response:
    """One GET on a connection of its own, closed after it; all of it within `timeout`."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("not an http(s) URL")
    port = parts.port or (443 if https else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = Connection(parts.hostname, port, tls=https, connect_timeout=timeout)
    request = {"Host": host_header(parts.hostname, parts.port, https), **headers}
    end = min(deadline, time.monotonic() + timeout)
    try:
        return connection.exchange("GET", target, request, None, deadline=end, max_body=max_body)
    finally:
        connection.close()


class _Wire:
    """The socket as http.client sees it: it sends within the deadline and reads an `_Answer`."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline = math.inf
        self.limit = MAX_HEAD_BYTES
        self.answer: _Answer | None = None

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(_left(self.deadline))
        self.sock.sendall(data)

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> _Answer:
        self.answer = _Answer(self)  # one per answer
        return self.answer

    def close(self) -> None:
        pass  # the Connection closes the socket; http.client calls this when an answer ends it


class _Answer:
    """The bytes of one answer, as the file http.client reads it from: every read from the socket
    within the deadline, no more than the limit, and every byte consumed kept for the checks."""

    def __init__(self, wire: _Wire) -> None:
        self._wire = wire
        self._buffer = bytearray()
        self._consumed = bytearray()
        self._received = 0
        self._ended = False
        self.closed = False

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def take_consumed(self) -> bytes:
        consumed = bytes(self._consumed)
        self._consumed.clear()
        return consumed

    def readline(self, limit: int = -1) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0 and (limit < 0 or end < limit):
                return self._take(end + 1)
            if 0 <= limit <= len(self._buffer):
                return self._take(limit)
            if not self._fill():
                return self._take(len(self._buffer))

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buffer))
        while len(self._buffer) < size and self._fill():
            pass
        return self._take(min(size, len(self._buffer)))

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def read1(self, size: int = -1) -> bytes:
        if not self._buffer:
            self._fill()
        return self._take(len(self._buffer) if size < 0 else min(size, len(self._buffer)))

    def peek(self, size: int = 0) -> bytes:
        if not self._buffer:
            self._fill()
        return bytes(self._buffer)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        self._consumed += data
        return data

    def _fill(self) -> bool:
        """Read once more from the socket; False once the server has closed it."""
        if self._ended:
            return False
        sock = self._wire.sock
        sock.settimeout(_left(self._wire.deadline))
        data = sock.recv(65536)
        if not data:
            self._ended = True
            return False
        self._received += len(data)
        if self._received > self._wire.limit:
            raise AnswerTooLargeError(f"the answer is longer than {self._wire.limit - MAX_HEAD_BYTES} bytes")
        self._buffer += data
        return True


def _tunnel(proxy: Proxy, host: str, port: int, timeout: float) -> socket.socket:
    """A socket to `host`:`port` through an https proxy's CONNECT tunnel (authorizer.aws.proxy).

    http.client sends the CONNECT and reads the proxy's answer (anything but 200 is an OSError);
    TLS with the real host then runs inside the tunnel, as it would on a direct connection.
    """
    tunnel = http.client.HTTPConnection(proxy.host, proxy.port, timeout=timeout)
    tunnel.set_tunnel(host, port, headers=dict(proxy.headers))
    try:
        tunnel.connect()
    except BaseException:
        tunnel.close()
        raise
    sock, tunnel.sock = tunnel.sock, None
    assert sock is not None
    return sock


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the answer took longer than its deadline")
    return left


def _unasked(sock: socket.socket) -> bytes | None:
    """What the server sent that no request asked for: None if nothing, b"" if it closed the
    connection, else a first byte of it. Never waits."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return b"?"  # decrypted already, waiting in the TLS layer
    try:
        sock.settimeout(0)
        return sock.recv(1)
    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError, InterruptedError):
        return None
    except OSError:
        return b""
