"""The authorizer's one SSM call, GetParameter at cold start, over the minimal signed client."""

from __future__ import annotations

from authorizer.aws.client import JsonClient
from authorizer.aws.credentials import CredentialSource
from authorizer.aws.endpoints import region_endpoint


def get_parameter(name: str, region: str, credentials: CredentialSource, endpoint: str | None = None) -> str:
    """The parameter's value (read as stored: JWKS are public, a String). `endpoint`: an override
    (CommonSettings.ssm_endpoint), else the region's own endpoint."""
    client = JsonClient(
        service="ssm",
        target_prefix="AmazonSSM",
        json_version="1.1",
        region=region,
        endpoint=endpoint or region_endpoint("ssm", region),
        credentials=credentials,
    )
    try:
        answer = client.call("GetParameter", {"Name": name})
    finally:
        client.close()
    return str(answer["Parameter"]["Value"])
