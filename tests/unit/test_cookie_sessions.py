"""Browser sessions: cookie settings, cookie reading and building, the CSRF rules, and the
authorizer taking the access token from a cookie (tests/e2e/test_cookies.py runs them over HTTP).

Tokens are issued with the real TokenIssuer and checked against a moto denylist.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from auth_service.config import ServiceConfig
from auth_service.cookies import SessionCookies
from auth_service.http import HttpError, Request
from auth_service.keys import KeyRing
from auth_service.local.service_definition import ServiceDefinitionError, load_service_definition
from auth_service.tokens import TokenIssuer
from authorizer.errors import ConfigurationError
from authorizer.gateway import responses
from authorizer.gateway.authorization import Authorizer
from authorizer.gateway.config import AuthorizerConfig, CookieSettings
from authorizer.gateway.cookies import (
    CSRF_HASH_CLAIM,
    CookieNames,
    CsrfError,
    check_csrf,
    cookie_pairs,
    cookie_value,
    csrf_hash,
)
from authorizer.gateway.events import parse_event
from authorizer.gateway.routes import RouteScopes
from authorizer.tokens.revocation import RevocationList
from authorizer.tokens.verifier import ACCESS, TokenVerifier
from tests.conftest import AUDIENCE, DENYLIST, ISSUER

APP = "https://app.example.com"
OTHER = "https://evil.example"
HTTP_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:xyz789/$default"
REST_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod"
NAMES = CookieNames.for_prefix(True)
LAX = "Secure; HttpOnly; SameSite=Lax"
COOKIES = CookieSettings(enabled=True, allowed_origins=frozenset({APP}))


def environment(**settings: str) -> dict[str, str]:
    base = {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AUTH_JWKS": json.dumps({"keys": []}),
    }
    return {**base, **settings}


# --------------------------------------------------------------------------- configuration


def test_cookies_are_off_by_default() -> None:
    config = AuthorizerConfig.from_env(environment())
    assert config.cookies == CookieSettings() and not config.cookies.enabled
    assert config.token_sources == {"header"}
    assert ServiceConfig.from_env(environment()).cookies == CookieSettings()


def test_cookie_settings_read() -> None:
    env = environment(
        AUTH_COOKIES="on",
        AUTH_ALLOWED_ORIGINS=f"{APP}, http://localhost:8000",
        AUTH_COOKIE_SAMESITE="lax",
        AUTH_COOKIE_SECURE_PREFIX="false",
    )
    config = AuthorizerConfig.from_env(env)
    assert config.cookies == CookieSettings(
        enabled=True,
        same_site="Lax",
        secure_prefix=False,
        allowed_origins=frozenset({APP, "http://localhost:8000"}),
    )
    assert config.cookies.names == CookieNames("access_token", "refresh_token", "csrf_token")
    # With cookies on, the authorizer reads the access cookie unless told otherwise.
    assert config.token_sources == {"header", "cookie"}
    assert AuthorizerConfig.from_env({**env, "AUTH_TOKEN_SOURCES": "header"}).token_sources == {"header"}
    assert ServiceConfig.from_env(env).cookies == config.cookies


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"AUTH_COOKIES": "on"}, "AUTH_ALLOWED_ORIGINS is required when AUTH_COOKIES is on"),
        ({"AUTH_COOKIES": "maybe"}, "AUTH_COOKIES must be on or off"),
        ({"AUTH_COOKIE_SAMESITE": "None"}, "None would send the cookies on other sites' requests"),
        ({"AUTH_COOKIE_SAMESITE": "sometimes"}, "AUTH_COOKIE_SAMESITE must be Strict or Lax"),
        ({"AUTH_ALLOWED_ORIGINS": f"{APP}/"}, "no path or trailing slash"),
        ({"AUTH_ALLOWED_ORIGINS": f"{APP}/app"}, "no path or trailing slash"),
        ({"AUTH_ALLOWED_ORIGINS": "https://App.example.com"}, "lowercase"),
        ({"AUTH_ALLOWED_ORIGINS": "https://app.example.com:443"}, "no default port"),
        ({"AUTH_ALLOWED_ORIGINS": "*"}, "name each origin exactly"),
        ({"AUTH_ALLOWED_ORIGINS": "null"}, "name each origin exactly"),
        ({"AUTH_ALLOWED_ORIGINS": "http://app.example.com"}, "must be https:// (http:// only on localhost)"),
        ({"AUTH_ALLOWED_ORIGINS": "app.example.com"}, "must be https://"),
        ({"AUTH_ALLOWED_ORIGINS": "https://user@app.example.com"}, "must be scheme://host[:port]"),
        ({"AUTH_ALLOWED_ORIGINS": "https://app.example.com:99999"}, "is not a URL origin"),
        ({"AUTH_TOKEN_SOURCES": "header,cookie"}, "set AUTH_COOKIES=on and AUTH_ALLOWED_ORIGINS"),
        ({"AUTH_TOKEN_SOURCES": "cookie"}, "AUTH_TOKEN_SOURCES must be header or header,cookie"),
        ({"AUTH_TOKEN_SOURCES": "query"}, "AUTH_TOKEN_SOURCES must be header or header,cookie"),
    ],
)
def test_cookie_misconfiguration_fails_at_cold_start(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        AuthorizerConfig.from_env(environment(**settings))
    assert message in str(raised.value)
    if "AUTH_TOKEN_SOURCES" not in settings:  # the issuing side reads the same settings
        with pytest.raises(ConfigurationError, match="AUTH_"):
            ServiceConfig.from_env({**environment(**settings), "AUTH_SIGNING_KEY": "x"})


# --------------------------------------------------------------------------- reading cookies


def test_cookie_pairs_from_payload_2_or_the_cookie_header() -> None:
    assert cookie_pairs(["a=1", "b=2", 3], "c=3") == ["a=1", "b=2"]
    assert cookie_pairs(("a=1",), None) == ["a=1"]
    assert cookie_pairs(None, " a=1; b=2 ;; c") == ["a=1", "b=2", "c"]
    assert cookie_pairs(None, None) == [] and cookie_pairs("a=1", None) == []


def test_cookie_value() -> None:
    pairs = ["a=1", "b=x=y", "empty=", "same=v", "same=v", "twice=1", "twice=2", "novalue"]
    assert cookie_value(pairs, "a") == "1"
    assert cookie_value(pairs, "b") == "x=y"
    assert cookie_value(pairs, "empty") is None
    assert cookie_value(pairs, "same") == "v"
    assert cookie_value(pairs, "twice") is None  # someone else set one of them: trust neither
    assert cookie_value(pairs, "novalue") is None and cookie_value(pairs, "missing") is None


# --------------------------------------------------------------------------- the CSRF rules


def csrf_request(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "origin": APP,
        "fetch_site": "same-origin",
        "header_token": "tok",
        "cookie_token": "tok",
        "claims": {CSRF_HASH_CLAIM: csrf_hash("tok")},
        "allowed_origins": frozenset({APP}),
    }
    return {**values, **overrides}


def test_csrf_passes() -> None:
    check_csrf(**csrf_request())
    check_csrf(**csrf_request(origin=None, fetch_site=None))  # a non-browser client
    check_csrf(**csrf_request(origin=None))  # same-origin, Origin left out


# What a refusal says (the 403's error_description, the authorizer's log reason): which rule failed.
BAD_ORIGIN = "the request's Origin is not an allowed origin"
CROSS_SITE = "a cross-site request without an Origin header"
NO_HEADER = "the X-CSRF-Token header is required with cookie authentication"
NO_COOKIE = "the csrf cookie is missing"
MISMATCH = "X-CSRF-Token does not match the csrf cookie"
NOT_BOUND = "the CSRF token does not belong to this session"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"origin": OTHER}, BAD_ORIGIN),
        ({"origin": "null"}, BAD_ORIGIN),
        ({"origin": f"{APP}/"}, BAD_ORIGIN),
        ({"origin": None, "fetch_site": "cross-site"}, CROSS_SITE),
        ({"origin": None, "fetch_site": "same-site"}, CROSS_SITE),
        ({"header_token": None}, NO_HEADER),
        ({"header_token": ""}, NO_HEADER),
        ({"cookie_token": None}, NO_COOKIE),
        ({"header_token": "other"}, MISMATCH),
        ({"header_token": "\ud800", "cookie_token": "\ud800"}, NOT_BOUND),
        ({"claims": {}}, NOT_BOUND),
        ({"claims": {CSRF_HASH_CLAIM: 5}}, NOT_BOUND),
        ({"claims": {CSRF_HASH_CLAIM: csrf_hash("planted")}}, NOT_BOUND),
    ],
)
def test_csrf_refusals(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(CsrfError) as raised:
        check_csrf(**csrf_request(**overrides))
    assert (raised.value.error, str(raised.value)) == ("csrf", reason)


def test_csrf_hash_is_unpadded_base64url_sha256() -> None:
    assert csrf_hash("abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"


# --------------------------------------------------------------------------- building cookies


def session_cookies(**settings: Any) -> SessionCookies:
    return SessionCookies(
        CookieSettings(**{"enabled": True, "allowed_origins": frozenset({APP}), **settings}),
        access_ttl=900,
        refresh_ttl=86_400,
    )


def request(headers: dict[str, str] | None = None, cookies: tuple[str, ...] = ()) -> Request:
    return Request(
        "POST", "/auth/login", {k.lower(): v for k, v in (headers or {}).items()}, b"", cookies=cookies
    )


def test_session_cookies_without_prefix_and_lax(ring: KeyRing) -> None:
    pair = TokenIssuer(
        ring, issuer=ISSUER, audience=AUDIENCE, client_id="c", access_ttl=900, refresh_ttl=86_400
    ).issue("alice", "profile")
    response = session_cookies(secure_prefix=False, same_site="Lax").session_response(pair, "csrf-value")
    assert response["cookies"] == [
        f"access_token={pair.access_token}; Path=/; Max-Age=900; {LAX}",
        f"refresh_token={pair.refresh_token}; Path=/auth/refresh; Max-Age=86400; {LAX}",
        f"refresh_token={pair.refresh_token}; Path=/auth/logout; Max-Age=86400; {LAX}",
        "csrf_token=csrf-value; Path=/; Max-Age=86400; Secure; SameSite=Lax",
    ]
    assert pair.access_token not in response["body"] and pair.refresh_token not in response["body"]
    # The page reads its CSRF token and the lifetimes from the body.
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["Cache-Control"] == "no-store"
    assert json.loads(response["body"]) == {
        "token_type": "cookie",
        "expires_in": 900,
        "refresh_expires_in": 86_400,
        "scope": "profile",
        "csrf_token": "csrf-value",
    }
    cleared = session_cookies().cleared_response()
    assert cleared["statusCode"] == 204
    assert cleared["cookies"] == [
        "__Host-access_token=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
        "__Secure-refresh_token=; Path=/auth/refresh; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
        "__Secure-refresh_token=; Path=/auth/logout; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
        "__Host-csrf_token=; Path=/; Max-Age=0; Secure; SameSite=Strict",
    ]


def test_new_csrf_tokens_are_random_and_hashed() -> None:
    (one, one_hash), (two, _) = SessionCookies.new_csrf_token(), SessionCookies.new_csrf_token()
    assert one != two and len(one) >= 43 and one_hash == csrf_hash(one)


def test_cookie_delivery_is_asked_for_with_a_header() -> None:
    cookies = session_cookies()
    assert not cookies.requested(request())
    assert cookies.requested(request({"X-Token-Delivery": "Cookie", "Origin": APP}))
    assert cookies.requested(request({"X-Token-Delivery": "cookie"}))  # a non-browser client
    with pytest.raises(CsrfError, match="Origin"):
        cookies.requested(request({"X-Token-Delivery": "cookie", "Origin": OTHER}))
    # No Origin, but the browser says another site sent it.
    with pytest.raises(CsrfError, match=f"^{CROSS_SITE}$"):
        cookies.requested(request({"X-Token-Delivery": "cookie", "Sec-Fetch-Site": "cross-site"}))
    assert cookies.requested(request({"X-Token-Delivery": "cookie", "Sec-Fetch-Site": "same-origin"}))
    with pytest.raises(HttpError) as wrong:
        cookies.requested(request({"X-Token-Delivery": "body"}))
    with pytest.raises(HttpError) as off:
        session_cookies(enabled=False).requested(request({"X-Token-Delivery": "cookie"}))
    assert [(e.value.status, e.value.error, e.value.description) for e in (wrong, off)] == [
        (400, "invalid_request", "X-Token-Delivery must be cookie"),
        (400, "invalid_request", "cookie delivery is not enabled (AUTH_COOKIES)"),
    ]


TOKEN = "the-csrf-token"
JAR = (f"{NAMES.csrf}={TOKEN}",)
FROM_OUR_PAGE = {"Origin": APP, "X-CSRF-Token": TOKEN}


def test_the_service_checks_csrf_on_what_the_request_carries() -> None:
    cookies = session_cookies()
    claims = {CSRF_HASH_CLAIM: csrf_hash(TOKEN)}
    cookies.check_csrf(request(FROM_OUR_PAGE, JAR), claims)
    cookies.check_csrf(request({**FROM_OUR_PAGE, "Cookie": f"x=1; {NAMES.csrf}={TOKEN}"}), claims)
    cookies.check_csrf(request({"X-CSRF-Token": TOKEN, "Sec-Fetch-Site": "same-origin"}, JAR), claims)


@pytest.mark.parametrize(
    ("headers", "jar", "bound_to", "reason"),
    [
        ({**FROM_OUR_PAGE, "Origin": OTHER}, JAR, TOKEN, BAD_ORIGIN),
        ({"X-CSRF-Token": TOKEN, "Sec-Fetch-Site": "cross-site"}, JAR, TOKEN, CROSS_SITE),
        ({"Origin": APP}, JAR, TOKEN, NO_HEADER),
        (FROM_OUR_PAGE, (), TOKEN, NO_COOKIE),
        (FROM_OUR_PAGE, (f"csrf_token={TOKEN}",), TOKEN, NO_COOKIE),  # not our cookie's name
        ({**FROM_OUR_PAGE, "X-CSRF-Token": "other"}, JAR, TOKEN, MISMATCH),
        (FROM_OUR_PAGE, JAR, "planted", NOT_BOUND),
    ],
)
def test_the_service_refuses_what_fails_a_csrf_rule(
    headers: dict[str, str], jar: tuple[str, ...], bound_to: str, reason: str
) -> None:
    with pytest.raises(CsrfError) as raised:
        session_cookies().check_csrf(request(headers, jar), {CSRF_HASH_CLAIM: csrf_hash(bound_to)})
    assert str(raised.value) == reason


def test_request_cookies_from_the_event_list_or_the_header() -> None:
    cookies = session_cookies()
    assert cookies.value(request(cookies=("__Host-csrf_token=a",)), NAMES.csrf) == "a"
    assert cookies.value(request({"Cookie": "x=1; __Host-csrf_token=b"}), NAMES.csrf) == "b"
    # Without the prefix on, a `__Host-` cookie is another cookie altogether.
    assert (
        session_cookies(secure_prefix=False).value(request(cookies=("__Host-csrf_token=a",)), "csrf_token")
        is None
    )


# --------------------------------------------------------------------------- the authorizer


@pytest.fixture(scope="module")
def issuer(ring: KeyRing) -> TokenIssuer:
    return TokenIssuer(
        ring, issuer=ISSUER, audience=AUDIENCE, client_id="web", access_ttl=300, refresh_ttl=3600
    )


def build_authorizer(
    dynamodb: Any, ring: KeyRing, *, cookies: bool = True, simple: bool = True
) -> Authorizer:
    verifier = TokenVerifier(ring.key_set(), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS)
    return Authorizer(
        verifier,
        RevocationList(dynamodb, DENYLIST, cache_seconds=0),
        RouteScopes.from_mapping({"GET /me": ["profile"]}),
        simple_responses=simple,
        cookies=COOKIES if cookies else None,
    )


def http_event(
    method: str, path: str, *, headers: dict[str, str] | None = None, cookies: list[str] | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"{HTTP_PREFIX}/{method}{path}",
        "identitySource": [],
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "headers": {"host": "xyz789.execute-api.us-east-1.amazonaws.com", **(headers or {})},
        "requestContext": {"http": {"method": method, "path": path}, "routeKey": f"{method} {path}"},
    }
    if cookies is not None:
        event["cookies"] = cookies
    return event


def rest_request_event(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": f"{REST_PREFIX}/{method}{path}",
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
    }


@pytest.fixture
def session(issuer: TokenIssuer) -> tuple[str, str]:
    """A cookie session's access token and its CSRF token."""
    csrf = "the-csrf-token"
    return issuer.issue("alice", "profile", csrf_hash=csrf_hash(csrf)).access_token, csrf


def browser_cookies(session: tuple[str, str]) -> list[str]:
    access, csrf = session
    return ["theme=dark", f"{NAMES.access}={access}", f"{NAMES.csrf}={csrf}"]


def test_safe_request_with_the_access_cookie_is_allowed(
    dynamodb: Any, ring: KeyRing, session: tuple[str, str]
) -> None:
    authorizer = build_authorizer(dynamodb, ring)
    answer = authorizer.handle(http_event("GET", "/me", cookies=browser_cookies(session)))
    assert answer["isAuthorized"] is True and answer["context"]["sub"] == "alice"
    # A prefix-less cookie of the same name is not ours to read.
    other = http_event("GET", "/me", cookies=[f"access_token={session[0]}"])
    assert authorizer.handle(other) == {"isAuthorized": False}


def test_cookie_sources_off_ignores_the_cookie(
    dynamodb: Any, ring: KeyRing, session: tuple[str, str]
) -> None:
    authorizer = build_authorizer(dynamodb, ring, cookies=False)
    assert authorizer.handle(http_event("GET", "/me", cookies=browser_cookies(session))) == {
        "isAuthorized": False
    }


def test_state_changing_cookie_request_needs_csrf(
    dynamodb: Any, ring: KeyRing, session: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    authorizer = build_authorizer(dynamodb, ring)
    cookies = browser_cookies(session)
    good = {"origin": APP, "x-csrf-token": session[1]}
    assert authorizer.handle(http_event("POST", "/orders", headers=good, cookies=cookies))["isAuthorized"]
    caplog.set_level(logging.INFO, logger="lambda_jwt_auth")
    caplog.clear()
    for headers in (
        {"origin": APP},
        {"origin": OTHER, "x-csrf-token": session[1]},
        {"origin": APP, "x-csrf-token": "wrong"},
        {"sec-fetch-site": "cross-site", "x-csrf-token": session[1]},
    ):
        answer = authorizer.handle(http_event("DELETE", "/orders/1", headers=headers, cookies=cookies))
        assert answer == {"isAuthorized": False}, headers
    lines = [
        json.loads(record.getMessage()) for record in caplog.records if record.name.endswith("authorizer")
    ]
    reasons = [line["reason"] for line in lines if line["event"] == "authorize"]
    assert len(reasons) == 4 and all(reason.startswith("csrf: ") for reason in reasons), reasons
    assert session[0] not in caplog.text and session[1] not in caplog.text


def test_a_header_token_is_not_csrf_checked_and_wins_over_the_cookie(
    dynamodb: Any, ring: KeyRing, issuer: TokenIssuer, session: tuple[str, str]
) -> None:
    authorizer = build_authorizer(dynamodb, ring)
    bob = issuer.issue("bob", "profile").access_token
    event = http_event(
        "POST",
        "/orders",
        headers={"authorization": f"Bearer {bob}", "origin": OTHER},
        cookies=browser_cookies(session),
    )
    answer = authorizer.handle(event)
    assert answer["isAuthorized"] is True and answer["context"]["sub"] == "bob"


def test_a_token_without_the_csrf_binding_cannot_post_from_a_cookie(
    dynamodb: Any, ring: KeyRing, issuer: TokenIssuer
) -> None:
    # A header-flow token planted as the access cookie: double submit alone would pass.
    planted = issuer.issue("alice", "profile").access_token
    cookies = [f"{NAMES.access}={planted}", f"{NAMES.csrf}=chosen"]
    event = http_event("POST", "/orders", headers={"origin": APP, "x-csrf-token": "chosen"}, cookies=cookies)
    assert build_authorizer(dynamodb, ring).handle(event) == {"isAuthorized": False}


def test_rest_request_reads_the_cookie_header_and_denies_with_a_policy(
    dynamodb: Any, ring: KeyRing, session: tuple[str, str]
) -> None:
    authorizer = build_authorizer(dynamodb, ring, simple=False)
    cookie = "; ".join(browser_cookies(session))
    allowed = authorizer.handle(rest_request_event("GET", "/me", {"Cookie": cookie}))
    assert allowed["principalId"] == "alice"
    denied = authorizer.handle(rest_request_event("POST", "/orders", {"Cookie": cookie, "Origin": OTHER}))
    assert denied == responses.policy("alice", allow=(), deny=[f"{REST_PREFIX}/*"])
    # HTTP API with policy responses: the same deny policy.
    v2 = authorizer.handle(
        http_event("POST", "/orders", headers={"origin": APP}, cookies=browser_cookies(session))
    )
    assert v2 == responses.policy("alice", allow=(), deny=[f"{HTTP_PREFIX}/*"])


def test_rest_token_events_never_read_cookies() -> None:
    event = {"type": "TOKEN", "methodArn": f"{REST_PREFIX}/GET/me", "authorizationToken": "a=b"}
    request = parse_event(event)
    assert request.token is None and request.cookie(NAMES.access) is None


# --------------------------------------------------------------------------- serverless.yml, locally


def test_the_cookies_param_switches_the_authorizers_identity_sources() -> None:
    yml = Path(__file__).resolve().parents[2] / "serverless.yml"
    header_only = load_service_definition(yml).authorizers["jwtAuthorizer"]
    assert header_only.identity_sources == ("$request.header.Authorization",)
    browser = load_service_definition(yml, {"cookies": "on"}).authorizers["jwtAuthorizer"]
    # Header or cookie: no identity source, so the authorizer runs on every request; no cache.
    assert browser.identity_sources == () and browser.result_ttl_seconds == 0


def test_authorizer_settings_follow_self_and_param_variables(tmp_path: Path) -> None:
    yml = tmp_path / "serverless.yml"
    yml.write_text(
        """
service: vars
params:
  default:
    mode: a
    ttl: "30"
custom:
  sources:
    a: [$request.header.X-A]
    b: $request.header.X-${param:mode}
provider:
  name: aws
  httpApi:
    authorizers:
      one:
        type: request
        functionName: fn
        identitySource: ${self:custom.sources.${param:mode}}
        resultTtlInSeconds: ${param:ttl}
      two:
        type: request
        functionName: fn
        identitySource: ${self:custom.sources.b}
        resultTtlInSeconds: ${opt:ttl}
functions:
  fn:
    handler: m.handler
"""
    )
    one = load_service_definition(yml).authorizers["one"]
    assert (one.identity_sources, one.result_ttl_seconds) == (("$request.header.X-A",), 30)
    two = load_service_definition(yml, {"mode": "b"}).authorizers["two"]
    # `${opt:...}` needs the command line: unresolved, so the literal default (0) applies.
    assert (two.identity_sources, two.result_ttl_seconds) == (("$request.header.X-b",), 0)
    with pytest.raises(ServiceDefinitionError, match="is not a selection expression"):
        load_service_definition(yml, {"mode": "c"})  # custom.sources.c does not exist
