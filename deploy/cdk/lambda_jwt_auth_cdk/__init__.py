"""An AWS CDK construct deploying lambda-jwt-auth as serverless.yml does (docs/deploying/cdk.md).

`LambdaJwtAuth` is imported on first use: `source` and `template` (serverless.yml read for one
stage) need no aws-cdk-lib, so the tests of them run with the dev extra alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambda_jwt_auth_cdk.construct import LambdaJwtAuth

__all__ = ["LambdaJwtAuth"]


def __getattr__(name: str) -> Any:
    if name == "LambdaJwtAuth":
        from lambda_jwt_auth_cdk.construct import LambdaJwtAuth

        return LambdaJwtAuth
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
