"""Users in DynamoDB with argon2id password hashes.

Unknown users and wrong passwords cost the same: an unknown username is verified against a
dummy hash, so response time does not tell whether the account exists.
"""

from __future__ import annotations

import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from botocore.exceptions import BotoCoreError, ClientError

from authorizer.errors import UnavailableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# OWASP's minimum for argon2id: m = 19 MiB, t = 2, p = 1.
DEFAULT_HASHER = argon2.PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
MAX_USERNAME = 128
MAX_PASSWORD = 1024  # argon2 hashes any length; a cap keeps a 1 MB "password" from costing more
MIN_PASSWORD = 8
DEFAULT_SCOPE = "profile"


class UserError(ValueError):
    """A user cannot be created as asked."""


@dataclass(frozen=True)
class User:
    username: str
    sub: str
    scope: str


@dataclass(frozen=True)
class StoredUser:
    """A user's item, read but not yet authenticated."""

    user: User
    password_hash: str = field(repr=False)


def normalize_username(username: str) -> str:
    # One account per name however it is typed: "Alice", "alice" and its full-width form are the same.
    return unicodedata.normalize("NFKC", username).strip().casefold()


class UserTable:
    def __init__(
        self, client: DynamoDBClient, table: str, hasher: argon2.PasswordHasher = DEFAULT_HASHER
    ) -> None:
        self._client = client
        self._table = table
        self._hasher = hasher
        self._dummy_hash: str | None = None

    def add(self, username: str, password: str, scope: str = DEFAULT_SCOPE) -> str:
        """Create a user; returns its `sub`. Refuses an existing username."""
        name = normalize_username(username)
        if not name or len(name) > MAX_USERNAME or not name.isprintable():
            raise UserError(f"username must be 1 to {MAX_USERNAME} printable characters")
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise UserError(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        scope = " ".join(scope.split())
        sub = str(uuid.uuid4())
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "username": {"S": name},
                    "sub": {"S": sub},
                    "scope": {"S": scope},
                    "password_hash": {"S": self._hasher.hash(password)},
                    "created_at": {"N": str(int(time.time()))},
                },
                ConditionExpression="attribute_not_exists(username)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise UserError(f"user {name!r} exists already") from None
            raise
        return sub

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right; None otherwise, in about the same time."""
        return self.check_password(self.lookup(username), password)

    def lookup(self, username: str) -> StoredUser | None:
        """The stored user of a name (None: no such user), before any password check.

        Tells nothing by itself: a login may read it while its attempt is being admitted, and
        then hands it to `check_password`. Raises `UnavailableError` when the table cannot be read.
        """
        name = normalize_username(username)
        if not name or len(name) > MAX_USERNAME:
            return None
        try:
            item = self._client.get_item(TableName=self._table, Key={"username": {"S": name}}).get("Item")
        except (BotoCoreError, ClientError) as exc:
            raise UnavailableError(f"the user table is unavailable ({type(exc).__name__})") from None
        if item is None:
            return None
        return StoredUser(
            User(username=name, sub=item["sub"]["S"], scope=item.get("scope", {}).get("S", "")),
            item["password_hash"]["S"],
        )

    def check_password(self, stored: StoredUser | None, password: str) -> User | None:
        """The user if `password` is theirs; None otherwise (no user: a dummy hash, the same cost)."""
        if stored is None or len(password) > MAX_PASSWORD:
            self._verify(self._dummy(), password)
            return None
        if not self._verify(stored.password_hash, password):
            return None
        if self._hasher.check_needs_rehash(stored.password_hash):
            self._rehash(stored.user.username, password)
        return stored.user

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password[:MAX_PASSWORD])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(uuid.uuid4().hex)
        return self._dummy_hash

    def _rehash(self, name: str, password: str) -> None:
        # Parameters were raised since this hash was made: upgrade it now that we know the password.
        self._client.update_item(
            TableName=self._table,
            Key={"username": {"S": name}},
            UpdateExpression="SET password_hash = :h",
            ExpressionAttributeValues={":h": {"S": self._hasher.hash(password)}},
        )
