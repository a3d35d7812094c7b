"""Every attack of the catalogue against the authorizer's Lambda handler, in every event format.

One real `Authorizer` per key type (RS256, ES256, EdDSA), built by `build_authorizer` from the
same environment variables a deployment sets, on a moto DynamoDB denylist table, trusting our
issuer and a Cognito user pool (access tokens only) (tests/security/lab.py). Each forged token
must be refused:

- REST API TOKEN and REQUEST events: raise exactly `Exception("Unauthorized")` (API Gateway's 401);
- HTTP API payload 2.0, simple responses: exactly `{"isAuthorized": False}`;
- HTTP API payload 2.0, IAM policies: a policy with only Deny statements, covering the route;

and refused for the right reason: its family's (tests/security/expectations.py), and a check the
token really fails according to the contract model (tests/fuzz/contract.py).

The controls first show that the same authorizers accept the valid baseline of each material, so
no refusal below is an accident of configuration.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from authorizer.gateway.events import parse_event
from tests.fuzz import contract, refusals
from tests.security.catalogue import CATALOGUE, Attack, applicable, just_over_limit
from tests.security.conftest import Attackers
from tests.security.expectations import RIGHT_REASONS, right_reasons
from tests.security.forging import KEY_TYPES
from tests.security.lab import (  # (the constants: test_inspect_token_agrees.py reads them here)
    AUDIENCE,
    DENYLIST,
    FORMATS,
    ISSUER,
    POOL_CLIENT,
    POOL_ISSUER,
    Lab,
    build_labs,
    denylist_table,
    iam_effects,
    make_event,
    route_arn,
)

__all__ = ["AUDIENCE", "DENYLIST", "ISSUER", "POOL_CLIENT", "POOL_ISSUER", "Lab", "make_event"]
pytestmark = pytest.mark.security
NEEDED = frozenset({"profile"})  # the lab's AUTH_ROUTE_SCOPES for GET /me


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    with denylist_table() as client:
        yield client


@pytest.fixture(scope="module")
def labs(dynamodb: Any, attackers: Attackers) -> dict[str, Lab]:
    return build_labs(dynamodb, attackers.rings, attackers.k1)


# --------------------------------------------------------------------------- expectations


def assert_refused(lab: Lab, fmt: str, token: str) -> None:
    if fmt in ("rest-token", "rest-request"):
        with pytest.raises(Exception) as info:  # API Gateway reads only the message
            lab.handle(fmt, token)
        assert info.value.args == ("Unauthorized",), f"raised {info.value!r} instead of Unauthorized"
        return
    response = lab.handle(fmt, token)
    if fmt == "http-simple":
        assert response == {"isAuthorized": False}
        return
    statements = response["policyDocument"]["Statement"]
    assert statements, response
    assert all(statement["Effect"] == "Deny" for statement in statements), response
    assert iam_effects(response, route_arn(fmt)) == {"Deny"}, response
    assert "context" not in response, response


def assert_allowed(lab: Lab, fmt: str, token: str) -> dict[str, Any]:
    response: dict[str, Any] = lab.handle(fmt, token)
    if fmt == "http-simple":
        assert response["isAuthorized"] is True, response
    else:
        assert iam_effects(response, route_arn(fmt)) == {"Allow"}, response
    return response


# --------------------------------------------------------------------------- controls


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_control_the_baseline_is_allowed(labs: dict[str, Lab], key_type: str, fmt: str) -> None:
    lab = labs[key_type]
    response = assert_allowed(lab, fmt, lab.material.baseline())
    assert response["context"]["sub"] == lab.material.victim.sub


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_control_a_token_exactly_at_the_size_limit_is_allowed(
    labs: dict[str, Lab], key_type: str, fmt: str
) -> None:
    lab = labs[key_type]
    token = just_over_limit(lab.material, extra=0)
    assert len(token) == lab.material.max_token_bytes
    assert_allowed(lab, fmt, token)


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_control_the_model_accepts_the_same_tokens(labs: dict[str, Lab], key_type: str) -> None:
    """The contract model, configured as the lab is, accepts the controls too (it is no stricter)."""
    lab = labs[key_type]
    for token in (lab.material.baseline(), just_over_limit(lab.material, extra=0), lab.material.pool_token()):
        verdict = contract.judge(token, lab.targets["authorizer"], now=time.time(), needed_scopes=NEEDED)
        assert verdict.valid, sorted(verdict.defects)


@pytest.mark.parametrize("fmt", FORMATS)
def test_control_the_trusted_pools_access_token_is_allowed(labs: dict[str, Lab], fmt: str) -> None:
    lab = labs["RS256"]
    assert_allowed(lab, fmt, lab.material.pool_token())


# --------------------------------------------------------------------------- the catalogue


def _params() -> list[Any]:
    params = []
    for key_type in KEY_TYPES:
        for case in applicable(key_type):
            reason = case.vulns.get("authorizer")
            marks = [pytest.mark.xfail(strict=True, reason=f"VULN: {reason}")] if reason else []
            params.append(pytest.param(key_type, case, id=f"{key_type}-{case.id}", marks=marks))
    return params


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("key_type", "case"), _params())
def test_authorizer_refuses(labs: dict[str, Lab], key_type: str, case: Attack, fmt: str) -> None:
    lab = labs[key_type]
    forged = lab.forge(case)
    for token in forged.prelude:  # whatever they get (a REST refusal raises): they set the stage
        with contextlib.suppress(Exception):
            lab.handle(fmt, token)
    assert_refused(lab, fmt, forged.token)


@pytest.mark.parametrize(("key_type", "case"), _params())
def test_refused_for_the_right_reason(labs: dict[str, Lab], key_type: str, case: Attack) -> None:
    lab = labs[key_type]
    forged = lab.forge(case)
    for token in forged.prelude:
        lab.simple.decide(parse_event(make_event("http-simple", token)))
    decision = lab.simple.decide(parse_event(make_event("http-simple", forged.token)))
    assert not decision.allowed, decision
    assert decision.reason.split(":")[0] in right_reasons(case, key_type), decision.reason
    # And the check that refused is one the token fails, in the contract model's judgement.
    verdict = contract.judge_bearer(
        forged.token, lab.targets["authorizer"], now=time.time(), denylist=lab.denylist, needed_scopes=NEEDED
    )
    assert refusals.check_of_reason(decision.reason) in verdict.defects, (
        decision.reason,
        sorted(verdict.defects),
    )
    name, _, message = decision.reason.partition(": ")
    if message:  # the issuing endpoints say only the message: it must name the same class
        assert refusals.class_of_message(message) == name, decision.reason


def test_every_group_has_its_reasons() -> None:
    assert {case.group for case in CATALOGUE} - {"malformed signatures"} <= set(RIGHT_REASONS)


def test_every_case_runs_for_some_key_type() -> None:
    assert all(case.key_types & set(KEY_TYPES) for case in CATALOGUE)
