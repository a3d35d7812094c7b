"""The CloudFormation template serverless.yml deploys, built from its resolved form (source.py).

What the framework generates is generated here the same way, with the same logical ids: one
`AWS::Lambda::Function` per function (its `FunctionName`, handler, runtime, arm64, memory, timeout,
role, environment, reserved concurrency, tracing, SnapStart) with its log group and retention; the
HTTP API with its `$default` stage and access log, the Lambda authorizer, an integration, route and
invoke permission per `httpApi` event. What serverless.yml writes itself (`resources`: tables,
roles, alarms, dashboard, parameters, conditions, outputs) is taken as it is. So
scripts/check_policies.py and scripts/check_artifacts.py judge both templates by one set of rules.

Code locations are left out: the construct puts its assets there (`CODE` holds which function
deploys which artifact param).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambda_jwt_auth_cdk.source import PARAMS

# The params a function's `package.artifact` may name: which zip it deploys.
ARTIFACT_PARAMS = ("authorizerArtifact", "serviceArtifact")


def logical(name: str) -> str:
    """The framework's logical-id stem of a name: `rotateKeys` -> `RotateKeys`."""
    cleaned = name.replace("-", "Dash").replace("_", "Underscore")
    return cleaned[:1].upper() + cleaned[1:]


def _route_id(route_key: str) -> str:
    """The framework's logical id of an httpApi route: `GET /.well-known/jwks.json` ->
    `HttpApiRouteGetWellDashknownJwksjson`, `GET /demo/{proxy+}` -> `HttpApiRouteGetDemoProxyVar`."""
    method, _, path = route_key.partition(" ")
    stem = ""
    for segment in (s for s in path.split("/") if s):
        if segment.startswith("{"):
            segment = segment.strip("{}").rstrip("+") + "Var"
        segment = segment.replace(".", "").replace("-", "Dash").replace("_", "Underscore")
        stem += segment[:1].upper() + segment[1:]
    return f"HttpApiRoute{method.title()}{stem}"


def build(document: Mapping[str, Any], stage: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(template, {function logical id: the artifact param of its code})."""
    service = document["service"]
    provider = document["provider"]
    prefix = f"{service}-{stage}-"
    resources: dict[str, Any] = {}
    code: dict[str, str] = {}
    shared_env = dict(provider.get("environment") or {})
    tracing = (provider.get("tracing") or {}).get("lambda")
    retention = provider.get("logRetentionInDays")
    for name, function in document["functions"].items():
        fid = f"{logical(name)}LambdaFunction"
        function_name = f"{prefix}{name}"
        log_group = f"{logical(name)}LogGroup"
        resources[log_group] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": f"/aws/lambda/{function_name}", "RetentionInDays": retention},
        }
        properties: dict[str, Any] = {
            "Handler": function["handler"],
            "Runtime": provider["runtime"],
            "FunctionName": function_name,
            "MemorySize": function.get("memorySize", provider.get("memorySize", 1024)),
            "Timeout": function.get("timeout", provider.get("timeout", 6)),
            "Architectures": [provider.get("architecture", "x86_64")],
            "Environment": {"Variables": {**shared_env, **(function.get("environment") or {})}},
            "Role": {"Fn::GetAtt": [function["role"], "Arn"]},
        }
        if tracing:
            properties["TracingConfig"] = {"Mode": "Active" if tracing is True else tracing}
        if function.get("reservedConcurrency") is not None:
            properties["ReservedConcurrentExecutions"] = function["reservedConcurrency"]
        if function.get("snapStart") is True:
            properties["SnapStart"] = {"ApplyOn": "PublishedVersions"}
        resources[fid] = {"Type": "AWS::Lambda::Function", "Properties": properties, "DependsOn": [log_group]}
        code[fid] = _artifact_param(document, name)
    _http_api(document, stage, resources)
    included = document.get("resources", {})
    resources.update(included.get("Resources", {}))
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": dict(included.get("Parameters", {})),
        "Conditions": dict(included.get("Conditions", {})),
        "Resources": resources,
        "Outputs": dict(included.get("Outputs", {})),
    }
    return template, code


def _artifact_param(document: Mapping[str, Any], name: str) -> str:
    """Which artifact param the function's `package.artifact` is (source.PARAMS: the params used)."""
    artifact = document["functions"][name]["package"]["artifact"]
    for param in ARTIFACT_PARAMS:
        if document[PARAMS][param] == artifact:
            return param
    raise ValueError(f"functions.{name}.package.artifact {artifact!r} is none of {ARTIFACT_PARAMS}")


def _http_api(document: Mapping[str, Any], stage: str, resources: dict[str, Any]) -> None:
    service = document["service"]
    provider = document["provider"]
    http = provider.get("httpApi") or {}
    api: dict[str, Any] = {"Name": f"{stage}-{service}", "ProtocolType": "HTTP"}
    cors = http.get("cors")
    if cors:
        api["CorsConfiguration"] = {
            "AllowOrigins": cors.get("allowedOrigins", []),
            "AllowCredentials": bool(cors.get("allowCredentials")),
            "AllowHeaders": cors.get("allowedHeaders", []),
            "AllowMethods": cors.get("allowedMethods", []),
            "MaxAge": cors.get("maxAge", 0),
        }
    resources["HttpApi"] = {"Type": "AWS::ApiGatewayV2::Api", "Properties": api}
    log_format = " ".join(str((provider.get("logs") or {}).get("httpApi", {}).get("format", "")).split("\n"))
    resources["HttpApiLogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {
            "LogGroupName": f"/aws/http-api/{service}-{stage}",
            "RetentionInDays": provider.get("logRetentionInDays"),
        },
    }
    resources["HttpApiStage"] = {
        "Type": "AWS::ApiGatewayV2::Stage",
        "Properties": {
            "ApiId": {"Ref": "HttpApi"},
            "StageName": "$default",
            "AutoDeploy": True,
            "DefaultRouteSettings": {"DetailedMetricsEnabled": False},
            "AccessLogSettings": {
                "DestinationArn": {"Fn::GetAtt": ["HttpApiLogGroup", "Arn"]},
                "Format": log_format,
            },
        },
    }
    source_arn = {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":execute-api:", {"Ref": "AWS::Region"}, ":",
             {"Ref": "AWS::AccountId"}, ":", {"Ref": "HttpApi"}, "/*"],
        ]
    }  # fmt: skip
    authorizers = {}
    for name, settings in (http.get("authorizers") or {}).items():
        aid = f"HttpApiAuthorizer{logical(name)}"
        function_id = f"{logical(settings['functionName'])}LambdaFunction"
        function_arn: Any = {"Fn::GetAtt": [function_id, "Arn"]}
        snapstart = document["functions"][settings["functionName"]].get("snapStart") is True
        if snapstart:  # SnapStart restores published versions only: invoke the alias
            resources["AuthorizerSnapStartLambdaAlias"] = {
                "Type": "AWS::Lambda::Alias",
                "Properties": {
                    "FunctionName": {"Ref": function_id},
                    "FunctionVersion": {"Fn::GetAtt": ["AuthorizerSnapStartVersion", "Version"]},
                    "Name": "snapstart",
                },
            }
            resources["AuthorizerSnapStartVersion"] = {
                "Type": "AWS::Lambda::Version",
                "Properties": {"FunctionName": {"Ref": function_id}},
            }
            function_arn = {"Fn::Join": [":", [{"Fn::GetAtt": [function_id, "Arn"]}, "snapstart"]]}
        properties: dict[str, Any] = {
            "ApiId": {"Ref": "HttpApi"},
            "Name": name,
            "AuthorizerType": "REQUEST",
            "EnableSimpleResponses": bool(settings.get("enableSimpleResponses")),
            "AuthorizerResultTtlInSeconds": int(settings.get("resultTtlInSeconds") or 0),
            "AuthorizerPayloadFormatVersion": str(settings.get("payloadVersion", "2.0")),
            "AuthorizerUri": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":apigateway:",
                        {"Ref": "AWS::Region"},
                        ":lambda:path/2015-03-31/functions/",
                        function_arn,
                        "/invocations",
                    ],
                ]
            },
        }
        sources = settings.get("identitySource") or []
        if sources:
            properties["IdentitySource"] = list(sources)
        resources[aid] = {"Type": "AWS::ApiGatewayV2::Authorizer", "Properties": properties}
        resources[f"{logical(name)}LambdaAuthorizerPermissionHttpApi"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": function_arn,
                "Action": "lambda:InvokeFunction",
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": source_arn,
            },
            **({"DependsOn": ["AuthorizerSnapStartLambdaAlias"]} if snapstart else {}),
        }
        authorizers[name] = aid
    for name, function in document["functions"].items():
        fid = f"{logical(name)}LambdaFunction"
        routes = [e["httpApi"] for e in function.get("events") or [] if "httpApi" in e]
        if not routes:
            continue
        integration = f"HttpApiIntegration{logical(name)}"
        resources[integration] = {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": {"Ref": "HttpApi"},
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": {"Fn::GetAtt": [fid, "Arn"]},
                "PayloadFormatVersion": "2.0",
                "TimeoutInMillis": 30000,
            },
        }
        resources[f"{logical(name)}LambdaPermissionHttpApi"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Fn::GetAtt": [fid, "Arn"]},
                "Action": "lambda:InvokeFunction",
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": source_arn,
            },
        }
        for route in routes:
            if isinstance(route, str):
                route_key, authorizer = route, None
            else:
                route_key = f"{route['method'].upper()} {route['path']}"
                authorizer = (route.get("authorizer") or {}).get("name")
            properties = {
                "ApiId": {"Ref": "HttpApi"},
                "RouteKey": route_key,
                "Target": {"Fn::Join": ["/", ["integrations", {"Ref": integration}]]},
            }
            if authorizer:
                properties["AuthorizationType"] = "CUSTOM"
                properties["AuthorizerId"] = {"Ref": authorizers[authorizer]}
            resources[_route_id(route_key)] = {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": properties,
                "DependsOn": [integration],
            }
