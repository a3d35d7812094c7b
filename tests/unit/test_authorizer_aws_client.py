"""The authorizer's own AWS client (authorizer.aws.client), its credentials and its SnapStart hooks.

Real HTTP on 127.0.0.1 throughout: moto's server for DynamoDB and SSM, and small local servers for
the container credential endpoint and for answers moto would not give.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
import types
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auth_service.tables import create_tables
from authorizer.aws import snapstart
from authorizer.aws.client import (
    AwsRequestError,
    ClientSettings,
    JsonClient,
    MalformedResponseError,
    ServiceError,
)
from authorizer.aws.credentials import (
    LOCAL_DUMMY,
    MAX_RETRY_SECONDS,
    NO_KEYS_RETRY_SECONDS,
    REFRESH_BEFORE_EXPIRY,
    USABLE_UNTIL_BEFORE_EXPIRY,
    ContainerCredentials,
    Credentials,
    CredentialsError,
    StaticCredentials,
    from_environment,
)
from authorizer.aws.dynamodb import DynamoDB
from authorizer.aws.ssm import get_parameter
from authorizer.errors import ConfigurationError
from authorizer.tokens.revocation import RevocationList
from tests.unit.dynamodb_endpoint import FaultyDynamoDB, faulty_dynamodb

DENYLIST = "test-denylist"
KEYS = StaticCredentials(Credentials("AKIDEXAMPLE", "testing", "testing"))


class LocalServer:
    """Answers each request with `respond(handler)`; keeps connections alive; counts them."""

    def __init__(self, respond: Callable[[BaseHTTPRequestHandler, bytes], None]) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.connections = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                outer.connections += 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append((self.path, dict(self.headers.items()), body))
                respond(self, body)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def send(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def local_server() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler, bytes], None]], LocalServer]]:
    started: list[LocalServer] = []

    def start(respond: Callable[[BaseHTTPRequestHandler, bytes], None]) -> LocalServer:
        started.append(LocalServer(respond))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def client_for(url: str, credentials: Any = KEYS, **settings: Any) -> JsonClient:
    return JsonClient(
        service="dynamodb",
        target_prefix="DynamoDB_20120810",
        json_version="1.0",
        region="us-east-1",
        endpoint=url,
        credentials=credentials,
        settings=ClientSettings(**settings),
        sleep=lambda _: None,
    )


# --------------------------------------------------------------------------- credentials


def test_environment_credentials_as_lambda_sets_them() -> None:
    source = from_environment(
        {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"},
        local_endpoint=False,
    )
    assert source.get() == Credentials("AKID", "secret", "token")
    assert "secret" not in repr(source.get()) and "token" not in repr(source.get())


def test_no_credentials_is_a_configuration_error_unless_the_endpoint_is_local() -> None:
    with pytest.raises(ConfigurationError, match="no AWS credentials"):
        from_environment({}, local_endpoint=False)
    assert from_environment({}, local_endpoint=True).get() == Credentials(*LOCAL_DUMMY)


def test_container_uri_must_be_local_or_https() -> None:
    with pytest.raises(ConfigurationError, match="AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        from_environment(
            {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://evil.example/creds"}, local_endpoint=False
        )


def _container_endpoint(
    expiration: list[str], served: list[int]
) -> Callable[[BaseHTTPRequestHandler, bytes], None]:
    def respond(handler: BaseHTTPRequestHandler, _: bytes) -> None:
        if handler.headers.get("Authorization") != "container-token":
            send(handler, 403, b'{"message": "no"}')
            return
        served.append(1)
        document = {
            "AccessKeyId": f"ASIA{len(served)}",
            "SecretAccessKey": "secret",
            "Token": "session",
            "Expiration": expiration[0],
        }
        send(handler, 200, json.dumps(document).encode(), {"Content-Type": "application/json"})

    return respond


def test_container_credentials_are_fetched_cached_and_refreshed_before_expiry(
    local_server: Callable[..., LocalServer], tmp_path: Path
) -> None:
    served: list[int] = []
    server = local_server(_container_endpoint(["2030-01-01T00:00:00Z"], served))
    token_file = tmp_path / "token"
    token_file.write_text("container-token\n")
    now = [1_800_000_000.0]
    source = from_environment(
        {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "2018-06-01/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file),
        },
        local_endpoint=False,
    )
    assert isinstance(source, ContainerCredentials)
    source._clock = lambda: now[0]
    first = source.get()
    assert (first.access_key, first.session_token) == ("ASIA1", "session")
    assert source.get() is first and len(served) == 1  # cached
    assert first.expires_at is not None
    now[0] = first.expires_at - REFRESH_BEFORE_EXPIRY - 1
    assert source.get() is first
    now[0] = first.expires_at - REFRESH_BEFORE_EXPIRY + 1  # due: fetched again
    assert source.get().access_key == "ASIA2"
    source.forget()  # e.g. after a snapshot restore
    assert source.get().access_key == "ASIA3"
    assert server.requests[0][0] == "/2018-06-01/credentials"


def test_short_lived_container_credentials_are_refreshed_half_way(
    local_server: Callable[..., LocalServer],
) -> None:
    served: list[int] = []
    server = local_server(_container_endpoint(["2030-01-01T00:20:00Z"], served))  # 20 min left
    expires = 1_893_457_200.0  # 2030-01-01T00:20:00Z
    now = [expires - 20 * 60]
    source = ContainerCredentials(server.url, token="container-token", clock=lambda: now[0])
    first = source.get()
    now[0] += 9 * 60
    assert source.get() is first and len(served) == 1  # not a fetch per request
    now[0] += 2 * 60  # past half-way
    assert source.get().access_key == "ASIA2"


def test_container_credentials_failure_is_a_credentials_error(
    local_server: Callable[..., LocalServer],
) -> None:
    server = local_server(_container_endpoint(["2030-01-01T00:00:00Z"], []))
    wrong_token = ContainerCredentials(server.url, token="wrong")
    with pytest.raises(CredentialsError, match="HTTP 403"):
        wrong_token.get()
    garbage = local_server(lambda handler, _: send(handler, 200, b"<html>"))
    with pytest.raises(CredentialsError, match="no credentials"):
        ContainerCredentials(garbage.url, token="container-token").get()


class FlakyEndpoint:
    """The container credential endpoint of `_container_endpoint`, down while `down` is set."""

    def __init__(self, local_server: Callable[..., LocalServer], expiration: str) -> None:
        self.down = False
        self.served: list[int] = []
        good = _container_endpoint([expiration], self.served)

        def respond(handler: BaseHTTPRequestHandler, body: bytes) -> None:
            if self.down:
                send(handler, 500, b'{"message": "unavailable"}')
            else:
                good(handler, body)

        self.server = local_server(respond)

    def attempts(self) -> int:
        return len(self.server.requests)


EXPIRES = 1_893_456_000.0  # 2030-01-01T00:00:00Z


def test_refresh_windows_are_botocores() -> None:
    import botocore.credentials

    refreshable: Any = botocore.credentials.RefreshableCredentials
    assert REFRESH_BEFORE_EXPIRY == refreshable._advisory_refresh_timeout == 15 * 60
    assert USABLE_UNTIL_BEFORE_EXPIRY == refreshable._mandatory_refresh_timeout == 10 * 60


def test_a_failed_refresh_keeps_the_cached_keys_until_shortly_before_expiry(
    local_server: Callable[..., LocalServer],
) -> None:
    endpoint = FlakyEndpoint(local_server, "2030-01-01T00:00:00Z")
    now = [EXPIRES - 6 * 3600]
    source = ContainerCredentials(endpoint.server.url, token="container-token", clock=lambda: now[0])
    first = source.get()
    endpoint.down = True
    now[0] = EXPIRES - REFRESH_BEFORE_EXPIRY + 1  # the advisory window: a refresh is tried...
    assert source.get() is first  # ... fails, and the cached keys still sign
    tried = endpoint.attempts()
    for _ in range(50):  # not a fetch per request: the next try waits
        assert source.get() is first
    assert endpoint.attempts() == tried
    now[0] = EXPIRES - USABLE_UNTIL_BEFORE_EXPIRY - 1
    assert source.get() is first
    now[0] = EXPIRES - USABLE_UNTIL_BEFORE_EXPIRY + 1  # the mandatory window: no longer used
    with pytest.raises(CredentialsError, match="HTTP 500"):
        source.get()
    endpoint.down = False
    now[0] += NO_KEYS_RETRY_SECONDS
    assert source.get().access_key == "ASIA2"


def test_failed_refreshes_back_off_and_a_later_one_succeeds(local_server: Callable[..., LocalServer]) -> None:
    endpoint = FlakyEndpoint(local_server, "2030-01-01T00:00:00Z")
    now = [EXPIRES - 6 * 3600]
    source = ContainerCredentials(endpoint.server.url, token="container-token", clock=lambda: now[0])
    first = source.get()
    endpoint.down = True
    now[0] = EXPIRES - REFRESH_BEFORE_EXPIRY + 1  # in the advisory window from now on
    tries = []
    for _ in range(200):  # 200 requests, 0.5 s apart
        before = endpoint.attempts()
        assert source.get() is first
        tries.append(endpoint.attempts() > before)
        now[0] += 0.5
    # One try, then after 1, 2, 4, 8, 16, 30, 30 s...: a handful in 100 s, never one per request.
    assert 6 <= sum(tries) <= 9, sum(tries)
    gaps = [i for i, tried in enumerate(tries) if tried]
    assert max(b - a for a, b in itertools.pairwise(gaps)) * 0.5 <= MAX_RETRY_SECONDS + 0.5
    endpoint.down = False
    now[0] += MAX_RETRY_SECONDS
    assert source.get().access_key == "ASIA2"


def test_without_usable_keys_requests_fail_fast_while_the_endpoint_is_down(
    local_server: Callable[..., LocalServer],
) -> None:
    endpoint = FlakyEndpoint(local_server, "2030-01-01T00:00:00Z")
    endpoint.down = True
    now = [EXPIRES - 3600]
    source = ContainerCredentials(endpoint.server.url, token="container-token", clock=lambda: now[0])
    with pytest.raises(CredentialsError, match="HTTP 500"):
        source.get()
    tried = endpoint.attempts()
    with pytest.raises(CredentialsError, match="next try in"):
        source.get()  # at once, without waiting on the endpoint again
    assert endpoint.attempts() == tried
    endpoint.down = False
    now[0] += NO_KEYS_RETRY_SECONDS
    assert source.get().access_key == "ASIA1"


def test_a_restore_forgets_the_backoff_too(local_server: Callable[..., LocalServer]) -> None:
    endpoint = FlakyEndpoint(local_server, "2030-01-01T00:00:00Z")
    endpoint.down = True
    source = ContainerCredentials(endpoint.server.url, token="container-token", clock=lambda: EXPIRES - 3600)
    with pytest.raises(CredentialsError):
        source.get()
    endpoint.down = False
    source.forget()  # after a snapshot restore: fetched at once
    assert source.get().access_key == "ASIA1"


def test_other_callers_keep_signing_while_one_refreshes(local_server: Callable[..., LocalServer]) -> None:
    release = threading.Event()
    served: list[int] = []
    good = _container_endpoint(["2030-01-01T00:00:00Z"], served)

    def slow(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if served:
            release.wait(5)
        good(handler, body)

    server = local_server(slow)
    now = [EXPIRES - 3600]
    source = ContainerCredentials(server.url, token="container-token", clock=lambda: now[0])
    first = source.get()
    now[0] = EXPIRES - REFRESH_BEFORE_EXPIRY + 1
    refresher = threading.Thread(target=source.get)
    refresher.start()
    while len(server.requests) < 2:
        time.sleep(0.01)
    started = time.monotonic()
    assert source.get() is first  # does not wait for the refresh under way
    assert time.monotonic() - started < 0.5
    release.set()
    refresher.join()
    assert source.get().access_key == "ASIA2"


def test_a_credential_fetch_never_outlasts_the_callers_deadline(
    local_server: Callable[..., LocalServer],
) -> None:
    release = threading.Event()
    server = local_server(lambda handler, body: release.wait(5))
    source = ContainerCredentials(server.url, token="container-token")
    started = time.monotonic()
    with pytest.raises(CredentialsError):
        source.get(deadline=time.monotonic() + 0.3)
    assert time.monotonic() - started < 1.0  # two attempts of 1 s each without the deadline
    release.set()


# --------------------------------------------------------------------------- the client


def test_batch_get_item_against_moto(moto_endpoint: str) -> None:
    with mock_aws():
        tables = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(tables, denylist=DENYLIST)
        tables.put_item(TableName=DENYLIST, Item={"pk": {"S": "jti#revoked"}, "reason": {"S": "logout"}})
        dynamodb = DynamoDB.connect_to("us-east-1", moto_endpoint, KEYS)
        answer = dynamodb.batch_get_item(
            RequestItems={DENYLIST: {"Keys": [{"pk": {"S": "jti#revoked"}}, {"pk": {"S": "jti#other"}}]}}
        )
        assert answer["Responses"][DENYLIST] == [{"pk": {"S": "jti#revoked"}, "reason": {"S": "logout"}}]
        with pytest.raises(ServiceError) as info:
            dynamodb.batch_get_item(RequestItems={"no-such-table": {"Keys": [{"pk": {"S": "x"}}]}})
        assert (info.value.error, info.value.status) == ("ResourceNotFoundException", 400)


def test_ssm_get_parameter_against_moto(moto_endpoint: str) -> None:
    with mock_aws():
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name="/auth/jwks", Value="{}", Type="String"
        )
        assert get_parameter("/auth/jwks", "us-east-1", KEYS, endpoint=moto_endpoint) == "{}"


def test_checksum_is_checked_when_sent(local_server: Callable[..., LocalServer]) -> None:
    body = b'{"Responses": {}, "UnprocessedKeys": {}}'
    good = local_server(lambda h, _: send(h, 200, body, {"x-amz-crc32": str(zlib.crc32(body))}))
    assert client_for(good.url).call("BatchGetItem", {}) == {"Responses": {}, "UnprocessedKeys": {}}
    bad = local_server(lambda h, _: send(h, 200, body, {"x-amz-crc32": str(zlib.crc32(body) ^ 1)}))
    with pytest.raises(Exception, match="ChecksumError"):
        client_for(bad.url).call("BatchGetItem", {})
    assert len(bad.requests) == 2  # damaged on the way: retried once


def test_error_code_from_the_body_or_the_header(local_server: Callable[..., LocalServer]) -> None:
    in_body = local_server(
        lambda h, _: send(
            h, 400, b'{"__type": "com.amazon.coral.validate#ValidationException", "message": "no"}'
        )
    )
    with pytest.raises(ServiceError) as info:
        client_for(in_body.url).call("BatchGetItem", {})
    assert (info.value.error, info.value.code, info.value.retryable) == ("ValidationException",) * 2 + (
        False,
    )
    assert len(in_body.requests) == 1  # a validation error is never retried
    in_header = local_server(
        lambda h, _: send(h, 400, b"", {"x-amzn-ErrorType": "ThrottlingException:http://x/"})
    )
    with pytest.raises(ServiceError) as info:
        client_for(in_header.url).call("BatchGetItem", {})
    assert info.value.error == "ThrottlingException" and len(in_header.requests) == 2


def test_a_non_object_success_is_refused(local_server: Callable[..., LocalServer]) -> None:
    server = local_server(lambda h, _: send(h, 200, b"[]"))
    with pytest.raises(MalformedResponseError):
        client_for(server.url).call("BatchGetItem", {})
    assert len(server.requests) == 1


def test_refused_credentials_are_fetched_again(local_server: Callable[..., LocalServer]) -> None:
    forgotten: list[int] = []

    class Source(StaticCredentials):
        def forget(self) -> None:
            forgotten.append(1)

    server = local_server(lambda h, _: send(h, 400, b'{"__type": "ExpiredTokenException", "message": "old"}'))
    with pytest.raises(ServiceError):
        client_for(server.url, Source(Credentials("a", "b"))).call("BatchGetItem", {})
    assert forgotten == [1]


def test_the_request_is_signed_for_its_host_and_target(local_server: Callable[..., LocalServer]) -> None:
    server = local_server(lambda h, _: send(h, 200, b"{}"))
    client_for(server.url).call("BatchGetItem", {"RequestItems": {}})
    _, headers, body = server.requests[0]
    assert headers["Host"] == server.url.removeprefix("http://").rstrip("/")
    assert headers["X-Amz-Target"] == "DynamoDB_20120810.BatchGetItem"
    assert headers["Content-Type"] == "application/x-amz-json-1.0"
    assert headers["X-Amz-Security-Token"] == "testing"
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,"
        in headers["Authorization"]
    )
    assert json.loads(body) == {"RequestItems": {}}


def test_concurrent_callers_each_get_a_connection(local_server: Callable[..., LocalServer]) -> None:
    server = local_server(lambda h, _: send(h, 200, b'{"ok": true}'))
    client = client_for(server.url)
    answers: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: answers.append(client.call("BatchGetItem", {}))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [{"ok": True}] * 8
    assert 1 <= len(client._idle) <= 8 and server.connections == len(client._idle)


def test_connection_is_kept_alive_and_reopened_when_idle_too_long(
    local_server: Callable[..., LocalServer],
) -> None:
    server = local_server(lambda h, _: send(h, 200, b"{}"))
    client = client_for(server.url)
    for _ in range(3):
        client.call("BatchGetItem", {})
    assert server.connections == 1
    idle = client_for(server.url, max_idle_seconds=0)
    idle.call("BatchGetItem", {})
    idle.call("BatchGetItem", {})
    assert server.connections == 3


# --------------------------------------------------------------------------- requests per authorization


@pytest.fixture
def counted(moto_endpoint: str) -> Iterator[FaultyDynamoDB]:
    with mock_aws():
        create_tables(boto3.client("dynamodb", region_name="us-east-1"), denylist=DENYLIST)
        with faulty_dynamodb(moto_endpoint) as endpoint:
            yield endpoint


def test_one_request_per_check_and_none_within_the_cache_window(counted: FaultyDynamoDB) -> None:
    from authorizer.tokens.claims import TokenClaims

    now = [1_900_000_000.0]
    revocations = RevocationList(
        DynamoDB.connect_to("us-east-1", counted.url, KEYS), DENYLIST, cache_seconds=5, clock=lambda: now[0]
    )
    claims = TokenClaims(sub="u", jti="j", iat=int(now[0]), exp=int(now[0]) + 300, sid="s")
    revocations.check(claims)
    assert counted.passed["BatchGetItem"] == 1  # jti, sid and user in one request
    now[0] += 4
    revocations.check(claims)
    assert counted.passed["BatchGetItem"] == 1  # cached
    now[0] += 2
    revocations.check(claims)
    assert counted.passed["BatchGetItem"] == 2


# --------------------------------------------------------------------------- SnapStart


@pytest.fixture
def snapstart_hooks(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Callable[[], None]]]:
    """Lambda's SnapStart runtime module, as far as we use it: the hooks registered with it."""
    hooks: dict[str, list[Callable[[], None]]] = {"before": [], "after": []}
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = hooks["before"].append  # type: ignore[attr-defined]
    runtime.register_after_restore = hooks["after"].append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    return hooks


def test_snapstart_hooks_drop_the_connection_and_credentials_and_warm_up_after_restore(
    local_server: Callable[..., LocalServer], snapstart_hooks: dict[str, list[Callable[[], None]]]
) -> None:
    hooks = snapstart_hooks
    forgotten: list[int] = []

    class Source(StaticCredentials):
        def forget(self) -> None:
            forgotten.append(1)

    server = local_server(lambda h, _: send(h, 200, b"{}"))
    client = client_for(server.url, Source(Credentials("a", "b")))
    assert snapstart.register(client, client._credentials)
    client.call("BatchGetItem", {})
    assert server.connections == 1

    (before,), (after,) = hooks["before"], hooks["after"]
    before()
    assert client._idle == [] and forgotten == [1]
    after()  # restored: credentials fetched again, a new connection opened before any request
    assert forgotten == [1, 1] and len(client._idle) == 1
    client.call("BatchGetItem", {})
    assert server.connections == 2


def test_snapstart_hooks_are_not_registered_outside_lambda() -> None:
    assert "snapshot_restore_py" not in sys.modules
    assert not snapstart.register(client_for("http://127.0.0.1:9/"), KEYS)


def test_with_snapstart_no_tls_context_is_built_before_the_snapshot(
    ring: Any, snapstart_hooks: dict[str, list[Callable[[], None]]]
) -> None:
    # Creating a TLS context draws randomness (OpenSSL seeds its generator); every environment
    # restored from one snapshot would share it. So: built after the restore, not at init.
    import json as json_module

    from authorizer.aws import tls
    from authorizer.gateway.bootstrap import build_authorizer
    from authorizer.gateway.config import AuthorizerConfig

    hooks = snapstart_hooks
    env = {
        "AUTH_ISSUER": "https://auth.example.test",
        "AUTH_AUDIENCE": "orders-api",
        "AUTH_JWKS": json_module.dumps(ring.jwks()),
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AUTH_DYNAMODB_ENDPOINT": "https://127.0.0.1:9",
    }
    tls._context.cache_clear()
    try:
        build_authorizer(AuthorizerConfig.from_env(env))
        assert tls._context.cache_info().currsize == 0
        hooks["before"][0]()
        hooks["after"][0]()  # connecting to 127.0.0.1:9 fails (logged); the context is built
        assert tls._context.cache_info().currsize == 1
    finally:
        tls._context.cache_clear()


def test_a_header_that_cannot_be_sent_is_the_clients_own_error(
    local_server: Callable[..., LocalServer],
) -> None:
    # A session token with a line break (a broken credential endpoint, say) must not inject a
    # header, nor escape as a ValueError.
    server = local_server(lambda h, _: send(h, 200, b"{}"))
    client = client_for(server.url, StaticCredentials(Credentials("AKID", "secret", "token\r\nX-Evil: 1")))
    with pytest.raises(AwsRequestError, match="InvalidRequest"):
        client.call("BatchGetItem", {})
    assert server.requests == []
