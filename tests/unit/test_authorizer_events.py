"""Unit tests for authorizer.gateway.events (API Gateway authorizer events) and authorizer.gateway.routes.

Event dicts follow the shapes AWS documents for REST API TOKEN / REQUEST authorizers and for
HTTP API authorizers with payload format 2.0.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from authorizer.errors import ConfigurationError
from authorizer.gateway.events import (
    ApiArn,
    AuthorizationRequest,
    EventFormat,
    MalformedEventError,
    bearer_token,
    header,
    parse_event,
)
from authorizer.gateway.routes import RouteRule, RouteScopes

ARN_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"


# --------------------------------------------------------------------------- documented event shapes


def rest_token_event(
    authorization: Any = f"Bearer {TOKEN}", method: str = "GET", path: str = "orders/17"
) -> dict[str, Any]:
    return {
        "type": "TOKEN",
        "authorizationToken": authorization,
        "methodArn": f"{ARN_PREFIX}/{method}/{path}",
    }


def rest_request_event(
    headers: dict[str, Any] | None = None,
    method: str = "GET",
    resource: str = "/orders/{id}",
    path: str = "/orders/17",
) -> dict[str, Any]:
    if headers is None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
    return {
        "type": "REQUEST",
        "methodArn": f"{ARN_PREFIX}/{method}{path}",
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {
            "X-AMZ-Date": "",
            "Accept": "*/*",
            "CloudFront-Viewer-Country": "US",
            "Host": "abcdef123.execute-api.us-east-1.amazonaws.com",
            "User-Agent": "curl/8.4.0",
            **headers,
        },
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": {"QueryString1": "queryValue1"},
        "multiValueQueryStringParameters": {"QueryString1": ["queryValue1"]},
        "pathParameters": {"id": "17"},
        "stageVariables": {"StageVar1": "stageValue1"},
        "requestContext": {
            "path": f"/test{path}",
            "accountId": "123456789012",
            "resourceId": "05c7jb",
            "stage": "test",
            "requestId": "ff2f4f1c-9c6c-4b5b-8f4c-1bd5c3a0d2c1",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.4.0"},
            "resourcePath": resource,
            "httpMethod": method,
            "apiId": "abcdef123",
        },
    }


def http_v2_event(
    headers: dict[str, Any] | None = None,
    route_key: str = "GET /orders/{id}",
    raw_path: str = "/orders/17",
    identity_source: list[str] | None = None,
) -> dict[str, Any]:
    if headers is None:
        headers = {"authorization": f"Bearer {TOKEN}"}
    method = route_key.split(" ")[0] if " " in route_key else "GET"
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"{ARN_PREFIX}/{method}{raw_path}",
        "identitySource": identity_source if identity_source is not None else list(headers.values())[:1],
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
        "cookies": ["cookie1", "cookie2"],
        "headers": {"accept": "*/*", "host": "abcdef123.execute-api.us-east-1.amazonaws.com", **headers},
        "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef123",
            "domainName": "abcdef123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef123",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.4.0",
            },
            "requestId": "id",
            "routeKey": route_key,
            "stage": "test",
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390,
        },
        "pathParameters": {"id": "17"},
        "stageVariables": {"stageVariable1": "value1"},
    }


# --------------------------------------------------------------------------- REST TOKEN


def test_rest_token_event() -> None:
    request = parse_event(rest_token_event())
    assert request == AuthorizationRequest(
        format=EventFormat.REST_TOKEN,
        token=TOKEN,
        method="GET",
        path="/orders/17",
        arn=ApiArn(prefix=ARN_PREFIX, method="GET", path="/orders/17"),
    )


def test_rest_token_event_for_the_root_resource() -> None:
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {TOKEN}", "methodArn": f"{ARN_PREFIX}/POST/"}
    request = parse_event(event)
    assert (request.method, request.path, request.arn.prefix) == ("POST", "/", ARN_PREFIX)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    assert parse_event(rest_token_event(f"{scheme} {TOKEN}")).token == TOKEN


@pytest.mark.parametrize(
    "value",
    [f"  Bearer {TOKEN}  ", f"Bearer   {TOKEN}", f"\tBearer {TOKEN}\n"],
)
def test_surrounding_whitespace_is_tolerated(value: str) -> None:
    assert bearer_token(value) == TOKEN


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        TOKEN,  # no scheme
        f"Basic {TOKEN}",
        "Basic dXNlcjpwYXNz",
        f"Token {TOKEN}",
        f"Bearer{TOKEN}",
        f"DPoP {TOKEN}",
        f"Bearer {TOKEN} extra",
        f"Bearer {TOKEN}, Bearer {TOKEN}",
        f"Bearer\t{TOKEN}",
        123,
        ["Bearer", TOKEN],
        {"Bearer": TOKEN},
    ],
)
def test_missing_blank_or_non_bearer_credentials_give_no_token(value: Any) -> None:
    assert bearer_token(value) is None
    assert parse_event(rest_token_event(value)).token is None


def test_rest_token_event_without_authorization_token_field() -> None:
    event = rest_token_event()
    del event["authorizationToken"]
    assert parse_event(event).token is None


# --------------------------------------------------------------------------- REST REQUEST


def test_rest_request_event() -> None:
    request = parse_event(rest_request_event())
    assert request.format is EventFormat.REST_REQUEST
    assert (request.token, request.method, request.path) == (TOKEN, "GET", "/orders/17")
    assert request.route == ("GET", "/orders/{id}")
    assert request.route_key == "GET /orders/{id}"
    assert request.arn == ApiArn(prefix=ARN_PREFIX, method="GET", path="/orders/17")


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"])
def test_rest_request_header_lookup_is_case_insensitive(name: str) -> None:
    assert parse_event(rest_request_event({name: f"Bearer {TOKEN}"})).token == TOKEN


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-Authorization": f"Bearer {TOKEN}"},
        {"Authorization-Bearer": TOKEN},
        {"Authorization": None},
        {"Authorization": [f"Bearer {TOKEN}"]},
    ],
)
def test_rest_request_without_a_bearer_header_has_no_token(headers: dict[str, Any]) -> None:
    assert parse_event(rest_request_event(headers)).token is None


@pytest.mark.parametrize("headers", [None, [], "Authorization: Bearer x"])
def test_rest_request_with_null_or_odd_headers_has_no_token(headers: Any) -> None:
    event = rest_request_event()
    event["headers"] = headers
    assert parse_event(event).token is None


def test_rest_request_falls_back_to_the_arn_for_method_and_path() -> None:
    event = rest_request_event(method="DELETE", path="/orders/17")
    del event["httpMethod"]
    del event["resource"]
    request = parse_event(event)
    assert (request.method, request.path) == ("DELETE", "/orders/17")


def test_rest_request_method_is_upper_cased() -> None:
    event = rest_request_event()
    event["httpMethod"] = "patch"
    assert parse_event(event).method == "PATCH"


def test_http_api_payload_1_0_is_a_rest_request() -> None:
    event = rest_request_event()
    event["version"] = "1.0"
    del event["methodArn"]
    event["routeArn"] = f"{ARN_PREFIX}/GET/orders/17"
    request = parse_event(event)
    assert request.format is EventFormat.REST_REQUEST
    assert (request.token, request.arn.prefix) == (TOKEN, ARN_PREFIX)


# --------------------------------------------------------------------------- HTTP API 2.0


def test_http_v2_event() -> None:
    request = parse_event(http_v2_event())
    assert request.format is EventFormat.HTTP_V2
    assert (request.token, request.method, request.path) == (TOKEN, "GET", "/orders/17")
    assert request.route == ("GET", "/orders/{id}")
    assert request.arn == ApiArn(prefix=ARN_PREFIX, method="GET", path="/orders/17")


@pytest.mark.parametrize("name", ["authorization", "Authorization", "AUTHORIZATION"])
def test_http_v2_header_lookup_is_case_insensitive(name: str) -> None:
    assert parse_event(http_v2_event({name: f"bearer {TOKEN}"})).token == TOKEN


def test_http_v2_default_route_names_no_template() -> None:
    event = http_v2_event(route_key="$default", raw_path="/anything/here")
    event["routeArn"] = f"{ARN_PREFIX}/PUT/anything/here"
    event["requestContext"]["http"]["method"] = "PUT"
    request = parse_event(event)
    assert (request.method, request.path, request.route) == ("PUT", "/anything/here", None)
    assert request.route_key == "PUT /anything/here"


def test_http_v2_without_request_context_takes_method_from_the_arn() -> None:
    event = http_v2_event(route_key="$default", raw_path="/anything/here")
    event["routeArn"] = f"{ARN_PREFIX}/PUT/anything/here"
    del event["requestContext"]
    assert parse_event(event).method == "PUT"


def test_http_v2_proxy_route_key() -> None:
    event = http_v2_event(route_key="ANY /admin/{proxy+}", raw_path="/admin/users/1")
    event["requestContext"]["http"]["method"] = "GET"  # API Gateway sends the real method
    request = parse_event(event)
    assert (request.method, request.path) == ("GET", "/admin/users/1")
    assert request.route == ("ANY", "/admin/{proxy+}")


def test_http_v2_falls_back_to_identity_source() -> None:
    event = http_v2_event(headers={"x-other": "1"}, identity_source=[f"Bearer {TOKEN}"])
    assert parse_event(event).token == TOKEN


@pytest.mark.parametrize("identity_source", [[], ["Basic abc"], [""], "Bearer abc"])
def test_http_v2_without_bearer_anywhere_has_no_token(identity_source: Any) -> None:
    event = http_v2_event(headers={"x-other": "1"})
    event["identitySource"] = identity_source
    assert parse_event(event).token is None


def test_http_v2_without_headers_has_no_token() -> None:
    event = http_v2_event()
    del event["headers"]
    event["identitySource"] = None
    assert parse_event(event).token is None


# --------------------------------------------------------------------------- malformed events


def _without(event: dict[str, Any], *names: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    for name in names:
        event.pop(name, None)
    return event


@pytest.mark.parametrize(
    "event",
    [
        None,
        "event",
        b"{}",
        [],
        [rest_token_event()],
        42,
        {},
        {"type": "token", "authorizationToken": "Bearer x", "methodArn": f"{ARN_PREFIX}/GET/x"},
        {"type": "COGNITO"},
        {"version": "3.0", "routeArn": f"{ARN_PREFIX}/GET/x"},
        _without(rest_token_event(), "methodArn"),
        {**rest_token_event(), "methodArn": None},
        {**rest_token_event(), "methodArn": 17},
        {**rest_token_event(), "methodArn": "not-an-arn"},
        {**rest_token_event(), "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test"},
        {**rest_token_event(), "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef123"},
        {**rest_token_event(), "methodArn": "arn:aws:execute-api:us-east-1:123456789012"},
        _without(rest_request_event(), "methodArn"),
        _without(http_v2_event(), "routeArn"),
        {**http_v2_event(), "routeArn": "GET /orders"},
    ],
)
def test_malformed_events_are_refused(event: Any) -> None:
    with pytest.raises(MalformedEventError):
        parse_event(event)


def test_malformed_event_error_is_a_value_error() -> None:
    assert issubclass(MalformedEventError, ValueError)


# --------------------------------------------------------------------------- ApiArn and header()


@pytest.mark.parametrize(
    ("arn", "prefix", "method", "path"),
    [
        (f"{ARN_PREFIX}/GET/orders/17", ARN_PREFIX, "GET", "/orders/17"),
        (f"{ARN_PREFIX}/get/orders", ARN_PREFIX, "GET", "/orders"),
        (f"{ARN_PREFIX}/GET/", ARN_PREFIX, "GET", "/"),
        (f"{ARN_PREFIX}/GET", ARN_PREFIX, "GET", "/"),
        (f"{ARN_PREFIX}/*/a/b/c/d", ARN_PREFIX, "*", "/a/b/c/d"),
        (
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/POST/orders",
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default",
            "POST",
            "/orders",
        ),
        (
            "arn:aws-cn:execute-api:cn-north-1:123456789012:abcdef123/prod/GET/x",
            "arn:aws-cn:execute-api:cn-north-1:123456789012:abcdef123/prod",
            "GET",
            "/x",
        ),
    ],
)
def test_api_arn_parse(arn: str, prefix: str, method: str, path: str) -> None:
    assert ApiArn.parse(arn) == ApiArn(prefix=prefix, method=method, path=path)


@pytest.mark.parametrize("path", ["/admin/users:search/x/y", "/items/a:b", "/orders/1:2:3/items"])
def test_api_arn_parse_with_a_colon_in_the_path(path: str) -> None:
    assert ApiArn.parse(f"{ARN_PREFIX}/GET{path}") == ApiArn(prefix=ARN_PREFIX, method="GET", path=path)


def test_header_returns_first_case_insensitive_string_match() -> None:
    headers = {"Content-Type": "application/json", "AUTHORIZATION": "Bearer a"}
    assert header(headers, "authorization") == "Bearer a"
    assert header(headers, "Authorization") == "Bearer a"
    assert header(headers, "x-missing") is None
    assert header(None, "authorization") is None
    assert header({1: "Bearer a"}, "authorization") is None


# --------------------------------------------------------------------------- routes: matching


def rule(route: str, *scopes: str) -> RouteRule:
    (only,) = RouteScopes.from_mapping({route: list(scopes) or ["s"]}).rules
    return only


@pytest.mark.parametrize(
    ("route", "method", "path", "expected"),
    [
        ("GET /orders", "GET", "/orders", True),
        ("GET /orders", "get", "/orders", True),
        ("GET /orders", "GET", "/orders/", True),  # a trailing slash is the same resource
        ("GET /orders", "POST", "/orders", False),
        ("GET /orders", "GET", "/orders/17", False),
        ("GET /orders", "GET", "/order", False),
        ("GET /orders", "GET", "/ORDERS", False),
        ("GET /orders", "GET", "/", False),
        ("GET /orders/{id}", "GET", "/orders/17", True),
        ("GET /orders/{id}", "GET", "/orders/{id}", True),  # route templates (REST resource, HTTP routeKey)
        ("GET /orders/{id}", "GET", "/orders", False),
        ("GET /orders/{id}", "GET", "/orders/17/items", False),
        ("GET /orders/{id}/items", "GET", "/orders/17/items", True),
        ("GET /orders/{id}/items", "GET", "/orders/17/lines", False),
        ("ANY /admin/{proxy+}", "DELETE", "/admin/users/9", True),
        ("ANY /admin/{proxy+}", "GET", "/admin/x", True),
        ("ANY /admin/{proxy+}", "GET", "/admin/{proxy+}", True),
        ("ANY /admin/{proxy+}", "GET", "/admin", False),  # {proxy+} needs at least one segment
        ("ANY /admin/{proxy+}", "GET", "/administrator/x", False),
        ("ANY /admin/{proxy+}", "GET", "/public/admin/x", False),
        ("ANY /{proxy+}", "PATCH", "/anything/at/all", True),
        ("ANY /{proxy+}", "GET", "/", False),
        ("ANY /health", "HEAD", "/health", True),
        ("ANY /health", "OPTIONS", "/health", True),
        ("GET /", "GET", "/", True),
        ("GET /", "GET", "/x", False),
    ],
)
def test_route_rule_matching(route: str, method: str, path: str, expected: bool) -> None:
    assert rule(route).matches(method, path) is expected


def test_required_scopes_union_all_matching_rules() -> None:
    routes = RouteScopes.from_mapping(
        {
            "ANY /admin/{proxy+}": ["admin"],
            "DELETE /admin/users/{id}": ["admin", "users:delete"],
            "GET /orders": "orders:read orders:list",
            "GET /orders/{id}": ["orders:read"],
        }
    )
    assert routes.required("DELETE", "/admin/users/5") == {"admin", "users:delete"}
    assert routes.required("GET", "/admin/users/5") == {"admin"}
    assert routes.required("GET", "/orders") == {"orders:read", "orders:list"}
    assert routes.required("GET", "/orders/5") == {"orders:read"}
    assert routes.required("GET", "/health") == frozenset()
    assert routes.required("POST", "/orders") == frozenset()


def test_forbidden_lists_rules_whose_scopes_are_not_all_held() -> None:
    routes = RouteScopes.from_mapping(
        {"GET /orders": ["orders:read"], "POST /orders": ["orders:write"], "GET /both": ["orders:read", "x"]}
    )
    forbidden = routes.forbidden(frozenset({"orders:read"}))
    assert [(r.method, r.segments) for r in forbidden] == [("POST", ("orders",)), ("GET", ("both",))]
    assert routes.forbidden(frozenset({"orders:read", "orders:write", "x"})) == []


def test_no_routes_configured_requires_nothing() -> None:
    empty: tuple[Any, ...] = (None, {})
    for mapping in empty:
        routes = RouteScopes.from_mapping(mapping)
        assert routes.rules == []
        assert routes.required("GET", "/anything") == frozenset()


# --------------------------------------------------------------------------- routes: ARN patterns


@pytest.mark.parametrize(
    ("route", "resource"),
    [
        ("GET /orders", f"{ARN_PREFIX}/GET/orders"),
        ("get /orders", f"{ARN_PREFIX}/GET/orders"),
        ("GET /orders/{id}", f"{ARN_PREFIX}/GET/orders/*"),
        ("GET /orders/{id}/items", f"{ARN_PREFIX}/GET/orders/*/items"),
        ("ANY /admin/{proxy+}", f"{ARN_PREFIX}/*/admin/*"),
        ("ANY /health", f"{ARN_PREFIX}/*/health"),
        ("DELETE /", f"{ARN_PREFIX}/DELETE/"),
    ],
)
def test_arn_resource_patterns(route: str, resource: str) -> None:
    assert rule(route).arn_resource(ARN_PREFIX) == resource


# --------------------------------------------------------------------------- routes: configuration


def test_route_config_accepts_lists_and_space_separated_strings() -> None:
    routes = RouteScopes.from_mapping({"get /a": ["x", "y"], "POST /b": "x  y", "ANY /c/{proxy+}": []})
    assert [(r.method, r.segments, r.scopes) for r in routes.rules] == [
        ("GET", ("a",), frozenset({"x", "y"})),
        ("POST", ("b",), frozenset({"x", "y"})),
        ("ANY", ("c", "{proxy+}"), frozenset()),
    ]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ([], "JSON object"),
        ("GET /a", "JSON object"),
        ({"FETCH /a": ["x"]}, "FETCH"),
        ({"GET": ["x"]}, "GET"),
        ({"GET a": ["x"]}, "GET a"),
        ({"/a": ["x"]}, "/a"),
        ({"GET  /a": ["x"]}, "GET  /a"),
        # A space inside the path names no API Gateway route: the rule would never apply.
        ({"GET /admin /users": ["admin"]}, "GET /admin /users"),
        ({"GET /admin\t/users": ["admin"]}, "GET /admin"),
        ({"$default": ["x"]}, "default"),
        ({"GET /a": 5}, "list of strings"),
        ({"GET /a": None}, "list of strings"),
        ({"GET /a": {"scope": "x"}}, "list of strings"),
        ({"GET /a": ["x", 5]}, "list of strings"),
        ({"GET /a": ["x", ""]}, "list of strings"),
    ],
)
def test_route_config_refusals(mapping: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("$", "\\$")):
        RouteScopes.from_mapping(mapping)


# --------------------------------------------------------------------------- HTTP API 2.0: the two readings


def _published_v2() -> dict[str, Any]:
    sample = (
        Path(__file__).resolve().parents[1] / "events" / "powertools" / "apiGatewayAuthorizerV2Event.json"
    )
    event: dict[str, Any] = json.loads(sample.read_text())
    event["headers"] = {**event["headers"], "authorization": f"Bearer {TOKEN}"}
    del event["headers"]["Authorization"]
    return event


def _variants() -> list[dict[str, Any]]:
    base = _published_v2()
    out = [base]
    for path, value in [
        (("headers", "authorization"), "bearer " + TOKEN),
        (("headers", "authorization"), "Bearer  " + TOKEN),
        (("headers", "authorization"), "Bearer " + TOKEN + "\t"),
        (("headers", "authorization"), "Basic dXNlcjpwYXNz"),
        (("headers", "authorization"), ["Bearer " + TOKEN]),
        (("headers", "authorization"), None),
        (("rawPath",), ""),
        (("rawPath",), None),
        (("routeKey",), "$default"),
        (("routeKey",), 7),
        (("requestContext", "http", "method"), "post"),
        (("requestContext", "http", "method"), ""),
        (("requestContext", "http"), None),
        (("requestContext",), "x"),
        (("identitySource",), ["Bearer " + TOKEN]),
    ]:
        event = json.loads(json.dumps(base))
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        out.append(event)
    without = json.loads(json.dumps(base))
    del without["headers"]["authorization"]
    without["headers"]["AUTHORIZATION"] = f"Bearer {TOKEN}"
    out.append(without)
    return out


@pytest.mark.parametrize("event", _variants())
def test_the_straight_reading_of_a_payload_2_event_is_the_checked_one(event: dict[str, Any]) -> None:
    """`_http_v2` reads the usual event in one line; `_http_v2_checked` reads any: same answer."""
    from authorizer.gateway.events import _http_v2, _http_v2_checked

    fast = _http_v2(event)
    checked = _http_v2_checked(event)
    assert (fast.format, fast.token, fast.method, fast.path, fast.arn, fast.route) == (
        checked.format,
        checked.token,
        checked.method,
        checked.path,
        checked.arn,
        checked.route,
    )
