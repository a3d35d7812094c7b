"""An AWS CDK construct deploying lambda-jwt-auth as serverless.yml does (docs/deploying/cdk.md)."""

from lambda_jwt_auth_cdk.construct import LambdaJwtAuth

__all__ = ["LambdaJwtAuth"]
