"""deploy/deployer-policy.json and scripts/check_deployer_policy.py.

Packaging the stack needs node and takes seconds, so the checks run here on a small hand-written
template fragment of the stack's resource types (scripts/check_deploy.sh runs the script on the
packaged templates): the real policy passes it, and each breach is caught.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_deployer_policy.py"
POLICY = ROOT / "deploy" / "deployer-policy.json"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_deployer_policy", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


checker = _load()
STACK = "lambda-jwt-auth-ci"

# A tiny stand-in for the Service Authorization Reference: what these tests need of it.
REFERENCE: dict[str, Any] = {
    "lambda": {
        "Actions": {"createfunction": {"Resources": ["function"]}, "getfunction": {"Resources": ["function"]}}
    },
    "kms": {"Actions": {"listaliases": {}, "describekey": {"Resources": ["key"]}}},
}


def policy() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(POLICY.read_text(encoding="utf-8"))
    return document


def resource(kind: str, **properties: Any) -> dict[str, Any]:
    return {"Type": kind, "Properties": properties}


def fragment() -> dict[str, Any]:
    """One resource of every type the stack's templates hold, named as osls names them."""
    return {
        "Resources": {
            "ServerlessDeploymentBucket": resource("AWS::S3::Bucket"),
            "ServerlessDeploymentBucketPolicy": resource("AWS::S3::BucketPolicy"),
            "AuthorizerLogGroup": resource(
                "AWS::Logs::LogGroup", LogGroupName=f"/aws/lambda/{STACK}-authorizer"
            ),
            "HttpApiLogGroup": resource("AWS::Logs::LogGroup", LogGroupName=f"/aws/http-api/{STACK}"),
            "AuthorizerLambdaFunction": resource("AWS::Lambda::Function", FunctionName=f"{STACK}-authorizer"),
            "AuthorizerLambdaVersionAbc": resource("AWS::Lambda::Version"),
            "AuthorizerSnapStartLambdaAlias": resource("AWS::Lambda::Alias", Name="snapstart"),
            "AuthorizerLambdaPermissionHttpApi": resource("AWS::Lambda::Permission"),
            "AuthorizerRole": resource("AWS::IAM::Role"),
            "TracingPolicy": resource("AWS::IAM::Policy", PolicyName="xray"),
            "DenylistTable": resource("AWS::DynamoDB::Table", TableName=f"{STACK}-denylist"),
            "DenylistGlobalTable": resource("AWS::DynamoDB::GlobalTable", TableName=f"{STACK}-denylist"),
            "KeyRotationRule": resource("AWS::Events::Rule", ScheduleExpression="rate(30 days)"),
            "FailClosedAlarm": resource("AWS::CloudWatch::Alarm"),
            "Dashboard": resource("AWS::CloudWatch::Dashboard", DashboardName=STACK),
            "HttpApi": resource("AWS::ApiGatewayV2::Api", Name=f"ci-{STACK}"),
            "HttpApiStage": resource("AWS::ApiGatewayV2::Stage", StageName="$default"),
            "HttpApiAuthorizerJwtAuthorizer": resource("AWS::ApiGatewayV2::Authorizer"),
            "HttpApiIntegrationMe": resource("AWS::ApiGatewayV2::Integration"),
            "HttpApiRouteGetMe": resource("AWS::ApiGatewayV2::Route"),
        }
    }


def breaches(
    document: Any | None = None,
    template: dict[str, Any] | None = None,
    *,
    reference: dict[str, Any] | None = None,
    stack_name: str | None = STACK,
) -> list[str]:
    found: list[str] = checker.run(
        policy() if document is None else document,
        [("fragment", fragment() if template is None else template)],
        reference=reference,
        stack_name=stack_name,
    )
    return found


def without_prefix(document: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The policy with every action of one service prefix removed (and statements left empty)."""
    changed = copy.deepcopy(document)
    kept = []
    for statement in changed["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        actions = [action for action in actions if action.split(":")[0] != prefix]
        if actions:
            statement["Action"] = actions
            kept.append(statement)
    changed["Statement"] = kept
    return changed


def assert_breach(found: list[str], *fragments: str) -> None:
    assert any(all(part in line for part in fragments) for line in found), found


def test_the_policy_file_is_iam_policy_json() -> None:
    document = policy()
    assert document["Version"] == "2012-10-17"
    assert isinstance(document["Statement"], list) and document["Statement"]
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Action"] and statement["Resource"]
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
    assert checker.policy_size(document) <= checker.MANAGED_POLICY_MAX_CHARACTERS


def test_the_policy_covers_every_resource_type_of_the_stack() -> None:
    assert breaches() == []


def test_the_policy_passes_the_real_actions_reference() -> None:
    pytest.importorskip("cfnlint")
    reference = checker.load_reference(None)
    assert reference is not None
    assert breaches(reference=reference) == []


def test_every_resource_type_of_serverless_yml_is_known() -> None:
    # Types the framework adds (bucket, functions, versions, log groups, the HTTP API) are in the
    # fragment; the ones serverless.yml declares itself must be known to the check too.
    declared = set(
        re.findall(r"^\s+Type: (AWS::\S+)", (ROOT / "serverless.yml").read_text(encoding="utf-8"), re.M)
    )
    assert declared, "no resource types found in serverless.yml"
    assert declared <= set(checker.REQUIRED_ACTIONS), declared - set(checker.REQUIRED_ACTIONS)
    fragment_types = {entry["Type"] for entry in fragment()["Resources"].values()}
    assert declared <= fragment_types, declared - fragment_types


@pytest.mark.parametrize(
    ("prefix", "kind"),
    [
        ("lambda", "AWS::Lambda::Function"),
        ("dynamodb", "AWS::DynamoDB::Table"),
        ("logs", "AWS::Logs::LogGroup"),
        ("apigateway", "AWS::ApiGatewayV2::Api"),
        ("cloudwatch", "AWS::CloudWatch::Alarm"),
        ("events", "AWS::Events::Rule"),
        ("iam", "AWS::IAM::Role"),
        ("s3", "AWS::S3::Bucket"),
    ],
)
def test_a_service_missing_from_the_policy_is_a_breach(prefix: str, kind: str) -> None:
    assert_breach(breaches(without_prefix(policy(), prefix)), kind, f"needs {prefix}:* actions")


def test_the_framework_needs_cloudformation() -> None:
    assert_breach(breaches(without_prefix(policy(), "cloudformation")), "cloudformation:CreateChangeSet")


def test_a_missing_action_of_a_type_is_a_breach() -> None:
    document = policy()
    for statement in document["Statement"]:
        if isinstance(statement["Action"], list) and "lambda:PublishVersion" in statement["Action"]:
            statement["Action"].remove("lambda:PublishVersion")
    assert_breach(breaches(document), "AWS::Lambda::Version", "lambda:PublishVersion")


def test_a_resource_type_the_check_does_not_know_is_a_breach() -> None:
    template = fragment()
    template["Resources"]["Topic"] = resource("AWS::SNS::Topic")
    template["Resources"]["Queue"] = resource("AWS::SQS::Queue")
    found = breaches(template=template)
    assert_breach(found, "AWS::SNS::Topic", "REQUIRED_ACTIONS")
    assert_breach(found, "AWS::SQS::Queue", "SERVICE_PREFIXES")


def test_a_resource_named_outside_the_policy_is_a_breach() -> None:
    template = fragment()
    template["Resources"]["AuthorizerLambdaFunction"]["Properties"]["FunctionName"] = "another-service-fn"
    template["Resources"]["DenylistTable"]["Properties"]["TableName"] = "someone-elses-table"
    found = breaches(template=template)
    assert_breach(found, "lambda:CreateFunction", "function:another-service-fn")
    assert_breach(found, "dynamodb:CreateTable", "table/someone-elses-table")


def test_generated_names_follow_the_stack_name() -> None:
    found = breaches(stack_name="another-stack")
    assert_breach(found, "AuthorizerRole", "iam:CreateRole", "role/another-stack-AuthorizerRole-")
    assert_breach(found, "iam:PassRole", "role/another-stack-")
    assert_breach(found, "FailClosedAlarm", "alarm:another-stack-FailClosedAlarm-")
    assert_breach(found, "KeyRotationRule", "rule/another-stack-KeyRotationRule-")
    assert_breach(found, "s3:CreateBucket", ":::another-stack-serverlessdeploymentbucket-")
    # Without a stack name, only the names written in the template are checked.
    assert breaches(stack_name="another-stack") != breaches(stack_name=None) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("Version"), "Version must be 2012-10-17"),
        (lambda d: d.update(Statement=[]), "Statement must be a non-empty list"),
        (lambda d: d["Statement"][0].pop("Resource"), "Resource must be"),
        (lambda d: d["Statement"][0].update(Action=[]), "Action must be"),
        (lambda d: d["Statement"][0].update(Effect="allow"), "Effect must be Allow or Deny"),
        (lambda d: d["Statement"][0].update(NotAction="s3:*"), "keys not allowed here: NotAction"),
        (lambda d: d["Statement"][0].update(Principal="*"), "keys not allowed here: Principal"),
        (lambda d: d["Statement"][1].update(Sid=d["Statement"][0]["Sid"]), "Sid must be a unique string"),
        (lambda d: d["Statement"][0].update(Action=["CreateStack"]), "is not service:Action"),
        (lambda d: d["Statement"][0].update(Condition=["not", "an object"]), "Condition must map"),
    ],
)
def test_shape_breaches(mutate: Any, expected: str) -> None:
    document = policy()
    mutate(document)
    assert_breach(breaches(document), expected)


def _statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in document["Statement"] if s.get("Sid") == sid)
    return found


def test_pass_role_must_be_scoped_and_conditioned() -> None:
    document = policy()
    _statement(document, "PassRolesToLambda")["Resource"] = "*"
    assert_breach(breaches(document), 'iam:PassRole on "*"')
    document = policy()
    _statement(document, "PassRolesToLambda").pop("Condition")
    assert_breach(breaches(document), "iam:PassRole without an iam:PassedToService condition")


def test_an_arn_of_another_service_is_a_breach() -> None:
    document = policy()
    _statement(document, "Functions")["Resource"] = [
        "arn:aws:lambda:*:*:function:lambda-jwt-auth-*",
        "arn:aws:s3:::x",
    ]
    assert_breach(breaches(document), "statement Functions", "on an ARN of another service")


def test_actions_are_checked_against_the_reference() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Typo", "Effect": "Allow", "Action": "lambda:CreateFunctionn", "Resource": "*"},
            {"Sid": "NoSuchService", "Effect": "Allow", "Action": "lamda:GetFunction", "Resource": "*"},
            {
                "Sid": "Scoped",
                "Effect": "Allow",
                "Action": "kms:ListAliases",
                "Resource": "arn:aws:kms:*:*:key/*",
            },
            {"Sid": "Fine", "Effect": "Allow", "Action": ["lambda:Get*", "kms:DescribeKey"], "Resource": "*"},
        ],
    }
    found = checker.run(document, [], reference=REFERENCE)
    assert_breach(found, "statement Typo", "lambda:CreateFunctionn is not an IAM action")
    assert_breach(found, "statement NoSuchService", "no such service prefix 'lamda'")
    assert_breach(found, "statement Scoped", "supports no resource-level permission")
    assert not [line for line in found if "Fine" in line], found


def test_the_size_quota_is_a_breach() -> None:
    document = policy()
    copies = copy.deepcopy(document["Statement"])
    for index, statement in enumerate(copies):
        statement["Sid"] = f"Copy{index}"
    document["Statement"] += copies
    assert_breach(breaches(document), "characters without white space")


def test_main_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "template.json"
    good.write_text(json.dumps(fragment()), encoding="utf-8")
    assert checker.main([str(good), "--stack-name", STACK]) == 0
    assert "check_deployer_policy: OK" in capsys.readouterr().out

    broken = tmp_path / "policy.json"
    broken.write_text(json.dumps(without_prefix(policy(), "events")), encoding="utf-8")
    assert checker.main([str(good), "--policy", str(broken)]) == 1
    assert "DEPLOYER POLICY BREACH" in capsys.readouterr().err

    assert checker.main([str(tmp_path / "missing.json")]) == 2
    empty = tmp_path / "empty.json"
    empty.write_text("{}", encoding="utf-8")
    assert checker.main([str(empty)]) == 2


PAGE = ROOT / "docs" / "deploying" / "prerequisites.md"


def _json_blocks(text: str) -> list[Any]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", text, re.S)]


def test_the_page_shows_the_policy_file_as_it_is() -> None:
    """The site includes the file itself (pymdownx.snippets), so the two cannot differ."""
    page = PAGE.read_text(encoding="utf-8")
    assert '```json\n--8<-- "deploy/deployer-policy.json"\n```' in page


def test_the_operator_policy_of_the_page_is_valid() -> None:
    page = PAGE.read_text(encoding="utf-8").replace('--8<-- "deploy/deployer-policy.json"', "{}")
    blocks = _json_blocks(page)
    blocks = [block for block in blocks if block != {}]
    assert len(blocks) == 1
    reference = checker.load_reference(None)  # None without cfn-lint: the shape is checked anyway
    assert checker.run(blocks[0], [], reference=reference) == []
