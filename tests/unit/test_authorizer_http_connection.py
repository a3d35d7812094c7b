"""authorizer.aws.http_connection and authorizer.aws.http_framing: http.client, held to exact answers.

Real sockets on 127.0.0.1 (tests/unit/scripted_http.py sends exactly the bytes scripted), TLS
with a CA made at run time (bench/local_tls.py). The framing checks are also driven directly, on
byte strings, and by hypothesis: they never raise anything but FramingError.
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authorizer.aws import tls
from authorizer.aws.http_connection import (
    AnswerTooLargeError,
    Connection,
    ProtocolError,
    RemoteDisconnected,
    Response,
    get,
)
from authorizer.aws.http_framing import FramingError, check_chunked, check_head
from bench.local_tls import LocalCA
from tests.unit.scripted_http import Reply, Request, ScriptedServer, Serve, answer, chunked


def always(data: bytes, **reply: bool) -> Callable[[int, Request], Reply]:
    return lambda index, request: Reply(data, **reply)


def post(connection: Connection, *, timeout: float = 2.0, max_body: int = 1 << 20) -> Response:
    deadline = time.monotonic() + timeout
    return connection.exchange("POST", "/", {"Host": "x"}, b"{}", deadline=deadline, max_body=max_body)


def connection_to(server: ScriptedServer, *, tls: bool = False) -> Connection:
    return Connection("127.0.0.1", server.port, tls=tls, connect_timeout=1)


# --------------------------------------------------------------------------- reads what http.client reads


def stdlib(server: ScriptedServer) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
    try:
        connection.request("POST", "/", b"{}", {"Host": "x"})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


header_names = st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True)
header_values = st.from_regex(r"[!-~]([ !-~]{0,40}[!-~])?", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(
    status=st.sampled_from([200, 201, 204, 400, 403, 404, 413, 500, 503]),
    headers=st.dictionaries(header_names, header_values, max_size=5),
    body=st.binary(max_size=3000),
    framing=st.sampled_from(["length", "chunked", "close"]),
    chunk=st.integers(min_value=1, max_value=700),
    interim=st.booleans(),
)
def test_well_formed_answers_read_as_http_client_reads_them(
    status: int, headers: dict[str, str], body: bytes, framing: str, chunk: int, interim: bool
) -> None:
    if status == 204:
        body, framing = b"", "length"
    lines = [f"{k}: {v}" for k, v in headers.items()]
    if framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        payload = chunked(body, size=chunk)
    else:
        if framing == "close":
            lines.append("Connection: close")
        elif status != 204:
            lines.append(f"Content-Length: {len(body)}")
        payload = body
    data = (b"HTTP/1.1 100 Continue\r\n\r\n" if interim else b"") + answer(
        payload, status=f"{status} Whatever", headers=tuple(lines), length=False
    )
    server = ScriptedServer(always(data, close=framing == "close"))
    try:
        connection = connection_to(server)
        ours = post(connection)
        connection.close()
        assert (ours.status, ours.headers, ours.body) == stdlib(server)
        assert ours.keep_alive == (framing != "close")
    finally:
        server.stop()


# --------------------------------------------------------------------------- kept alive, or not


def test_a_connection_is_kept_alive_unless_the_answer_says_otherwise(serve: Serve) -> None:
    answers = [
        answer(b"{}"),
        answer(b"{}"),
        answer(b"{}", headers=("Connection: close",)),
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\n\r\n{}",  # no length: the body runs to the close
    ]
    server = serve(lambda index, request: Reply(answers[index], close=index >= 2))
    connection = connection_to(server)
    assert post(connection).keep_alive and post(connection).keep_alive
    assert server.connections == 1
    for _ in answers[2:]:
        response = post(connection)
        assert response.body == b"{}" and not response.keep_alive and not connection.is_open
    assert server.connections == 3  # one closed after the third answer, then one each


def test_a_close_while_idle_is_noticed_before_the_next_request(serve: Serve) -> None:
    # The answer says nothing of closing, but the server closes right after it (an idle timeout).
    server = serve(always(answer(b"{}"), close=True))
    connection = connection_to(server)
    post(connection)
    time.sleep(0.2)
    assert not connection.quiet() and not connection.is_open


def test_bytes_after_the_answer_are_refused_and_close_the_connection(serve: Serve) -> None:
    server = serve(always(answer(b"{}") + b"HTTP/1.1 200 OK\r\n"))
    connection = connection_to(server)
    with pytest.raises(ProtocolError, match="bytes after the answer"):
        post(connection)
    assert not connection.is_open


def test_bytes_that_arrive_while_idle_make_the_connection_unusable(serve: Serve) -> None:
    server = serve(always(answer(b"{}") + answer(b"{}"), trickle=0.001))
    connection = connection_to(server)
    try:
        post(connection)  # the second answer arrives while the first is read, or just after
    except ProtocolError:
        return
    time.sleep(0.3)
    assert not connection.quiet() and not connection.is_open


def test_a_server_that_closes_before_answering_is_remote_disconnected(serve: Serve) -> None:
    server = serve(always(b"", close=True))
    with pytest.raises(RemoteDisconnected):
        post(connection_to(server))


# --------------------------------------------------------------------------- refused


REFUSED: dict[str, bytes] = {
    "not HTTP": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "status 2x0": b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
    "status 2000": b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    "status +200": b"HTTP/1.1 +200 OK\r\nContent-Length: 0\r\n\r\n",
    "status 2_00": b"HTTP/1.1 2_00 OK\r\nContent-Length: 0\r\n\r\n",
    "status 999": b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
    "HTTP/2 status line": b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.5": b"HTTP/1.5 200 OK\r\nContent-Length: 0\r\n\r\n",
    "103 as the final answer": b"HTTP/1.1 103 Early Hints\r\n\r\n"
    + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    "101 as the final answer": b"HTTP/1.1 101 Switching\r\n\r\n",
    "a header line without a colon": b"HTTP/1.1 200 OK\r\nbroken\r\nContent-Length: 2\r\n\r\n{}",
    "a space before the colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}",
    "a folded header line": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\n{}",
    "bare LF line ends": b"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}",
    "a control character in a value": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
    "two Content-Length values": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
    "a Content-Length list": b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n{}",
    "Content-Length +2": b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n{}",
    "Content-Length -1": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}",
    "Content-Length 0x2": b"HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\n{}",
    "Content-Length 1_0": b"HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\n{}" + b"x" * 8,
    "Content-Length in superscript digits": "HTTP/1.1 200 OK\r\nContent-Length: \u00b2\r\n\r\n{}".encode(
        "latin-1"
    ),
    "Content-Length in Arabic-Indic digits": "HTTP/1.1 200 OK\r\nContent-Length: \u0662\r\n\r\n{}".encode(),
    "Content-Length with chunked": b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n"
    + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "Transfer-Encoding gzip, chunked": b"HTTP/1.1 200 OK\r\n"
    + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "Transfer-Encoding twice": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
    + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "chunked in HTTP/1.0": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "chunk size 0x2": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n",
    "chunk size +2": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+2\r\n{}\r\n0\r\n\r\n",
    "chunk size 0_2": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0_2\r\n{}\r\n0\r\n\r\n",
    "chunk size with spaces": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 2 \r\n{}\r\n0\r\n\r\n",
    "chunk size negative": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n{}\r\n0\r\n\r\n",
    "chunk size in Arabic-Indic digits": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + "\u0662\r\n{}\r\n0\r\n\r\n".encode(),
    "a chunk without its CRLF": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
    "a chunked body without its last empty line": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"2\r\n{}\r\n0\r\n",
    "a body cut short": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",
    "a head cut short": b"HTTP/1.1 200 OK\r\nContent-Le",
    "a 204 with a body": b"HTTP/1.1 204 No Content\r\n\r\n{}",
}


@pytest.mark.parametrize("name", REFUSED, ids=list(REFUSED))
def test_what_is_not_one_exact_answer_is_refused(name: str, serve: Serve) -> None:
    server = serve(always(REFUSED[name], close=True))
    connection = connection_to(server)
    with pytest.raises(ProtocolError):
        post(connection, timeout=1)
    assert not connection.is_open


def test_header_values_cannot_inject_lines(serve: Serve) -> None:
    server = serve(always(answer(b"{}")))
    connection = connection_to(server)
    with pytest.raises(ValueError, match="header"):
        connection.exchange(
            "POST", "/", {"X-Amz-Security-Token": "a\r\nX-Evil: 1"}, b"", deadline=time.monotonic() + 1
        )
    assert server.requests == [] and not connection.is_open


def test_a_trickled_head_is_cut_off_at_the_deadline(serve: Serve) -> None:
    server = serve(always(answer(b"{}", headers=("X-Padding: " + "." * 200,)), trickle=0.01))
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        post(connection_to(server), timeout=0.3)
    assert time.monotonic() - started < 1.2  # the whole head would take over 2 s


def test_answers_longer_than_allowed_are_refused(serve: Serve) -> None:
    declared = serve(always(answer(b"x" * 2000)))
    with pytest.raises(AnswerTooLargeError):
        post(connection_to(declared), max_body=1000)
    undeclared = serve(always(answer(b"x" * 200_000, length=False), close=True))
    with pytest.raises(AnswerTooLargeError):
        post(connection_to(undeclared), max_body=1000)


def test_get_sends_no_body_and_the_callers_host(serve: Serve) -> None:
    server = serve(always(answer(b"{}")))
    response = get(
        f"http://127.0.0.1:{server.port}/path?x=1", {"Accept": "application/json"}, timeout=1, max_body=10
    )
    assert response.body == b"{}"
    [request] = server.requests
    assert request.head.startswith(b"GET /path?x=1 HTTP/1.1\r\n")
    assert request.header("Host") == f"127.0.0.1:{server.port}" and request.header("Content-Length") is None


# --------------------------------------------------------------------------- the framing checks alone


def test_framing_of_well_formed_heads() -> None:
    head = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 12\r\nX: a  b\r\n\r\n"
    assert check_head(head, method="POST") == (200, 11, 12, False, False)
    assert check_head(b"HTTP/1.1 200\r\nTransfer-Encoding: Chunked\r\n\r\n", method="GET").chunked
    assert check_head(b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\n\r\n", method="GET").close
    assert check_head(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", method="GET").length == 0
    assert check_chunked(b"2;name=value\r\n{}\r\n1\r\nx\r\n0\r\nTrailer: t\r\n\r\n") == b"{}x"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=120), st.sampled_from(["GET", "POST", "HEAD"]))
def test_framing_checks_raise_nothing_but_framing_errors(data: bytes, method: str) -> None:
    for candidate in (data, b"HTTP/1.1 200 OK\r\n" + data, data + b"\r\n\r\n"):
        with contextlib.suppress(FramingError):
            check_head(candidate, method=method)
        with contextlib.suppress(FramingError):
            check_chunked(candidate)


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return LocalCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def trust(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path | None], None]:
    def use(ca_bundle: Path | None) -> None:
        if ca_bundle is None:
            monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
        else:
            monkeypatch.setenv("AWS_CA_BUNDLE", str(ca_bundle))

    return use


def test_https_with_the_ca_of_aws_ca_bundle(
    serve: Serve, local_ca: LocalCA, trust: Callable[[Path | None], None]
) -> None:
    server = serve(always(answer(b"{}")), local_ca.server_context())
    trust(local_ca.ca_file)
    connection = connection_to(server, tls=True)
    assert post(connection).body == b"{}" and post(connection).keep_alive
    assert server.connections == 1


def test_https_refuses_a_server_the_trusted_cas_did_not_sign(
    serve: Serve, local_ca: LocalCA, trust: Callable[[Path | None], None]
) -> None:
    server = serve(always(answer(b"{}")), local_ca.server_context())
    trust(None)  # the system's CAs never signed our local CA's certificate
    with pytest.raises(ssl.SSLCertVerificationError):
        post(connection_to(server, tls=True))


def test_https_refuses_a_certificate_for_another_host(
    serve: Serve, tmp_path: Path, trust: Callable[[Path | None], None]
) -> None:
    elsewhere = LocalCA(tmp_path, server_names=("elsewhere.example",))
    server = serve(always(answer(b"{}")), elsewhere.server_context())
    trust(elsewhere.ca_file)
    with pytest.raises(ssl.SSLCertVerificationError):
        Connection("localhost", server.port, tls=True, connect_timeout=1).open()


def test_bytes_after_the_answer_are_refused_over_tls_too(
    serve: Serve, local_ca: LocalCA, trust: Callable[[Path | None], None]
) -> None:
    # Over TLS the extra bytes may already sit decrypted in the TLS layer, where select() does
    # not see them.
    server = serve(always(answer(b"{}") + answer(b"{}")), local_ca.server_context())
    trust(local_ca.ca_file)
    with pytest.raises(ProtocolError):
        post(connection_to(server, tls=True))


def test_the_tls_context_is_built_once_and_shared(
    local_ca: LocalCA, trust: Callable[[Path | None], None]
) -> None:
    trust(local_ca.ca_file)
    assert tls.client_context() is tls.client_context()
    assert tls.client_context().cert_store_stats()["x509_ca"] == 1  # that bundle's CA only
    assert tls.trust_source() == f"AWS_CA_BUNDLE {local_ca.ca_file}"


def test_a_hashed_system_directory_is_trusted_lazily(
    serve: Serve,
    local_ca: LocalCA,
    tmp_path: Path,
    trust: Callable[[Path | None], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The system's CAs as a hashed directory (here: one that holds our local CA): nothing is
    # loaded when the context is built; the handshake reads the one CA it needs.
    hashed = str(local_ca.hashed_directory(tmp_path / "hashed"))
    trust(None)
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(tls, "_SYSTEM_HASHED_DIRS", (hashed,))
    default = ssl.get_default_verify_paths()
    monkeypatch.setattr(
        ssl, "get_default_verify_paths", lambda: default._replace(openssl_capath=str(tmp_path / "none"))
    )
    tls._context.cache_clear()
    try:
        assert tls.trust_source() == f"hashed directory {hashed}"
        context = tls.client_context()
        assert context.cert_store_stats()["x509_ca"] == 0
        server = serve(always(answer(b"{}")), local_ca.server_context())
        assert post(connection_to(server, tls=True)).body == b"{}"
        assert context.cert_store_stats()["x509_ca"] == 1  # looked up when the handshake needed it
    finally:
        tls._context.cache_clear()


def test_without_a_hashed_directory_the_system_bundle_is_loaded(
    trust: Callable[[Path | None], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust(None)
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(tls, "_SYSTEM_HASHED_DIRS", ())
    default = ssl.get_default_verify_paths()
    monkeypatch.setattr(
        ssl, "get_default_verify_paths", lambda: default._replace(openssl_capath=str(tmp_path))
    )
    tls._context.cache_clear()
    try:
        assert tls.trust_source() == "system CA bundle"
        expected = ssl.create_default_context().cert_store_stats()["x509_ca"]
        assert tls.client_context().cert_store_stats()["x509_ca"] == expected
    finally:
        tls._context.cache_clear()


def test_openssl_variables_are_honoured_as_the_standard_library_does(
    local_ca: LocalCA, trust: Callable[[Path | None], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    trust(None)
    monkeypatch.setenv("SSL_CERT_FILE", str(local_ca.ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    assert tls.trust_source() == "SSL_CERT_FILE / SSL_CERT_DIR"
    assert tls.client_context().cert_store_stats()["x509_ca"] == 1


def test_every_context_verifies_certificates_and_host_names(
    local_ca: LocalCA, trust: Callable[[Path | None], None]
) -> None:
    for bundle in (local_ca.ca_file, None):
        trust(bundle)
        context = tls.client_context()
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
