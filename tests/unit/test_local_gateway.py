"""The local HTTP API gateway, driven through its pure `handle()` with real handlers in containers.

Handlers live in tests/unit/local_fixtures; the routes and authorizers come from a small
serverless.yml written to tmp_path (local_fixtures/service.py). Every function runs in container
processes of its own, so the fixture authorizers record their events in files.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from auth_service.local.container_limits import ContainerLimits
from auth_service.local.gateway import MAX_BODY_BYTES, HttpApiGateway
from auth_service.local.responses import GatewayResponse
from auth_service.local.service_definition import load_service_definition
from tests.unit.local_fixtures import service
from tests.unit.local_fixtures.authorizers import recorded
from tests.unit.local_fixtures.handlers import script_body

Headers = list[tuple[str, str]]


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the fixture authorizers of this test's containers record their events."""
    directory = tmp_path / "events"
    directory.mkdir()
    monkeypatch.setenv("LOCAL_FIXTURE_EVENTS_DIR", str(directory))
    return directory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gateway(tmp_path: Path, clock: FakeClock) -> Iterator[HttpApiGateway]:
    with HttpApiGateway(load_service_definition(service.write(tmp_path)), clock=clock) as gateway:
        yield gateway


def call(
    gateway: HttpApiGateway,
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Headers | None = None,
    body: bytes = b"",
) -> GatewayResponse:
    return gateway.handle(method, path, query, headers or [], body, "203.0.113.9")


def echoed(response: GatewayResponse) -> dict[str, Any]:
    assert response.status == 200, response.body
    document: dict[str, Any] = json.loads(response.body)
    return document


def message(response: GatewayResponse) -> Any:
    assert response.header("content-type") == "application/json"
    return json.loads(response.body)


# --- routing ---------------------------------------------------------------------------------


def test_unknown_path_is_404_with_api_gateway_body(gateway: HttpApiGateway) -> None:
    response = call(gateway, "GET", "/nowhere")
    assert response.status == 404
    assert message(response) == {"message": "Not Found"}
    assert response.header("apigw-requestid")


def test_known_path_with_unrouted_method_is_404(gateway: HttpApiGateway) -> None:
    assert call(gateway, "DELETE", "/items/1").status == 404


def test_path_parameter_is_matched_and_decoded(gateway: HttpApiGateway) -> None:
    event = echoed(call(gateway, "GET", "/items/a%20b"))["event"]
    assert event["routeKey"] == "GET /items/{id}"
    assert event["pathParameters"] == {"id": "a b"}
    assert event["rawPath"] == "/items/a%20b"


def test_literal_route_beats_path_parameter(gateway: HttpApiGateway) -> None:
    event = echoed(call(gateway, "GET", "/items/special"))["event"]
    assert event["routeKey"] == "GET /items/special"
    assert "pathParameters" not in event


def test_path_parameter_does_not_match_extra_segments(gateway: HttpApiGateway) -> None:
    assert call(gateway, "GET", "/items/1/more").status == 404


def test_greedy_proxy_takes_the_rest_and_exact_method_beats_any(gateway: HttpApiGateway) -> None:
    get = echoed(call(gateway, "GET", "/files/a/b/c.txt"))["event"]
    assert get["routeKey"] == "GET /files/{proxy+}"
    assert get["pathParameters"] == {"proxy": "a/b/c.txt"}
    put = echoed(call(gateway, "PUT", "/files/x"))["event"]
    assert put["routeKey"] == "ANY /files/{proxy+}"


def test_greedy_proxy_needs_at_least_one_segment(gateway: HttpApiGateway) -> None:
    assert call(gateway, "GET", "/files").status == 404
    assert call(gateway, "GET", "/files/").status == 404


def test_default_route_catches_what_nothing_else_matches(tmp_path: Path) -> None:
    definition = load_service_definition(service.write(tmp_path, service.CATCH_ALL_YML))
    with HttpApiGateway(definition) as gateway:
        assert echoed(call(gateway, "GET", "/exact"))["event"]["routeKey"] == "GET /exact"
        fallback = echoed(call(gateway, "POST", "/anything/else"))["event"]
    assert fallback["routeKey"] == "$default"
    assert fallback["requestContext"]["routeKey"] == "$default"


# --- the payload format 2.0 event ------------------------------------------------------------


def test_event_shape(gateway: HttpApiGateway, clock: FakeClock) -> None:
    response = call(
        gateway,
        "GET",
        "/items/42",
        query="a=1&b=two&a=3&empty=",
        headers=[("Host", "127.0.0.1:8000"), ("User-Agent", "pytest"), ("X-Custom", "v")],
    )
    event = echoed(response)["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawQueryString"] == "a=1&b=two&a=3&empty="
    assert event["queryStringParameters"] == {"a": "1,3", "b": "two", "empty": ""}
    assert event["isBase64Encoded"] is False
    assert "body" not in event and "cookies" not in event
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/items/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "203.0.113.9",
        "userAgent": "pytest",
    }
    assert context["stage"] == "$default"
    assert context["routeKey"] == "GET /items/{id}"
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == gateway.api.api_id
    assert context["domainName"] == "127.0.0.1"
    assert context["domainPrefix"] == "127"
    assert context["timeEpoch"] == int(clock.now * 1000)
    assert context["time"] == "14/Nov/2023:22:13:20 +0000"
    assert context["requestId"] == response.header("apigw-requestid")
    assert "authorizer" not in context  # the route has no authorizer


def test_headers_are_lowercased_and_repeats_comma_joined(gateway: HttpApiGateway) -> None:
    headers = [("X-Repeat", "one"), ("x-repeat", "two"), ("Accept", "*/*")]
    event = echoed(call(gateway, "GET", "/items/1", headers=headers))["event"]
    assert event["headers"]["x-repeat"] == "one,two"
    assert event["headers"]["accept"] == "*/*"
    assert all(name == name.lower() for name in event["headers"])
    assert event["headers"]["x-forwarded-for"] == "203.0.113.9"


def test_cookie_header_becomes_the_cookies_array(gateway: HttpApiGateway) -> None:
    headers = [("Cookie", "a=1; b=2"), ("Cookie", "c=3")]
    event = echoed(call(gateway, "GET", "/items/1", headers=headers))["event"]
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]


def test_json_body_is_passed_as_text(gateway: HttpApiGateway) -> None:
    body = json.dumps({"username": "alice"}).encode()
    headers = [("Content-Type", "application/json; charset=utf-8")]
    event = echoed(call(gateway, "POST", "/echo", headers=headers, body=body))["event"]
    assert event["isBase64Encoded"] is False
    assert event["body"] == body.decode()


@pytest.mark.parametrize(
    "content_type",
    [None, "application/octet-stream", "application/x-www-form-urlencoded", "image/png"],
)
def test_non_text_bodies_are_base64_encoded(gateway: HttpApiGateway, content_type: str | None) -> None:
    body = b"\x00\xffgrant_type=password"
    headers = [("Content-Type", content_type)] if content_type else []
    event = echoed(call(gateway, "POST", "/echo", headers=headers, body=body))["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_text_body_that_is_not_utf8_falls_back_to_base64(gateway: HttpApiGateway) -> None:
    headers = [("Content-Type", "text/plain")]
    event = echoed(call(gateway, "POST", "/echo", headers=headers, body=b"\xff\xfe"))["event"]
    assert event["isBase64Encoded"] is True


def test_body_over_10_mb_is_413_and_not_invoked(gateway: HttpApiGateway) -> None:
    response = call(gateway, "POST", "/echo", body=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status == 413
    assert message(response) == {"message": "Request Entity Too Large"}


def test_lambda_context(gateway: HttpApiGateway) -> None:
    document = echoed(call(gateway, "GET", "/items/1"))
    context = document["context"]
    assert context["function_name"] == "fixture-api-local-echo"
    assert context["memory_limit_in_mb"] == "128"
    assert context["invoked_function_arn"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:fixture-api-local-echo"
    )
    assert context["log_group_name"] == "/aws/lambda/fixture-api-local-echo"
    assert context["log_stream_name"].endswith(tuple("0123456789abcdef"))
    assert "[$LATEST]" in context["log_stream_name"]
    assert 0 < context["remaining_ms"] <= 3000


def test_the_container_has_the_literal_environment_and_serve_keeps_its_own(
    gateway: HttpApiGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNRESOLVED_VARIABLE", "from the process")
    seen = echoed(call(gateway, "GET", "/configured"))
    assert seen == {
        "setting_at_import": "configured",  # functions.configured.environment
        "shared_at_import": "shared-value",  # provider.environment
        "number_at_import": "5",
        "unresolved_at_import": "from the process",  # ${...} values are not overlaid
        "setting_now": "configured",  # the container's environment, for its whole life
    }
    assert "LOCAL_FIXTURE_SETTING" not in os.environ


def test_each_request_gets_its_own_request_id(gateway: HttpApiGateway) -> None:
    first = echoed(call(gateway, "GET", "/items/1"))
    second = echoed(call(gateway, "GET", "/items/1"))
    assert first["event"]["requestContext"]["requestId"] != second["event"]["requestContext"]["requestId"]
    assert first["context"]["aws_request_id"] != second["context"]["aws_request_id"]


# --- Lambda authorizers ----------------------------------------------------------------------


def test_missing_identity_source_is_401_without_invoking_the_authorizer(
    gateway: HttpApiGateway, events: Path
) -> None:
    response = call(gateway, "GET", "/simple")
    assert response.status == 401
    assert message(response) == {"message": "Unauthorized"}
    empty = call(gateway, "GET", "/simple", headers=[("Authorization", "")])
    assert empty.status == 401
    assert recorded(events, "simple") == []


def test_simple_response_allow_passes_context_to_the_integration(
    gateway: HttpApiGateway, events: Path
) -> None:
    event = echoed(call(gateway, "GET", "/simple", headers=[("Authorization", "allow")]))["event"]
    assert event["requestContext"]["authorizer"] == {"lambda": {"sub": "user-1", "scope": "profile", "n": 7}}
    assert len(recorded(events, "simple")) == 1


def test_allow_without_context(gateway: HttpApiGateway) -> None:
    headers = [("Authorization", "allow-no-context")]
    event = echoed(call(gateway, "GET", "/simple", headers=headers))["event"]
    assert event["requestContext"]["authorizer"] == {"lambda": None}


def test_simple_response_deny_is_403(gateway: HttpApiGateway) -> None:
    response = call(gateway, "GET", "/simple", headers=[("Authorization", "deny")])
    assert response.status == 403
    assert message(response) == {"message": "Forbidden"}


def test_authorizer_event_shape(gateway: HttpApiGateway, events: Path) -> None:
    headers = [("Authorization", "allow"), ("Cookie", "k=v"), ("Host", "localhost:9000")]
    call(gateway, "GET", "/simple", query="x=1", headers=headers, body=b"")
    (event,) = recorded(events, "simple")
    assert event["version"] == "2.0"
    assert event["type"] == "REQUEST"
    assert event["routeArn"] == "arn:aws:execute-api:us-east-1:123456789012:localapi01/$default/GET/simple"
    assert event["identitySource"] == ["allow"]
    assert event["routeKey"] == "GET /simple"
    assert event["rawPath"] == "/simple"
    assert event["rawQueryString"] == "x=1"
    assert event["cookies"] == ["k=v"]
    assert event["headers"]["authorization"] == "allow"
    assert event["queryStringParameters"] == {"x": "1"}
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["domainName"] == "localhost"
    assert "body" not in event and "authorizer" not in event["requestContext"]


@pytest.mark.parametrize("token", ["boom", "string-verdict", "garbage"])
def test_authorizer_failure_or_malformed_answer_is_500(
    gateway: HttpApiGateway, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    response = call(gateway, "GET", "/simple", headers=[("Authorization", token)])
    assert response.status == 500
    assert message(response) == {"message": "Internal Server Error"}
    errors = capsys.readouterr().err
    assert "simpleAuth" in errors
    if token == "boom":
        assert "Traceback" in errors and "authorizer exploded" in errors


def test_iam_policy_allow_passes_context(gateway: HttpApiGateway, events: Path) -> None:
    event = echoed(call(gateway, "GET", "/iam/42", headers=[("Authorization", "allow")]))["event"]
    assert event["requestContext"]["authorizer"] == {"lambda": {"sub": "user-1"}}
    assert event["pathParameters"] == {"id": "42"}
    (authorizer_event,) = recorded(events, "iam")
    assert authorizer_event["routeArn"].endswith("/$default/GET/iam/42")
    assert authorizer_event["pathParameters"] == {"id": "42"}


@pytest.mark.parametrize(
    ("token", "path", "status"),
    [
        ("allow-wildcard", "/iam/42", 200),
        ("allow-single-char", "/iam/42", 200),
        ("allow-single-char", "/iam/420", 403),
        ("explicit-deny", "/iam/42", 403),
        ("other-route", "/iam/42", 403),
        ("no-statement", "/iam/42", 500),
        ("simple-answer", "/iam/42", 500),
    ],
)
def test_iam_policy_evaluation(gateway: HttpApiGateway, token: str, path: str, status: int) -> None:
    assert call(gateway, "GET", path, headers=[("Authorization", token)]).status == status


def test_no_cache_when_ttl_is_zero(gateway: HttpApiGateway, events: Path) -> None:
    for _ in range(3):
        assert call(gateway, "GET", "/simple", headers=[("Authorization", "allow")]).status == 200
    assert len(recorded(events, "simple")) == 3


def test_cache_is_keyed_by_identity_sources_and_expires(
    gateway: HttpApiGateway, clock: FakeClock, events: Path
) -> None:
    def get(token: str, tenant: str = "t1") -> int:
        headers = [("Authorization", token)]
        return call(gateway, "GET", "/cached", query=f"tenant={tenant}", headers=headers).status

    assert get("allow") == 200
    assert get("allow") == 200
    assert len(recorded(events, "simple")) == 1  # the second answer came from the cache
    assert get("allow", tenant="t2") == 200
    assert len(recorded(events, "simple")) == 2  # another identity, another invocation
    assert get("deny") == 403
    assert get("deny") == 403
    assert len(recorded(events, "simple")) == 3  # denials are cached too
    clock.now += 59
    assert get("allow") == 200
    assert len(recorded(events, "simple")) == 3
    clock.now += 1  # resultTtlInSeconds: 60 (the literal default of ${param:cachedTtl, '60'})
    assert get("allow") == 200
    assert len(recorded(events, "simple")) == 4


def test_failed_authorizer_answers_are_not_cached(gateway: HttpApiGateway, events: Path) -> None:
    headers = [("Authorization", "boom")]
    assert call(gateway, "GET", "/cached", query="tenant=t", headers=headers).status == 500
    assert call(gateway, "GET", "/cached", query="tenant=t", headers=headers).status == 500
    assert len(recorded(events, "simple")) == 2


# --- integration responses -------------------------------------------------------------------


def scripted(gateway: HttpApiGateway, result: Any) -> GatewayResponse:
    return run_script(gateway, {"return": result})


def run_script(gateway: HttpApiGateway, script: dict[str, Any]) -> GatewayResponse:
    headers = [("Content-Type", "application/json")]
    return call(gateway, "GET", "/scripted", headers=headers, body=script_body(script))


def test_full_response_object(gateway: HttpApiGateway) -> None:
    response = scripted(
        gateway,
        {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-Count": 3},
            "cookies": ["a=1; HttpOnly", "b=2"],
            "body": "created",
        },
    )
    assert response.status == 201
    assert response.body == b"created"
    assert response.header("content-type") == "text/plain"
    assert response.header("x-count") == "3"
    assert [v for k, v in response.headers if k.lower() == "set-cookie"] == ["a=1; HttpOnly", "b=2"]
    assert response.header("apigw-requestid")


def test_base64_response_body_is_decoded(gateway: HttpApiGateway) -> None:
    payload = bytes(range(256))
    response = scripted(
        gateway,
        {"statusCode": 200, "body": base64.b64encode(payload).decode(), "isBase64Encoded": True},
    )
    assert response.body == payload


def test_status_code_without_body(gateway: HttpApiGateway) -> None:
    response = scripted(gateway, {"statusCode": 204})
    assert response.status == 204
    assert response.body == b""


@pytest.mark.parametrize("result", [{"message": "hi"}, [1, 2], 42, None, {"status": "ok"}])
def test_json_value_without_status_code_is_200_json(gateway: HttpApiGateway, result: Any) -> None:
    response = scripted(gateway, result)
    assert response.status == 200
    assert response.header("content-type") == "application/json"
    assert json.loads(response.body) == result


def test_string_result_is_sent_as_the_body(gateway: HttpApiGateway) -> None:
    response = scripted(gateway, "Hello from Lambda!")
    assert response.status == 200
    assert response.body == b"Hello from Lambda!"


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "200"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "cookies": "a=1"},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
        {"statusCode": 99},
    ],
)
def test_malformed_response_is_500(
    gateway: HttpApiGateway, result: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    response = scripted(gateway, result)
    assert response.status == 500
    assert message(response) == {"message": "Internal Server Error"}
    assert "malformed response" in capsys.readouterr().err


def test_handler_exception_is_500_with_traceback_on_stderr(
    gateway: HttpApiGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    response = run_script(gateway, {"raise": "handler bug"})
    assert response.status == 500
    assert message(response) == {"message": "Internal Server Error"}
    errors = capsys.readouterr().err
    assert "Traceback" in errors and "ValueError: handler bug" in errors
    assert str(response.header("apigw-requestid")) in errors


def test_result_that_is_not_json_serialisable_is_500(gateway: HttpApiGateway) -> None:
    assert run_script(gateway, {"unserialisable": True}).status == 500


def test_failed_cold_start_is_retried_on_the_next_invocation(
    gateway: HttpApiGateway, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOCAL_FIXTURE_FAIL_IMPORT", "1")
    assert call(gateway, "GET", "/broken-import").status == 500
    assert "cold start failed on purpose" in capsys.readouterr().err
    monkeypatch.delenv("LOCAL_FIXTURE_FAIL_IMPORT")
    response = call(gateway, "GET", "/broken-import")
    assert response.status == 200
    assert response.body == b"recovered"


def test_concurrent_requests_run_in_separate_containers_one_at_a_time(tmp_path: Path) -> None:
    definition = load_service_definition(service.write(tmp_path))
    with HttpApiGateway(definition, containers=ContainerLimits(per_function={"slow": 2})) as gateway:
        with ThreadPoolExecutor(max_workers=4) as threads:
            responses = list(threads.map(lambda _: call(gateway, "GET", "/slow"), range(4)))
        runs = [json.loads(response.body) for response in responses]
        assert [response.status for response in responses] == [200] * 4
        by_container: dict[int, list[tuple[float, float]]] = {}
        for run in runs:
            by_container.setdefault(run["pid"], []).append((run["started"], run["ended"]))
        # Two containers (the maximum), each serving its invocations one after the other.
        assert len(by_container) == 2
        for spans in by_container.values():
            spans.sort()
            assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans))
        assert os.getpid() not in by_container
