"""`LambdaJwtAuth`: the service serverless.yml deploys, as a construct of your own CDK stack.

    auth = LambdaJwtAuth(stack, "Auth", stage="prod", route_scopes={"GET /orders": ["orders:read"]})
    orders_api.add_routes(path="/orders", ..., authorizer=auth.http_authorizer(orders_stack))

It builds the same template as `osls package` (lambda_jwt_auth_cdk.template, from serverless.yml
itself), includes it with `CfnInclude` (logical ids kept, so one policy checker judges both), puts
the zips of scripts/build_lambda.py in as assets, and hands out what you attach to your own APIs:
`http_authorizer(scope)` (an `HttpLambdaAuthorizer` with simple responses), `token_authorizer(scope)`
and `request_authorizer(scope)` for a `RestApi`, `authorizer_arn`, `issuer`, and the table names.

API Gateway's authorizer cache adds to the revocation delay (docs/concepts/revocation.md), so
the authorizers handed out cache nothing unless `results_cache_ttl` says otherwise.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Fn
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_assets as assets
from aws_cdk import cloudformation_include as include
from constructs import Construct

from lambda_jwt_auth_cdk import source, template

REPOSITORY = Path(__file__).resolve().parents[3]
AUTHORIZER = "AuthorizerLambdaFunction"


class LambdaJwtAuth(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        params: Mapping[str, Any] | None = None,
        route_scopes: Mapping[str, Sequence[str]] | None = None,
        serverless_yml: Path | None = None,
        results_cache_ttl: Duration | None = None,
    ) -> None:
        """`params`: any of serverless.yml's params (as `--param`); `route_scopes`: the scopes your
        API's routes require ("METHOD /path" -> scopes), added to the authorizer's own."""
        super().__init__(scope, construct_id)
        path = serverless_yml or REPOSITORY / "serverless.yml"
        document = source.load(path, stage, params)
        built, code = template.build(document, stage)
        if route_scopes:
            variables = built["Resources"][AUTHORIZER]["Properties"]["Environment"]["Variables"]
            own = json.loads(variables["AUTH_ROUTE_SCOPES"])
            added = {route: list(scopes) for route, scopes in route_scopes.items()}
            variables["AUTH_ROUTE_SCOPES"] = json.dumps({**own, **added})
        for logical_id in code:  # CfnInclude wants a Code; the assets' below replace it
            built["Resources"][logical_id]["Properties"]["Code"] = {"S3Bucket": "-", "S3Key": "-"}
        with tempfile.TemporaryDirectory(prefix="lambda-jwt-auth-cdk-") as directory:
            file = Path(directory) / "template.json"
            file.write_text(json.dumps(built), encoding="utf-8")
            self.template = include.CfnInclude(self, "Service", template_file=str(file))
        used = document[source.PARAMS]
        zips = {
            param: assets.Asset(self, param[:1].upper() + param[1:], path=str(path.parent / used[param]))
            for param in sorted(set(code.values()))
        }
        for logical_id, param in code.items():
            function = self.template.get_resource(logical_id)
            assert isinstance(function, lambda_.CfnFunction)
            function.code = lambda_.CfnFunction.CodeProperty(
                s3_bucket=zips[param].s3_bucket_name, s3_key=zips[param].s3_object_key
            )
        authorizer = self.template.get_resource(AUTHORIZER)
        assert isinstance(authorizer, lambda_.CfnFunction)
        self.authorizer_arn: str = authorizer.attr_arn
        self._cache_ttl = results_cache_ttl or Duration.seconds(0)
        issuer = document[source.PARAMS]["issuer"]
        # The default (serverless.yml) is the HTTP API's own URL: rebuilt here as a token of ours, so
        # another stack may use it (an output's value would lose its Fn::Sub on export).
        self.issuer: str = (
            issuer
            if isinstance(issuer, str)
            else Fn.sub(
                "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}",
                {"Api": self.template.get_resource("HttpApi").ref},
            )
        )
        self.denylist_table_name: str = self.template.get_resource("DenylistTable").ref
        self.users_table_name: str = self.template.get_resource("UsersTable").ref
        self.clients_table_name: str = self.template.get_resource("ClientsTable").ref

    def authorizer_function(
        self, scope: Construct, construct_id: str = "LambdaJwtAuthFunction"
    ) -> lambda_.IFunction:
        """The authorizer function, seen from `scope` (your API's stack): the invoke permissions
        API Gateway needs are then created there, next to your API."""
        return lambda_.Function.from_function_attributes(
            scope, construct_id, function_arn=self.authorizer_arn, same_environment=True
        )

    def http_authorizer(
        self, scope: Construct, construct_id: str = "LambdaJwtAuth"
    ) -> authorizers.HttpLambdaAuthorizer:
        """An HTTP API Lambda authorizer: simple responses, the Authorization header."""
        return authorizers.HttpLambdaAuthorizer(
            construct_id,
            self.authorizer_function(scope, f"{construct_id}Function"),
            response_types=[authorizers.HttpLambdaResponseType.SIMPLE],
            identity_source=["$request.header.Authorization"],
            results_cache_ttl=self._cache_ttl,
        )

    def token_authorizer(
        self, scope: Construct, construct_id: str = "LambdaJwtAuthToken"
    ) -> apigateway.TokenAuthorizer:
        """A REST API TOKEN authorizer on the Authorization header (our policy answers)."""
        return apigateway.TokenAuthorizer(
            scope,
            construct_id,
            handler=self.authorizer_function(scope, f"{construct_id}Function"),
            results_cache_ttl=self._cache_ttl,
        )

    def request_authorizer(
        self, scope: Construct, construct_id: str = "LambdaJwtAuthRequest"
    ) -> apigateway.RequestAuthorizer:
        """A REST API REQUEST authorizer (headers, path and method: route scopes apply)."""
        return apigateway.RequestAuthorizer(
            scope,
            construct_id,
            handler=self.authorizer_function(scope, f"{construct_id}Function"),
            identity_sources=[apigateway.IdentitySource.header("Authorization")],
            results_cache_ttl=self._cache_ttl,
        )
