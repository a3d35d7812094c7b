"""Evaluation of the IAM policy a Lambda authorizer returns when simple responses are off.

The rules are IAM's, reduced to what execute-api:Invoke needs: an explicit Deny that matches
wins; otherwise an Allow that matches is required; otherwise the request is denied. Action and
Resource patterns use IAM wildcards (`*` any run of characters, `?` one character), with
actions compared case-insensitively and resources case-sensitively.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from functools import lru_cache
from typing import Any

_INVOKE_ACTION = "execute-api:Invoke"


class MalformedPolicyError(ValueError):
    """The policy document is not something API Gateway could evaluate."""


class Decision(Enum):
    ALLOW = "Allow"
    DENY = "Deny"  # no Allow matched
    EXPLICIT_DENY = "ExplicitDeny"

    @property
    def allowed(self) -> bool:
        return self is Decision.ALLOW


@lru_cache(maxsize=256)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # Translate only IAM's two wildcards; everything else is literal (unlike fnmatch's `[...]`).
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    raise MalformedPolicyError(f"{where} must be a string or a non-empty list of strings")


def _statement_matches(statement: Mapping[str, Any], route_arn: str) -> bool:
    if "NotAction" in statement or "NotResource" in statement:
        raise MalformedPolicyError("NotAction and NotResource are not supported by the emulator")
    actions = _strings(statement.get("Action"), "Action")
    resources = _strings(statement.get("Resource"), "Resource")
    return any(_wildcard(a, True).match(_INVOKE_ACTION) for a in actions) and any(
        _wildcard(r, False).match(route_arn) for r in resources
    )


def evaluate(policy_document: Any, route_arn: str) -> Decision:
    """Whether `policy_document` lets the caller invoke the route identified by `route_arn`."""
    if not isinstance(policy_document, Mapping):
        raise MalformedPolicyError("policyDocument must be an object")
    statements = policy_document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyError("policyDocument.Statement must be a non-empty list")
    allowed = False
    for statement in statements:
        if not isinstance(statement, Mapping):
            raise MalformedPolicyError("each Statement must be an object")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise MalformedPolicyError(f"Effect must be Allow or Deny, got {effect!r}")
        if _statement_matches(statement, route_arn):
            if effect == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.DENY
