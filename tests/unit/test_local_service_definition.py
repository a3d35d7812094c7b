"""serverless.yml parsing for the local gateway: the real file, the fixture, and bad references."""

from __future__ import annotations

from pathlib import Path

import pytest

from auth_service.local.service_definition import (
    AuthorizerDefinition,
    RouteDefinition,
    ServiceDefinitionError,
    load_service_definition,
)
from tests.unit.local_fixtures import service

REPO_SERVERLESS_YML = Path(__file__).resolve().parents[2] / "serverless.yml"


def test_real_serverless_yml() -> None:
    definition = load_service_definition(REPO_SERVERLESS_YML)
    assert definition.service == "lambda-jwt-auth"
    assert set(definition.functions) == {
        "authorizer",
        "login",
        "token",
        "refresh",
        "logout",
        "revoke",
        "introspect",
        "jwks",
        "discovery",
        "me",
        "demo",
        "rotateKeys",  # no route: EventBridge runs it (keyRotationSchedule)
    }
    assert definition.functions["rotateKeys"].timeout_seconds == 30
    login = definition.functions["login"]
    assert (login.module, login.attribute) == ("auth_service.handlers.login", "handler")
    jwks = definition.functions["jwks"]
    assert (jwks.module, jwks.attribute) == ("auth_service.handlers.wellknown", "jwks")
    assert jwks.memory_size_mb == 256
    assert definition.functions["refresh"].memory_size_mb == 512  # provider.memorySize
    assert login.timeout_seconds == 10
    # Everything in provider.environment is a ${...} variable or a CloudFormation intrinsic.
    assert dict(login.environment) == {}
    assert dict(definition.functions["authorizer"].environment) == {
        "AUTH_HTTP_API_SIMPLE_RESPONSES": "true",
        "AUTH_ROUTE_SCOPES": '{"GET /me": ["profile"]}',
    }
    routes = {route.route_key: route for route in definition.routes}
    assert routes["POST /auth/login"] == RouteDefinition("POST", "/auth/login", "login", None)
    assert routes["GET /.well-known/jwks.json"].function == "jwks"
    assert routes["GET /me"] == RouteDefinition("GET", "/me", "me", "jwtAuthorizer")
    assert routes["POST /auth/token"] == RouteDefinition("POST", "/auth/token", "token", None)
    assert routes["GET /demo/{proxy+}"] == RouteDefinition("GET", "/demo/{proxy+}", "demo", None)
    assert routes["GET /.well-known/oauth-authorization-server"].function == "discovery"
    assert len(routes) == 12
    assert definition.authorizers["jwtAuthorizer"] == AuthorizerDefinition(
        name="jwtAuthorizer",
        function="authorizer",
        identity_sources=("$request.header.Authorization",),
        enable_simple_responses=True,
        payload_version="2.0",
        # ${self:custom.authorizerResultTtl} -> ${param:authorizerResultTtl, '0'} -> 0
        result_ttl_seconds=0,
    )


def test_fixture_definition(tmp_path: Path) -> None:
    definition = load_service_definition(service.write(tmp_path))
    echo = definition.functions["echo"]
    assert echo.module == "tests.unit.local_fixtures.handlers"
    assert echo.memory_size_mb == 128
    assert definition.functions["scripted"].memory_size_mb == 256
    assert definition.functions["scripted"].timeout_seconds == 3
    # Intrinsics (!Sub, !GetAtt) and ${...} are left out; literals are kept, numbers as text.
    assert dict(definition.functions["configured"].environment) == {
        "LOCAL_FIXTURE_SHARED": "shared-value",
        "LOCAL_FIXTURE_SETTING": "configured",
        "NUMBER_SETTING": "5",
    }
    cached = definition.authorizers["cachedAuth"]
    assert cached.result_ttl_seconds == 60  # ${self:custom.cachedTtl} -> ${param:cachedTtl, '60'}
    assert cached.identity_sources == ("$request.header.Authorization", "$request.querystring.tenant")
    iam = definition.authorizers["iamAuth"]
    assert iam.identity_sources == ("$request.header.Authorization",)  # the string form
    assert iam.enable_simple_responses is False
    assert iam.result_ttl_seconds == 0  # ${param:iamTtl} has no default
    route_keys = {route.route_key for route in definition.routes}
    assert "ANY /files/{proxy+}" in route_keys
    assert {r.route_key: r.authorizer for r in definition.routes}["GET /iam/{id}"] == "iamAuth"
    assert "simpleAuthorizer" in definition.functions  # functions without events still load


def test_catch_all_route(tmp_path: Path) -> None:
    definition = load_service_definition(service.write(tmp_path, service.CATCH_ALL_YML))
    assert [route.route_key for route in definition.routes] == ["GET /exact", "$default"]


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    assert old in service.SERVERLESS_YML
    return service.write(tmp_path, service.SERVERLESS_YML.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "functionName: iamAuthorizer",
            "functionName: missingFunction",
            "iamAuth.functionName 'missingFunction' is not a function",
        ),
        (
            "authorizer: iamAuth",
            "authorizer: missingAuthorizer",
            "authorizer 'missingAuthorizer' is not in provider.httpApi.authorizers",
        ),
        (
            "            name: simpleAuth",
            "            name: nope",
            "authorizer 'nope' is not in provider.httpApi.authorizers",
        ),
        ('- httpApi: "GET /slow"', '- httpApi: "GET /scripted"', "duplicate route 'GET /scripted'"),
        ('- httpApi: "GET /slow"', '- httpApi: "FETCH /slow"', "'FETCH' is not an HTTP method"),
        ('- httpApi: "GET /slow"', '- httpApi: "GET /{proxy+}/x"', "greedy path variable"),
        ("handler: tests/unit/local_fixtures/handlers.slow", "handler: noattribute", "handler"),
        ("        type: request\n", "        type: jwt\n", "only `type: request`"),
    ],
)
def test_bad_references_name_the_file_and_the_problem(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(ServiceDefinitionError) as raised:
        load_service_definition(path)
    assert isinstance(raised.value, ValueError)
    assert str(path) in str(raised.value)
    assert expected in str(raised.value)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ServiceDefinitionError, match="cannot read"):
        load_service_definition(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("service: [unclosed", encoding="utf-8")
    with pytest.raises(ServiceDefinitionError, match="not valid YAML"):
        load_service_definition(bad)
