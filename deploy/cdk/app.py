"""The CDK app CI synthesizes (`npx cdk synth` here): the service, and an example API attached to it.

* `LambdaJwtAuth-<stage>`: the service alone, as serverless.yml deploys it (checked by the same
  scripts/check_policies.py and check_artifacts.py as the osls template);
* `OrdersApiExample-<stage>`: someone's own APIs, an HTTP API and a REST API, each with a route
  protected by the construct's authorizer.

Stage: `-c stage=prod` (default dev). Build the zips first: python scripts/build_lambda.py.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigatewayv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from lambda_jwt_auth_cdk import LambdaJwtAuth

ORDERS = """
def handler(event, context):
    return {"statusCode": 200, "body": "[]"}
"""

app = cdk.App()
stage = app.node.try_get_context("stage") or "dev"

service = cdk.Stack(app, f"LambdaJwtAuth-{stage}")
auth = LambdaJwtAuth(service, "Auth", stage=stage, route_scopes={"GET /orders": ["orders:read"]})

example = cdk.Stack(app, f"OrdersApiExample-{stage}")
orders = lambda_.Function(
    example,
    "Orders",
    runtime=lambda_.Runtime.PYTHON_3_12,
    handler="index.handler",
    code=lambda_.Code.from_inline(ORDERS),
)
http_api = apigatewayv2.HttpApi(example, "OrdersHttpApi")
http_api.add_routes(
    path="/orders",
    methods=[apigatewayv2.HttpMethod.GET],
    integration=integrations.HttpLambdaIntegration("OrdersIntegration", orders),
    authorizer=auth.http_authorizer(example),
)
rest_api = apigateway.RestApi(example, "OrdersRestApi")
rest_api.root.add_resource("orders").add_method(
    "GET", apigateway.LambdaIntegration(orders), authorizer=auth.request_authorizer(example)
)
cdk.CfnOutput(example, "OrdersHttpApiUrl", value=http_api.api_endpoint)

app.synth()
