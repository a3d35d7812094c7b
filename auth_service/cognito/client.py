"""The Cognito user pool API client, and the SECRET_HASH an app client with a secret needs.

The client has the same short timeouts and retry budget as our other AWS clients
(`auth_service.aws`): a Cognito outage must answer 503 inside the Lambda timeout, not hang.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING

from botocore.config import Config

from auth_service.aws import aws_client

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

# Worst case 2 x 0.5 s + 2 x 2 s + 1 s of backoff = 6 s, inside the 10 s function timeout
# (InitiateAuth runs argon2-free but Cognito itself can be slow; see tests/unit/test_faults_sdk_budget.py).
COGNITO_CLIENT_CONFIG = Config(
    connect_timeout=0.5,
    read_timeout=2,
    retries={"mode": "standard", "total_max_attempts": 2},
)


def cognito_client(region: str, endpoint: str | None = None) -> CognitoIdentityProviderClient:
    # Built like our other clients: a server-sent retry-after cannot stretch a call past the budget.
    client: CognitoIdentityProviderClient = aws_client("cognito-idp", region, endpoint, COGNITO_CLIENT_CONFIG)
    return client


def secret_hash(client_secret: str, username: str, client_id: str) -> str:
    """base64(HMAC-SHA256(key = client secret, message = username + client id))."""
    digest = hmac.new(
        client_secret.encode("utf-8"), (username + client_id).encode("utf-8"), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")
