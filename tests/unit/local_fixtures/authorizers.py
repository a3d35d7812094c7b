"""Lambda authorizers whose answer is chosen by the token in the Authorization header."""

from __future__ import annotations

from typing import Any

# Every event each authorizer received, so tests can count invocations and inspect events.
SIMPLE_EVENTS: list[dict[str, Any]] = []
IAM_EVENTS: list[dict[str, Any]] = []


def simple(event: dict[str, Any], context: Any) -> Any:
    SIMPLE_EVENTS.append(event)
    token = event["identitySource"][0]
    if token == "allow":
        return {"isAuthorized": True, "context": {"sub": "user-1", "scope": "profile", "n": 7}}
    if token == "allow-no-context":
        return {"isAuthorized": True}
    if token == "deny":
        return {"isAuthorized": False}
    if token == "boom":
        raise RuntimeError("authorizer exploded")
    if token == "string-verdict":
        return {"isAuthorized": "true"}
    return {"unexpected": True}


def iam(event: dict[str, Any], context: Any) -> Any:
    IAM_EVENTS.append(event)
    token = event["identitySource"][0]
    arn = event["routeArn"]
    api = arn.split("/", 1)[0]  # arn:aws:execute-api:region:account:api-id

    def policy(*statements: dict[str, Any]) -> dict[str, Any]:
        return {
            "principalId": "user-1",
            "policyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
            "context": {"sub": "user-1"},
        }

    if token == "allow":
        return policy({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": arn})
    if token == "allow-wildcard":
        return policy(
            {"Effect": "Allow", "Action": ["execute-api:*"], "Resource": [f"{api}/$default/GET/iam/*"]}
        )
    if token == "allow-single-char":
        return policy({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{api}/*/GET/iam/4?"})
    if token == "explicit-deny":
        return policy(
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": arn},
        )
    if token == "other-route":
        return policy({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{api}/*/POST/*"})
    if token == "no-statement":
        return {"principalId": "user-1", "policyDocument": {"Version": "2012-10-17"}}
    return {"isAuthorized": True}  # a simple response where a policy is required
