"""The HTTP adapter over real sockets on 127.0.0.1, talked to with `requests`."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import requests

from auth_service.local.gateway import MAX_BODY_BYTES, HttpApiGateway
from auth_service.local.http_server import LocalHttpServer
from auth_service.local.responses import GatewayResponse
from auth_service.local.service_definition import load_service_definition
from tests.unit.local_fixtures import service
from tests.unit.local_fixtures.handlers import script_body


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalHttpServer]:
    with HttpApiGateway(load_service_definition(service.write(tmp_path))) as gateway:
        server = LocalHttpServer(gateway, "127.0.0.1", 0)
        server.start()
        yield server
        server.shutdown()


def test_port_zero_binds_a_free_port_before_serving(tmp_path: Path) -> None:
    gateway = HttpApiGateway(load_service_definition(service.write(tmp_path)))
    server = LocalHttpServer(gateway, "127.0.0.1", 0)  # nothing is invoked: no container starts
    try:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        # Bound but not yet serving: the port is taken already.
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", server.port))
    finally:
        server.shutdown()


def test_get_with_query_and_repeated_headers(server: LocalHttpServer) -> None:
    response = requests.get(
        f"{server.url}/items/7?x=1&x=2",
        headers={"X-Thing": "a", "Cookie": "s=1; t=2"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["apigw-requestid"]
    event = response.json()["event"]
    assert event["pathParameters"] == {"id": "7"}
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["rawQueryString"] == "x=1&x=2"
    assert event["headers"]["x-thing"] == "a"
    assert event["headers"]["host"] == f"127.0.0.1:{server.port}"
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["domainName"] == "127.0.0.1"


def test_post_json_body(server: LocalHttpServer) -> None:
    response = requests.post(f"{server.url}/echo", json={"username": "alice"}, timeout=10)
    event = response.json()["event"]
    assert json.loads(event["body"]) == {"username": "alice"}
    assert event["isBase64Encoded"] is False


def test_form_body_arrives_base64_encoded(server: LocalHttpServer) -> None:
    response = requests.post(f"{server.url}/echo", data={"grant_type": "password"}, timeout=10)
    event = response.json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"grant_type=password"


def test_chunked_request_body(server: LocalHttpServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"a": '
        yield b"1}"

    response = requests.post(
        f"{server.url}/echo", data=chunks(), headers={"Content-Type": "application/json"}, timeout=10
    )
    assert json.loads(response.json()["event"]["body"]) == {"a": 1}


def test_not_found_and_any_method(server: LocalHttpServer) -> None:
    missing = requests.get(f"{server.url}/missing", timeout=10)
    assert missing.status_code == 404
    assert missing.json() == {"message": "Not Found"}
    patched = requests.patch(f"{server.url}/files/deep/path", timeout=10)
    assert patched.json()["event"]["routeKey"] == "ANY /files/{proxy+}"


def test_head_has_no_body_but_the_length(server: LocalHttpServer) -> None:
    response = requests.head(f"{server.url}/files/x", timeout=10)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) > 0
    assert response.content == b""


def test_set_cookie_headers_stay_separate(server: LocalHttpServer) -> None:
    script = script_body({"return": {"statusCode": 200, "cookies": ["a=1", "b=2"], "body": "ok"}})
    response = requests.get(f"{server.url}/scripted", data=script, timeout=10)
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert response.cookies.get("a") == "1" and response.cookies.get("b") == "2"


def test_authorizer_statuses_over_http(server: LocalHttpServer) -> None:
    assert requests.get(f"{server.url}/simple", timeout=10).status_code == 401
    denied = requests.get(f"{server.url}/simple", headers={"Authorization": "deny"}, timeout=10)
    assert denied.status_code == 403
    allowed = requests.get(f"{server.url}/simple", headers={"Authorization": "allow"}, timeout=10)
    assert allowed.json()["event"]["requestContext"]["authorizer"]["lambda"]["sub"] == "user-1"


def test_oversized_body_is_refused_before_it_is_read(server: LocalHttpServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(
            f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"apigw-requestid" in head.lower()
    assert json.loads(body) == {"message": "Request Entity Too Large"}


def test_keep_alive_serves_several_requests_on_one_connection(server: LocalHttpServer) -> None:
    with requests.Session() as session:
        for _ in range(3):
            assert session.get(f"{server.url}/items/1", timeout=10).status_code == 200


class _ExplodingGateway:
    def handle(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> GatewayResponse:
        raise RuntimeError("gateway bug")


def test_gateway_bug_is_500_not_a_dropped_connection(capsys: pytest.CaptureFixture[str]) -> None:
    server = LocalHttpServer(_ExplodingGateway(), "127.0.0.1", 0)
    server.start()
    try:
        response = requests.get(f"{server.url}/anything", timeout=10)
    finally:
        server.shutdown()
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}
    assert "gateway bug" in capsys.readouterr().err


def test_query_strings_are_not_logged(server: LocalHttpServer, capfd: pytest.CaptureFixture[str]) -> None:
    requests.get(f"{server.url}/items/1?token=secret-value", timeout=10)
    logged = capfd.readouterr().err
    assert "/items/1" in logged
    assert "secret-value" not in logged


def test_shutdown_releases_the_port(tmp_path: Path) -> None:
    gateway = HttpApiGateway(load_service_definition(service.write(tmp_path)))
    server = LocalHttpServer(gateway, "127.0.0.1", 0)
    server.start()
    port = server.port
    server.shutdown()
    server.shutdown()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/items/1", timeout=2)


def test_absolute_form_request_target(server: LocalHttpServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(
            f"GET http://127.0.0.1:{server.port}/items/9?q=1 HTTP/1.1\r\nHost: x\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    event = json.loads(reply.partition(b"\r\n\r\n")[2])["event"]
    assert (event["rawPath"], event["rawQueryString"]) == ("/items/9", "q=1")
