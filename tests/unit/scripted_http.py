"""An HTTP server on 127.0.0.1 that answers with exactly the bytes a test scripts, on real sockets.

For every request it reads (a head and a Content-Length body; kept-alive connections serve many),
`answer(index, request)` says what to send back: raw bytes, byte for byte, and whether to close
the connection after them. Nothing is parsed or fixed up on the way out, so a test can send what
no well-behaved server would: an interim answer, two answers at once, a Content-Length that lies,
a chunk size in 0x notation, an answer that trickles or stops half-way.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    head: bytes
    body: bytes

    def header(self, name: str) -> str | None:
        for line in self.head.decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


@dataclass(frozen=True)
class Reply:
    data: bytes
    close: bool = False  # close the connection once `data` is sent
    trickle: float = 0.0  # seconds between bytes; 0 sends all at once


Script = Callable[[int, Request], Reply]


@dataclass
class ScriptedServer:
    script: Script
    tls: ssl.SSLContext | None = None  # a server context: https, else plain http
    requests: list[Request] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/"
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        buffer = b""
        sock.settimeout(10)
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except OSError:  # the client refused our certificate, say
                sock.close()
                return
        with sock:
            try:
                while not self._stopped.is_set():
                    while b"\r\n\r\n" not in buffer:
                        data = sock.recv(65536)
                        if not data:
                            return
                        buffer += data
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    request = Request(head, b"")
                    length = int(request.header("Content-Length") or 0)
                    while len(buffer) < length:
                        data = sock.recv(65536)
                        if not data:
                            return
                        buffer += data
                    request = Request(head, buffer[:length])
                    buffer = buffer[length:]
                    with self._lock:
                        index = len(self.requests)
                        self.requests.append(request)
                    reply = self.script(index, request)
                    if reply.trickle:
                        for byte in reply.data:
                            if self._stopped.wait(reply.trickle):
                                return
                            sock.sendall(bytes([byte]))
                    else:
                        sock.sendall(reply.data)
                    if reply.close:
                        sock.shutdown(socket.SHUT_WR)
                        time.sleep(0.05)  # let the client read to the end before the socket goes
                        return
            except OSError:
                return


@contextmanager
def scripted_server(script: Script, tls: ssl.SSLContext | None = None) -> Iterator[ScriptedServer]:
    server = ScriptedServer(script, tls)
    try:
        yield server
    finally:
        server.stop()


def answer(
    body: bytes,
    status: str = "200 OK",
    headers: tuple[str, ...] = ("Content-Type: application/x-amz-json-1.0",),
    *,
    length: bool = True,
) -> bytes:
    """A well-formed HTTP/1.1 answer (Content-Length framing unless `length` is False)."""
    lines = [f"HTTP/1.1 {status}", *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(body: bytes, size: int = 7, size_format: str = "{:x}") -> bytes:
    """`body` in chunked encoding, the chunk sizes written with `size_format`."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    encoded = b"".join(size_format.format(len(p)).encode() + b"\r\n" + p + b"\r\n" for p in pieces)
    return encoded + b"0\r\n\r\n"


Serve = Callable[..., ScriptedServer]  # serve(script, tls=None): a started server, stopped after the test
