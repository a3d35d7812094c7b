"""HTTPS_PROXY / NO_PROXY: the authorizer's https connections through a CONNECT proxy.

The proxy here is a real one on 127.0.0.1 that tunnels to scripted TLS servers. Their certificate
names a host that does not resolve (`jwks.test`, `dynamodb.test`), so an answer proves the request
went through the tunnel, and TLS was still verified end to end with the real host's name.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from auth_service.keys import KeyRing
from authorizer.aws.http_connection import get
from authorizer.aws.proxy import Proxy, ProxyError, parse_proxy, proxy_for
from authorizer.errors import ConfigurationError
from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig
from authorizer.tokens.jwks_cache import JwksCache, JwksUnavailableError
from bench.local_tls import LocalCA
from tests.unit.scripted_http import Reply, ScriptedServer, Serve, answer
from tests.unit.test_authorizer_endpoints import NOTHING_REVOKED, base_env, dynamodb_or_ssm

HOSTS = ("jwks.test", "dynamodb.test")


class ConnectProxy:
    """A CONNECT proxy: every tunnel goes to 127.0.0.1:`target_port`, whatever host it names."""

    def __init__(self, target_port: int, status: str = "200 Connection established") -> None:
        self.target_port = target_port
        self.status = status
        self.connects: list[tuple[str, str | None]] = []  # (CONNECT target, Proxy-Authorization)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._closing = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = client.recv(4096)
            if not data:
                client.close()
                return
            head += data
        lines = head.decode("latin-1").split("\r\n")
        fields = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if ":" in line)
        }
        authorization = fields.get("proxy-authorization")
        # The request line without its version (http.client says HTTP/1.0 on 3.11, 1.1 later).
        self.connects.append((lines[0].rsplit(" ", 1)[0], authorization))
        client.sendall(f"HTTP/1.1 {self.status}\r\n\r\n".encode())
        if not self.status.startswith("200"):
            client.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_relay, args=(source, sink), daemon=True).start()


def _relay(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            sock.close()


@pytest.fixture(scope="module")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return LocalCA(tmp_path_factory.mktemp("proxy-ca"), server_names=HOSTS)


@pytest.fixture
def proxy_to(monkeypatch: pytest.MonkeyPatch, local_ca: LocalCA) -> Iterator[Callable[..., ConnectProxy]]:
    monkeypatch.setenv("AWS_CA_BUNDLE", str(local_ca.ca_file))
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    started: list[ConnectProxy] = []

    def start(server: ScriptedServer, status: str = "200 Connection established") -> ConnectProxy:
        started.append(ConnectProxy(server.port, status))
        return started[-1]

    yield start
    for proxy in started:
        proxy.stop()


def jwks_server(serve: Serve, local_ca: LocalCA, document: dict[str, Any]) -> ScriptedServer:
    body = json.dumps(document).encode()
    return serve(
        lambda index, request: Reply(answer(body, headers=("Content-Type: application/json",))),
        local_ca.server_context(),
    )


# --------------------------------------------------------------------------- which hosts, which proxy


@pytest.mark.parametrize(
    ("host", "no_proxy", "proxied"),
    [
        ("dynamodb.eu-west-1.amazonaws.com", "", True),
        ("dynamodb.eu-west-1.amazonaws.com", "amazonaws.com", False),
        ("dynamodb.eu-west-1.amazonaws.com", ".amazonaws.com", False),
        ("dynamodb.eu-west-1.amazonaws.com", "example.com, *", False),
        ("notamazonaws.com", "amazonaws.com", True),  # a suffix of labels, not of letters
        ("login.example.com", "EXAMPLE.com", False),
        ("localhost", "", False),
        ("127.0.0.1", "", False),
        ("::1", "", False),
        ("169.254.170.2", "", False),  # the container credential endpoint
        ("10.0.0.7", "", True),
    ],
)
def test_which_hosts_go_through_the_proxy(host: str, no_proxy: str, proxied: bool) -> None:
    environ = {"HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": no_proxy}
    assert (proxy_for(host, environ) is not None) is proxied
    assert proxy_for(host, {}) is None  # no proxy setting: every host directly
    lower_case = {"https_proxy": environ["HTTPS_PROXY"], "no_proxy": no_proxy}
    assert (proxy_for(host, lower_case) is not None) is proxied


def test_the_proxy_url_and_its_credentials() -> None:
    assert parse_proxy("http://proxy.internal:3128") == Proxy("proxy.internal", 3128, ())
    assert parse_proxy("proxy.internal") == Proxy("proxy.internal", 80, ())  # as urllib reads it
    secret = base64.b64encode(b"user:p@ss word").decode()
    assert parse_proxy("http://user:p%40ss%20word@proxy.internal:8080").headers == (
        ("Proxy-Authorization", f"Basic {secret}"),
    )
    lower_case = {"https_proxy": "http://lower.internal:1"}
    assert proxy_for("a.example", lower_case) == Proxy("lower.internal", 1, ())


@pytest.mark.parametrize(
    "url", ["https://proxy.internal:3128", "socks5://proxy.internal:1080", "http://proxy.internal:x", "http://"]
)
def test_a_proxy_setting_we_cannot_use_fails_the_cold_start(url: str, ring: KeyRing) -> None:
    with pytest.raises(ProxyError):
        parse_proxy(url)
    env = base_env(ring, HTTPS_PROXY=url.replace("proxy.internal", "user:hunter2@proxy.internal"))
    with pytest.raises(ConfigurationError, match="HTTPS_PROXY") as refused:
        AuthorizerConfig.from_env(env)
    assert "hunter2" not in str(refused.value)


# --------------------------------------------------------------------------- through a real proxy


def test_a_jwks_fetch_goes_through_the_proxy_and_tls_is_checked_with_the_real_host(
    serve: Serve, local_ca: LocalCA, proxy_to: Callable[..., ConnectProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = jwks_server(serve, local_ca, {"keys": []})
    url = f"https://jwks.test:{server.port}/.well-known/jwks.json"
    with pytest.raises(OSError):  # jwks.test does not resolve: no proxy, no answer
        get(url, {}, timeout=2, max_body=4096)
    proxy = proxy_to(server)
    monkeypatch.setenv("HTTPS_PROXY", "http://alice:s3cret@" + proxy.url.removeprefix("http://"))
    assert get(url, {}, timeout=2, max_body=4096).body == b'{"keys": []}'
    secret = base64.b64encode(b"alice:s3cret").decode()
    assert proxy.connects == [(f"CONNECT jwks.test:{server.port}", f"Basic {secret}")]
    assert server.requests[0].header("Host") == f"jwks.test:{server.port}"
    monkeypatch.setenv("NO_PROXY", "jwks.test")
    with pytest.raises(OSError):  # reached directly again
        get(url, {}, timeout=2, max_body=4096)
    assert len(proxy.connects) == 1


def test_a_trusted_issuers_keys_are_fetched_through_the_proxy(
    serve: Serve,
    local_ca: LocalCA,
    proxy_to: Callable[..., ConnectProxy],
    monkeypatch: pytest.MonkeyPatch,
    ring: KeyRing,
) -> None:
    server = jwks_server(serve, local_ca, ring.jwks())
    cache = JwksCache(f"https://jwks.test:{server.port}/jwks.json", timeout_seconds=2)
    with pytest.raises(JwksUnavailableError):
        cache.get(ring.current.kid)
    monkeypatch.setenv("HTTPS_PROXY", proxy_to(server).url)
    cache = JwksCache(f"https://jwks.test:{server.port}/jwks.json", timeout_seconds=2)
    assert cache.get(ring.current.kid).alg == "RS256"


def test_the_denylist_read_goes_through_the_proxy(
    serve: Serve,
    local_ca: LocalCA,
    proxy_to: Callable[..., ConnectProxy],
    monkeypatch: pytest.MonkeyPatch,
    ring: KeyRing,
) -> None:
    server = serve(dynamodb_or_ssm(), local_ca.server_context())
    proxy = proxy_to(server)
    env = base_env(
        ring,
        AWS_ENDPOINT_URL_DYNAMODB=f"https://dynamodb.test:{server.port}",
        AWS_CA_BUNDLE=str(local_ca.ca_file),
        HTTPS_PROXY=proxy.url,
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client: Any = build_authorizer(AuthorizerConfig.from_env(env)).revocations.client
    assert client.batch_get_item(RequestItems={"d": {"Keys": [{"pk": {"S": "jti#x"}}]}}) == json.loads(
        NOTHING_REVOKED
    )
    assert [connect for connect, _ in proxy.connects] == [f"CONNECT dynamodb.test:{server.port}"]


def test_a_proxy_that_refuses_the_tunnel_is_a_failed_connection(
    serve: Serve, local_ca: LocalCA, proxy_to: Callable[..., ConnectProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = jwks_server(serve, local_ca, {"keys": []})
    proxy = proxy_to(server, status="407 Proxy Authentication Required")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    with pytest.raises(OSError, match="407"):
        get(f"https://jwks.test:{server.port}/jwks.json", {}, timeout=2, max_body=4096)
    assert server.requests == []
