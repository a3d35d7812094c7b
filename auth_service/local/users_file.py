"""The `--users FILE` of `auth-service serve`: `{"users": [{"username", "password", "scope"}]}`.

Machine clients may be seeded from the same file:
`"clients": [{"client_id", "client_secret", "scope"}]` (auth_service.clients; the secret at least
16 characters). Problems are reported by position and client id, never with the secret.

With `serve --cognito` a user may also list Cognito groups (`"groups": ["admins"]`), and the
file may map groups to scopes at the top level (`"group_scopes": {"admins": "admin"}`).
Problems are reported by position and username, never with the password.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class UsersFileError(ValueError):
    """The users file cannot be read or does not have the expected shape."""


@dataclass(frozen=True)
class SeedUser:
    username: str
    password: str = field(repr=False)  # kept out of reprs, and so out of logs and tracebacks
    scope: str | None = None
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class SeedClient:
    client_id: str
    client_secret: str = field(repr=False)
    scope: str = ""


@dataclass(frozen=True)
class UsersDocument:
    users: list[SeedUser]
    group_scopes: dict[str, str] = field(default_factory=dict)
    clients: list[SeedClient] = field(default_factory=list)


def read_users_file(path: Path) -> list[SeedUser]:
    return read_users_document(path).users


def read_users_document(path: Path) -> UsersDocument:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsersFileError(f"{path}: cannot read the file ({exc.strerror})") from None
    except ValueError as exc:
        raise UsersFileError(f"{path}: not valid JSON ({exc})") from None
    entries = document.get("users") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise UsersFileError(f'{path}: expected {{"users": [{{"username", "password", "scope"}}]}}')
    users: list[SeedUser] = []
    for index, entry in enumerate(entries):
        where = f"{path}: users[{index}]"
        if not isinstance(entry, dict):
            raise UsersFileError(f"{where} is not an object")
        username, password, scope = entry.get("username"), entry.get("password"), entry.get("scope")
        groups = entry.get("groups", [])
        if not isinstance(username, str) or not username.strip():
            raise UsersFileError(f"{where}: username must be a non-empty string")
        if not isinstance(password, str) or not password:
            raise UsersFileError(f"{where} ({username}): password must be a non-empty string")
        if scope is not None and not isinstance(scope, str):
            raise UsersFileError(f"{where} ({username}): scope must be a string")
        if not isinstance(groups, list) or not all(isinstance(g, str) and g.strip() for g in groups):
            raise UsersFileError(f"{where} ({username}): groups must be a list of group names")
        users.append(SeedUser(username, password, scope, tuple(groups)))
    group_scopes = document.get("group_scopes", {})
    if not isinstance(group_scopes, dict) or not all(
        isinstance(group, str) and group and isinstance(scope, str) for group, scope in group_scopes.items()
    ):
        raise UsersFileError(
            f'{path}: group_scopes must map group names to scope strings, e.g. {{"admins": "admin"}}'
        )
    return UsersDocument(users, dict(group_scopes), _read_clients(path, document.get("clients", [])))


def _read_clients(path: Path, entries: object) -> list[SeedClient]:
    if not isinstance(entries, list):
        raise UsersFileError(f'{path}: clients must be a list of {{"client_id", "client_secret", "scope"}}')
    clients: list[SeedClient] = []
    for index, entry in enumerate(entries):
        where = f"{path}: clients[{index}]"
        if not isinstance(entry, dict):
            raise UsersFileError(f"{where} is not an object")
        client_id, secret, scope = entry.get("client_id"), entry.get("client_secret"), entry.get("scope", "")
        if not isinstance(client_id, str) or not client_id:
            raise UsersFileError(f"{where}: client_id must be a non-empty string")
        if not isinstance(secret, str) or not secret:
            raise UsersFileError(f"{where} ({client_id}): client_secret must be a non-empty string")
        if not isinstance(scope, str):
            raise UsersFileError(f"{where} ({client_id}): scope must be a string")
        clients.append(SeedClient(client_id, secret, scope))
    return clients


def seed_clients(
    client: DynamoDBClient, table: str, clients: list[SeedClient], report: Callable[[str], None] = print
) -> None:
    """Register each client; one that exists already (a reused endpoint) is left as it is."""
    from auth_service.clients import ClientRecordError, ClientTable

    client_table = ClientTable(client, table)
    for seed in clients:
        if client_table.lookup(seed.client_id) is not None:
            report(f"  client {seed.client_id!r} exists already; left unchanged")
            continue
        try:
            client_table.add(seed.client_id, seed.scope, client_id=seed.client_id, secret=seed.client_secret)
        except ClientRecordError as exc:
            raise UsersFileError(f"client {seed.client_id!r}: {exc}") from None
        report(f"  client {seed.client_id!r} added (scope: {seed.scope or 'none'})")


def seed_users(
    client: DynamoDBClient,
    table: str,
    users: list[SeedUser],
    report: Callable[[str], None] = print,
) -> None:
    """Add each user; one that exists already (a reused endpoint) is left as it is."""
    from auth_service.users import UserError, UserTable, normalize_username

    user_table = UserTable(client, table)
    for user in users:
        key = {"username": {"S": normalize_username(user.username)}}
        if "Item" in client.get_item(TableName=table, Key=key):
            report(f"  user {user.username!r} exists already; left unchanged")
            continue
        try:
            if user.scope is None:
                user_table.add(user.username, user.password)
            else:
                user_table.add(user.username, user.password, user.scope)
        except UserError as exc:
            raise UsersFileError(f"user {user.username!r}: {exc}") from None
        report(f"  user {user.username!r} added (scope: {user.scope or 'default'})")
