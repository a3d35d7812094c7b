"""The properties the fuzzers check, shared by the pytest runs and `scripts/fuzz_long.py`.

Authorizer (every event format, both response modes):
* a REST event (anything but HTTP API payload 2.0) is refused only by raising exactly
  `Exception("Unauthorized")`, or answered with a well-formed IAM policy;
* an HTTP API 2.0 event is never answered by raising (API Gateway would turn that into a 500):
  simple responses are exactly `{"isAuthorized": False}` or an allow with a context, policies
  are well-formed;
* anything that allows carries a token the contract model (tests/fuzz/contract.py) accepts: one
  of ours or the trusted pool's, valid now, unrevoked, of the right type, issuer and audience;
* the contract property: for a generated token at a known route, the decision is the model's,
  and a refusal names a check the token fails (`check_contract_authorizer`).

Issuing endpoints, the contract property: introspection finds a token active exactly when the
model accepts it as one of our access or refresh tokens; refresh accepts exactly the refresh
tokens the model accepts, and refuses the rest for a check they fail.

Issuing HTTP handlers: always a dict with an int `statusCode` in 200..499, string headers, a
string body, and for a 4xx a JSON object body with a non-empty `error`. Never an exception.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

from tests.fuzz import contract, contract_cases, refusals, strategies
from tests.fuzz.contract_cases import ROUTES, Built, Route, Spec
from tests.fuzz.world import World

HTTP_HANDLERS = tuple(strategies.ROUTES)
# (events, check): `check(event)` returns the answer, or raises AssertionError naming the breach.
Property = tuple[st.SearchStrategy[Any], Callable[[Any], Any]]
AUTHORIZER_MODES = ("simple", "policy")
CONTEXT_VALUE_TYPES = (str, int, float, bool)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def carries_valid_token(world: World, event: Any) -> bool:
    """Whether some word of the event is a token the model accepts at the authorizer now (any
    route: which one a malformed event names is the authorizer's reading, not ours)."""
    target, now = world.targets["authorizer"], time.time()
    for text in _strings(event):
        for word in text.split():
            if contract.judge(word, target, now=now).valid:
                return True
    return False


def is_http_v2(event: Any) -> bool:
    return isinstance(event, dict) and event.get("version") == "2.0"


def _check_policy(world: World, event: Any, result: Any) -> None:
    assert isinstance(result, dict), result
    assert isinstance(result.get("principalId"), str) and result["principalId"], result
    document = result["policyDocument"]
    assert document["Version"] == "2012-10-17"
    statements = document["Statement"]
    assert isinstance(statements, list) and statements, result
    allows = False
    for statement in statements:
        assert statement["Action"] == "execute-api:Invoke", statement
        assert statement["Effect"] in ("Allow", "Deny"), statement
        resources = statement["Resource"]
        assert isinstance(resources, list) and resources, statement
        assert all(isinstance(resource, str) and resource for resource in resources), statement
        allows = allows or statement["Effect"] == "Allow"
    if allows:
        assert carries_valid_token(world, event), f"an Allow for no valid token: {result}"
    _check_context(result.get("context"))


def _check_context(ctx: Any) -> None:
    if ctx is None:
        return
    assert isinstance(ctx, dict), ctx
    for key, value in ctx.items():
        assert isinstance(key, str) and isinstance(value, CONTEXT_VALUE_TYPES), (key, value)


def check_authorizer(world: World, mode: str, event: Any, *, reset: bool = True) -> Any:
    """The authorizer's answer to `event` (or what it raised), if well-formed; else AssertionError.

    `reset` empties the denylist first (the contract property writes its revocations itself)."""
    handler = world.authorizers[mode]
    if reset:
        world.reset()
    try:
        result = handler(copy.deepcopy(event), None)
    except Exception as exc:
        assert not is_http_v2(event), f"an HTTP API event was answered by raising {exc!r}"
        assert type(exc).__name__ == "Unauthorized" and exc.args == ("Unauthorized",), repr(exc)
        return exc
    json.dumps(result, allow_nan=False)  # API Gateway reads the answer as JSON
    if is_http_v2(event) and mode == "simple":
        assert isinstance(result, dict) and isinstance(result.get("isAuthorized"), bool), result
        if result["isAuthorized"]:
            assert set(result) == {"isAuthorized", "context"}, result
            assert carries_valid_token(world, event), f"an allow for no valid token: {result}"
            _check_context(result["context"])
        else:
            assert result == {"isAuthorized": False}, result
        return result
    _check_policy(world, event, result)
    return result


@dataclass(frozen=True)
class KnownBug:
    """An answer that breaks the property for a reason already reported (see KNOWN_BUGS)."""

    bug: str
    error: str


# Bugs the fuzzers found that are not fixed yet, each pinned by an xfail(strict=True) test: name ->
# (handler name, event) -> whether the bug explains an exception. An exception it explains is
# reported as a KnownBug instead of failing the property (fuzz_long counts them). Empty: the one
# found so far (authorizer.principal: an unreadable `exp` or a non-object event at GET /me) is fixed.
KNOWN_BUGS: dict[str, Callable[[str, Any], bool]] = {}


def check_http(world: World, name: str, event: Any, *, reset: bool = True) -> Any:
    """The handler's response to `event`, if well-formed; else AssertionError."""
    if reset:
        world.reset()
    try:
        response = world.http[name](copy.deepcopy(event), None)
    except Exception as exc:
        for bug, applies in KNOWN_BUGS.items():
            if applies(name, event):
                return KnownBug(bug, repr(exc))
        raise
    assert isinstance(response, dict), response
    status = response.get("statusCode")
    assert type(status) is int and 200 <= status < 500, f"status {status!r}: {response}"
    headers = response.get("headers", {})
    assert isinstance(headers, dict), response
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()), headers
    body = response.get("body", "")
    assert isinstance(body, str), response
    if status >= 400:
        try:
            payload = json.loads(body)
        except ValueError:
            raise AssertionError(f"a {status} without a JSON body: {body!r}") from None
        assert isinstance(payload, dict) and isinstance(payload.get("error"), str) and payload["error"], body
    json.dumps(response, allow_nan=False)
    return response


# --------------------------------------------------------------------------- the properties, by name


def authorizer_property(world: World, mode: str) -> Property:
    """(strategy, check) of the authorizer property in one response mode."""
    events = strategies.authorizer_events(world.valid_tokens, world.sign)
    return events, lambda event: check_authorizer(world, mode, event)


def http_property(world: World, name: str) -> Property:
    """(strategy, check) of the HTTP property of one handler."""
    valid = world.valid_tokens
    events = strategies.http_events(name, valid, world.sign, world.password)
    return events, lambda event: check_http(world, name, event)


def all_properties(world: World) -> dict[str, Property]:
    found = {f"authorizer-{mode}": authorizer_property(world, mode) for mode in AUTHORIZER_MODES}
    found.update({f"contract-{fmt}": contract_property(world, fmt) for fmt in CONTRACT_FORMATS})
    found["contract-introspect"] = introspection_property(world)
    found["contract-refresh"] = refresh_property(world)
    found.update({f"http-{name}": http_property(world, name) for name in HTTP_HANDLERS})
    return found


# --------------------------------------------------------------------------- the contract property

CONTRACT_FORMATS = contract_cases.FORMATS
REST_PREFIX = f"{strategies.ACCOUNT_ARN}/prod"
HTTP_PREFIX = f"{strategies.ACCOUNT_ARN}/$default"


def contract_event(fmt: str, token: str, route: Route) -> tuple[dict[str, Any], str]:
    """A well-formed authorizer event of format `fmt` for `route` with `Bearer <token>`; its ARN."""
    authorization = f"Bearer {token}"
    method, path = route.method, route.path
    if fmt == "rest-token":
        arn = f"{REST_PREFIX}/{method}{path}"
        return {"type": "TOKEN", "methodArn": arn, "authorizationToken": authorization}, arn
    if fmt == "rest-request":
        arn = f"{REST_PREFIX}/{method}{path}"
        resource = route.key.split(" ", 1)[1]
        return {
            "type": "REQUEST",
            "methodArn": arn,
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": {"Authorization": authorization},
            "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "prod"},
        }, arn
    arn = f"{HTTP_PREFIX}/{method}{path}"
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": arn,
        "identitySource": [authorization],
        "routeKey": route.key,
        "rawPath": path,
        "headers": {"authorization": authorization},
        "requestContext": {
            "http": {"method": method, "path": path},
            "routeKey": route.key,
            "stage": "$default",
        },
    }, arn


def _iam_pattern(resource: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in resource))


def policy_allows(policy: dict[str, Any], arn: str) -> bool:
    """What API Gateway does with an authorizer policy for `arn`: an explicit Deny wins."""
    allowed = denied = False
    for statement in policy["policyDocument"]["Statement"]:
        if any(_iam_pattern(resource).fullmatch(arn) for resource in statement["Resource"]):
            allowed |= statement["Effect"] == "Allow"
            denied |= statement["Effect"] == "Deny"
    return allowed and not denied


class _Reasons(logging.Handler):
    """The `reason` of each `authorize` line the authorizer logs while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = json.loads(record.getMessage())
        if line.get("event") == "authorize":
            self.reasons.append(line["reason"])


def authorizer_decision(
    world: World, fmt: str, event: dict[str, Any], arn: str
) -> tuple[bool, str | None, dict[str, Any] | None]:
    """(allowed, the logged refusal reason, the IAM policy if it answered with one)."""
    logger = logging.getLogger("lambda_jwt_auth.authorizer")
    reasons = _Reasons()
    logger.addHandler(reasons)
    disabled = logging.root.manager.disable  # scripts/fuzz_long.py silences logging: not this line
    logging.disable(logging.NOTSET)
    try:
        answer = check_authorizer(world, "policy" if fmt == "http-policy" else "simple", event, reset=False)
    finally:
        logging.disable(disabled)
        logger.removeHandler(reasons)
    if isinstance(answer, BaseException):
        allowed = False
    elif fmt == "http-simple":
        allowed = answer["isAuthorized"]
    else:
        allowed = policy_allows(answer, arn)
    assert len(reasons.reasons) == (0 if allowed else 1), (allowed, reasons.reasons)
    policy = answer if isinstance(answer, dict) and "policyDocument" in answer else None
    return allowed, (reasons.reasons[0] if reasons.reasons else None), policy


def intended(spec: Spec, target: contract.Target) -> frozenset[str] | None:
    """The one check a one-defect spec fails at `target` (an unknown issuer is a wrong one where
    nothing routes by issuer); None for valid and random specs."""
    if spec.intent in (None, "random"):
        return None
    if spec.intent == contract.UNTRUSTED_ISSUER and not target.routed:
        return frozenset({contract.ISSUER})
    return frozenset({spec.intent})


def _assert_model_agrees(
    what: str, spec: Spec, built: Built, verdict: contract.Verdict, accepted: bool, check: str | None
) -> None:
    context = f"{what}: {spec!r}\n  model: {sorted(verdict.defects) or 'valid'}\n  claims: {built.claims}"
    assert accepted == verdict.valid, f"{'accepted' if accepted else 'refused'} ({check}), {context}"
    if not accepted:
        assert check in verdict.defects, f"refused for {check}, a check the token passes; {context}"


def check_contract_authorizer(world: World, fmt: str, spec: Spec, route: Route) -> dict[str, bool]:
    """The authorizer decides as the model does, and refuses for a check the token fails."""
    world.reset()
    built = contract_cases.build(world, spec)
    event, arn = contract_event(fmt, built.token, route)
    allowed, reason, policy = authorizer_decision(world, fmt, event, arn)
    target, now = world.targets["authorizer"], time.time()
    verdict = contract.judge_bearer(
        built.token, target, now=now, denylist=built.denylist, needed_scopes=route.needs
    )
    expected = intended(spec, target)
    assert expected is None or verdict.defects == expected, f"not the defect meant: {spec!r} {verdict}"
    check = reason and refusals.check_of_reason(reason)
    _assert_model_agrees(f"authorizer {fmt} {route.key}", spec, built, verdict, allowed, check)
    if policy is not None:
        # API Gateway caches the policy and answers the token's next routes with it (README).
        for other in ROUTES:
            there = contract.judge_bearer(
                built.token, target, now=now, denylist=built.denylist, needed_scopes=other.needs
            )
            other_arn = contract_event(fmt, built.token, other)[1]
            assert policy_allows(policy, other_arn) == there.valid, (
                f"the policy for {route.key} {'allows' if there.defects else 'denies'} {other.key}: "
                f"{spec!r}, model there: {sorted(there.defects) or 'valid'}"
            )
    return {"isAuthorized": allowed}  # (scripts/fuzz_long.py counts the answers)


def _issuing_event(route: str, body: str, content_type: str, bearer: str | None = None) -> dict[str, Any]:
    method, path = route.split(" ", 1)
    headers = {"content-type": content_type, **({"authorization": f"Bearer {bearer}"} if bearer else {})}
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "headers": headers,
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "192.0.2.7"}},
        "body": body,
        "isBase64Encoded": False,
    }


def check_contract_introspection(world: World, spec: Spec, hint: str | None) -> Any:
    """RFC 7662: active exactly when the model accepts the token as our access or refresh token."""
    world.reset()
    built = contract_cases.build(world, spec)
    fields = {"token": built.token, **({"token_type_hint": hint} if hint else {})}
    event = _issuing_event(
        "POST /auth/introspect",
        urlencode(fields),
        "application/x-www-form-urlencoded",
        world.tokens["introspector"],
    )
    response = check_http(world, "introspect", event, reset=False)
    assert response["statusCode"] == 200, response
    active = json.loads(response["body"])["active"]
    now = time.time()
    verdicts = {
        name: contract.judge(built.token, world.targets[name], now=now, denylist=built.denylist)
        for name in ("access", "refresh")
    }
    if spec.issuer == contract_cases.OURS:  # (the pool's tokens fail several checks here)
        mine = verdicts["access" if spec.kind == contract_cases.ACCESS else "refresh"]
        expected = intended(spec, world.targets["access"])
        assert expected is None or mine.defects == expected, f"not the defect meant: {spec!r} {mine}"
    valid = any(verdict.valid for verdict in verdicts.values())
    assert active == valid, (
        f"active: {active}, {spec!r}\n  model: { {n: sorted(v.defects) for n, v in verdicts.items()} }"
    )
    return response


def check_contract_refresh(world: World, spec: Spec) -> Any:
    """Refresh accepts exactly the refresh tokens the model accepts; refuses for a failed check."""
    world.reset()
    built = contract_cases.build(world, spec)
    event = _issuing_event(
        "POST /auth/refresh", json.dumps({"refresh_token": built.token}), "application/json"
    )
    response = check_http(world, "refresh", event, reset=False)
    target = world.targets["refresh"]
    verdict = contract.judge(built.token, target, now=time.time(), denylist=built.denylist)
    expected = intended(spec, target)
    assert expected is None or verdict.defects == expected, f"not the defect meant: {spec!r} {verdict}"
    accepted = response["statusCode"] == 200
    check = None
    if not accepted:
        body = json.loads(response["body"])
        assert (response["statusCode"], body["error"]) == (401, "invalid_grant"), response
        check = refusals.check_of_description(body["error_description"])
    else:
        assert "access_token" in json.loads(response["body"]), response
    _assert_model_agrees("refresh", spec, built, verdict, accepted, check)
    return response


def contract_property(world: World, fmt: str) -> Property:
    """(strategy, check) of the authorizer's contract property in one event format."""
    return contract_cases.cases(world), lambda case: check_contract_authorizer(world, fmt, case[1], case[0])


NO_ROUTE = Route("POST /auth/introspect", "/auth/introspect", frozenset())
KINDS = (contract_cases.ACCESS, contract_cases.REFRESH)


def introspection_property(world: World) -> Property:
    cases = st.tuples(
        contract_cases.cases(world, (NO_ROUTE,), KINDS),
        st.sampled_from([None, "access_token", "refresh_token"]),
    )
    return cases, lambda case: check_contract_introspection(world, case[0][1], case[1])


def refresh_property(world: World) -> Property:
    cases = contract_cases.cases(world, (NO_ROUTE,), (contract_cases.REFRESH,))
    return cases, lambda case: check_contract_refresh(world, case[1])
