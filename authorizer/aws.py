"""AWS SDK clients with timeouts and a retry budget that fit inside a Lambda invocation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ssm import SSMClient

_CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"mode": "standard", "total_max_attempts": 3},
)


def _client(service: str, region: str, endpoint: str | None = None) -> Any:
    session: Any = boto3.session.Session()
    return session.client(service, region_name=region, endpoint_url=endpoint, config=_CLIENT_CONFIG)


def dynamodb_client(region: str, endpoint: str | None = None) -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb", region, endpoint)
    return client


def ssm_client(region: str) -> SSMClient:
    client: SSMClient = _client("ssm", region)
    return client
