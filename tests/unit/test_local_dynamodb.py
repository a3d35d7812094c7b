"""The embedded DynamoDB of `auth-service serve` and its credentials fallback."""

from __future__ import annotations

import boto3
import pytest
import requests

from auth_service.local.dynamodb import (
    EmbeddedDynamoDB,
    dynamodb_client,
    prepare_tables,
    use_dummy_credentials_if_unset,
)


def test_dummy_credentials_only_when_none_are_set() -> None:
    empty: dict[str, str] = {}
    assert use_dummy_credentials_if_unset(empty) is True
    assert empty["AWS_ACCESS_KEY_ID"] == "testing"
    assert empty["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert empty["AWS_EC2_METADATA_DISABLED"] == "true"

    own = {"AWS_ACCESS_KEY_ID": "mine", "AWS_SECRET_ACCESS_KEY": "mine-too"}
    assert use_dummy_credentials_if_unset(own) is False
    assert own["AWS_ACCESS_KEY_ID"] == "mine"

    profile = {"AWS_PROFILE": "dev"}
    assert use_dummy_credentials_if_unset(profile) is False
    assert "AWS_ACCESS_KEY_ID" not in profile


def test_embedded_server_on_loopback_with_tables_created_once() -> None:
    server = EmbeddedDynamoDB()
    endpoint = server.start()
    try:
        assert endpoint.startswith("http://127.0.0.1:")
        client = dynamodb_client(endpoint, "us-east-1")
        prepare_tables(client, denylist="d", users="u")
        prepare_tables(client, denylist="d", users="u")  # already there: nothing to do
        assert sorted(client.list_tables()["TableNames"]) == ["d", "u"]
        ttl = client.describe_time_to_live(TableName="d")["TimeToLiveDescription"]
        assert ttl["AttributeName"] == "expires_at"
    finally:
        server.stop()
    server.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(endpoint, timeout=2)


def test_each_embedded_server_starts_empty() -> None:
    first = EmbeddedDynamoDB()
    client = boto3.client("dynamodb", endpoint_url=first.start(), region_name="us-east-1")
    prepare_tables(client, denylist="d", users="u")
    first.stop()
    second = EmbeddedDynamoDB()
    try:
        client = boto3.client("dynamodb", endpoint_url=second.start(), region_name="us-east-1")
        assert client.list_tables()["TableNames"] == []
    finally:
        second.stop()
