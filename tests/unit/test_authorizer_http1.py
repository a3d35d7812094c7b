"""authorizer.http1, the authorizer's HTTP/1.1 connection, read against http.client on the same bytes."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authorizer.http1 import Connection, ProtocolError, RemoteDisconnected


class RawServer:
    """Answers every request on every connection with the same bytes, then maybe closes."""

    def __init__(self) -> None:
        self.answer = b""
        self.close_after = False
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(sock,), daemon=True).start()

    def _connection(self, sock: socket.socket) -> None:
        with sock:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                while len(buffer) < length:
                    buffer += sock.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buffer[:length])
                buffer = buffer[length:]
                sock.sendall(self.answer)
                if self.close_after:
                    return

    def stop(self) -> None:
        self._listener.close()


@pytest.fixture(scope="module")
def raw() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.stop()


def ours(server: RawServer) -> tuple[int, dict[str, str], bytes]:
    connection = Connection("127.0.0.1", server.port, connect_timeout=1)
    try:
        response = connection.exchange("POST", "/", {"Host": "x"}, b"{}", 2)
    finally:
        connection.close()
    return response.status, response.headers, response.body


def stdlib(server: RawServer) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
    try:
        connection.request("POST", "/", b"{}", {"Host": "x"})
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


header_names = st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True)
header_values = st.from_regex(r"[!-~]([ !-~]{0,40}[!-~])?", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(
    status=st.sampled_from([200, 201, 400, 403, 404, 413, 500, 503]),
    headers=st.dictionaries(header_names, header_values, max_size=5),
    body=st.binary(max_size=3000),
    framing=st.sampled_from(["length", "chunked", "close"]),
    chunk=st.integers(min_value=1, max_value=700),
)
def test_reads_answers_as_http_client_does(
    raw: RawServer, status: int, headers: dict[str, str], body: bytes, framing: str, chunk: int
) -> None:
    lines = [f"HTTP/1.1 {status} Whatever", *(f"{k}: {v}" for k, v in headers.items())]
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        lines.append("Connection: close")
        payload = body
    raw.answer = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
    raw.close_after = framing == "close"
    status_ours, headers_ours, body_ours = ours(raw)
    assert (status_ours, body_ours) == stdlib(raw)[::2]
    assert headers_ours == stdlib(raw)[1]


def test_a_connection_is_kept_alive_unless_the_server_says_otherwise(raw: RawServer) -> None:
    connection = Connection("127.0.0.1", raw.port, connect_timeout=1)
    raw.close_after = False
    raw.answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    assert connection.exchange("POST", "/", {}, b"", 1).keep_alive
    assert connection.exchange("POST", "/", {}, b"", 1).body == b"{}"  # same socket
    raw.answer = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    assert not connection.exchange("POST", "/", {}, b"", 1).keep_alive
    connection.close()


def test_what_is_not_http_is_refused(raw: RawServer) -> None:
    raw.close_after = True
    for answer in (
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
    ):
        raw.answer = answer
        with pytest.raises(ProtocolError):
            ours(raw)
    raw.answer = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}"  # cut short
    with pytest.raises(RemoteDisconnected):
        ours(raw)


def test_header_values_cannot_inject_lines(raw: RawServer) -> None:
    connection = Connection("127.0.0.1", raw.port, connect_timeout=1)
    with pytest.raises(ValueError, match="line break"):
        connection.exchange("POST", "/", {"X-Amz-Security-Token": "a\r\nX-Evil: 1"}, b"", 1)
    connection.close()
