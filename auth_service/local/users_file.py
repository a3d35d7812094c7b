"""The `--users FILE` of `auth-service serve`: `{"users": [{"username", "password", "scope"}]}`.

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


def read_users_file(path: Path) -> list[SeedUser]:
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
        if not isinstance(username, str) or not username.strip():
            raise UsersFileError(f"{where}: username must be a non-empty string")
        if not isinstance(password, str) or not password:
            raise UsersFileError(f"{where} ({username}): password must be a non-empty string")
        if scope is not None and not isinstance(scope, str):
            raise UsersFileError(f"{where} ({username}): scope must be a string")
        users.append(SeedUser(username, password, scope))
    return users


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
