"""The demo page's files: which path gets which file, from the Lambda handler and from `serve`."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from auth_service.demo.assets import demo_response, is_demo_path
from auth_service.demo.handler import handler
from auth_service.local.demo_page import DemoPageInFront
from auth_service.local.gateway import HttpApiGateway
from auth_service.local.http_server import LocalHttpServer
from auth_service.local.service_definition import load_service_definition
from tests.unit.local_fixtures import service

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO_ROOT / "auth_service" / "demo"
FILES = {
    "/demo/": ("index.html", "text/html; charset=utf-8"),
    "/demo/index.html": ("index.html", "text/html; charset=utf-8"),
    "/demo/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/demo/style.css": ("style.css", "text/css; charset=utf-8"),
}
# Other files, other directories, traversal in every spelling: none of them is a file of the page.
NOT_FOUND = [
    "/demo/assets.py",
    "/demo/__init__.py",
    "/demo/handler.py",
    "/demo/../pyproject.toml",
    "/demo/..%2f..%2fpyproject.toml",
    "/demo/%2e%2e/%2e%2e/pyproject.toml",
    "/demo//etc/passwd",
    "/demo/index.html/",
    "/demo/INDEX.HTML",
    "/demo/index.html%00.css",
    "/demo/nothing.js",
    "/demox/index.html",
    "/",
    "",
]


@pytest.mark.parametrize("path", sorted(FILES))
def test_each_file_with_its_content_type_and_a_strict_policy(path: str) -> None:
    name, content_type = FILES[path]
    answer = demo_response(path)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == content_type
    assert answer.body == (DEMO_DIR / name).read_bytes()
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


def test_demo_redirects_to_the_page() -> None:
    answer = demo_response("/demo")
    assert (answer.status, answer.headers["Location"]) == (308, "/demo/index.html")


@pytest.mark.parametrize("path", NOT_FOUND)
def test_anything_else_is_404(path: str) -> None:
    answer = demo_response(path)
    assert answer.status == 404
    assert answer.body == b'{"message": "Not Found"}'


def test_the_page_loads_nothing_from_elsewhere() -> None:
    for name in ("index.html", "app.js", "style.css"):
        text = (DEMO_DIR / name).read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name


def test_lambda_handler_answers_from_raw_path() -> None:
    ok = handler({"rawPath": "/demo/app.js"}, None)
    assert ok["statusCode"] == 200
    assert ok["headers"]["Content-Type"] == "text/javascript; charset=utf-8"
    assert ok["body"] == (DEMO_DIR / "app.js").read_text(encoding="utf-8")
    assert ok["isBase64Encoded"] is False
    assert handler({"rawPath": "/demo/../serverless.yml"}, None)["statusCode"] == 404
    assert handler({}, None)["statusCode"] == 404


def test_is_demo_path() -> None:
    assert is_demo_path("/demo") and is_demo_path("/demo/") and is_demo_path("/demo/x")
    assert not is_demo_path("/demox") and not is_demo_path("/me") and not is_demo_path("/")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalHttpServer]:
    with HttpApiGateway(load_service_definition(service.write(tmp_path))) as api:
        server = LocalHttpServer(DemoPageInFront(api), "127.0.0.1", 0)
        server.start()
        yield server
        server.shutdown()


def raw_request(server: LocalHttpServer, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """Send `path` exactly as written (requests would remove dot segments first)."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_serve_answers_the_page_over_http(server: LocalHttpServer) -> None:
    response = requests.get(f"{server.url}/demo/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<form id="login-form"' in response.text
    script = requests.get(f"{server.url}/demo/app.js", timeout=10)
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    redirect = requests.get(f"{server.url}/demo", timeout=10, allow_redirects=False)
    assert (redirect.status_code, redirect.headers["Location"]) == (308, "/demo/index.html")
    status, headers, body = raw_request(server, "HEAD", "/demo/style.css")
    assert (status, headers["content-type"], body) == (200, "text/css; charset=utf-8", b"")
    assert int(headers["content-length"]) == len((DEMO_DIR / "style.css").read_bytes())


@pytest.mark.parametrize("path", [p for p in NOT_FOUND if p.startswith("/demo/")])
def test_serve_refuses_other_files_and_traversal(server: LocalHttpServer, path: str) -> None:
    status, _, body = raw_request(server, "GET", path)
    assert status == 404
    assert b"PRIVATE" not in body and b"[project]" not in body


def test_the_api_behind_the_page_is_unchanged(server: LocalHttpServer) -> None:
    response = requests.get(f"{server.url}/items/7", timeout=10)
    assert response.status_code == 200
    assert response.json()["event"]["pathParameters"] == {"id": "7"}
    # Only GET and HEAD are the page's; other methods go to the API, which has no such route.
    posted = requests.post(f"{server.url}/demo/", timeout=10)
    assert posted.status_code == 404
    assert "apigw-requestid" in posted.headers


def test_the_deployed_routes_serve_the_page_through_the_demo_function(request: pytest.FixtureRequest) -> None:
    """serverless.yml's `demo` function behind the API Gateway emulation, no local shortcut."""
    api = HttpApiGateway(load_service_definition(REPO_ROOT / "serverless.yml"))
    request.addfinalizer(api.close)  # the demo function's container

    def get(path: str) -> tuple[int, str | None, bytes]:
        answer = api.handle("GET", path, "", [("host", "api.example.com")], b"", "203.0.113.9")
        return answer.status, answer.header("location") or answer.header("content-type"), answer.body

    assert get("/demo")[:2] == (308, "/demo/index.html")
    for path, (name, content_type) in FILES.items():
        if path != "/demo/":  # `/demo/{proxy+}` needs a character after the slash
            assert get(path) == (200, content_type, (DEMO_DIR / name).read_bytes())
    assert get("/demo/assets.py")[0] == 404
