"""Lambda authorizers whose answer is chosen by the token in the Authorization header.

Every event an authorizer receives is appended to `<LOCAL_FIXTURE_EVENTS_DIR>/<name>.jsonl`
(each container is a process of its own, so tests count invocations from those files).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def _record(name: str, event: dict[str, Any]) -> None:
    directory = os.environ.get("LOCAL_FIXTURE_EVENTS_DIR")
    if directory:
        with (Path(directory) / f"{name}.jsonl").open("a", encoding="utf-8") as log:
            log.write(json.dumps(event) + "\n")


def recorded(directory: Path, name: str) -> list[dict[str, Any]]:
    """The events the `name` authorizer has received so far, oldest first."""
    path = directory / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def simple(event: dict[str, Any], context: Any) -> Any:
    _record("simple", event)
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
    _record("iam", event)
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
