"""Property tests of the authorizer over its three event formats (tests/fuzz/properties.py).

Arbitrary JSON-ish events, REST TOKEN and REQUEST events and HTTP API 2.0 events with random
fields, headers with random names, case and values, and tokens from garbage to near-valid
mutations of real ones: the answer is always a well-formed refusal, or an allow for a token the
contract model accepts. Nothing but `Exception("Unauthorized")` (REST only) ever escapes.

The contract property: tokens that are valid (in every accepted spelling), invalid in exactly one
way, or invalid in several, at routes needing no, one or two scopes, in every event format. The
authorizer's decision must be the model's (tests/fuzz/contract.py), and a refusal must name a
check the token fails; a one-defect token, that very check.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import contract
from tests.fuzz.conftest import FUZZ
from tests.fuzz.contract_cases import DROP, ROUTES, At, Spec, build
from tests.fuzz.properties import (
    AUTHORIZER_MODES,
    CONTRACT_FORMATS,
    authorizer_property,
    check_authorizer,
    check_contract_authorizer,
    contract_property,
)
from tests.fuzz.strategies import ACCOUNT_ARN
from tests.fuzz.world import LEEWAY, World


@pytest.mark.parametrize("mode", AUTHORIZER_MODES)
@FUZZ
@given(data=st.data())
def test_authorizer_answers_every_event_well_formed(world: World, mode: str, data: st.DataObject) -> None:
    events, check = authorizer_property(world, mode)
    check(data.draw(events, label="event"))


@pytest.mark.parametrize("fmt", CONTRACT_FORMATS)
@FUZZ
@given(data=st.data())
def test_the_authorizer_decides_as_the_contract_says(world: World, fmt: str, data: st.DataObject) -> None:
    cases, check = contract_property(world, fmt)
    check(data.draw(cases, label="route and token"))


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


def test_the_model_accepts_the_worlds_valid_tokens_only(world: World) -> None:
    target, now = world.targets["authorizer"], time.time()
    verdicts = {kind: contract.judge(token, target, now=now) for kind, token in world.tokens.items()}
    assert {kind for kind, verdict in verdicts.items() if verdict.valid} == {
        "access",
        "introspector",
        "cognito_access",
    }
    assert verdicts["refresh"].defects == {contract.TYPE, contract.AUDIENCE}
    assert verdicts["cognito_id"].defects >= {contract.TYPE}


@pytest.mark.parametrize(
    "changes",
    [
        {"claims": (("exp", At(-LEEWAY - 60)),)},  # expired: the hole the first oracle left open
        {"claims": (("iss", "https://evil.example"),)},
        {"claims": (("aud", "billing-api"),)},
        {"header": (("typ", "JWT"),)},
        {"scope": "orders:write"},  # DELETE /orders/{id} needs orders:audit too
    ],
    ids=["expired", "issuer", "audience", "typ", "one-of-two-scopes"],
)
def test_an_allow_for_a_token_of_ours_the_contract_refuses_fails_the_property(
    world: World, changes: dict[str, Any]
) -> None:
    """Signed with our key, and allowed: the old oracle passed this; the model does not."""
    route = next(route for route in ROUTES if route.key == "DELETE /orders/{id}")
    spec = Spec(**changes)
    lenient = dataclasses.replace(
        world, authorizers={"simple": lambda event, context: {"isAuthorized": True, "context": {}}}
    )
    with pytest.raises(AssertionError, match=r"an allow for no valid token|accepted"):
        check_contract_authorizer(lenient, "http-simple", spec, route)
    check_contract_authorizer(world, "http-simple", spec, route)  # and the real one refuses it


def test_a_refusal_for_the_wrong_reason_fails_the_property(world: World) -> None:
    """An expired token refused as if its signature were bad: refused, but not by the expiry check."""
    route = ROUTES[0]
    spec = Spec(claims=(("exp", At(-LEEWAY - 60)),), intent=contract.EXPIRED)

    def wrong_reason(event: Any, context: Any) -> Any:
        reason = "InvalidSignatureError: signature verification failed"
        line = {"event": "authorize", "outcome": "deny", "reason": reason}
        logging.getLogger("lambda_jwt_auth.authorizer").info(json.dumps(line))
        return {"isAuthorized": False}

    lenient = dataclasses.replace(world, authorizers={"simple": wrong_reason})
    with pytest.raises(AssertionError, match="a check the token passes"):
        check_contract_authorizer(lenient, "http-simple", spec, route)


def test_one_defect_specs_have_that_defect_only(world: World) -> None:
    spec = Spec(claims=(("sub", DROP),), intent=contract.CLAIM)
    verdict = contract.judge(build(world, spec).token, world.targets["authorizer"], now=time.time())
    assert verdict.defects == {contract.CLAIM}


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


def test_a_malformed_nbf_does_not_hide_an_expired_exp(world: World) -> None:
    # Found by the fuzz: the authorizer refused such a token as expired (it reads `exp` first),
    # and a model that skipped the time checks once any claim was malformed called that the
    # wrong reason. Either defect is a right reason to refuse.
    spec = Spec(claims=(("nbf", "0"), ("exp", At(seconds=-LEEWAY - 5))))
    verdict = contract.judge(build(world, spec).token, world.targets["authorizer"], now=time.time())
    assert verdict.defects == {contract.CLAIM, contract.EXPIRED}
