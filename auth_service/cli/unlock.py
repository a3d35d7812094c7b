"""`auth-service unlock USER`: end a login lockout now (auth_service.login_throttle).

A username's counter is keyed by an HMAC of the name under a key derived from the signing key
the login function signed with at its cold start, so every key of the key ring is tried (a
rotation may have left counters under the previous one). `--ip` also clears a client address's
counter; `--all-users` clears every username's counter and needs no key (what `auth-service
serve` with its ephemeral key needs).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError


def add_parser(commands: Any, dynamodb_options: Callable[[argparse.ArgumentParser], None]) -> None:
    unlock = commands.add_parser(
        "unlock", help="end a login lockout now: a username's (and an address's) failed-login counters"
    )
    unlock.add_argument("username", nargs="?", help="the username tried (as typed at login)")
    unlock.add_argument("--ip", metavar="ADDRESS", help="also the counter of this client address")
    unlock.add_argument(
        "--all-users", action="store_true", help="every username's counter (needs no signing key)"
    )
    unlock.add_argument(
        "--signing-key",
        type=Path,
        metavar="FILE",
        help="the PEM or key set the login function signs with (default: AUTH_SIGNING_KEY, "
        "AUTH_SIGNING_KEY_FILE, AUTH_SIGNING_KEY_SSM_PARAMETER or AUTH_SIGNING_KEY_SECRET_ID, "
        "as it reads them)",
    )
    dynamodb_options(unlock)
    unlock.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from auth_service.cli.main import UsageError, connect, dynamodb_trouble
    from auth_service.login_throttle import IP_PREFIX, USER_PREFIX, address_bucket, throttle_key, user_counter

    if not (args.username or args.ip or args.all_users) or (args.username and args.all_users):
        raise UsageError("name a USERNAME or --all-users (not both), and/or --ip ADDRESS")
    counters: list[str] = []
    if args.username:
        counters += [user_counter(throttle_key(material), args.username) for material in _materials(args)]
    if args.ip:
        bucket = address_bucket(args.ip)
        if bucket is None:
            raise UsageError(f"--ip {args.ip!r} is not an IP address")
        counters.append(IP_PREFIX + bucket)
    client = connect(args)
    try:
        if args.all_users:
            counters += _user_counters(client, args.denylist_table, USER_PREFIX)
        removed = sum(_delete(client, args.denylist_table, counter) for counter in dict.fromkeys(counters))
    except (BotoCoreError, ClientError) as exc:
        raise UsageError(f"cannot unlock: {dynamodb_trouble(exc, args, args.denylist_table)}") from None
    who = "every username" if args.all_users else args.username
    print(json.dumps({"unlocked": who, "ip": args.ip, "counters_removed": removed}))
    return 0


def _materials(args: argparse.Namespace) -> list[bytes]:
    """What the username HMAC keys derive from: every key of the login function's ring."""
    from auth_service.cli.main import UsageError
    from auth_service.config import SigningKeyKind, SigningKeySource
    from auth_service.key_set import is_key_set_document
    from auth_service.key_source import read_signing_pem
    from auth_service.keys import load_key_ring
    from authorizer.env import EnvReader
    from authorizer.errors import ConfigurationError

    if args.signing_key is not None:
        source = SigningKeySource(SigningKeyKind.FILE, str(args.signing_key))
    else:
        env = EnvReader(os.environ)  # as the functions' configuration finds it (auth_service.config)
        found = env.one_of(*(kind.value for kind in SigningKeyKind))
        if found is None or env.problems:
            raise UsageError(
                "unlocking a username needs the signing key the login function uses: --signing-key FILE, "
                "or one of AUTH_SIGNING_KEY, AUTH_SIGNING_KEY_FILE, AUTH_SIGNING_KEY_SSM_PARAMETER, "
                "AUTH_SIGNING_KEY_SECRET_ID (or clear every username's counter with --all-users)"
            )
        source = SigningKeySource(SigningKeyKind(found[0]), found[1])
    try:
        text = read_signing_pem(source, args.region)
        ring = _ring(text, args.region) if is_key_set_document(text) else load_key_ring(text)
    except (ConfigurationError, ValueError) as exc:
        raise UsageError(f"cannot read the signing key: {exc}") from None
    return [material for key in ring.keys if (material := key.material()) is not None]


def _ring(text: str, region: str) -> Any:
    from auth_service.key_set import parse_key_set
    from auth_service.key_source import kms_client
    from auth_service.keys import key_ring_from_document

    return key_ring_from_document(parse_key_set(text), lambda: kms_client(region))


def _user_counters(client: Any, table: str, prefix: str) -> list[str]:
    found: list[str] = []
    request: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": "pk",
        "FilterExpression": "begins_with(pk, :prefix)",
        "ExpressionAttributeValues": {":prefix": {"S": prefix}},
    }
    while True:
        page = client.scan(**request)
        found += [item["pk"]["S"] for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _delete(client: Any, table: str, pk: str) -> bool:
    answer = client.delete_item(TableName=table, Key={"pk": {"S": pk}}, ReturnValues="ALL_OLD")
    return "Attributes" in answer
