"""The AWS clients' timeouts and retry budget fit inside the Lambda timeout, on paper and measured.

On paper: `worst_case_seconds` of the settings each client we build actually carries (attempts x
connect timeout + attempts x read timeout + backoff): the authorizer's own client
(authorizer.aws.client) and the botocore Config of the issuing side's (auth_service.aws), against
serverless.yml's 10 s. Measured: the authorizer, built from configuration as the Lambda builds it,
pointed at endpoints on 127.0.0.1 that misbehave for real (never answer, trickle, refuse
connections, never accept them, throttle and ask for a long wait, answer garbage), refuses within
its budget. Real time is slept here.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.retries.standard import ExponentialBackoff

import auth_service.aws as sdk
import authorizer.aws.client as aws
from auth_service import runtime
from auth_service.cognito.client import COGNITO_CLIENT_CONFIG, cognito_client
from auth_service.keys import KeyRing
from auth_service.tokens import TokenIssuer
from authorizer.gateway.authorization import Authorizer
from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
DENYLIST = "test-denylist"


class _TemplateLoader(yaml.SafeLoader):
    """serverless.yml carries CloudFormation tags (!Sub, !Ref ...): read them as plain nodes."""


_TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)
_SERVERLESS = yaml.load((REPO_ROOT / "serverless.yml").read_text(), Loader=_TemplateLoader)  # noqa: S506
LAMBDA_TIMEOUT = float(_SERVERLESS["provider"]["timeout"])
# What "well under" the Lambda timeout means for the authorizer: half of it, at most.
AUTHORIZER_CEILING = LAMBDA_TIMEOUT / 2
SLACK = 0.5  # thread scheduling and botocore's own work on a loaded CI machine


def authorizer_env(ring: KeyRing, **overrides: str) -> dict[str, str]:
    env = {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_JWKS": json.dumps(ring.jwks()),
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AWS_REGION": "us-east-1",
    }
    env.update(overrides)
    return env


def config_of(client: Any) -> Any:
    # Any: botocore-stubs does not know Config's options (connect_timeout, retries...).
    return client.meta.config


# --------------------------------------------------------------------------- on paper


def test_the_mirrored_backoff_constants_are_botocores() -> None:
    # worst_case_seconds mirrors botocore's standard retry backoff; a botocore upgrade that
    # changes it must fail here, not silently widen the budget.
    botocore = vars(ExponentialBackoff)  # private class attributes, unknown to the stubs
    assert botocore["_BASE"] == sdk._BACKOFF_BASE
    assert botocore["_MAX_BACKOFF"] == sdk._MAX_BACKOFF
    assert botocore["_RETRY_AFTER_MAX_ADDITIONAL"] == sdk._RETRY_AFTER_MAX_ADDITIONAL
    assert botocore["_RETRY_AFTER_HEADER"] == sdk._RETRY_AFTER_HEADER
    scales = botocore["_DEFAULT_BACKOFF_CONFIG"] | botocore["_SERVICE_BACKOFF_CONFIG"]["dynamodb"]
    assert max(scales.values()) == sdk._THROTTLING_BASE_SCALE
    # The authorizer's own client backs off like botocore: the same scale and cap, base 2.
    assert aws.AUTHORIZER_CLIENT.throttling_backoff == sdk._THROTTLING_BASE_SCALE
    assert aws.AUTHORIZER_CLIENT.max_backoff == sdk._MAX_BACKOFF


def test_worst_case_arithmetic() -> None:
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 3})
    assert sdk.worst_case_seconds(config) == 3 * 1 + 3 * 2 + (1 + 2)
    assert sdk.worst_case_seconds(config, honours_retry_after=True) == 12 + 2 * 5
    # max_attempts counts retries, not attempts; botocore's default is 3 attempts.
    assert (
        sdk.worst_case_seconds(
            Config(connect_timeout=1, read_timeout=1, retries={"mode": "standard", "max_attempts": 1})
        )
        == 2 * 2 + 1
    )
    assert (
        sdk.worst_case_seconds(Config(connect_timeout=1, read_timeout=1, retries={"mode": "standard"}))
        == 3 * 2 + 3
    )
    unbounded_modes: list[Any] = [{"mode": "legacy"}, {"mode": "adaptive"}, None]
    for unbounded in unbounded_modes:
        with pytest.raises(ValueError, match="standard retry mode"):
            sdk.worst_case_seconds(Config(connect_timeout=1, read_timeout=1, retries=unbounded))


def test_authorizer_worst_case_arithmetic() -> None:
    settings = aws.ClientSettings(connect_timeout=1, read_timeout=2, attempts=3)
    assert aws.worst_case_seconds(settings) == 3 * 1 + 3 * 2 + (1 + 2)
    assert aws.worst_case_seconds(aws.ClientSettings(attempts=1)) == 1.5


def test_authorizer_dynamodb_client_budget(ring: KeyRing) -> None:
    authorizer = build_authorizer(AuthorizerConfig.from_env(authorizer_env(ring)))
    settings = authorizer.revocations.client.http.settings  # type: ignore[attr-defined]
    assert settings == aws.AUTHORIZER_CLIENT
    assert (settings.connect_timeout, settings.read_timeout, settings.attempts) == (0.5, 1, 2)
    # 2 x 0.5 s + 2 x 1 s + at most 1 s of backoff (a throttled first attempt) = 4 s per call.
    per_call = aws.worst_case_seconds(settings)
    assert per_call == 4.0
    # The whole check, with follow-up reads for unprocessed keys, is held to its own budget...
    check = aws.denylist_follow_up_window() + per_call
    assert check == aws.AUTHORIZER_DENYLIST_CHECK_SECONDS == 5.0
    assert check <= AUTHORIZER_CEILING
    # ... and with the JWKS fetch of a trusted issuer (default timeout) still well under 10 s.
    jwks_timeout = AuthorizerConfig.from_env(authorizer_env(ring)).jwks_cache.timeout_seconds
    assert check + jwks_timeout == 7.0 < LAMBDA_TIMEOUT


@pytest.fixture
def issuing_runtime(service_env: dict[str, str]) -> Iterator[None]:
    def clear() -> None:
        for value in vars(runtime).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()

    clear()
    yield
    clear()


def test_issuing_dynamodb_client_budget(issuing_runtime: None) -> None:
    config = config_of(runtime.dynamodb())  # the client every issuing function shares
    assert (config.connect_timeout, config.read_timeout) == (0.5, 1)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    # 3 x 0.5 s + 3 x 1 s + 1 s + 2 s of backoff = 7.5 s: one call fits in the function timeout.
    assert sdk.worst_case_seconds(config) == 7.5 < LAMBDA_TIMEOUT


def test_ssm_client_budget() -> None:
    assert sdk.worst_case_seconds(config_of(sdk.ssm_client("us-east-1"))) == 7.5 < LAMBDA_TIMEOUT


def test_cognito_client_carries_its_declared_config() -> None:
    config = config_of(cognito_client("us-east-1"))
    declared: Any = COGNITO_CLIENT_CONFIG
    assert (config.connect_timeout, config.read_timeout, config.retries) == (
        declared.connect_timeout,
        declared.read_timeout,
        declared.retries,
    )


def test_cognito_client_budget() -> None:
    # Built through auth_service.aws, which drops x-amz-retry-after: 1 + 4 + 1 = 6 s.
    config = config_of(cognito_client("us-east-1"))
    assert sdk.worst_case_seconds(config) == 6.0 < LAMBDA_TIMEOUT


# --------------------------------------------------------------------------- measured


class MisbehavingDynamoDB:
    """An HTTP endpoint on 127.0.0.1 that answers every request the way `kind` says, counting them."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.requests = 0
        self.release = threading.Event()  # set at teardown: no hanging answer outlives its test
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.respond(self)

            do_GET = do_POST  # the container credential endpoint's method

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        if self.kind == "never_answers":
            self.release.wait(30)
        elif self.kind == "trickles_headers":
            handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for byte in b"Content-Type: application/x-amz-json-1.0\r\nX-Padding: " + b"." * 40:
                if self.release.wait(0.2):
                    return
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
        elif self.kind == "trickles":
            body = b'{"Responses": {}, "UnprocessedKeys": {}}'
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            for index in range(len(body)):  # each byte well within the read timeout, all of them not
                if self.release.wait(0.2):
                    return
                handler.wfile.write(body[index : index + 1])
                handler.wfile.flush()
        elif self.kind == "throttles_with_retry_after":
            body = {"__type": "com.amazon.coral.availability#ThrottlingException", "message": "slow down"}
            _send(handler, 400, json.dumps(body).encode(), {"x-amz-retry-after": "20000"})  # 20 s
        elif self.kind == "http_500":
            _send(handler, 500, b"<html>Internal Server Error</html>")
        elif self.kind == "html_200":
            _send(handler, 200, b"<html>It works!</html>")

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _send(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/x-amz-json-1.0")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


# kind: (requests the endpoint sees, least and most seconds the refusal may take)
ENDPOINTS: dict[str, tuple[int, float, float]] = {
    "never_answers": (2, 2 * 1.0, 2 * 1.0 + 0.05),  # two read timeouts, a transient backoff
    "trickles": (2, 2 * 1.0, 2 * 1.0 + 0.05),  # the read timeout bounds the whole answer...
    "trickles_headers": (2, 2 * 1.0, 2 * 1.0 + 0.05),  # ... its headers included
    # botocore would wait min(20 s, backoff + 5 s) before the retry; we ignore the header.
    "throttles_with_retry_after": (2, 0.0, 1.0),
    "http_500": (2, 0.0, 0.05),
    "html_200": (1, 0.0, 0.0),  # not retried: an answer we cannot read is no transient error
}


@pytest.fixture
def authorizer_at(ring: KeyRing) -> Callable[[str], Authorizer]:
    def build(endpoint: str) -> Authorizer:
        env = authorizer_env(ring, AUTH_DYNAMODB_ENDPOINT=endpoint, AUTH_REVOCATION_CACHE_SECONDS="0")
        return build_authorizer(AuthorizerConfig.from_env(env))

    return build


@pytest.fixture(scope="module")
def token(ring: KeyRing) -> str:
    issuer = TokenIssuer(
        ring, issuer=ISSUER, audience=AUDIENCE, client_id="web", access_ttl=300, refresh_ttl=3600
    )
    return issuer.issue("budget", "orders:read").access_token


def http_event(token: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-east-1:123456789012:xyz789/$default/GET/orders",
        "routeKey": "GET /orders",
        "rawPath": "/orders",
        "headers": {"authorization": f"Bearer {token}"},
        "requestContext": {"http": {"method": "GET", "path": "/orders"}, "routeKey": "GET /orders"},
    }


def timed_refusal(authorizer: Authorizer, token: str) -> float:
    started = time.monotonic()
    assert authorizer.handle(http_event(token)) == {"isAuthorized": False}
    return time.monotonic() - started


@pytest.mark.parametrize("kind", sorted(ENDPOINTS))
def test_misbehaving_endpoint_is_refused_within_budget(
    kind: str, authorizer_at: Callable[[str], Authorizer], token: str
) -> None:
    requests, least, most = ENDPOINTS[kind]
    endpoint = MisbehavingDynamoDB(kind)
    try:
        elapsed = timed_refusal(authorizer_at(endpoint.url), token)
    finally:
        endpoint.stop()
    assert endpoint.requests == requests
    assert least <= elapsed <= most + SLACK, elapsed
    assert elapsed <= aws.worst_case_seconds(aws.AUTHORIZER_CLIENT) + SLACK


def test_refused_connection_is_refused_at_once(
    authorizer_at: Callable[[str], Authorizer], token: str
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    assert timed_refusal(authorizer_at(f"http://127.0.0.1:{port}"), token) <= 0.1 + SLACK


def test_connect_timeout_is_refused_within_budget(
    authorizer_at: Callable[[str], Authorizer], token: str
) -> None:
    # A listener that never accepts, its backlog already full: the kernel drops further SYNs,
    # so each connect attempt waits out the whole connect timeout (2 x 0.5 s).
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(4):
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            time.sleep(0.05)
            elapsed = timed_refusal(authorizer_at(f"http://127.0.0.1:{port}"), token)
        finally:
            for filler in fillers:
                filler.close()
    assert 2 * 0.5 <= elapsed <= 2 * 0.5 + 0.1 + SLACK, elapsed


def test_the_credential_fetch_counts_inside_the_calls_budget() -> None:
    # A container credential endpoint that never answers (each fetch attempt would wait 1 s), and
    # a call allowed 0.5 s in all: the fetch gets what is left of the call's budget, no more.
    from authorizer.aws.credentials import ContainerCredentials

    endpoint = MisbehavingDynamoDB("never_answers")
    settings = aws.ClientSettings(connect_timeout=0.2, read_timeout=0.3, attempts=1)
    client = aws.JsonClient(
        service="dynamodb",
        target_prefix="DynamoDB_20120810",
        json_version="1.0",
        region="us-east-1",
        endpoint="http://127.0.0.1:9/",
        credentials=ContainerCredentials(endpoint.url + "/credentials", token="token"),
        settings=settings,
    )
    started = time.monotonic()
    try:
        with pytest.raises(aws.AwsRequestError, match="CredentialsError"):
            client.call("BatchGetItem", {})
    finally:
        endpoint.stop()
    elapsed = time.monotonic() - started
    assert elapsed <= aws.worst_case_seconds(settings) + SLACK, elapsed
