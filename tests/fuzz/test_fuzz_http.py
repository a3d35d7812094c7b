"""Property tests of every HTTP handler (login, refresh, logout, revoke, introspect, token, jwks,
discovery, me) over API Gateway HTTP API 2.0 events (tests/fuzz/properties.py).

Random headers (names in any case, random values, tokens from garbage to near-valid), bodies of
every kind (JSON values of all types, huge, deeply nested, form-encoded, base64 or claiming to
be), query strings, content types and `isBase64Encoded` flags: the answer is always a dict with
an int statusCode below 500, and a JSON body with an `error` for every 4xx. Never an exception.

The contract properties (tests/fuzz/contract.py): introspection finds a generated token active
exactly when the model accepts it as our access or refresh token; refresh accepts exactly the
refresh tokens the model accepts, and refuses the others for a check they fail.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.properties import (
    HTTP_HANDLERS,
    check_http,
    http_property,
    introspection_property,
    refresh_property,
)
from tests.fuzz.world import PASSWORD, World


@pytest.mark.parametrize("name", HTTP_HANDLERS)
@FUZZ
@given(data=st.data())
def test_http_handlers_answer_every_event_with_a_4xx_at_worst(
    world: World, name: str, data: st.DataObject
) -> None:
    events, check = http_property(world, name)
    check(data.draw(events, label="event"))


@FUZZ
@given(data=st.data())
def test_introspection_finds_active_exactly_what_the_contract_accepts(
    world: World, data: st.DataObject
) -> None:
    cases, check = introspection_property(world)
    check(data.draw(cases, label="token and hint"))


@FUZZ
@given(data=st.data())
def test_refresh_accepts_exactly_what_the_contract_accepts(world: World, data: st.DataObject) -> None:
    specs, check = refresh_property(world)
    check(data.draw(specs, label="refresh token"))


# --------------------------------------------------------------------------- the fuzzers are not vacuous


def _event(route: str, body: Any, **headers: str) -> dict[str, Any]:
    method, path = route.split(" ", 1)
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "headers": {"content-type": "application/json", **headers},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "192.0.2.99"}},
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def test_the_world_serves_real_requests(world: World) -> None:
    login = world.http["login"](_event("POST /auth/login", {"username": "alice", "password": PASSWORD}), None)
    assert login["statusCode"] == 200, login
    pair = json.loads(login["body"])
    refreshed = world.http["refresh"](
        _event("POST /auth/refresh", {"refresh_token": pair["refresh_token"]}), None
    )
    assert refreshed["statusCode"] == 200, refreshed
    introspected = world.http["introspect"](
        _event(
            "POST /auth/introspect",
            {"token": pair["access_token"]},
            authorization=f"Bearer {world.tokens['introspector']}",
        ),
        None,
    )
    assert json.loads(introspected["body"])["active"] is True
    exchange = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": world.tokens["cognito_id"],
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
    }
    exchanged = world.http["token"](_event("POST /auth/token", exchange), None)
    assert exchanged["statusCode"] == 200, exchanged
    for name in ("jwks", "discovery"):
        assert world.http[name](_event("GET /x", None), None)["statusCode"] == 200


@pytest.mark.parametrize(
    "answer",
    [
        {"statusCode": 500, "headers": {}, "body": "{}"},
        {"statusCode": "200", "headers": {}, "body": ""},
        {"statusCode": 400, "headers": {}, "body": "{}"},
        {"statusCode": 404, "headers": {}, "body": "not json"},
        {"statusCode": 200, "headers": {"x": 1}, "body": ""},
        None,
    ],
)
def test_the_property_has_teeth(world: World, answer: Any) -> None:
    lenient = dataclasses.replace(world, http={"login": lambda event, context: answer})
    with pytest.raises(AssertionError):
        check_http(lenient, "login", _event("POST /auth/login", {}))


# --------------------------------------------------------------------------- bugs the fuzzers found (fixed)


@pytest.mark.parametrize("exp", ["²", "1" * 4301], ids=["superscript-two", "4301-digits"])
def test_me_with_an_unreadable_exp_in_the_authorizer_context(world: World, exp: str) -> None:
    event = {
        "version": "2.0",
        "requestContext": {"authorizer": {"lambda": {"sub": "alice", "scope": "profile", "exp": exp}}},
    }
    response = world.http["me"](event, None)
    assert response["statusCode"] == 200  # or a 4xx: anything but an exception


def test_me_with_an_event_that_is_not_an_object(world: World) -> None:
    response = world.http["me"]([], None)
    assert 400 <= response["statusCode"] < 500
