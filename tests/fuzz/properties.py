"""The properties the fuzzers check, shared by the pytest runs and `scripts/fuzz_long.py`.

Authorizer (every event format, both response modes):
* a REST event (anything but HTTP API payload 2.0) is refused only by raising exactly
  `Exception("Unauthorized")`, or answered with a well-formed IAM policy;
* an HTTP API 2.0 event is never answered by raising (API Gateway would turn that into a 500):
  simple responses are exactly `{"isAuthorized": False}` or an allow with a context, policies
  are well-formed;
* anything that allows names a token we minted or signed with our own key, nothing else.

Issuing HTTP handlers: always a dict with an int `statusCode` in 200..499, string headers, a
string body, and for a 4xx a JSON object body with a non-empty `error`. Never an exception.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.fuzz import strategies
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


def carries_genuine_token(world: World, event: Any) -> bool:
    for text in _strings(event):
        for word in text.split():
            if world.genuine(word):
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
        assert carries_genuine_token(world, event), f"an Allow for no token of ours: {result}"
    _check_context(result.get("context"))


def _check_context(ctx: Any) -> None:
    if ctx is None:
        return
    assert isinstance(ctx, dict), ctx
    for key, value in ctx.items():
        assert isinstance(key, str) and isinstance(value, CONTEXT_VALUE_TYPES), (key, value)


def check_authorizer(world: World, mode: str, event: Any) -> Any:
    """The authorizer's answer to `event` (or what it raised), if well-formed; else AssertionError."""
    handler = world.authorizers[mode]
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
            assert carries_genuine_token(world, event), f"an allow for no token of ours: {result}"
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


def check_http(world: World, name: str, event: Any) -> Any:
    """The handler's response to `event`, if well-formed; else AssertionError."""
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
    found.update({f"http-{name}": http_property(world, name) for name in HTTP_HANDLERS})
    return found
