#!/usr/bin/env python3
"""Check the packaged CloudFormation template against our IAM and data rules:
``python scripts/check_policies.py .serverless/cloudformation-template-update-stack.json``.

Exits 1 and prints one line per breach, naming the resource (and the role, policy and statement):

* Every DynamoDB, SSM, Secrets Manager and KMS action names our own resources: tables, SSM
  parameters, secrets and keys of this stack, never a wildcard. Only CloudWatch Logs actions may
  use a wildcard, and only on our own log groups (/aws/lambda/<service>-<stage>-...). Wildcard
  actions, NotAction, NotResource, managed policies and resources we cannot read are breaches too.
* Every function has a role of this template, and functions of different kinds never share one.
* The authorizer's role only reads: the denylist and nothing else of DynamoDB, no writes anywhere,
  never the signing-key parameter.
* Only token, refresh, logout and revoke write the denylist; only login, token, refresh, logout,
  revoke and the scheduled key rotation touch the signing-key parameter. One exception, enforced
  by IAM itself: login keeps its failed-login counters in the denylist, so it may
  ``UpdateItem`` there, but only in a statement whose Condition limits ``dynamodb:LeadingKeys``
  to ``throttle#...`` keys (``ForAllValues:StringLike`` or ``ForAllValues:StringEquals``).
* Only the functions that authenticate clients (token, introspect, revoke; logout shares
  revoke's role) touch the clients table, and only read it (the CLI manages it).
* Only login, token and refresh may ``kms:Sign``, on ``key/*`` only limited by
  ``ForAnyValue:StringLike`` ``kms:ResourceAliases`` to our alias prefix; only the scheduled
  rotation (rotateKeys) creates, tags, aliases and disables keys, each limited to keys tagged as
  our key set's (``kms_wildcard_problem``); the authorizer has no KMS permission at all.
* The denylist table has TTL on ``expires_at``; every table has point-in-time recovery and SSE.
* Every function has its log group in the template, and every log group a RetentionInDays.
* X-Ray's two write actions (``xray:PutTraceSegments``, ``xray:PutTelemetryRecords``), which have
  no resource-level permissions, may name ``*``; no other X-Ray action.
* Monitoring: every function writes its EMF metrics (``AUTH_METRICS_NAMESPACE``, the same
  namespace for all, and ``AUTH_METRICS_SERVICE``); the alarms of ``REQUIRED_ALARMS`` exist, on
  that namespace and service for our own metrics, on the denylist table and the authorizer
  function for AWS's; every alarm notifies what its ``AlarmActions`` say and names a metric the
  code writes (``authorizer.metrics``) or AWS publishes; a dashboard exists.
* Every HTTP API stage writes an access log to a log group of this template, recording the
  authorizer's ``sub``, ``jti`` and error: it is the record of allowed requests, which the
  authorizer itself does not log by default (AUTH_LOG_ALLOWED).

The rules speak of serverless.yml's function names; the template maps them to roles
(``Role: !GetAtt XRole.Arn``) and the SSM parameters come from the functions' environment.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DENYLIST_TABLE = "DenylistTable"
TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable")
USERS_TABLE = "UsersTable"
CLIENTS_TABLE = "ClientsTable"
# Functions where a caller may authenticate as a client (auth_service.client_auth).
CLIENTS_READERS = frozenset({"token", "introspect", "revoke", "logout"})
DENYLIST_TTL_ATTRIBUTE = "expires_at"
SIGNING_KEY_VARIABLE = "AUTH_SIGNING_KEY_SSM_PARAMETER"
SSM_PARAMETER_VARIABLE_SUFFIX = "_SSM_PARAMETER"

# Every function of serverless.yml and its kind; functions of one kind may share a role. A new
# function fails the check until it is classified here (and so given a deliberate role).
FUNCTION_KINDS = {
    "authorizer": "authorizer",
    "login": "login",
    "token": "token",
    "refresh": "refresh",
    "logout": "revoke",
    "revoke": "revoke",
    "introspect": "introspect",
    "jwks": "public-keys",
    "discovery": "public-keys",
    "me": "public-keys",
    "demo": "static-files",
    "rotateKeys": "key-rotation",
}
AUTHORIZER = "authorizer"
DENYLIST_WRITERS = frozenset({"token", "refresh", "logout", "revoke"})
# Login throttling (auth_service/login_throttle.py) keeps its counters in the denylist under
# throttle#... keys: login may write those, with these actions, and IAM must say "only those".
THROTTLE_WRITERS = frozenset({"login", "introspect"})
THROTTLE_ACTIONS = frozenset({"updateitem"})
THROTTLE_KEY_PREFIX = "throttle#"
LEADING_KEYS = "dynamodb:leadingkeys"
# Operators that make every partition key of the request match (never ForAnyValue, never IfExists).
LEADING_KEYS_OPERATORS = ("ForAllValues:StringLike", "ForAllValues:StringEquals")
SIGNING_KEY_READERS = frozenset({"login", "token", "refresh", "logout", "revoke", "rotateKeys"})

# KMS signing keys (auth_service.kms_signing): only these functions sign, and only with keys that
# carry an alias under our prefix (ABAC: kms:ResourceAliases), the one wildcard KMS may have.
KMS_SIGNERS = frozenset({"login", "token", "refresh"})
KMS_KEY_WILDCARD = re.compile(
    r"arn:(\$\{AWS::Partition\}|aws[\w-]*):kms:\$\{AWS::Region\}:\$\{AWS::AccountId\}:key/\*"
)
KMS_ALIAS_CONDITION = ("ForAnyValue:StringLike", "kms:ResourceAliases")
KMS_ALIAS_PATTERN = re.compile(r"alias/[\w-]+(/[\w-]+)*/\*")
KMS_ALIAS_WILDCARD = re.compile(
    r"arn:(\$\{AWS::Partition\}|aws[\w-]*):kms:\$\{AWS::Region\}:\$\{AWS::AccountId\}:alias/[\w-]+(/[\w-]+)*/\*"
)
# The scheduled rotation (auth_service/handlers/rotate_keys.py) makes and withdraws KMS keys,
# which carry this tag (auth_service.key_rotation.KEY_SET_TAG).
KEY_SET_TAG = "lambda-jwt-auth-key-set"
KMS_KEY_MANAGERS = frozenset({"rotateKeys"})
KMS_KEY_MANAGEMENT = frozenset(
    {
        "createkey",
        "tagresource",
        "createalias",
        "deletealias",
        "disablekey",
        "schedulekeydeletion",
        "getpublickey",
    }
)

SCOPED_SERVICES = frozenset({"dynamodb", "ssm", "secretsmanager", "kms"})
XRAY_WRITES = frozenset({"puttracesegments", "puttelemetryrecords"})
# (namespace, metric) of every alarm the template must have: ours (None: the functions' EMF
# namespace, AUTH_METRICS_NAMESPACE) and AWS's, with the resource their dimension must name.
REQUIRED_ALARMS = {
    (None, "FailClosedRefusals"): "Service",
    (None, "JwksFetchFailures"): "Service",
    (None, "RefreshReuseDetections"): "Service",
    (None, "LoginLockouts"): "Service",
    ("AWS/DynamoDB", "ReadThrottleEvents"): DENYLIST_TABLE,
    ("AWS/DynamoDB", "WriteThrottleEvents"): DENYLIST_TABLE,
    ("AWS/Lambda", "Errors"): AUTHORIZER,
    ("AWS/Lambda", "Duration"): AUTHORIZER,
}
METRICS_NAMESPACE_VARIABLE = "AUTH_METRICS_NAMESPACE"
METRICS_SERVICE_VARIABLE = "AUTH_METRICS_SERVICE"
# Read-only actions; any other action of these services counts as a write.
READ_ACTIONS = {
    "dynamodb": frozenset(
        {
            "batchgetitem",
            "getitem",
            "query",
            "scan",
            "conditioncheckitem",
            "describetable",
            "describetimetolive",
            "describecontinuousbackups",
            "listtagsofresource",
            "partiqlselect",
        }
    ),
    "ssm": frozenset(
        {"getparameter", "getparameters", "getparametersbypath", "getparameterhistory", "describeparameters"}
    ),
    "secretsmanager": frozenset({"getsecretvalue", "describesecret", "listsecretversionids"}),
    "kms": frozenset({"decrypt", "describekey", "getpublickey", "verify"}),
}

# Fn::Sub pseudo parameters, replaced before an ARN is split at its colons.
PSEUDO_PARAMETERS = {
    "${AWS::Partition}": "<partition>",
    "${AWS::Region}": "<region>",
    "${AWS::AccountId}": "<account>",
    "${AWS::URLSuffix}": "<url-suffix>",
}
OUR_REGION = PSEUDO_PARAMETERS["${AWS::Region}"]
OUR_ACCOUNT = PSEUDO_PARAMETERS["${AWS::AccountId}"]
LAMBDA_LOG_GROUP_PREFIX = "/aws/lambda/"
# What an HTTP API access log line must hold: who was let in (the authorizer's context) and why
# a request was refused.
ACCESS_LOG_VARIABLES = ("$context.authorizer.sub", "$context.authorizer.jti", "$context.authorizer.error")
FUNCTION_SUFFIX = "LambdaFunction"


@dataclass(frozen=True)
class Target:
    """A statement's resource, as far as we can tell what it is."""

    kind: str  # wildcard, table, parameter, secret, key, log-group, arn, unknown
    name: str  # table logical id, parameter name, log group name, ...; "" when unknown
    text: str  # as written, for messages


@dataclass(frozen=True)
class Grant:
    """One allowed action on one resource, and where it was granted."""

    where: str
    action: str  # as written
    service: str  # lower case
    verb: str  # lower case
    target: Target
    condition: Mapping[str, Any] = field(default_factory=dict)  # the statement's Condition

    @property
    def is_read(self) -> bool:
        return self.verb in READ_ACTIONS.get(self.service, frozenset())


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str  # the serverless.yml function name
    function_name: str  # the deployed FunctionName
    role: str | None  # logical id of its role, if it is one of this template's roles
    environment: Mapping[str, Any]
    log_group: str


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def describe(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def get_att(value: Any) -> tuple[str, str] | None:
    """(logical id, attribute) of an ``Fn::GetAtt``."""
    if isinstance(value, Mapping) and set(value) == {"Fn::GetAtt"}:
        ref = value["Fn::GetAtt"]
        if isinstance(ref, str) and "." in ref:
            logical_id, attribute = ref.split(".", 1)
            return logical_id, attribute
        if isinstance(ref, list) and len(ref) == 2 and all(isinstance(item, str) for item in ref):
            return ref[0], ref[1]
    return None


def literal_text(value: Any) -> str | None:
    """A string, or the template of a variable-free ``Fn::Sub``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return str(value["Fn::Sub"])
    return None


class Template:
    def __init__(self, document: Mapping[str, Any]) -> None:
        resources = document.get("Resources")
        if not isinstance(resources, Mapping):
            raise ValueError("the template has no Resources")
        self.resources: Mapping[str, Any] = resources

    def of_type(self, resource_type: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for logical_id, resource in sorted(self.resources.items()):
            if isinstance(resource, Mapping) and resource.get("Type") == resource_type:
                properties = resource.get("Properties", {})
                yield logical_id, properties if isinstance(properties, Mapping) else {}

    def type_of(self, logical_id: str) -> str | None:
        resource = self.resources.get(logical_id)
        return resource.get("Type") if isinstance(resource, Mapping) else None


class Checker:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.template = Template(document)
        self.breaches: list[str] = []
        declared = document.get("Parameters", {})
        # Template parameters' defaults: a `Ref` to one is compared as the value it deploys with.
        self.defaults = {
            name: p["Default"]
            for name, p in (declared.items() if isinstance(declared, Mapping) else [])
            if isinstance(p, Mapping) and "Default" in p
        }
        # Logical id -> TableName. A table may also be a global table of the same name
        # (serverless.yml: one of the two exists, by condition); both are checked, as one table.
        self.tables = {
            logical_id: str(properties.get("TableName", ""))
            for kind in TABLE_TYPES
            for logical_id, properties in self.template.of_type(kind)
        }
        self.functions = [
            self._function(logical_id, p) for logical_id, p in self.template.of_type("AWS::Lambda::Function")
        ]
        self.prefix = self._name_prefix()
        self.parameters = {
            str(value)
            for function in self.functions
            for variable, value in function.environment.items()
            if variable.endswith(SSM_PARAMETER_VARIABLE_SUFFIX) and isinstance(value, str) and value
        }
        self.signing_keys = {
            str(function.environment[SIGNING_KEY_VARIABLE])
            for function in self.functions
            if isinstance(function.environment.get(SIGNING_KEY_VARIABLE), str)
            and function.environment[SIGNING_KEY_VARIABLE]
        }

    def breach(self, where: str, problem: str) -> None:
        line = f"{where}: {problem}"
        if line not in self.breaches:
            self.breaches.append(line)

    # --- reading the template ---------------------------------------------------------------

    def _function(self, logical_id: str, properties: Mapping[str, Any]) -> Function:
        base = logical_id.removesuffix(FUNCTION_SUFFIX)
        name = base[:1].lower() + base[1:]
        function_name = properties.get("FunctionName")
        role_ref = get_att(properties.get("Role"))
        role = None
        if (
            role_ref is not None
            and role_ref[1] == "Arn"
            and self.template.type_of(role_ref[0]) == "AWS::IAM::Role"
        ):
            role = role_ref[0]
        settings = properties.get("Environment", {})
        environment = settings.get("Variables", {}) if isinstance(settings, Mapping) else {}
        logging = properties.get("LoggingConfig", {})
        log_group = logging.get("LogGroup") if isinstance(logging, Mapping) else None
        if not isinstance(log_group, str):
            log_group = f"{LAMBDA_LOG_GROUP_PREFIX}{function_name}"
        return Function(
            logical_id=logical_id,
            name=name,
            function_name=function_name if isinstance(function_name, str) else "",
            role=role,
            environment=environment if isinstance(environment, Mapping) else {},
            log_group=log_group,
        )

    def _name_prefix(self) -> str:
        """``<service>-<stage>-``: the deployed FunctionName of every function minus its name."""
        prefixes = set()
        for function in self.functions:
            if function.function_name.endswith(function.name):
                prefixes.add(function.function_name[: -len(function.name)])
            else:
                self.breach(
                    function.logical_id,
                    f"FunctionName {function.function_name!r} does not end "
                    f"with the function's name {function.name!r}",
                )
        if len(prefixes) != 1 or not next(iter(prefixes)):
            self.breach(
                "Functions", f"cannot tell the <service>-<stage>- name prefix (found {sorted(prefixes)})"
            )
            return "\0"  # matches no log group
        return prefixes.pop()

    def target(self, resource: Any) -> Target:
        text = describe(resource)
        ref = get_att(resource)
        if ref is not None:
            logical_id, attribute = ref
            kind = {
                "AWS::DynamoDB::Table": "table",
                "AWS::DynamoDB::GlobalTable": "table",
                "AWS::KMS::Key": "key",
                "AWS::Logs::LogGroup": "log-group",
            }.get(self.template.type_of(logical_id) or "")
            if kind is not None and attribute == "Arn":
                name = table_id(logical_id) if kind == "table" else logical_id
                if kind == "log-group":
                    name = str(
                        self.template.resources[logical_id].get("Properties", {}).get("LogGroupName", "")
                    )
                return Target(kind, name, text)
            return Target("unknown", "", text)
        if isinstance(resource, Mapping) and set(resource) == {"Ref"}:
            if self.template.type_of(str(resource["Ref"])) == "AWS::SecretsManager::Secret":
                return Target("secret", str(resource["Ref"]), text)
            return Target("unknown", "", text)
        literal = literal_text(resource)
        if literal is None:
            return Target("unknown", "", text)
        if "*" in literal or "?" in literal:
            return Target("wildcard", literal, text)
        attribute_sub = re.fullmatch(r"\$\{(\w+)\.Arn\}(/index/[\w.-]+)?", literal)
        if attribute_sub and self.template.type_of(attribute_sub.group(1)) == "AWS::DynamoDB::Table":
            return Target("table", attribute_sub.group(1), text)
        return self._arn_target(literal, text)

    def _arn_target(self, arn: str, text: str) -> Target:
        for pseudo, placeholder in PSEUDO_PARAMETERS.items():
            arn = arn.replace(pseudo, placeholder)
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            return Target("unknown", "", text)
        _, _, service, region, account, rest = parts
        if region != OUR_REGION or account != OUR_ACCOUNT:
            return Target("arn", "", text)  # another account or region: not provably ours
        if service == "dynamodb":
            match = re.fullmatch(r"table/([\w.-]+)(/index/[\w.-]+)?", rest)
            for logical_id, table_name in self.tables.items():
                if match and match.group(1) == table_name:
                    return Target("table", table_id(logical_id), text)
        elif service == "ssm" and rest.startswith("parameter/"):
            name = rest.removeprefix("parameter")
            for parameter in self.parameters:
                if name in (parameter, f"/{parameter}"):
                    return Target("parameter", parameter, text)
        elif service == "logs" and rest.startswith("log-group:"):
            return Target("log-group", rest.removeprefix("log-group:").split(":")[0], text)
        return Target("arn", "", text)

    def statements(self) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
        """(role logical id, location, statement) of every policy statement given to a role."""
        for role, properties in self.template.of_type("AWS::IAM::Role"):
            if properties.get("ManagedPolicyArns"):
                self.breach(role, "ManagedPolicyArns cannot be checked here; use inline policies")
            for policy in as_list(properties.get("Policies", [])):
                name = policy.get("PolicyName", "?") if isinstance(policy, Mapping) else "?"
                document = policy.get("PolicyDocument", {}) if isinstance(policy, Mapping) else {}
                yield from self._document(role, f"{role} policy {name!r}", document)
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for logical_id, properties in self.template.of_type(kind):
                document = properties.get("PolicyDocument", {})
                for role_ref in as_list(properties.get("Roles", [])):
                    attached = role_ref.get("Ref") if isinstance(role_ref, Mapping) else None
                    if not isinstance(attached, str) or self.template.type_of(attached) != "AWS::IAM::Role":
                        problem = f"attached to {describe(role_ref)}, not a role of this template"
                        self.breach(logical_id, problem)
                        continue
                    yield from self._document(attached, f"{attached} policy {logical_id}", document)

    def _document(self, role: str, where: str, document: Any) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
        statements = document.get("Statement", []) if isinstance(document, Mapping) else []
        for index, statement in enumerate(as_list(statements), start=1):
            if not isinstance(statement, Mapping):
                self.breach(f"{where} statement {index}", "is not a statement")
                continue
            sid = f" ({statement['Sid']})" if isinstance(statement.get("Sid"), str) else ""
            yield role, f"{where} statement {index}{sid}", statement

    def grants(self) -> dict[str, list[Grant]]:
        """Role logical id -> what its Allow statements grant; reports unscoped resources."""
        by_role: dict[str, list[Grant]] = {role: [] for role, _ in self.template.of_type("AWS::IAM::Role")}
        for role, where, statement in self.statements():
            if statement.get("Effect") != "Allow":
                continue
            for key in ("NotAction", "NotResource"):
                if key in statement:
                    self.breach(where, f"{key} cannot be checked; list actions and resources")
            actions = [action for action in as_list(statement.get("Action", [])) if action is not None]
            resources = as_list(statement.get("Resource", []))
            condition = statement.get("Condition")
            condition = condition if isinstance(condition, Mapping) else {}
            for action in actions:
                if isinstance(action, str) and ("*" in action or "?" in action):
                    self.breach(where, f"wildcard action {action}; name each action")
                if not isinstance(action, str) or ":" not in action:
                    self.breach(where, f"action {describe(action)} cannot be checked")
                    continue
                service, verb = (part.lower() for part in action.split(":", 1))
                for resource in resources:
                    grant = Grant(where, action, service, verb, self.target(resource), condition)
                    self._check_scope(grant)
                    by_role[role].append(grant)
        return by_role

    # --- the rules ------------------------------------------------------------------------------

    def _check_scope(self, grant: Grant) -> None:
        target = grant.target
        on = f"{grant.action} on {target.text}"
        if grant.service == "logs":
            if target.kind == "wildcard":
                arn = self._arn_target(target.name.replace("*", "").replace("?", ""), target.text)
                literal = target.name.split(":log-group:", 1)[-1].split("*")[0].split("?")[0]
                if arn.kind != "log-group" or not literal.startswith(LAMBDA_LOG_GROUP_PREFIX + self.prefix):
                    self.breach(
                        grant.where,
                        f"{on}: CloudWatch Logs wildcards must stay within our own "
                        f"log groups ({LAMBDA_LOG_GROUP_PREFIX}{self.prefix}*)",
                    )
            elif target.kind != "log-group" or not target.name.startswith(
                LAMBDA_LOG_GROUP_PREFIX + self.prefix
            ):
                self.breach(grant.where, f"{on}: not one of our log groups")
            return
        if grant.service == "xray":
            if grant.verb not in XRAY_WRITES or target.text != "*":
                only = "X-Ray may only PutTraceSegments and PutTelemetryRecords on *"
                self.breach(grant.where, f"{on}: {only}")
            return
        if (
            target.kind == "wildcard"
            and grant.service == "kms"
            and grant.verb in KMS_KEY_MANAGEMENT | {"sign"}
        ):
            problem = kms_wildcard_problem(grant, target.name)
            if problem is not None:
                self.breach(grant.where, f"{on}: {problem}")
            return
        if target.kind == "wildcard":
            self.breach(
                grant.where,
                f"{on}: a wildcard resource; only CloudWatch Logs may use wildcards, "
                "DynamoDB, SSM, Secrets Manager and KMS must name our own resources",
            )
            return
        if target.kind == "unknown":
            self.breach(grant.where, f"{on}: cannot tell which resource this is")
            return
        expected = {"dynamodb": "table", "ssm": "parameter", "secretsmanager": "secret", "kms": "key"}
        if grant.service in SCOPED_SERVICES and target.kind != expected[grant.service]:
            self.breach(grant.where, f"{on}: not one of our own {expected[grant.service]}s")

    def check_kms(self, grants: Mapping[str, list[Grant]]) -> None:
        """Only the signing functions may kms:Sign; the authorizer verifies with the published keys
        and needs no KMS permission at all."""
        for function in self.functions:
            for grant in grants.get(function.role or "", []):
                where = f"{grant.where} (role of {function.name})"
                if grant.service == "kms" and function.name == AUTHORIZER:
                    self.breach(where, f"{grant.action}: the authorizer needs no KMS permission")
                elif grant.service == "kms" and grant.verb == "sign" and function.name not in KMS_SIGNERS:
                    signers = ", ".join(sorted(KMS_SIGNERS))
                    self.breach(where, f"{grant.action}: only {signers} sign tokens")
                elif (
                    grant.service == "kms"
                    and grant.verb in KMS_KEY_MANAGEMENT
                    and function.name not in KMS_KEY_MANAGERS
                ):
                    managers = ", ".join(sorted(KMS_KEY_MANAGERS))
                    self.breach(where, f"{grant.action}: only {managers} manages the key set's KMS keys")

    def check_roles(self, grants: Mapping[str, list[Grant]]) -> None:
        kinds_by_role: dict[str, dict[str, str]] = {}
        for function in self.functions:
            kind = FUNCTION_KINDS.get(function.name)
            if kind is None:
                self.breach(
                    function.logical_id,
                    f"function {function.name!r} has no kind in "
                    "scripts/check_policies.py FUNCTION_KINDS; classify it deliberately",
                )
            if function.role is None:
                self.breach(function.logical_id, "its Role is not a role of this template (Fn::GetAtt X.Arn)")
                continue
            kinds_by_role.setdefault(function.role, {})[function.name] = kind or "?"
            for grant in grants.get(function.role, []):
                self._check_function_grant(function, grant)
        for role, kinds in sorted(kinds_by_role.items()):
            if len(set(kinds.values())) > 1:
                users = ", ".join(f"{name} ({kind})" for name, kind in sorted(kinds.items()))
                self.breach(
                    role, f"shared by functions of different kinds: {users}; give each kind its own role"
                )

    def _check_function_grant(self, function: Function, grant: Grant) -> None:
        target = grant.target
        where = f"{grant.where} (role of {function.name})"
        on = f"{grant.action} on {target.text}"
        on_denylist = grant.service == "dynamodb" and target.kind == "table" and target.name == DENYLIST_TABLE
        if on_denylist and not grant.is_read and function.name not in DENYLIST_WRITERS:
            writers = ", ".join(sorted(DENYLIST_WRITERS))
            if function.name in THROTTLE_WRITERS and grant.verb in THROTTLE_ACTIONS:
                problem = throttle_keys_problem(grant.condition)
                if problem is not None:
                    self.breach(
                        where,
                        f"{on}: writes the denylist; only {writers} may, and {function.name} only its "
                        f"{THROTTLE_KEY_PREFIX}* items: {problem}",
                    )
            else:
                self.breach(where, f"{on}: writes the denylist; only {writers} may")
        on_clients = grant.service == "dynamodb" and target.kind == "table" and target.name == CLIENTS_TABLE
        if on_clients and function.name not in CLIENTS_READERS:
            readers = ", ".join(sorted(CLIENTS_READERS))
            self.breach(where, f"{on}: the clients table; only {readers} may read it")
        elif on_clients and not grant.is_read:
            self.breach(where, f"{on}: writes the clients table; functions only read it")
        if (
            grant.service == "ssm"
            and self._touches_signing_key(grant)
            and function.name not in SIGNING_KEY_READERS
        ):
            readers = ", ".join(sorted(SIGNING_KEY_READERS))
            self.breach(where, f"{on}: the signing-key parameter; only {readers} may read it")
        if function.name != AUTHORIZER:
            return
        if grant.service == "dynamodb" and target.kind == "table" and not on_denylist:
            self.breach(where, f"{on}: the authorizer may read the denylist only")
        elif grant.service in SCOPED_SERVICES and not grant.is_read and not on_denylist:
            self.breach(where, f"{on}: the authorizer may only read")

    def _touches_signing_key(self, grant: Grant) -> bool:
        # Exact names only: a path (GetParametersByPath) or a wildcard is not one of our
        # parameters, which _check_scope already reports.
        return grant.target.kind == "parameter" and grant.target.name in self.signing_keys

    def check_signing_key_known(self) -> None:
        if not self.signing_keys:
            self.breach("Functions", f"no function sets {SIGNING_KEY_VARIABLE}; cannot tell the signing key")

    def check_tables(self) -> None:
        for required in (DENYLIST_TABLE, USERS_TABLE, CLIENTS_TABLE):
            if required not in {table_id(logical_id) for logical_id in self.tables}:
                self.breach(required, "missing from the template")
        for kind in TABLE_TYPES:
            for logical_id, properties in self.template.of_type(kind):
                self._check_table(logical_id, properties, kind == "AWS::DynamoDB::GlobalTable")

    def _check_table(self, logical_id: str, properties: Mapping[str, Any], is_global: bool) -> None:
        # A global table's recovery is set per replica (each one, whatever its condition).
        replicas = [
            replica for entry in as_list(properties.get("Replicas", [])) for replica in branches(entry)
        ]
        if is_global and not replicas:
            self.breach(logical_id, "a global table without Replicas")
        for where in replicas if is_global else [properties]:
            pitr = where.get("PointInTimeRecoverySpecification", {}) if isinstance(where, Mapping) else {}
            if not (isinstance(pitr, Mapping) and is_true(pitr.get("PointInTimeRecoveryEnabled"))):
                named = is_global and isinstance(where, Mapping)
                region = f" (replica {describe(where.get('Region'))})" if named else ""
                self.breach(
                    logical_id,
                    f"point-in-time recovery is not enabled{region} (PointInTimeRecoverySpecification)",
                )
        sse = properties.get("SSESpecification", {})
        if not (isinstance(sse, Mapping) and is_true(sse.get("SSEEnabled"))):
            self.breach(logical_id, "server-side encryption is not enabled (SSESpecification.SSEEnabled)")
        if table_id(logical_id) == DENYLIST_TABLE:
            ttl = properties.get("TimeToLiveSpecification", {})
            if not (
                isinstance(ttl, Mapping)
                and is_true(ttl.get("Enabled"))
                and ttl.get("AttributeName") == DENYLIST_TTL_ATTRIBUTE
            ):
                self.breach(
                    logical_id,
                    f"TTL is not enabled on {DENYLIST_TTL_ATTRIBUTE} "
                    "(TimeToLiveSpecification); revoked entries would never expire",
                )

    def check_log_groups(self) -> None:
        log_groups = {}
        for logical_id, properties in self.template.of_type("AWS::Logs::LogGroup"):
            log_groups[str(properties.get("LogGroupName", ""))] = logical_id
            retention = properties.get("RetentionInDays")
            if not isinstance(retention, int) or isinstance(retention, bool) or retention <= 0:
                self.breach(logical_id, "no RetentionInDays; its logs would be kept forever")
        for function in self.functions:
            if function.log_group not in log_groups:
                self.breach(
                    function.logical_id,
                    f"its log group {function.log_group} is not in the template, "
                    "so Lambda creates it without retention",
                )

    def check_access_logs(self) -> None:
        log_groups = {logical_id for logical_id, _ in self.template.of_type("AWS::Logs::LogGroup")}
        for logical_id, properties in self.template.of_type("AWS::ApiGatewayV2::Stage"):
            settings = properties.get("AccessLogSettings")
            if not isinstance(settings, Mapping):
                self.breach(logical_id, "no AccessLogSettings: allowed requests would be recorded nowhere")
                continue
            destination = get_att(settings.get("DestinationArn"))
            if destination is None or destination[0] not in log_groups:
                self.breach(logical_id, "its access log does not go to a log group of this template")
            log_format = settings.get("Format")
            missing = [
                variable
                for variable in ACCESS_LOG_VARIABLES
                if not isinstance(log_format, str) or variable not in log_format
            ]
            if missing:
                self.breach(logical_id, f"its access log Format does not record {', '.join(missing)}")

    def run(self) -> list[str]:
        if not self.functions:
            self.breach("Resources", "no AWS::Lambda::Function; is this the packaged template?")
        self.check_signing_key_known()
        grants = self.grants()
        self.check_roles(grants)
        self.check_kms(grants)
        self.check_tables()
        self.check_log_groups()
        self.check_access_logs()
        self.check_monitoring()
        return self.breaches

    def _value(self, value: Any) -> Any:
        """A `Ref` to a template parameter as its default; anything else as it is."""
        if isinstance(value, Mapping) and set(value) == {"Ref"} and value["Ref"] in self.defaults:
            return self.defaults[value["Ref"]]
        return value

    def check_monitoring(self) -> None:
        from authorizer import metrics  # the names the code writes

        ours = {value for name, value in vars(metrics).items() if name.isupper() and isinstance(value, str)}
        namespaces = {
            json.dumps(self._value(f.environment.get(METRICS_NAMESPACE_VARIABLE))) for f in self.functions
        }
        for function in self.functions:
            for variable in (METRICS_NAMESPACE_VARIABLE, METRICS_SERVICE_VARIABLE):
                if function.environment.get(variable) in (None, ""):
                    self.breach(function.logical_id, f"no {variable}: its metrics would be written nowhere")
        if len(namespaces) > 1:
            self.breach("Functions", f"the functions write metrics to namespaces {sorted(namespaces)}")
        namespace = next(iter(namespaces)) if len(namespaces) == 1 else None
        service = {json.dumps(f.environment.get(METRICS_SERVICE_VARIABLE)) for f in self.functions}
        authorizer = [f.logical_id for f in self.functions if f.name == AUTHORIZER]
        found: set[tuple[str | None, str]] = set()
        for logical_id, properties in self.template.of_type("AWS::CloudWatch::Alarm"):
            metric = properties.get("MetricName")
            raw_namespace = properties.get("Namespace")
            dimensions = {
                d.get("Name"): json.dumps(d.get("Value"))
                for d in as_list(properties.get("Dimensions", []))
                if isinstance(d, Mapping)
            }
            if not properties.get("AlarmActions"):
                self.breach(logical_id, "no AlarmActions: nobody would be told")
            raw_namespace = self._value(raw_namespace)
            if isinstance(raw_namespace, str) and raw_namespace.startswith("AWS/"):
                kind: str | None = raw_namespace
                targets = {
                    "AWS/DynamoDB": ("TableName", DENYLIST_TABLE),
                    "AWS/Lambda": ("FunctionName", AUTHORIZER),
                }
                name, resource = targets.get(raw_namespace, ("", ""))
                wanted = {DENYLIST_TABLE: [DENYLIST_TABLE], AUTHORIZER: authorizer}.get(resource, [])
                accepted = [json.dumps({"Ref": w}) for w in wanted]
                if resource == DENYLIST_TABLE:
                    names = {n for i, n in self.tables.items() if table_id(i) == DENYLIST_TABLE}
                    accepted += [json.dumps(n) for n in names]
                if dimensions.get(name) not in accepted:
                    self.breach(logical_id, f"{raw_namespace} {metric} names no {name} of ours")
            else:
                kind = None
                if json.dumps(raw_namespace) != namespace or namespace == json.dumps(None):
                    problem = f"namespace {describe(raw_namespace)} is not the functions' metrics namespace"
                    self.breach(logical_id, problem)
                if dimensions.get("Service") not in service:
                    self.breach(logical_id, "its Service dimension is not the functions' metrics service")
                if metric not in ours:
                    self.breach(logical_id, f"metric {describe(metric)} is written by none of our functions")
            found.add((kind, str(metric)))
        for kind, metric in REQUIRED_ALARMS:
            if (kind, metric) not in found:
                self.breach("Resources", f"no alarm on {kind or 'our'} {metric}")
        if not list(self.template.of_type("AWS::CloudWatch::Dashboard")):
            self.breach("Resources", "no AWS::CloudWatch::Dashboard")


def kms_wildcard_problem(grant: Grant, resource: str) -> str | None:
    """Why a KMS grant on a wildcard is not limited to our own key set's keys; None when it is.

    * kms:Sign on ``key/*``: ``ForAnyValue:StringLike`` ``kms:ResourceAliases`` our alias prefix;
    * kms:CreateKey on ``*``: ``StringEquals`` ``kms:KeyUsage`` SIGN_VERIFY and the request's key
      set tag (``aws:RequestTag/<tag>``), so only tagged signing keys are made;
    * kms:TagResource on ``key/*``: that request tag; other actions on ``key/*``: the key's tag
      (``aws:ResourceTag/<tag>``); aliases: an ``alias/<name>/.../*`` prefix of ours.
    """
    condition = {k: {n.lower(): v for n, v in dict(block).items()} for k, block in grant.condition.items()}
    if grant.verb == "createkey":
        equals = condition.get("StringEquals", {})
        if (
            resource != "*"
            or equals.get("kms:keyusage") != "SIGN_VERIFY"
            or not _tag_value(equals, f"aws:requesttag/{KEY_SET_TAG}")
        ):
            return f"kms:CreateKey must require kms:KeyUsage SIGN_VERIFY and the {KEY_SET_TAG} request tag"
        return None
    if KMS_ALIAS_WILDCARD.fullmatch(resource):
        return (
            None if grant.verb in ("createalias", "deletealias") else "alias wildcards are for aliases only"
        )
    if not KMS_KEY_WILDCARD.fullmatch(resource):
        return "a KMS wildcard must be this account's and region's key/*"
    if grant.verb == "sign":
        operator, key = KMS_ALIAS_CONDITION
        values = condition.get(operator, {}).get(key.lower())
        values = [values] if isinstance(values, str) else values
        if set(condition) != {operator} or not values:
            return f"must be limited with {operator} {key} to our own alias prefix"
        bad = [v for v in values if not isinstance(v, str) or not KMS_ALIAS_PATTERN.fullmatch(v)]
        if bad:
            return f"{key} must name our alias prefix (alias/<service>/<stage>/*), not {bad}"
        return None
    tag = f"aws:requesttag/{KEY_SET_TAG}" if grant.verb == "tagresource" else f"aws:resourcetag/{KEY_SET_TAG}"
    if set(condition) != {"StringEquals"} or not _tag_value(condition["StringEquals"], tag):
        return f"must be limited with StringEquals {tag} to our key set's keys"
    return None


def _tag_value(block: Mapping[str, Any], name: str) -> bool:
    value = block.get(name)
    return isinstance(value, str) and bool(KMS_ALIAS_PATTERN.fullmatch(value + "*"))


def throttle_keys_problem(condition: Mapping[str, Any]) -> str | None:
    """None if `condition` limits every partition key written to throttle#... keys; else why not."""
    for operator in LEADING_KEYS_OPERATORS:
        keys = condition.get(operator)
        if not isinstance(keys, Mapping):
            continue
        for key, patterns in keys.items():
            values = as_list(patterns)
            if (
                isinstance(key, str)
                and key.lower() == LEADING_KEYS
                and values
                and all(isinstance(value, str) and value.startswith(THROTTLE_KEY_PREFIX) for value in values)
            ):
                return None
    return (
        f"no Condition limits dynamodb:LeadingKeys to {THROTTLE_KEY_PREFIX}* "
        f"({' or '.join(LEADING_KEYS_OPERATORS)}, every value starting with {THROTTLE_KEY_PREFIX})"
    )


def table_id(logical_id: str) -> str:
    """A table's rules by the single-region name: `DenylistGlobalTable` is `DenylistTable`."""
    return logical_id.replace("GlobalTable", "Table")


def branches(value: Any) -> list[Any]:
    """Both branches of an `Fn::If` (but AWS::NoValue), or the value itself."""
    if isinstance(value, Mapping) and set(value) == {"Fn::If"} and isinstance(value["Fn::If"], list):
        return [
            branch
            for branch in value["Fn::If"][1:]
            if not (isinstance(branch, Mapping) and branch.get("Ref") == "AWS::NoValue")
        ]
    return [value]


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def check(document: Mapping[str, Any]) -> list[str]:
    """The breaches of a CloudFormation template, one line each."""
    return Checker(document).run()


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the packaged template's IAM and data rules.")
    parser.add_argument("template", type=Path)
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        checker = Checker(json.loads(args.template.read_text(encoding="utf-8")))
        breaches = checker.run()
    except (OSError, ValueError) as exc:
        print(f"check_policies: cannot check {args.template}: {exc}", file=sys.stderr)
        return 2
    for line in breaches:
        print(f"POLICY BREACH: {line}", file=sys.stderr)
    if breaches:
        print(f"check_policies: {len(breaches)} breach(es) in {args.template}", file=sys.stderr)
        return 1
    roles = len(list(checker.template.of_type("AWS::IAM::Role")))
    functions, tables = len(checker.functions), len(checker.tables)
    print(f"check_policies: OK ({functions} functions, {roles} roles, {tables} tables)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
