"""The Cognito user pool API client, and the SECRET_HASH an app client with a secret needs.

The client has the same short timeouts and retry budget as our other AWS clients
(`authorizer.aws`): a Cognito outage must answer 503 inside the Lambda timeout, not hang.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

COGNITO_CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"mode": "standard", "total_max_attempts": 3},
)


def cognito_client(region: str, endpoint: str | None = None) -> CognitoIdentityProviderClient:
    session = boto3.session.Session()
    client: CognitoIdentityProviderClient = session.client(
        "cognito-idp", region_name=region, endpoint_url=endpoint, config=COGNITO_CLIENT_CONFIG
    )
    return client


def secret_hash(client_secret: str, username: str, client_id: str) -> str:
    """base64(HMAC-SHA256(key = client secret, message = username + client id))."""
    digest = hmac.new(
        client_secret.encode("utf-8"), (username + client_id).encode("utf-8"), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")
