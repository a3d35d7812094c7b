"""IAM policy evaluation for Lambda authorizers that answer with a policy document."""

from __future__ import annotations

from typing import Any

import pytest

from auth_service.local.iam_policy import Decision, MalformedPolicyError, evaluate

ARN = "arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/items/42"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(resource: Any, action: Any = "execute-api:Invoke") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def deny(resource: Any, action: Any = "execute-api:Invoke") -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (policy(allow(ARN)), Decision.ALLOW),
        (policy(allow("*")), Decision.ALLOW),
        (policy(allow("arn:aws:execute-api:us-east-1:123456789012:api/*/GET/*")), Decision.ALLOW),
        (policy(allow("arn:aws:execute-api:us-east-1:123456789012:api/*/GET/items/4?")), Decision.ALLOW),
        (policy(allow("arn:aws:execute-api:us-east-1:123456789012:api/*/GET/items/?")), Decision.DENY),
        (policy(allow(ARN, action="EXECUTE-API:invoke")), Decision.ALLOW),
        (policy(allow(ARN, action=["s3:GetObject", "execute-api:*"])), Decision.ALLOW),
        (policy(allow(ARN, action="s3:*")), Decision.DENY),
        (policy(allow(ARN.lower())), Decision.DENY),  # resources are case-sensitive
        (policy(allow("*"), deny(ARN)), Decision.EXPLICIT_DENY),
        (policy(deny(ARN), allow("*")), Decision.EXPLICIT_DENY),
        (policy(deny("arn:aws:execute-api:*:*:*/*/POST/*"), allow("*")), Decision.ALLOW),
        ({"Statement": allow(ARN)}, Decision.ALLOW),  # a single statement object
        (policy(allow("arn:aws:execute-api:*:*:api/[$]default/*")), Decision.DENY),  # `[` is literal
    ],
)
def test_evaluation(document: dict[str, Any], expected: Decision) -> None:
    decision = evaluate(document, ARN)
    assert decision is expected
    assert decision.allowed is (expected is Decision.ALLOW)


@pytest.mark.parametrize(
    "document",
    [
        None,
        {"Version": "2012-10-17"},
        policy(),
        policy({"Effect": "Maybe", "Action": "*", "Resource": "*"}),
        policy({"Effect": "Allow", "Resource": "*"}),
        policy({"Effect": "Allow", "Action": "*", "Resource": []}),
        policy({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}),
        {"Statement": ["not an object"]},
    ],
)
def test_malformed_documents(document: Any) -> None:
    with pytest.raises(MalformedPolicyError):
        evaluate(document, ARN)
