"""The authorizer's DynamoDB: BatchGetItem over the minimal signed client (authorizer.aws.client)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authorizer.aws.client import AUTHORIZER_CLIENT, ClientSettings, JsonClient
from authorizer.aws.credentials import CredentialSource
from authorizer.aws.endpoints import region_endpoint

TARGET_PREFIX = "DynamoDB_20120810"


def endpoint_for(region: str) -> str:
    """The region's own DynamoDB endpoint, in its partition (authorizer.aws.endpoints)."""
    return region_endpoint("dynamodb", region)


class DynamoDB:
    """The one DynamoDB call the authorizer makes, named and shaped as boto3's client names it."""

    def __init__(self, client: JsonClient) -> None:
        self.http = client

    @classmethod
    def connect_to(
        cls,
        region: str,
        endpoint: str | None,
        credentials: CredentialSource,
        settings: ClientSettings = AUTHORIZER_CLIENT,
    ) -> DynamoDB:
        """A client for `endpoint` (an override: CommonSettings.dynamodb_endpoint), else the
        region's own endpoint. Nothing is sent until the first call."""
        return cls(
            JsonClient(
                service="dynamodb",
                target_prefix=TARGET_PREFIX,
                json_version="1.0",
                region=region,
                endpoint=endpoint or endpoint_for(region),
                credentials=credentials,
                settings=settings,
            )
        )

    def batch_get_item(self, *, RequestItems: Mapping[str, Any]) -> dict[str, Any]:
        return self.http.call("BatchGetItem", {"RequestItems": RequestItems})
