"""scripts/check_policies.py on small synthetic templates: each rule passes a good template and
catches its breach. No node, no serverless: the templates are built here."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_policies.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_policies", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


check_policies = _load()

Template = dict[str, Any]
PREFIX = "svc-ci-"
SIGNING_KEY = "/svc/ci/signing-key"
JWKS = "/svc/ci/jwks"
ACCOUNT = "arn:${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}:"


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def our_arn(service: str, rest: str) -> dict[str, str]:
    return sub(ACCOUNT.replace("{service}", service) + rest)


def get_arn(logical_id: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def allow(actions: str | list[str], resource: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


LOGS = allow(
    ["logs:CreateLogStream", "logs:PutLogEvents"],
    our_arn("logs", f"log-group:/aws/lambda/{PREFIX}*:*"),
)
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "status": "$context.status",
        "sub": "$context.authorizer.sub",
        "jti": "$context.authorizer.jti",
        "authorizerError": "$context.authorizer.error",
    }
)
READ_DENYLIST = allow(["dynamodb:BatchGetItem", "dynamodb:GetItem"], get_arn("DenylistTable"))
WRITE_DENYLIST = allow(["dynamodb:GetItem", "dynamodb:PutItem"], get_arn("DenylistTable"))
READ_JWKS = allow("ssm:GetParameter", our_arn("ssm", f"parameter{JWKS}"))
READ_CLIENTS = allow("dynamodb:GetItem", get_arn("ClientsTable"))


def only_keys(*patterns: str, operator: str = "ForAllValues:StringLike") -> dict[str, Any]:
    return {operator: {"dynamodb:LeadingKeys": list(patterns)}}


# Login's failed-login counters: UpdateItem in the denylist, only on throttle#... items.
THROTTLE_COUNTERS = {
    **allow("dynamodb:UpdateItem", get_arn("DenylistTable")),
    "Condition": only_keys("throttle#*"),
}
READ_KEYS = allow(
    "ssm:GetParameter",
    [our_arn("ssm", f"parameter{SIGNING_KEY}"), our_arn("ssm", f"parameter{JWKS}")],
)


def role(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {"PolicyName": "logs", "PolicyDocument": {"Version": "2012-10-17", "Statement": [LOGS]}},
                {
                    "PolicyName": "app",
                    # Copies: a test that edits one role's statement leaves every other role's alone.
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": copy.deepcopy(list(statements))},
                },
            ],
        },
    }


def table(name: str) -> dict[str, Any]:
    return {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "TableName": f"{PREFIX}{name}",
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    }


# serverless.yml function name -> (role, SSM parameters in its environment)
JWKS_ONLY = {"AUTH_JWKS_SSM_PARAMETER": JWKS}
BOTH_KEYS = {**JWKS_ONLY, "AUTH_SIGNING_KEY_SSM_PARAMETER": SIGNING_KEY}
FUNCTIONS = {
    "authorizer": ("AuthorizerRole", JWKS_ONLY),
    "login": ("LoginRole", BOTH_KEYS),
    "token": ("TokenRole", BOTH_KEYS),
    "refresh": ("RefreshRole", BOTH_KEYS),
    "introspect": ("IntrospectRole", JWKS_ONLY),
    "logout": ("RevokeRole", BOTH_KEYS),
    "revoke": ("RevokeRole", BOTH_KEYS),
    "jwks": ("PublicKeysRole", JWKS_ONLY),
    "me": ("PublicKeysRole", JWKS_ONLY),
}


def logical(name: str) -> str:
    return name[:1].upper() + name[1:]


def good_template() -> Template:
    resources: dict[str, Any] = {
        "DenylistTable": table("denylist"),
        "UsersTable": table("users"),
        "ClientsTable": table("clients"),
        "AuthorizerRole": role(READ_DENYLIST, READ_JWKS),
        "LoginRole": role(
            allow(["dynamodb:GetItem", "dynamodb:UpdateItem"], get_arn("UsersTable")),
            allow("dynamodb:GetItem", get_arn("DenylistTable")),
            THROTTLE_COUNTERS,
            READ_KEYS,
        ),
        "RefreshRole": role(WRITE_DENYLIST, READ_KEYS),
        "RevokeRole": role(WRITE_DENYLIST, READ_CLIENTS, READ_KEYS),
        "TokenRole": role(WRITE_DENYLIST, THROTTLE_COUNTERS, READ_CLIENTS, READ_KEYS),
        "IntrospectRole": role(READ_DENYLIST, THROTTLE_COUNTERS, READ_CLIENTS, READ_JWKS),
        "PublicKeysRole": role(READ_JWKS),
    }
    resources["DenylistTable"]["Properties"]["TimeToLiveSpecification"] = {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    for name, (role_id, environment) in FUNCTIONS.items():
        resources[f"{logical(name)}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": f"/aws/lambda/{PREFIX}{name}", "RetentionInDays": 30},
        }
        resources[f"{logical(name)}LambdaFunction"] = {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": f"{PREFIX}{name}",
                "Handler": "x.handler",
                "Role": get_arn(role_id),
                "Environment": {
                    "Variables": {
                        "AUTH_DENYLIST_TABLE": f"{PREFIX}denylist",
                        "AUTH_METRICS_NAMESPACE": "LambdaJwtAuth",
                        "AUTH_METRICS_SERVICE": "svc-ci",
                        **environment,
                    }
                },
            },
            "DependsOn": [f"{logical(name)}LogGroup", role_id],
        }
    resources["HttpApiLogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": "/aws/http-api/svc-ci", "RetentionInDays": 30},
    }
    resources["HttpApiStage"] = {
        "Type": "AWS::ApiGatewayV2::Stage",
        "Properties": {
            "ApiId": {"Ref": "HttpApi"},
            "StageName": "$default",
            "AccessLogSettings": {"DestinationArn": get_arn("HttpApiLogGroup"), "Format": ACCESS_LOG_FORMAT},
        },
    }
    for (namespace, metric), dimension in check_policies.REQUIRED_ALARMS.items():
        resources[f"{metric}Alarm"] = alarm(namespace, metric, dimension)
    resources["Dashboard"] = {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardBody": "{}"}}
    parameters = {"MetricsNamespace": {"Type": "String", "Default": "LambdaJwtAuth"}}
    # Statements above are shared constants; tests mutate their own copy.
    document = {"AWSTemplateFormatVersion": "2010-09-09", "Parameters": parameters, "Resources": resources}
    return copy.deepcopy(document)


def alarm(namespace: str | None, metric: str, dimension: str) -> dict[str, Any]:
    """An alarm as serverless.yml writes it: ours on the parameter's namespace and our service."""
    if namespace is None:
        dimensions = [{"Name": "Service", "Value": "svc-ci"}]
    elif dimension == "DenylistTable":
        dimensions = [{"Name": "TableName", "Value": {"Ref": "DenylistTable"}}]
    else:
        dimensions = [{"Name": "FunctionName", "Value": {"Ref": "AuthorizerLambdaFunction"}}]
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "Namespace": namespace or {"Ref": "MetricsNamespace"},
            "MetricName": metric,
            "Dimensions": dimensions,
            "AlarmActions": {"Fn::If": ["AlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]},
        },
    }


def app_statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    policies = template["Resources"][role_id]["Properties"]["Policies"]
    statements: list[dict[str, Any]] = policies[1]["PolicyDocument"]["Statement"]
    return statements


def add_statement(role_id: str, statement: dict[str, Any]) -> Callable[[Template], None]:
    def mutate(template: Template) -> None:
        app_statements(template, role_id).append(statement)

    return mutate


def breaches_after(mutate: Callable[[Template], None]) -> list[str]:
    template = good_template()
    mutate(template)
    result: list[str] = check_policies.check(template)
    return result


def assert_breach(breaches: list[str], *fragments: str) -> None:
    assert any(all(fragment in line for fragment in fragments) for line in breaches), (
        f"no breach with {fragments!r} in:\n" + "\n".join(breaches)
    )


def test_the_good_template_passes() -> None:
    assert check_policies.check(good_template()) == []


# --- scope: DynamoDB, SSM, Secrets Manager and KMS name our own resources ------------------------


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("dynamodb:GetItem", "*"),
        ("dynamodb:Query", sub("${DenylistTable.Arn}/index/*")),
        ("dynamodb:GetItem", our_arn("dynamodb", "table/*")),
        ("ssm:GetParameter", "*"),
        ("ssm:GetParameter", our_arn("ssm", "parameter/svc/ci/*")),
        ("secretsmanager:GetSecretValue", "*"),
        ("kms:Decrypt", "*"),
        ("sqs:SendMessage", "*"),
    ],
)
def test_wildcard_resources_are_breaches_outside_logs(action: str, resource: Any) -> None:
    breaches = breaches_after(add_statement("PublicKeysRole", allow(action, resource)))
    assert_breach(breaches, "PublicKeysRole policy 'app' statement 2", action, "a wildcard resource")


@pytest.mark.parametrize(
    ("action", "resource", "kind"),
    [
        ("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/svc-ci-denylist", "tables"),
        ("dynamodb:GetItem", our_arn("dynamodb", "table/someone-elses"), "tables"),
        ("ssm:GetParameter", our_arn("ssm", "parameter/someone/elses"), "parameters"),
        ("ssm:GetParametersByPath", our_arn("ssm", "parameter/svc/ci"), "parameters"),
        ("secretsmanager:GetSecretValue", our_arn("secretsmanager", "secret:db-AbCdEf"), "secrets"),
        ("kms:Decrypt", our_arn("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"), "keys"),
    ],
)
def test_resources_that_are_not_ours_are_breaches(action: str, resource: Any, kind: str) -> None:
    breaches = breaches_after(add_statement("PublicKeysRole", allow(action, resource)))
    assert_breach(breaches, "PublicKeysRole", action, f"not one of our own {kind}")


def test_our_own_tables_secrets_and_keys_pass() -> None:
    def mutate(template: Template) -> None:
        template["Resources"]["Secret"] = {"Type": "AWS::SecretsManager::Secret", "Properties": {}}
        template["Resources"]["Key"] = {"Type": "AWS::KMS::Key", "Properties": {}}
        statements = app_statements(template, "LoginRole")
        statements.append(allow("secretsmanager:GetSecretValue", {"Ref": "Secret"}))
        statements.append(allow("kms:Decrypt", get_arn("Key")))
        statements.append(allow("dynamodb:Query", sub("${UsersTable.Arn}/index/by-email")))
        statements.append(allow("dynamodb:GetItem", our_arn("dynamodb", f"table/{PREFIX}users")))

    assert breaches_after(mutate) == []


def test_resources_we_cannot_read_are_breaches() -> None:
    joined = {"Fn::Join": ["", ["arn:aws:dynamodb:", {"Ref": "AWS::Region"}, ":1:table/x"]]}
    breaches = breaches_after(add_statement("LoginRole", allow("dynamodb:GetItem", joined)))
    assert_breach(breaches, "LoginRole", "dynamodb:GetItem", "cannot tell which resource")


@pytest.mark.parametrize("action", ["dynamodb:*", "dynamodb:Get*", "*"])
def test_wildcard_actions_are_breaches(action: str) -> None:
    breaches = breaches_after(add_statement("LoginRole", allow(action, get_arn("UsersTable"))))
    assert_breach(breaches, "LoginRole", f"wildcard action {action}")


@pytest.mark.parametrize("key", ["NotAction", "NotResource"])
def test_not_action_and_not_resource_are_breaches(key: str) -> None:
    statement = {"Effect": "Allow", "Action": "dynamodb:GetItem", key: "*"}
    if key == "NotAction":
        statement = {"Effect": "Allow", "NotAction": "iam:*", "Resource": get_arn("UsersTable")}
    breaches = breaches_after(add_statement("LoginRole", statement))
    assert_breach(breaches, "LoginRole", f"{key} cannot be checked")


def test_managed_policies_are_breaches() -> None:
    def mutate(template: Template) -> None:
        template["Resources"]["LoginRole"]["Properties"]["ManagedPolicyArns"] = [
            "arn:aws:iam::aws:policy/AdministratorAccess"
        ]

    assert_breach(breaches_after(mutate), "LoginRole", "ManagedPolicyArns")


def test_deny_statements_are_not_grants() -> None:
    statement = {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}
    assert breaches_after(add_statement("AuthorizerRole", statement)) == []


# --- CloudWatch Logs: wildcards only on our own log groups -----------------------------------


@pytest.mark.parametrize(
    "resource",
    [
        "*",
        our_arn("logs", "log-group:*"),
        our_arn("logs", "log-group:/aws/lambda/*:*"),
        our_arn("logs", "log-group:/aws/lambda/svc-*:*"),
        "arn:aws:logs:*:*:log-group:/aws/lambda/svc-ci-*:*",
    ],
)
def test_logs_wildcards_outside_our_log_groups_are_breaches(resource: Any) -> None:
    breaches = breaches_after(add_statement("LoginRole", allow("logs:PutLogEvents", resource)))
    assert_breach(breaches, "LoginRole", "logs:PutLogEvents", "CloudWatch Logs wildcards must stay within")


def test_logs_on_someone_elses_log_group_is_a_breach() -> None:
    resource = our_arn("logs", "log-group:/aws/lambda/other-function:*")
    breaches = breaches_after(add_statement("LoginRole", allow("logs:PutLogEvents", resource)))
    assert_breach(breaches, "LoginRole", "CloudWatch Logs wildcards must stay within")
    exact = our_arn("logs", "log-group:/aws/lambda/other-function")
    breaches = breaches_after(add_statement("LoginRole", allow("logs:PutLogEvents", exact)))
    assert_breach(breaches, "LoginRole", "not one of our log groups")


def test_logs_on_a_log_group_of_the_template_passes() -> None:
    statement = allow("logs:PutLogEvents", get_arn("LoginLogGroup"))
    assert breaches_after(add_statement("LoginRole", statement)) == []


# --- the authorizer only reads -----------------------------------------------------------------


def test_the_authorizer_may_not_write_the_denylist() -> None:
    statement = allow("dynamodb:PutItem", get_arn("DenylistTable"))
    breaches = breaches_after(add_statement("AuthorizerRole", statement))
    assert_breach(breaches, "AuthorizerRole", "role of authorizer", "dynamodb:PutItem", "writes the denylist")


def test_the_authorizer_may_not_touch_the_users_table() -> None:
    statement = allow("dynamodb:GetItem", get_arn("UsersTable"))
    breaches = breaches_after(add_statement("AuthorizerRole", statement))
    assert_breach(breaches, "AuthorizerRole", "the authorizer may read the denylist only")


def test_the_authorizer_may_not_read_the_signing_key() -> None:
    statement = allow("ssm:GetParameter", our_arn("ssm", f"parameter{SIGNING_KEY}"))
    breaches = breaches_after(add_statement("AuthorizerRole", statement))
    assert_breach(breaches, "AuthorizerRole", "role of authorizer", "the signing-key parameter")


def test_the_authorizer_may_not_write_anything() -> None:
    statement = allow("ssm:PutParameter", our_arn("ssm", f"parameter{JWKS}"))
    breaches = breaches_after(add_statement("AuthorizerRole", statement))
    assert_breach(breaches, "AuthorizerRole", "ssm:PutParameter", "the authorizer may only read")


def test_a_separate_policy_attached_to_the_authorizer_role_counts() -> None:
    def mutate(template: Template) -> None:
        template["Resources"]["ExtraPolicy"] = {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "extra",
                "Roles": [{"Ref": "AuthorizerRole"}],
                "PolicyDocument": {"Statement": [allow("dynamodb:DeleteItem", get_arn("DenylistTable"))]},
            },
        }

    assert_breach(
        breaches_after(mutate), "AuthorizerRole policy ExtraPolicy statement 1", "writes the denylist"
    )


# --- who writes the denylist, who reads the signing key ------------------------------------------


@pytest.mark.parametrize(
    "action",
    [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:TransactWriteItems",
        "dynamodb:DeleteTable",
    ],
)
def test_only_refresh_logout_and_revoke_write_the_denylist(action: str) -> None:
    breaches = breaches_after(add_statement("LoginRole", allow(action, get_arn("DenylistTable"))))
    assert_breach(breaches, "LoginRole", "role of login", action, "only logout, refresh, revoke, token may")
    assert breaches_after(add_statement("RefreshRole", allow(action, get_arn("DenylistTable")))) == []


# --- login's throttle counters: UpdateItem on throttle#* keys, and IAM must say so ----------------


@pytest.mark.parametrize(
    "condition",
    [
        only_keys("throttle#*"),
        only_keys("throttle#user#*", "throttle#ip#*"),
        only_keys("throttle#user#abc", operator="ForAllValues:StringEquals"),
        {"ForAllValues:StringLike": {"DynamoDB:LeadingKeys": "throttle#*"}},  # keys ignore case
        {**only_keys("throttle#*"), "Bool": {"aws:SecureTransport": "true"}},  # more conditions narrow it
    ],
)
def test_login_may_update_its_throttle_counters(condition: dict[str, Any]) -> None:
    statement = {**allow("dynamodb:UpdateItem", get_arn("DenylistTable")), "Condition": condition}
    assert breaches_after(add_statement("LoginRole", statement)) == []


@pytest.mark.parametrize(
    "condition",
    [
        None,
        {},
        only_keys("*"),
        only_keys("throttle*"),
        only_keys("jti#*"),
        only_keys("throttle#*", "sid#*"),
        only_keys(),
        only_keys("throttle#*", operator="ForAnyValue:StringLike"),
        only_keys("throttle#*", operator="StringLike"),
        only_keys("throttle#*", operator="ForAllValues:StringLikeIfExists"),
        only_keys("throttle#*", operator="ForAllValues:StringNotLike"),
        {"ForAllValues:StringLike": {"dynamodb:Attributes": ["throttle#*"]}},
    ],
    ids=repr,
)
def test_login_writing_beyond_its_throttle_counters_is_a_breach(condition: dict[str, Any] | None) -> None:
    def mutate(template: Template) -> None:
        for statement in app_statements(template, "LoginRole"):
            if statement.get("Condition") is not None:
                statement.pop("Condition")
                if condition is not None:
                    statement["Condition"] = condition

    assert_breach(
        breaches_after(mutate),
        "LoginRole",
        "role of login",
        "dynamodb:UpdateItem",
        "only logout, refresh, revoke, token may, and login only its throttle#* items",
        "dynamodb:LeadingKeys",
    )


@pytest.mark.parametrize("action", ["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"])
def test_the_throttle_condition_allows_login_no_other_write(action: str) -> None:
    statement = {**allow(action, get_arn("DenylistTable")), "Condition": only_keys("throttle#*")}
    breaches = breaches_after(add_statement("LoginRole", statement))
    assert_breach(
        breaches, "LoginRole", action, "writes the denylist; only logout, refresh, revoke, token may"
    )


@pytest.mark.parametrize("role_id", ["AuthorizerRole", "PublicKeysRole"])
def test_the_throttle_condition_is_for_login_only(role_id: str) -> None:
    breaches = breaches_after(add_statement(role_id, THROTTLE_COUNTERS))
    assert_breach(breaches, role_id, "dynamodb:UpdateItem", "writes the denylist")


def test_reading_the_denylist_is_not_writing_it() -> None:
    statement = allow(["dynamodb:Query", "dynamodb:ConditionCheckItem"], get_arn("DenylistTable"))
    assert breaches_after(add_statement("PublicKeysRole", statement)) == []


def test_only_the_token_issuers_read_the_signing_key() -> None:
    statement = allow("ssm:GetParameters", our_arn("ssm", f"parameter{SIGNING_KEY}"))
    breaches = breaches_after(add_statement("PublicKeysRole", statement))
    readers = "only login, logout, refresh, revoke, rotateKeys, token may read it"
    assert_breach(breaches, "role of jwks", "the signing-key parameter", readers)
    assert_breach(breaches, "role of me", "the signing-key parameter")


def test_the_signing_key_parameter_must_be_known() -> None:
    def mutate(template: Template) -> None:
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::Lambda::Function":
                resource["Properties"]["Environment"]["Variables"].pop("AUTH_SIGNING_KEY_SSM_PARAMETER", None)

    assert_breach(breaches_after(mutate), "AUTH_SIGNING_KEY_SSM_PARAMETER")


# --- one role per kind of function ---------------------------------------------------------------


def test_functions_of_different_kinds_may_not_share_a_role() -> None:
    def mutate(template: Template) -> None:
        template["Resources"]["MeLambdaFunction"]["Properties"]["Role"] = get_arn("AuthorizerRole")

    assert_breach(breaches_after(mutate), "AuthorizerRole", "shared by functions of different kinds", "me")


def test_a_function_needs_a_role_of_the_template() -> None:
    def mutate(template: Template) -> None:
        template["Resources"]["MeLambdaFunction"]["Properties"]["Role"] = "arn:aws:iam::123456789012:role/x"

    assert_breach(breaches_after(mutate), "MeLambdaFunction", "not a role of this template")


def test_an_unclassified_function_is_a_breach() -> None:
    def mutate(template: Template) -> None:
        function = copy.deepcopy(template["Resources"]["MeLambdaFunction"])
        function["Properties"]["FunctionName"] = f"{PREFIX}export"
        template["Resources"]["ExportLambdaFunction"] = function
        template["Resources"]["ExportLogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": f"/aws/lambda/{PREFIX}export", "RetentionInDays": 7},
        }

    assert_breach(breaches_after(mutate), "ExportLambdaFunction", "has no kind")


# --- tables ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ttl",
    [None, {"AttributeName": "expires_at", "Enabled": False}, {"AttributeName": "ttl", "Enabled": True}],
)
def test_the_denylist_needs_ttl_on_expires_at(ttl: dict[str, Any] | None) -> None:
    def mutate(template: Template) -> None:
        properties = template["Resources"]["DenylistTable"]["Properties"]
        properties.pop("TimeToLiveSpecification")
        if ttl is not None:
            properties["TimeToLiveSpecification"] = ttl

    assert_breach(breaches_after(mutate), "DenylistTable", "TTL is not enabled on expires_at")


@pytest.mark.parametrize("table_id", ["DenylistTable", "UsersTable"])
@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("PointInTimeRecoverySpecification", "point-in-time recovery"),
        ("SSESpecification", "server-side encryption"),
    ],
)
def test_every_table_needs_pitr_and_sse(table_id: str, key: str, message: str) -> None:
    def mutate(template: Template) -> None:
        template["Resources"][table_id]["Properties"].pop(key)

    assert_breach(breaches_after(mutate), table_id, message)


@pytest.mark.parametrize("role_id", ["AuthorizerRole", "LoginRole", "RefreshRole", "PublicKeysRole"])
def test_only_the_functions_that_authenticate_clients_read_the_clients_table(role_id: str) -> None:
    breaches = breaches_after(add_statement(role_id, READ_CLIENTS))
    assert_breach(breaches, role_id, "the clients table; only introspect, logout, revoke, token may read it")


@pytest.mark.parametrize("action", ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"])
def test_no_function_writes_the_clients_table(action: str) -> None:
    breaches = breaches_after(add_statement("TokenRole", allow(action, get_arn("ClientsTable"))))
    assert_breach(breaches, "TokenRole", action, "writes the clients table; functions only read it")


def test_both_tables_must_exist() -> None:
    def mutate(template: Template) -> None:
        template["Resources"].pop("UsersTable")
        for statement in app_statements(template, "LoginRole"):
            if statement["Resource"] == get_arn("UsersTable"):
                statement["Resource"] = get_arn("DenylistTable")
                statement["Action"] = "dynamodb:GetItem"

    assert_breach(breaches_after(mutate), "UsersTable", "missing from the template")


def test_the_clients_table_must_exist() -> None:
    def mutate(template: Template) -> None:
        template["Resources"].pop("ClientsTable")
        for role_id in ("RevokeRole", "TokenRole", "IntrospectRole"):
            statements = app_statements(template, role_id)
            statements[:] = [st for st in statements if st["Resource"] != get_arn("ClientsTable")]

    assert_breach(breaches_after(mutate), "ClientsTable", "missing from the template")


# --- log groups --------------------------------------------------------------------------------


def test_every_log_group_needs_a_retention() -> None:
    def mutate(template: Template) -> None:
        template["Resources"]["LoginLogGroup"]["Properties"].pop("RetentionInDays")

    assert_breach(breaches_after(mutate), "LoginLogGroup", "no RetentionInDays")


def test_every_function_needs_its_log_group() -> None:
    def mutate(template: Template) -> None:
        template["Resources"].pop("LoginLogGroup")

    assert_breach(breaches_after(mutate), "LoginLambdaFunction", "is not in the template")


def test_the_http_api_stage_needs_an_access_log() -> None:
    def mutate(template: Template) -> None:
        template["Resources"]["HttpApiStage"]["Properties"].pop("AccessLogSettings")

    assert_breach(breaches_after(mutate), "HttpApiStage", "no AccessLogSettings")


def test_the_access_log_goes_to_a_log_group_of_the_template() -> None:
    def mutate(template: Template) -> None:
        settings = template["Resources"]["HttpApiStage"]["Properties"]["AccessLogSettings"]
        settings["DestinationArn"] = "arn:aws:logs:us-east-1:123456789012:log-group:elsewhere"

    assert_breach(breaches_after(mutate), "HttpApiStage", "not go to a log group of this template")


@pytest.mark.parametrize("variable", ["sub", "jti", "error"])
def test_the_access_log_records_the_authorizer_context(variable: str) -> None:
    def mutate(template: Template) -> None:
        settings = template["Resources"]["HttpApiStage"]["Properties"]["AccessLogSettings"]
        settings["Format"] = settings["Format"].replace(f"$context.authorizer.{variable}", "")

    assert_breach(breaches_after(mutate), "HttpApiStage", f"$context.authorizer.{variable}")


# --- the command -----------------------------------------------------------------------------


def test_main_prints_one_line_per_breach_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = good_template()
    template["Resources"]["DenylistTable"]["Properties"].pop("TimeToLiveSpecification")
    app_statements(template, "AuthorizerRole")[0]["Resource"] = "*"
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))

    assert check_policies.main([str(path)]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("POLICY BREACH")]
    assert len(lines) == 3  # two actions on "*", and the TTL
    assert_breach(lines, "AuthorizerRole policy 'app' statement 1: dynamodb:BatchGetItem on *")
    assert_breach(lines, "DenylistTable: TTL")


def test_main_passes_a_good_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(good_template()))
    assert check_policies.main([str(path)]) == 0
    assert "check_policies: OK" in capsys.readouterr().out


def test_main_reports_an_unreadable_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "template.json"
    path.write_text("{not json")
    assert check_policies.main([str(path)]) == 2
    assert "cannot check" in capsys.readouterr().err


# --- KMS signing: login, token and refresh sign with our aliased keys; the authorizer never -------

KMS_SIGN = {
    **allow("kms:Sign", our_arn("kms", "key/*")),
    "Condition": {"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/lambda-jwt-auth/ci/*"}},
}


@pytest.mark.parametrize("role_id", ["LoginRole", "TokenRole", "RefreshRole"])
def test_signing_functions_may_sign_with_our_aliased_keys(role_id: str) -> None:
    assert breaches_after(add_statement(role_id, KMS_SIGN)) == []


@pytest.mark.parametrize(
    ("role_id", "fragment"),
    [
        ("AuthorizerRole", "the authorizer needs no KMS permission"),
        ("RevokeRole", "only login, refresh, token sign tokens"),
        ("PublicKeysRole", "only login, refresh, token sign tokens"),
    ],
)
def test_no_other_function_signs_and_the_authorizer_has_no_kms(role_id: str, fragment: str) -> None:
    assert_breach(breaches_after(add_statement(role_id, KMS_SIGN)), role_id, fragment)


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        (allow("kms:Sign", our_arn("kms", "key/*")), "must be limited with ForAnyValue:StringLike"),
        ({**KMS_SIGN, "Action": "kms:Decrypt"}, "a wildcard resource"),
        (
            {**KMS_SIGN, "Condition": {"ForAnyValue:StringLike": {"kms:ResourceAliases": "*"}}},
            "must name our alias prefix",
        ),
        (
            {**KMS_SIGN, "Condition": {"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/*"}}},
            "must name our alias prefix",
        ),
        ({**KMS_SIGN, "Resource": "arn:aws:kms:eu-west-1:111122223333:key/*"}, "this account's and region's"),
        ({**KMS_SIGN, "Resource": "*"}, "this account's and region's"),
    ],
)
def test_kms_wildcards_must_be_limited_to_our_alias_prefix(statement: dict[str, Any], fragment: str) -> None:
    assert_breach(breaches_after(add_statement("LoginRole", statement)), "LoginRole", fragment)


# --- the scheduled rotation manages the key set's KMS keys, tagged as ours ----------------------

TAG = {"aws:RequestTag/lambda-jwt-auth-key-set": "alias/lambda-jwt-auth/ci/"}
CREATE_KEY = {
    **allow("kms:CreateKey", "*"),
    "Condition": {"StringEquals": {"kms:KeyUsage": "SIGN_VERIFY", "kms:KeySpec": ["RSA_2048"], **TAG}},
}
MANAGE_KEYS = {
    **allow(["kms:GetPublicKey", "kms:CreateAlias", "kms:DisableKey"], our_arn("kms", "key/*")),
    "Condition": {"StringEquals": {"aws:ResourceTag/lambda-jwt-auth-key-set": "alias/lambda-jwt-auth/ci/"}},
}
TAG_KEYS = {**allow("kms:TagResource", our_arn("kms", "key/*")), "Condition": {"StringEquals": TAG}}
ALIASES = allow(["kms:CreateAlias", "kms:DeleteAlias"], our_arn("kms", "alias/lambda-jwt-auth/ci/*"))


def with_rotation(*statements: dict[str, Any]) -> Callable[[Template], None]:
    def mutate(template: Template) -> None:
        template["Resources"]["KeyRotationRole"] = role(*statements)
        template["Resources"]["RotateKeysLambdaFunction"] = copy.deepcopy(
            template["Resources"]["JwksLambdaFunction"]
        )
        function = template["Resources"]["RotateKeysLambdaFunction"]["Properties"]
        function["FunctionName"] = f"{PREFIX}rotateKeys"
        function["Role"] = get_arn("KeyRotationRole")
        template["Resources"]["RotateKeysLogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": f"/aws/lambda/{PREFIX}rotateKeys", "RetentionInDays": 30},
        }
        template["Resources"]["RotateKeysLambdaFunction"]["DependsOn"] = ["RotateKeysLogGroup"]

    return mutate


def test_the_rotation_may_create_and_manage_only_tagged_signing_keys() -> None:
    assert breaches_after(with_rotation(CREATE_KEY, MANAGE_KEYS, TAG_KEYS, ALIASES)) == []


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        (allow("kms:CreateKey", "*"), "must require kms:KeyUsage SIGN_VERIFY"),
        (
            {**CREATE_KEY, "Condition": {"StringEquals": {"kms:KeyUsage": "ENCRYPT_DECRYPT", **TAG}}},
            "must require kms:KeyUsage SIGN_VERIFY",
        ),
        ({**MANAGE_KEYS, "Condition": {}}, "aws:resourcetag/lambda-jwt-auth-key-set"),
        ({**TAG_KEYS, "Condition": {"StringEquals": {"aws:RequestTag/other": "x"}}}, "aws:requesttag"),
        (allow("kms:DisableKey", our_arn("kms", "alias/lambda-jwt-auth/ci/*")), "alias wildcards are for"),
        (allow("kms:CreateAlias", our_arn("kms", "alias/*")), "this account's and region's key/*"),
        (KMS_SIGN, "only login, refresh, token sign tokens"),
    ],
)
def test_the_rotations_kms_grants_must_stay_on_our_key_set(statement: dict[str, Any], fragment: str) -> None:
    assert_breach(breaches_after(with_rotation(statement)), "KeyRotationRole", fragment)


def test_no_other_function_manages_kms_keys() -> None:
    assert_breach(
        breaches_after(add_statement("LoginRole", MANAGE_KEYS)), "LoginRole", "only rotateKeys manages"
    )


# --- monitoring: metrics written, alarms on them, a dashboard ------------------------------------


@pytest.mark.parametrize("metric", ["FailClosedRefusals", "LoginLockouts", "ReadThrottleEvents", "Errors"])
def test_a_missing_alarm_is_a_breach(metric: str) -> None:
    assert_breach(breaches_after(lambda t: t["Resources"].pop(f"{metric}Alarm")), "no alarm on", metric)


def test_an_alarm_on_a_metric_nobody_writes_is_a_breach() -> None:
    def rename(template: Template) -> None:
        template["Resources"]["FailClosedRefusalsAlarm"]["Properties"]["MetricName"] = "FailClosedRefusal"

    breaches = breaches_after(rename)
    assert_breach(breaches, "FailClosedRefusalsAlarm", "written by none of our functions")
    assert_breach(breaches, "no alarm on our FailClosedRefusals")


def test_an_alarm_elsewhere_is_a_breach() -> None:
    def elsewhere(template: Template) -> None:
        resources = template["Resources"]
        resources["ErrorsAlarm"]["Properties"]["Dimensions"][0]["Value"] = "someone-elses-function"
        resources["LoginLockoutsAlarm"]["Properties"]["Namespace"] = "OtherNamespace"
        resources["JwksFetchFailuresAlarm"]["Properties"]["Dimensions"][0]["Value"] = "svc-prod"

    breaches = breaches_after(elsewhere)
    assert_breach(breaches, "ErrorsAlarm", "names no FunctionName of ours")
    assert_breach(breaches, "LoginLockoutsAlarm", "not the functions' metrics namespace")
    assert_breach(breaches, "JwksFetchFailuresAlarm", "Service dimension")


def test_an_alarm_without_actions_and_no_dashboard_are_breaches() -> None:
    def silent(template: Template) -> None:
        del template["Resources"]["DurationAlarm"]["Properties"]["AlarmActions"]
        del template["Resources"]["Dashboard"]

    breaches = breaches_after(silent)
    assert_breach(breaches, "DurationAlarm", "no AlarmActions")
    assert_breach(breaches, "no AWS::CloudWatch::Dashboard")


def test_a_function_without_metrics_is_a_breach() -> None:
    def unmetered(template: Template) -> None:
        variables = template["Resources"]["LoginLambdaFunction"]["Properties"]["Environment"]["Variables"]
        del variables["AUTH_METRICS_NAMESPACE"]

    breaches = breaches_after(unmetered)
    assert_breach(breaches, "LoginLambdaFunction", "no AUTH_METRICS_NAMESPACE")
    assert_breach(breaches, "the functions write metrics to namespaces")


@pytest.mark.parametrize(
    ("actions", "resource", "passes"),
    [
        (["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*", True),
        ("xray:GetTraceSummaries", "*", False),
        ("xray:PutTraceSegments", our_arn("xray", "group/x"), False),
    ],
)
def test_xray_may_only_write_segments(actions: Any, resource: Any, passes: bool) -> None:
    breaches = breaches_after(add_statement("AuthorizerRole", allow(actions, resource)))
    if passes:
        assert breaches == []
    else:
        assert_breach(breaches, "X-Ray may only PutTraceSegments and PutTelemetryRecords")


# --- several regions: global tables, tables named by ARN ---------------------------------------------


def _globalize(template: Template) -> None:
    """The denylist as serverless.yml writes it with replicas: a global table beside the table."""
    resources = template["Resources"]
    table_props = copy.deepcopy(resources["DenylistTable"]["Properties"])
    pitr = table_props.pop("PointInTimeRecoverySpecification")
    replica = {"Region": {"Ref": "AWS::Region"}, "PointInTimeRecoverySpecification": pitr}
    elsewhere = {"Region": "eu-west-1", "PointInTimeRecoverySpecification": pitr}
    other = {"Fn::If": ["Replica0", elsewhere, {"Ref": "AWS::NoValue"}]}
    resources["DenylistGlobalTable"] = {
        "Type": "AWS::DynamoDB::GlobalTable",
        "Condition": "Replicated",
        "Properties": {**table_props, "Replicas": [replica, other]},
    }


def test_a_global_table_is_checked_as_its_table() -> None:
    assert breaches_after(_globalize) == []

    def no_replica_recovery(template: Template) -> None:
        _globalize(template)
        replicas = template["Resources"]["DenylistGlobalTable"]["Properties"]["Replicas"]
        del replicas[1]["Fn::If"][1]["PointInTimeRecoverySpecification"]

    breaches = breaches_after(no_replica_recovery)
    assert_breach(breaches, "DenylistGlobalTable", "point-in-time recovery", "eu-west-1")

    def no_ttl(template: Template) -> None:
        _globalize(template)
        del template["Resources"]["DenylistGlobalTable"]["Properties"]["TimeToLiveSpecification"]

    assert_breach(breaches_after(no_ttl), "DenylistGlobalTable", "TTL is not enabled")


def test_roles_may_name_a_table_by_its_arn_and_the_rules_still_apply() -> None:
    by_name = our_arn("dynamodb", f"table/{PREFIX}denylist")
    assert breaches_after(add_statement("RefreshRole", allow("dynamodb:PutItem", by_name))) == []
    breaches = breaches_after(add_statement("AuthorizerRole", allow("dynamodb:PutItem", by_name)))
    assert_breach(breaches, "AuthorizerRole", "dynamodb:PutItem")


def test_a_throttle_alarm_may_name_the_denylist_by_its_name() -> None:
    def by_name(template: Template) -> None:
        dimensions = template["Resources"]["ReadThrottleEventsAlarm"]["Properties"]["Dimensions"]
        dimensions[0]["Value"] = f"{PREFIX}denylist"

    assert breaches_after(by_name) == []
