"""`auth-service clients ...` and `revoke --client`, on moto's DynamoDB, through `main` as typed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auth_service.cli.main import main
from auth_service.clients import ClientTable
from auth_service.tables import create_tables

DENYLIST, USERS, CLIENTS = "cli-denylist", "cli-users", "cli-clients"
TABLES = ["--denylist-table", DENYLIST, "--users-table", USERS, "--clients-table", CLIENTS]


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AUTH_DYNAMODB_ENDPOINT", "AUTH_CLIENTS_TABLE", "AUTH_DENYLIST_TABLE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, denylist=DENYLIST, users=USERS, clients=CLIENTS)
        yield client


def run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, Any, str]:
    status = main([*arguments, *TABLES])
    out, err = capsys.readouterr()
    return status, json.loads(out) if out.strip() else None, err


def test_add_prints_the_secret_once_and_stores_only_its_hash(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    status, added, _ = run(capsys, "clients", "add", "reporting job", "--scope", "orders:read  reports:write")
    assert status == 0
    assert added["client_id"].startswith("c_") and len(added["client_secret"]) >= 43
    assert added["scope"] == "orders:read reports:write" and added["grant_types"] == ["client_credentials"]
    item = dynamodb.get_item(TableName=CLIENTS, Key={"client_id": {"S": added["client_id"]}})["Item"]
    stored = json.dumps(item)
    assert added["client_secret"] not in stored and "$argon2id$" in stored
    table = ClientTable(dynamodb, CLIENTS)
    assert table.check_secret(table.lookup(added["client_id"]), added["client_secret"]) is not None
    status, listed, _ = run(capsys, "clients", "list")
    assert status == 0 and [entry["client_id"] for entry in listed] == [added["client_id"]]
    assert "client_secret" not in listed[0] and listed[0]["secrets"] == 1
    assert added["client_secret"] not in json.dumps(listed)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["clients", "add", "x", "--scope", 'bad"scope'], "scope-tokens"),
        (["clients", "add", "x", "--scope", "a", "--client-id", "no spaces"], "client id"),
        (["clients", "rotate-secret", "c_missing"], "no client"),
        (["clients", "disable", "c_missing"], "no client"),
        (["clients", "remove", "c_missing"], "no client"),
    ],
)
def test_mistakes_are_usage_errors(
    dynamodb: Any, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    status, out, err = run(capsys, *arguments)
    assert status == 2 and out is None and message in err


def test_rotate_disable_enable_remove(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, added, _ = run(capsys, "clients", "add", "job", "--scope", "orders:read")
    client_id, first = added["client_id"], added["client_secret"]
    table = ClientTable(dynamodb, CLIENTS)

    def valid(secret: str) -> bool:
        return table.check_secret(table.lookup(client_id), secret) is not None

    _, rotated, _ = run(capsys, "clients", "rotate-secret", client_id)
    second = rotated["client_secret"]
    assert second != first and valid(first) and valid(second)
    assert run(capsys, "clients", "rotate-secret", client_id, "--finish")[0] == 0
    assert not valid(first) and valid(second)
    _, disabled, _ = run(capsys, "clients", "disable", client_id)
    assert disabled["disabled"] is True and "revoke --client" in disabled["note"]
    assert not valid(second)
    run(capsys, "clients", "enable", client_id)
    assert valid(second)
    assert run(capsys, "clients", "remove", client_id)[1] == {"client_id": client_id, "removed": True}
    assert table.lookup(client_id) is None


def test_revoke_client_writes_its_not_before_and_refuses_unknown_clients(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, added, _ = run(capsys, "clients", "add", "job", "--scope", "orders:read")
    status, revoked, _ = run(capsys, "revoke", "--client", added["client_id"])
    assert status == 0
    assert revoked["revoked"] == "client" and revoked["sub"] == added["client_id"]
    item = dynamodb.get_item(TableName=DENYLIST, Key={"pk": {"S": f"user#{added['client_id']}"}})["Item"]
    assert int(item["not_before"]["N"]) == revoked["not_before"]
    status, out, err = run(capsys, "revoke", "--client", "c_typo")
    assert status == 2 and out is None and "no client 'c_typo'" in err
    assert dynamodb.get_item(TableName=DENYLIST, Key={"pk": {"S": "user#c_typo"}}).get("Item") is None
