"""Registered OAuth clients (machine clients) in DynamoDB, with argon2id hashes of their secrets.

One item per client, keyed by `client_id`:

* `secret_hashes`: one or two argon2id hashes. A secret is shown once, when it is made, and never
  stored. During a rotation two are valid (the new one first): `rotate_secret` adds a new secret
  and keeps the newest old one; `drop_previous_secret` ends the rotation.
* `scope`: the scopes the client may be granted (space-separated); a token request may ask for
  a subset.
* `grant_types`: the grants it may use (today only `client_credentials`).
* `jwks`: optionally, the client's public keys (a JWKS, as JSON): it may then authenticate with
  a signed assertion (`private_key_jwt`, RFC 7523) instead of a secret. Checked as strictly as
  our own configured keys (`authorizer.tokens.keys`) when registered. A client may have keys and no
  secret.
* `jwks_uri`: or the URL the client publishes its keys at (https; plain http only on loopback),
  fetched by the token function when the client authenticates, cached per container and
  fetched again for a `kid` it does not know (at most once a minute).
* `disabled`: a disabled client authenticates nowhere (its tokens already issued are revoked with
  `auth-service revoke --client`).
* `name`: the operator's label.

Unknown, disabled and wrong-secret clients cost the same argon2 verification (a dummy hash), so
the time of an answer does not tell whether a client id exists.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from botocore.exceptions import BotoCoreError, ClientError

from auth_service.oauth import CLIENT_CREDENTIALS
from auth_service.users import DEFAULT_HASHER
from authorizer.errors import ConfigurationError, UnavailableError
from authorizer.tokens.keys import KeySet

if TYPE_CHECKING:
    import argon2
    from mypy_boto3_dynamodb import DynamoDBClient

GRANT_TYPES = (CLIENT_CREDENTIALS,)
# Ours: "c_" and 22 base64url characters (128 random bits). Seeded clients may name their own id,
# within the same alphabet; nothing else is ever looked up.
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{2,127}")
MAX_SECRET = 256
MIN_SEED_SECRET = 16
MAX_SECRETS = 2  # during a rotation: the new secret and the one before it
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token


class ClientRecordError(ValueError):
    """A client cannot be created or changed as asked."""


@dataclass(frozen=True)
class Client:
    """An authenticated client: what a token request may be granted."""

    client_id: str
    name: str
    scope: tuple[str, ...]
    grant_types: tuple[str, ...]


@dataclass(frozen=True)
class StoredClient:
    client: Client
    secret_hashes: tuple[str, ...] = field(repr=False)
    disabled: bool
    created_at: int
    jwks: str | None = None  # the registered JWKS, as stored (JSON)
    jwks_uri: str | None = None  # or where the client publishes it


def new_client_id() -> str:
    return "c_" + secrets.token_urlsafe(16)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def parse_scope(scope: str) -> tuple[str, ...]:
    """The scope-tokens of a space-separated scope string, in order, each once."""
    tokens = scope.split(" ")
    if any(not _SCOPE_TOKEN.fullmatch(token) for token in tokens if token) or "" in tokens[1:-1]:
        raise ClientRecordError(f"scope must be scope-tokens separated by single spaces, got {scope!r}")
    return tuple(dict.fromkeys(token for token in tokens if token))


class ClientTable:
    def __init__(
        self, client: DynamoDBClient, table: str, hasher: argon2.PasswordHasher = DEFAULT_HASHER
    ) -> None:
        self._client = client
        self._table = table
        self._hasher = hasher
        self._dummy_hash: str | None = None

    # --- the operator's side (CLI, serve's seeding) -------------------------------------------------

    def add(
        self,
        name: str,
        scope: str,
        *,
        client_id: str | None = None,
        secret: str | None = None,
        grant_types: tuple[str, ...] = GRANT_TYPES,
        jwks: Mapping[str, Any] | None = None,
        jwks_uri: str | None = None,
    ) -> tuple[str, str | None]:
        """Register a client; returns `(client_id, client_secret)`. The secret is not kept.

        With `jwks` (and no `secret`) the client authenticates with signed assertions only: no
        secret is made (None is returned for it)."""
        client_id = client_id or new_client_id()
        if not CLIENT_ID.fullmatch(client_id):
            raise ClientRecordError(f"client id must be 3 to 128 of A-Z a-z 0-9 . _ ~ -, got {client_id!r}")
        if secret is not None and not MIN_SEED_SECRET <= len(secret) <= MAX_SECRET:
            raise ClientRecordError(f"a client secret must be {MIN_SEED_SECRET} to {MAX_SECRET} characters")
        if not name or len(name) > 128 or not name.isprintable():
            raise ClientRecordError("a client name must be 1 to 128 printable characters")
        unknown = sorted(set(grant_types) - set(GRANT_TYPES))
        if unknown or not grant_types:
            raise ClientRecordError(f"grant types must be some of {', '.join(GRANT_TYPES)}")
        scopes = parse_scope(" ".join(scope.split()))  # an operator's spacing is not a mistake
        if jwks is not None:
            try:
                KeySet.from_jwks(jwks)
            except ConfigurationError as exc:
                raise ClientRecordError(f"the client's JWKS: {exc}") from None
        if jwks is not None and jwks_uri is not None:
            raise ClientRecordError("give the client's keys (a JWKS) or their URL, not both")
        if jwks_uri is not None and not _keys_url(jwks_uri):
            raise ClientRecordError(
                f"a client's JWKS URL must be https:// (http only on localhost), got {jwks_uri!r}"
            )
        if secret is None and jwks is None and jwks_uri is None:
            secret = new_secret()
        item: dict[str, Any] = {
            "client_id": {"S": client_id},
            "name": {"S": name},
            "scope": {"S": " ".join(scopes)},
            "grant_types": {"L": [{"S": grant} for grant in grant_types]},
            "secret_hashes": {"L": [{"S": self._hasher.hash(secret)}] if secret is not None else []},
            "disabled": {"BOOL": False},
            "created_at": {"N": str(int(time.time()))},
        }
        if jwks is not None:
            item["jwks"] = {"S": json.dumps(jwks, separators=(",", ":"))}
        if jwks_uri is not None:
            item["jwks_uri"] = {"S": jwks_uri}
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(client_id)"
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise ClientRecordError(f"client {client_id!r} exists already") from None
            raise
        return client_id, secret

    def list(self) -> list[StoredClient]:
        clients: list[StoredClient] = []
        kwargs: dict[str, Any] = {"TableName": self._table}
        while True:
            page = self._client.scan(**kwargs)
            clients.extend(_stored(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(clients, key=lambda stored: stored.created_at)

    def rotate_secret(self, client_id: str) -> str:
        """A new secret, valid at once beside the newest old one (which stays until dropped)."""
        stored = self._existing(client_id)
        secret = new_secret()
        hashes = [self._hasher.hash(secret), *stored.secret_hashes][:MAX_SECRETS]
        self._set(client_id, "SET secret_hashes = :v", {":v": {"L": [{"S": h} for h in hashes]}})
        return secret

    def drop_previous_secret(self, client_id: str) -> None:
        """End a rotation: only the newest secret stays valid."""
        stored = self._existing(client_id)
        newest = stored.secret_hashes[:1]
        self._set(client_id, "SET secret_hashes = :v", {":v": {"L": [{"S": h} for h in newest]}})

    def set_disabled(self, client_id: str, disabled: bool) -> None:
        self._existing(client_id)
        self._set(client_id, "SET disabled = :v", {":v": {"BOOL": disabled}})

    def remove(self, client_id: str) -> None:
        self._existing(client_id)
        self._client.delete_item(TableName=self._table, Key={"client_id": {"S": client_id}})

    # --- the token endpoint's side ------------------------------------------------------------------

    def lookup(self, client_id: str) -> StoredClient | None:
        """The stored client (None: no such client, or an id we would never have made)."""
        if not CLIENT_ID.fullmatch(client_id):
            return None
        try:
            item = self._client.get_item(
                TableName=self._table, Key={"client_id": {"S": client_id}}, ConsistentRead=True
            ).get("Item")
        except (BotoCoreError, ClientError) as exc:
            raise UnavailableError(f"the client table is unavailable ({type(exc).__name__})") from None
        return None if item is None else _stored(item)

    def check_secret(self, stored: StoredClient | None, secret: str) -> Client | None:
        """The client if `secret` is one of its secrets and it is enabled; None otherwise, at the
        same cost (an unknown or disabled client is checked against a dummy hash)."""
        if stored is None or stored.disabled or not stored.secret_hashes or len(secret) > MAX_SECRET:
            self._verify(self._dummy(), secret)
            return None
        # Each valid hash is tried (at most two): a rotation's old secret costs one more check.
        if any(self._verify(hash_, secret) for hash_ in stored.secret_hashes):
            return stored.client
        return None

    def _verify(self, stored: str, secret: str) -> bool:
        try:
            return self._hasher.verify(stored, secret[:MAX_SECRET])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_hex(16))
        return self._dummy_hash

    def _existing(self, client_id: str) -> StoredClient:
        stored = self.lookup(client_id)
        if stored is None:
            raise ClientRecordError(f"no client {client_id!r}")
        return stored

    def _set(self, client_id: str, expression: str, values: dict[str, Any]) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"client_id": {"S": client_id}},
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
            ConditionExpression="attribute_exists(client_id)",
        )


def _stored(item: dict[str, Any]) -> StoredClient:
    return StoredClient(
        client=Client(
            client_id=item["client_id"]["S"],
            name=item.get("name", {}).get("S", ""),
            scope=tuple(item.get("scope", {}).get("S", "").split()),
            grant_types=tuple(value["S"] for value in item.get("grant_types", {}).get("L", [])),
        ),
        secret_hashes=tuple(value["S"] for value in item.get("secret_hashes", {}).get("L", [])),
        disabled=bool(item.get("disabled", {}).get("BOOL", False)),
        created_at=int(item.get("created_at", {}).get("N", "0")),
        jwks=item.get("jwks", {}).get("S"),
        jwks_uri=item.get("jwks_uri", {}).get("S"),
    )


def _keys_url(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.hostname or parts.username or parts.password:
        return False
    return parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1")
    )


def _code(exc: ClientError) -> str | None:
    return exc.response.get("Error", {}).get("Code")
