#!/usr/bin/env python3
"""Check deploy/deployer-policy.json against packaged CloudFormation templates:
``python scripts/check_deployer_policy.py .serverless/cloudformation-template-update-stack.json``.

The deployer's credentials do everything a deploy does: osls calls CloudFormation and S3, and
CloudFormation (the stack has no service role) creates every resource of the template with them.
So the example policy must keep up with the template. Exits 1 and prints one line per breach:

* The policy's shape: ``Version`` 2012-10-17, a non-empty ``Statement`` list, each with
  ``Effect``, ``Action`` and ``Resource`` (no ``NotAction``, ``NotResource`` or ``Principal``),
  unique ``Sid`` values, and at most 6,144 characters without white space (IAM's quota for a
  managed policy).
* Every action exists (cfn-lint's copy of the Service Authorization Reference, when cfn-lint is
  installed, or ``--actions-reference FILE``); an action that supports no resource-level
  permission is granted on ``*``; every other resource of a statement is an ARN of the service of
  its actions. ``iam:PassRole`` is never granted on ``*`` and always with ``iam:PassedToService``.
* Every resource type of each template maps to an IAM service prefix the policy allows, and
  ``REQUIRED_ACTIONS`` lists the calls CloudFormation makes for it; each is allowed, on the ARN
  the resource will have when its name is in the template (or, with ``--stack-name``, the name
  CloudFormation generates from the stack name and logical id). A type the table does not know
  is a breach: add it here and to the policy.
* The calls osls itself makes (``FRAMEWORK_ACTIONS``) are allowed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = REPO_ROOT / "deploy" / "deployer-policy.json"
MANAGED_POLICY_MAX_CHARACTERS = 6144  # IAM quota, white space not counted
STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "Resource", "Condition"})
# What an ARN is checked with: any region and account match the policy's patterns.
REGION, ACCOUNT = "us-east-1", "123456789012"

# CloudFormation's service names (AWS::<Service>::<Type>) and the IAM prefix of their actions.
SERVICE_PREFIXES: Mapping[str, str] = {
    "ApiGateway": "apigateway",
    "ApiGatewayV2": "apigateway",
    "CloudFormation": "cloudformation",
    "CloudWatch": "cloudwatch",
    "DynamoDB": "dynamodb",
    "Events": "events",
    "IAM": "iam",
    "KMS": "kms",
    "Lambda": "lambda",
    "Logs": "logs",
    "S3": "s3",
    "SNS": "sns",
    "SSM": "ssm",
}

# The calls CloudFormation makes with the deployer's credentials to create, update and delete
# each resource type (its resource handlers' permissions, for the features this stack uses).
_API = ("apigateway:POST", "apigateway:GET", "apigateway:PATCH", "apigateway:DELETE")
REQUIRED_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "AWS::ApiGatewayV2::Api": (*_API, "apigateway:PUT"),
    "AWS::ApiGatewayV2::Authorizer": _API,
    "AWS::ApiGatewayV2::Integration": _API,
    "AWS::ApiGatewayV2::Route": _API,
    "AWS::ApiGatewayV2::Stage": _API,
    "AWS::CloudWatch::Alarm": (
        "cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms",
    ),
    "AWS::CloudWatch::Dashboard": (
        "cloudwatch:PutDashboard", "cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards",
    ),
    "AWS::DynamoDB::Table": (
        "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable",
        "dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive",
        "dynamodb:DescribeContinuousBackups", "dynamodb:UpdateContinuousBackups",
    ),
    "AWS::DynamoDB::GlobalTable": (
        "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable",
        "dynamodb:CreateTableReplica", "dynamodb:DeleteTableReplica", "dynamodb:UpdateTimeToLive",
        "dynamodb:UpdateContinuousBackups", "iam:CreateServiceLinkedRole",
    ),
    "AWS::Events::Rule": (
        "events:PutRule", "events:DescribeRule", "events:DeleteRule",
        "events:PutTargets", "events:RemoveTargets", "events:ListTargetsByRule",
    ),
    "AWS::IAM::Policy": ("iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"),
    "AWS::IAM::Role": (
        "iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:PutRolePolicy", "iam:GetRolePolicy",
        "iam:DeleteRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:PassRole",
    ),
    "AWS::Lambda::Alias": (
        "lambda:CreateAlias", "lambda:GetAlias", "lambda:UpdateAlias", "lambda:DeleteAlias",
    ),
    "AWS::Lambda::Function": (
        "lambda:CreateFunction", "lambda:GetFunction", "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration", "lambda:DeleteFunction", "lambda:PutFunctionConcurrency",
        "lambda:TagResource", "s3:GetObject", "iam:PassRole",
    ),
    "AWS::Lambda::Permission": ("lambda:AddPermission", "lambda:RemovePermission", "lambda:GetPolicy"),
    "AWS::Lambda::Version": (
        "lambda:PublishVersion", "lambda:GetFunctionConfiguration", "lambda:ListVersionsByFunction",
    ),
    "AWS::Logs::LogGroup": (
        "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DescribeLogGroups",
    ),
    "AWS::S3::Bucket": (
        "s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket", "s3:PutEncryptionConfiguration",
    ),
    "AWS::S3::BucketPolicy": ("s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"),
}  # fmt: skip

# What osls calls itself: deploy (change sets, the artifacts' upload), info, remove.
FRAMEWORK_ACTIONS = (
    "cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet", "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteChangeSet", "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
    "cloudformation:DescribeStackResource", "cloudformation:ListStackResources",
    "cloudformation:ValidateTemplate", "cloudformation:DeleteStack",
    "s3:ListBucket", "s3:PutObject", "s3:GetObject", "s3:DeleteObject",
)  # fmt: skip

# Where a named resource lives: the ARN a policy must name, from the template's name property.
NAME_PROPERTIES: Mapping[str, tuple[str, str]] = {
    "AWS::Lambda::Function": ("FunctionName", "arn:aws:lambda:{region}:{account}:function:{name}"),
    "AWS::DynamoDB::Table": ("TableName", "arn:aws:dynamodb:{region}:{account}:table/{name}"),
    "AWS::DynamoDB::GlobalTable": ("TableName", "arn:aws:dynamodb:{region}:{account}:table/{name}"),
    "AWS::Logs::LogGroup": ("LogGroupName", "arn:aws:logs:{region}:{account}:log-group:{name}"),
    "AWS::CloudWatch::Dashboard": ("DashboardName", "arn:aws:cloudwatch::{account}:dashboard/{name}"),
    "AWS::CloudWatch::Alarm": ("AlarmName", "arn:aws:cloudwatch:{region}:{account}:alarm:{name}"),
    "AWS::IAM::Role": ("RoleName", "arn:aws:iam::{account}:role/{name}"),
    "AWS::Events::Rule": ("Name", "arn:aws:events:{region}:{account}:rule/{name}"),
    "AWS::S3::Bucket": ("BucketName", "arn:aws:s3:::{name}"),
}


class PolicyError(Exception):
    """The policy or a template cannot be read at all."""


@dataclass(frozen=True)
class Statement:
    sid: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Any]


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM's wildcards: `*` any run of characters, `?` one character."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE if ignore_case else 0)


def parse_policy(document: Any, breaches: list[str]) -> list[Statement]:
    """The policy's statements; every problem of shape is appended to `breaches`."""
    if not isinstance(document, Mapping):
        breaches.append("the policy is not a JSON object")
        return []
    if document.get("Version") != "2012-10-17":
        breaches.append(f"Version must be 2012-10-17, not {document.get('Version')!r}")
    if set(document) - {"Version", "Id", "Statement"}:
        breaches.append(
            f"unknown top-level keys: {', '.join(sorted(set(document) - {'Version', 'Id', 'Statement'}))}"
        )
    raw = document.get("Statement")
    if not isinstance(raw, list) or not raw:
        breaches.append("Statement must be a non-empty list")
        return []
    statements, sids = [], set()
    for index, entry in enumerate(raw):
        where = f"statement #{index}"
        if not isinstance(entry, Mapping):
            breaches.append(f"{where} is not a JSON object")
            continue
        sid = entry.get("Sid", "")
        where = f"statement {sid or '#' + str(index)}"
        if not isinstance(sid, str) or (sid and sid in sids):
            breaches.append(f"{where}: Sid must be a unique string")
            sid = ""
        sids.add(sid)
        unknown = set(entry) - STATEMENT_KEYS
        if unknown:
            breaches.append(f"{where}: keys not allowed here: {', '.join(sorted(unknown))}")
        effect = entry.get("Effect")
        if effect not in ("Allow", "Deny"):
            breaches.append(f"{where}: Effect must be Allow or Deny, not {effect!r}")
        actions, resources = _strings(entry.get("Action")), _strings(entry.get("Resource"))
        if actions is None:
            breaches.append(f"{where}: Action must be a string or a non-empty list of strings")
        if resources is None:
            breaches.append(f"{where}: Resource must be a string or a non-empty list of strings")
        condition = entry.get("Condition", {})
        if not isinstance(condition, Mapping) or not all(isinstance(v, Mapping) for v in condition.values()):
            breaches.append(f"{where}: Condition must map operators to objects")
            condition = {}
        if actions is None or resources is None or effect not in ("Allow", "Deny"):
            continue
        for action in actions:
            if not re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*?]+", action):
                breaches.append(f"{where}: {action!r} is not service:Action")
        statements.append(Statement(sid or f"#{index}", str(effect), actions, resources, condition))
    return statements


def load_reference(path: Path | None) -> Mapping[str, Any] | None:
    """IAM's actions and resource types by service: cfn-lint's copy of the Service Authorization
    Reference (data/AdditionalSpecs/Policies.json), or `path`; None when neither is there."""
    if path is None:
        spec = importlib.util.find_spec("cfnlint")
        if spec is None or not spec.submodule_search_locations:
            return None
        path = (
            Path(next(iter(spec.submodule_search_locations))) / "data" / "AdditionalSpecs" / "Policies.json"
        )
        if not path.is_file():
            return None
    try:
        reference: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PolicyError(f"cannot read the actions reference {path}: {exc}") from exc
    return reference


def check_actions(statements: Sequence[Statement], reference: Mapping[str, Any] | None) -> Iterator[str]:
    for statement in statements:
        where = f"statement {statement.sid}"
        for action in statement.actions:
            service, _, name = action.partition(":")
            resource_services = {arn.split(":")[2] for arn in statement.resources if arn.startswith("arn:")}
            if statement.resources != ("*",) and resource_services - {service}:
                others = ", ".join(sorted(resource_services))
                yield f"{where}: {action} on an ARN of another service ({others})"
            if reference is None:
                continue
            known = reference.get(service, {}).get("Actions", {})
            if not known:
                yield f"{where}: {action}: no such service prefix {service!r}"
                continue
            matches = [known[key] for key in known if _wildcard(name, ignore_case=True).fullmatch(key)]
            if not matches:
                yield f"{where}: {action} is not an IAM action"
            elif "*" not in name and not matches[0].get("Resources") and "*" not in statement.resources:
                yield f'{where}: {action} supports no resource-level permission; grant it on "*"'
        if (
            any(action.lower() == "iam:passrole" for action in statement.actions)
            and statement.effect == "Allow"
        ):
            if "*" in statement.resources:
                yield f'{where}: iam:PassRole on "*" passes any role of the account'
            if not any("iam:PassedToService" in keys for keys in statement.condition.values()):
                yield f"{where}: iam:PassRole without an iam:PassedToService condition"


def allowed(statements: Sequence[Statement], action: str, arn: str | None = None) -> bool:
    """Whether an Allow statement names `action` (and, if given, a resource matching `arn`)."""
    for statement in statements:
        if statement.effect != "Allow":
            continue
        if not any(_wildcard(pattern, ignore_case=True).fullmatch(action) for pattern in statement.actions):
            continue
        if arn is None or any(_wildcard(pattern).fullmatch(arn) for pattern in statement.resources):
            return True
    return False


def resource_arn(logical_id: str, resource: Mapping[str, Any], stack_name: str | None) -> str | None:
    """The ARN a resource of the template will have, if its name is known."""
    kind = resource.get("Type")
    if not isinstance(kind, str) or kind not in NAME_PROPERTIES:
        return None
    prop, template = NAME_PROPERTIES[kind]
    name = (resource.get("Properties") or {}).get(prop)
    if name is None and stack_name is not None:
        # What CloudFormation generates: <stack name>-<logical id>-<random> (S3: in lower case).
        name = f"{stack_name}-{logical_id}-ABCDEFGH1234"
        name = name.lower() if kind == "AWS::S3::Bucket" else name
    if not isinstance(name, str):
        return None  # an intrinsic function: only known at deploy time
    return template.format(region=REGION, account=ACCOUNT, name=name)


def check_template(
    statements: Sequence[Statement], template: Mapping[str, Any], stack_name: str | None
) -> Iterator[str]:
    resources = template.get("Resources")
    if not isinstance(resources, Mapping) or not resources:
        raise PolicyError("the template has no Resources")
    for action in FRAMEWORK_ACTIONS:
        if not allowed(statements, action):
            yield f"the framework calls {action}, which the policy does not allow"
    seen: set[str] = set()
    for logical_id, resource in resources.items():
        kind = resource.get("Type", "") if isinstance(resource, Mapping) else ""
        parts = kind.split("::")
        if len(parts) != 3 or parts[0] != "AWS" or parts[1] not in SERVICE_PREFIXES:
            if kind not in seen:
                yield f"{logical_id}: no IAM service prefix known for {kind!r}; add it to SERVICE_PREFIXES"
            seen.add(kind)
            continue
        prefix = SERVICE_PREFIXES[parts[1]]
        if kind not in seen and not any(
            s.effect == "Allow" and any(a.split(":")[0] == prefix for a in s.actions) for s in statements
        ):
            yield f"{logical_id}: {kind} needs {prefix}:* actions, and the policy allows none"
        if kind not in REQUIRED_ACTIONS:
            if kind not in seen:
                yield (
                    f"{logical_id}: {kind} is not in REQUIRED_ACTIONS: "
                    "list the calls it needs, there and in the policy"
                )
            seen.add(kind)
            continue
        seen.add(kind)
        arn = resource_arn(logical_id, resource, stack_name)
        for action in REQUIRED_ACTIONS[kind]:
            on_arn = arn if arn is not None and arn.split(":")[2] == action.split(":")[0] else None
            if not allowed(statements, action, on_arn):
                target = f" on {on_arn}" if on_arn else ""
                yield f"{logical_id}: {kind} needs {action}{target}, which the policy does not allow"


def policy_size(document: Any) -> int:
    return len(re.sub(r"\s", "", json.dumps(document, separators=(",", ":"))))


def run(
    policy_document: Any,
    templates: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    reference: Mapping[str, Any] | None,
    stack_name: str | None = None,
) -> list[str]:
    """Every breach of the policy, alone and against each template."""
    breaches: list[str] = []
    statements = parse_policy(policy_document, breaches)
    size = policy_size(policy_document)
    if size > MANAGED_POLICY_MAX_CHARACTERS:
        breaches.append(f"{size} characters without white space: over IAM's {MANAGED_POLICY_MAX_CHARACTERS}")
    breaches.extend(check_actions(statements, reference))
    for name, template in templates:
        breaches.extend(f"{name}: {line}" for line in check_template(statements, template, stack_name))
    return breaches


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check the deployer's IAM policy against packaged templates."
    )
    parser.add_argument("templates", nargs="+", type=Path, metavar="TEMPLATE")
    parser.add_argument(
        "--policy", type=Path, default=DEFAULT_POLICY, help="default: deploy/deployer-policy.json"
    )
    parser.add_argument(
        "--stack-name", help="also check the names CloudFormation generates (roles, alarms, rules, bucket)"
    )
    parser.add_argument(
        "--actions-reference",
        type=Path,
        metavar="FILE",
        help="default: cfn-lint's Policies.json, if installed",
    )
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        policy = json.loads(args.policy.read_text(encoding="utf-8"))
        templates = [(str(path), json.loads(path.read_text(encoding="utf-8"))) for path in args.templates]
        reference = load_reference(args.actions_reference)
        breaches = run(policy, templates, reference=reference, stack_name=args.stack_name)
    except (OSError, ValueError, PolicyError) as exc:
        print(f"check_deployer_policy: {exc}", file=sys.stderr)
        return 2
    for line in breaches:
        print(f"DEPLOYER POLICY BREACH: {line}", file=sys.stderr)
    if breaches:
        print(f"check_deployer_policy: {len(breaches)} breach(es) in {args.policy}", file=sys.stderr)
        return 1
    checked = "actions checked against the reference" if reference is not None else "no actions reference"
    print(f"check_deployer_policy: OK ({args.policy.name}, {len(templates)} template(s), {checked})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
