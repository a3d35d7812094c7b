"""The DynamoDB tables, as created locally and in tests (serverless.yml declares the same)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authorizer.tokens.revocation import TTL_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Table names `auth-service serve` and the CLI use when none are configured.
LOCAL_DENYLIST_TABLE = "lambda-jwt-auth-local-denylist"
LOCAL_USERS_TABLE = "lambda-jwt-auth-local-users"
LOCAL_CLIENTS_TABLE = "lambda-jwt-auth-local-clients"

# The denylist: one item per revoked token (`jti#…`), session (`sid#…`) or user "not before"
# (`user#…`). DynamoDB TTL removes items once `expires_at` has passed.
DENYLIST_TABLE: dict[str, Any] = {
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "BillingMode": "PAY_PER_REQUEST",
}

USERS_TABLE: dict[str, Any] = {
    "AttributeDefinitions": [{"AttributeName": "username", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "username", "KeyType": "HASH"}],
    "BillingMode": "PAY_PER_REQUEST",
}

# Registered OAuth clients (auth_service.clients): one item per client_id.
CLIENTS_TABLE: dict[str, Any] = {
    "AttributeDefinitions": [{"AttributeName": "client_id", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "client_id", "KeyType": "HASH"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def create_tables(
    client: DynamoDBClient, *, denylist: str, users: str | None = None, clients: str | None = None
) -> None:
    """Create the tables (and the denylist's TTL) if they do not exist yet."""
    existing = set(client.list_tables()["TableNames"])
    if denylist not in existing:
        client.create_table(TableName=denylist, **DENYLIST_TABLE)
        client.get_waiter("table_exists").wait(TableName=denylist)
        client.update_time_to_live(
            TableName=denylist,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    if users is not None and users not in existing:
        client.create_table(TableName=users, **USERS_TABLE)
        client.get_waiter("table_exists").wait(TableName=users)
    if clients is not None and clients not in existing:
        client.create_table(TableName=clients, **CLIENTS_TABLE)
        client.get_waiter("table_exists").wait(TableName=clients)
