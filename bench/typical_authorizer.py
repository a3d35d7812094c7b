"""The baseline: a Lambda authorizer written the way tutorials write one.

PyJWT with a `PyJWKClient` fetching the issuer's JWKS, and a boto3 `Table.get_item` of the
token's `jti` on the denylist for every request, everything created at import. It checks the
signature, issuer, audience and times, and nothing else: no typ, no header restrictions, no
revocation cache. It exists only to be measured against (bench/, BENCHMARKS.md).
"""

import os
from typing import Any

import boto3
import jwt

JWKS_URL = os.environ["JWKS_URL"]
ISSUER = os.environ["TOKEN_ISSUER"]
AUDIENCE = os.environ["TOKEN_AUDIENCE"]

jwks_client = jwt.PyJWKClient(JWKS_URL)
dynamodb = boto3.resource("dynamodb", endpoint_url=os.environ.get("DYNAMODB_ENDPOINT") or None)
denylist = dynamodb.Table(os.environ["DENYLIST_TABLE"])


def policy(principal: str, effect: str, resource: str, context: dict[str, str] | None = None) -> Any:
    answer: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        answer["context"] = context
    return answer


def handler(event: dict[str, Any], context: Any) -> Any:
    token = event.get("authorizationToken") or event.get("headers", {}).get("authorization", "")
    token = token.removeprefix("Bearer ")
    resource = str(event.get("methodArn") or event.get("routeArn"))
    try:
        signing_key = jwks_client.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token, signing_key.key, algorithms=["RS256", "ES256", "EdDSA"], audience=AUDIENCE, issuer=ISSUER
        )
    except jwt.PyJWTError:
        raise Exception("Unauthorized") from None  # API Gateway answers 401 on this message
    if "Item" in denylist.get_item(Key={"pk": f"jti#{claims['jti']}"}):
        return policy(claims["sub"], "Deny", resource)
    return policy(claims["sub"], "Allow", resource, {"sub": claims["sub"], "scope": claims.get("scope", "")})
