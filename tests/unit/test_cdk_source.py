"""deploy/cdk: serverless.yml read for one stage (source.py), and the twin-template check
(scripts/compare_templates.py). The construct itself is synthesized by scripts/check_deploy.sh."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "cdk"))
from lambda_jwt_auth_cdk import source, template  # noqa: E402


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compare = _script("compare_templates")

SMALL = """
service: svc
params:
  default:
    table: ${self:service}-${sls:stage}-t
    flag: false
    origins: ""
    allowedOrigins: "https://a.example, https://b.example"
    nested: inner
    inner: found
  prod:
    table: prod-table
custom:
  stage: ${opt:stage, 'dev'}
  modes:
    found: [x, y]
provider:
  environment:
    TABLE: ${param:table}
    FLAG: ${param:flag}
    ARN: !Sub "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${param:table}"
    BOTH: ${self:custom.modes.${param:${param:nested}}}
    ORIGINS: ${file(./deploy/allowed-origins.js)}
    REF: !GetAtt Table.Arn
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "serverless.yml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def test_variables_are_followed_for_the_stage(small: Path) -> None:
    env = source.load(small, "ci")["provider"]["environment"]
    assert env["TABLE"] == "svc-ci-t"
    assert env["FLAG"] is False  # a variable alone keeps its type
    # CloudFormation's own variables stay for Fn::Sub; ours inside it are followed.
    arn = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/svc-ci-t"
    assert env["ARN"] == {"Fn::Sub": arn}
    assert env["BOTH"] == ["x", "y"]  # nested variables, innermost first
    assert env["ORIGINS"] == ["https://a.example", "https://b.example"]
    assert env["REF"] == {"Fn::GetAtt": ["Table", "Arn"]}


def test_stage_params_then_given_params_win(small: Path) -> None:
    assert source.load(small, "prod")["provider"]["environment"]["TABLE"] == "prod-table"
    assert source.load(small, "prod", {"table": "mine"})["provider"]["environment"]["TABLE"] == "mine"


def test_unknown_params_and_variables_are_errors(small: Path) -> None:
    with pytest.raises(source.SourceError, match="no such params: tabel"):
        source.load(small, "ci", {"tabel": "x"})
    small.write_text(SMALL + "  broken: ${param:missing}\n", encoding="utf-8")
    with pytest.raises(source.SourceError, match=r"\$\{param:missing\} is no param"):
        source.load(small, "ci")


@pytest.mark.parametrize(
    ("route", "logical_id"),
    [
        ("GET /.well-known/jwks.json", "HttpApiRouteGetWellDashknownJwksjson"),
        ("GET /demo/{proxy+}", "HttpApiRouteGetDemoProxyVar"),
        ("POST /auth/login", "HttpApiRoutePostAuthLogin"),
        ("GET /a-b/{id}", "HttpApiRouteGetADashbIdVar"),
    ],
)
def test_route_ids_are_the_frameworks(route: str, logical_id: str) -> None:
    assert template._route_id(route) == logical_id


def test_our_serverless_yml_builds_every_function() -> None:
    document = source.load(ROOT / "serverless.yml", "ci")
    built, code = template.build(document, "ci")
    functions = {k for k, v in built["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}
    assert functions == set(code) and len(functions) == len(document["functions"])
    assert code["AuthorizerLambdaFunction"] == "authorizerArtifact"
    assert {code[f] for f in functions - {"AuthorizerLambdaFunction"}} == {"serviceArtifact"}


# --- compare_templates -----------------------------------------------------------------------------

TWIN: dict[str, Any] = {
    "Parameters": {"P": {"Type": "String", "Default": "x"}},
    "Resources": {
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "MemorySize": 512,
                "Code": {"S3Key": "a.zip"},
                "Environment": {"Variables": {"AUTH_ROUTE_SCOPES": '{"GET /me": ["profile"]}'}},
            },
        },
        "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Threshold": "10"}},
    },
}


def _cdk_of(osls: dict[str, Any]) -> dict[str, Any]:
    cdk = copy.deepcopy(osls)
    cdk["Resources"]["Fn"]["Properties"]["Code"] = {"S3Key": "hash.zip"}  # each tool's own upload
    cdk["Resources"]["Alarm"]["Properties"]["Threshold"] = 10  # a number where osls wrote a string
    cdk["Parameters"]["BootstrapVersion"] = {"Type": "AWS::SSM::Parameter::Value<String>"}
    return cdk


def test_twins_match() -> None:
    osls = copy.deepcopy(TWIN)
    osls["Resources"]["Version"] = {"Type": "AWS::Lambda::Version", "Properties": {}}  # the framework's own
    cdk = _cdk_of(TWIN)
    cdk["Resources"]["Fn"]["Properties"]["Environment"]["Variables"]["AUTH_ROUTE_SCOPES"] = (
        '{"GET /me": ["profile"], "GET /orders": ["orders:read"]}'  # an app's routes, added
    )
    assert compare.differences(osls, cdk) == []


def test_drift_is_found() -> None:
    cdk = _cdk_of(TWIN)
    cdk["Resources"]["Fn"]["Properties"]["MemorySize"] = 1024
    cdk["Resources"]["Fn"]["Properties"]["Environment"]["Variables"]["AUTH_ROUTE_SCOPES"] = '{"GET /me": []}'
    del cdk["Resources"]["Alarm"]
    cdk["Resources"]["Extra"] = {"Type": "AWS::SNS::Topic"}
    cdk["Parameters"]["P"]["Default"] = "y"
    found = "\n".join(compare.differences(TWIN, cdk))
    for fragment in (
        "Fn.MemorySize: osls 512 != CDK 1024",
        "AUTH_ROUTE_SCOPES changes serverless.yml's own routes",
        "Alarm (AWS::CloudWatch::Alarm): only in the osls template",
        "Extra (AWS::SNS::Topic): only in the CDK template",
        "Parameters.P: differs",
    ):
        assert fragment in found, found


def test_the_dashboard_is_valid_json_naming_only_metrics_we_write() -> None:
    """cfn-lint does not read a DashboardBody: parse it as CloudWatch will (after Fn::Sub), and
    every metric of our namespace must be one the code writes (authorizer.metrics)."""
    import json
    import re

    from authorizer import metrics

    document = source.load(ROOT / "serverless.yml", "ci")
    dashboard = document["resources"]["Resources"]["Dashboard"]["Properties"]
    body, variables = dashboard["DashboardBody"]["Fn::Sub"]
    text = re.sub(r"\$\{[^}]+\}", "x", body)  # what Fn::Sub puts there is text
    widgets = json.loads(text)["widgets"]
    assert set(variables) == {"Namespace", "Service", "Authorizer"} and len(widgets) == 6
    ours = {v for k, v in vars(metrics).items() if k.isupper() and isinstance(v, str)}
    named = set()
    for widget in widgets:
        assert widget["type"] == "metric" and widget["properties"]["region"] == "x"
        for row in widget["properties"]["metrics"]:
            if row[0] in ("x", "."):  # our namespace (`.`: the row above's)
                named.add(row[1])
    assert named and named <= ours, named - ours
