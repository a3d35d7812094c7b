"""The embedded DynamoDB of `auth-service serve` and its credentials fallback."""

from __future__ import annotations

import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
import requests

from auth_service.local.dynamodb import (
    EmbeddedDynamoDB,
    OneRequestAtATime,
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


def test_a_conditional_write_has_one_winner_under_concurrency() -> None:
    """DynamoDB applies conditional writes to an item one at a time; so must the local one.

    Several containers now write at the same moment (the refresh token claim is such a write).
    """
    server = EmbeddedDynamoDB()
    endpoint = server.start()
    try:
        prepare_tables(dynamodb_client(endpoint, "us-east-1"), denylist="d", users="u")
        threads = 8
        clients = [dynamodb_client(endpoint, "us-east-1") for _ in range(threads)]

        def claim(client: Any, key: str, barrier: threading.Barrier) -> bool:
            barrier.wait()
            try:
                client.put_item(
                    TableName="d",
                    Item={"pk": {"S": key}, "owner": {"S": str(id(client))}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except client.exceptions.ConditionalCheckFailedException:
                return False
            return True

        for round_number in range(40):
            barrier = threading.Barrier(threads)
            with ThreadPoolExecutor(max_workers=threads) as pool:
                attempt = functools.partial(claim, key=f"k{round_number}", barrier=barrier)
                outcomes = list(pool.map(attempt, clients))
            assert outcomes.count(True) == 1, (round_number, outcomes)
    finally:
        server.stop()


def test_the_embedded_server_answers_one_request_at_a_time() -> None:
    active = 0
    most = 0
    counting = threading.Lock()

    def app(environ: Any, start_response: Any) -> list[bytes]:
        nonlocal active, most
        with counting:
            active += 1
            most = max(most, active)
        time.sleep(0.05)
        with counting:
            active -= 1
        start_response("200 OK", [])
        return [b"ok"]

    serialized = OneRequestAtATime(app)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: serialized({}, lambda status, headers: None), range(4)))
    assert answers == [[b"ok"]] * 4
    assert most == 1
