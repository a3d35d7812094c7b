"""What a Lambda authorizer's answer means, and API Gateway's cache of those answers.

With simple responses the answer is `{"isAuthorized": bool, "context": {...}}`; otherwise it is
an IAM policy (`policyDocument`) evaluated against the route ARN, plus an optional `context`.
Anything else is a malformed response, which API Gateway reports to the client as a 500.

The cache keeps the authorizer's raw answer per identity-source values for the TTL, as AWS
does; an IAM policy from the cache is evaluated again for each route, so one cached policy can
allow one route and deny another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auth_service.local.iam_policy import MalformedPolicyError, evaluate


class MalformedAuthorizerResponseError(ValueError):
    """The authorizer returned something API Gateway cannot interpret."""


@dataclass(frozen=True)
class AuthorizerVerdict:
    allowed: bool
    context: Mapping[str, Any] | None


def interpret(response: Any, *, simple_responses: bool, route_arn: str) -> AuthorizerVerdict:
    if not isinstance(response, Mapping):
        raise MalformedAuthorizerResponseError("the authorizer response is not an object")
    context = response.get("context")
    if context is not None and not isinstance(context, Mapping):
        raise MalformedAuthorizerResponseError("context must be an object")
    if simple_responses:
        authorized = response.get("isAuthorized")
        if not isinstance(authorized, bool):
            raise MalformedAuthorizerResponseError("isAuthorized must be true or false")
        return AuthorizerVerdict(authorized, context)
    if "policyDocument" not in response:
        raise MalformedAuthorizerResponseError(
            "simple responses are off, so the authorizer must return a policyDocument"
        )
    try:
        decision = evaluate(response["policyDocument"], route_arn)
    except MalformedPolicyError as exc:
        raise MalformedAuthorizerResponseError(f"policyDocument: {exc}") from exc
    return AuthorizerVerdict(decision.allowed, context)


class AuthorizerCache:
    """Authorizer answers by (authorizer, identity-source values), each kept for its TTL."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[float, Any]] = {}

    def get(self, authorizer: str, identity: tuple[str, ...]) -> Any | None:
        key = (authorizer, identity)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires_at, response = entry
            if self._clock() >= expires_at:
                del self._entries[key]
                return None
            return response

    def put(self, authorizer: str, identity: tuple[str, ...], response: Any, ttl: float) -> None:
        with self._lock:
            self._entries[(authorizer, identity)] = (self._clock() + ttl, response)
