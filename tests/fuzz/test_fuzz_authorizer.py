"""Property tests of the authorizer over its three event formats (tests/fuzz/properties.py).

Arbitrary JSON-ish events, REST TOKEN and REQUEST events and HTTP API 2.0 events with random
fields, headers with random names, case and values, and tokens from garbage to near-valid
mutations of real ones: the answer is always a well-formed refusal, or an allow for a token we
minted or signed. Nothing but `Exception("Unauthorized")` (REST only) ever escapes the handler.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.properties import AUTHORIZER_MODES, authorizer_property, check_authorizer
from tests.fuzz.strategies import ACCOUNT_ARN
from tests.fuzz.world import World


@pytest.mark.parametrize("mode", AUTHORIZER_MODES)
@FUZZ
@given(data=st.data())
def test_authorizer_answers_every_event_well_formed(world: World, mode: str, data: st.DataObject) -> None:
    events, check = authorizer_property(world, mode)
    check(data.draw(events, label="event"))


# --------------------------------------------------------------------------- the fuzzers are not vacuous


def _http_event(token: str, route: str = "GET /me") -> dict[str, Any]:
    method, path = route.split(" ", 1)
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"{ACCOUNT_ARN}/$default/{method}{path}",
        "routeKey": route,
        "rawPath": path,
        "headers": {"authorization": f"Bearer {token}"},
        "requestContext": {"http": {"method": method, "path": path}},
    }


@pytest.mark.parametrize("kind", ["access", "cognito_access"])
def test_the_world_allows_its_own_tokens(world: World, kind: str) -> None:
    event = _http_event(world.tokens[kind])
    assert world.authorizers["simple"](event, None)["isAuthorized"] is True
    check_authorizer(world, "simple", event)
    check_authorizer(world, "policy", event)
    rest = {
        "type": "TOKEN",
        "methodArn": event["routeArn"],
        "authorizationToken": f"Bearer {world.tokens[kind]}",
    }
    assert world.authorizers["policy"](rest, None)["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_a_token_signed_with_our_key_counts_as_ours(world: World) -> None:
    header, claims = {"alg": "RS256", "typ": "at+jwt"}, {"sub": "x"}
    assert world.genuine(world.sign(header, claims))
    assert not world.genuine("a.b.c")


@pytest.mark.parametrize(
    ("mode", "answer"),
    [
        ("simple", {"isAuthorized": True, "context": {"sub": "x"}}),
        ("simple", {"isAuthorized": "no"}),
        ("simple", None),
        ("policy", {"principalId": "x", "policyDocument": {"Version": "2012-10-17", "Statement": []}}),
    ],
)
def test_the_property_has_teeth(world: World, mode: str, answer: Any) -> None:
    lenient = dataclasses.replace(world, authorizers={mode: lambda event, context: answer})
    with pytest.raises(AssertionError):
        check_authorizer(lenient, mode, _http_event("forged.token.here"))


def test_the_property_refuses_other_exceptions(world: World) -> None:
    def crash(event: Any, context: Any) -> Any:
        raise KeyError("methodArn")

    lenient = dataclasses.replace(world, authorizers={"policy": crash})
    with pytest.raises(AssertionError):
        check_authorizer(lenient, "policy", {"type": "TOKEN"})
