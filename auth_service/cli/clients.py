"""`auth-service clients ...`: register and manage machine clients (auth_service.clients).

`add` prints `{"client_id", "client_secret", ...}` once: the secret is stored only as a hash and
cannot be shown again. `rotate-secret` prints a new secret, valid at once beside the old one
until `rotate-secret --finish` (after every caller has the new one) drops the old one.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError


def register(commands: Any, dynamodb_options: Callable[[argparse.ArgumentParser], None]) -> None:
    clients = commands.add_parser("clients", help="manage machine clients (OAuth client_credentials)")
    actions = clients.add_subparsers(dest="clients_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="register a client; prints its id and secret once")
    add.add_argument("name", help="a label for operators")
    add.add_argument("--scope", required=True, help='the scopes it may be granted, e.g. "orders:read"')
    add.add_argument("--client-id", help="default: a new random id (c_...)")
    add.add_argument(
        "--jwks",
        type=Path,
        metavar="FILE",
        help="the client's public keys (JWKS): it authenticates with private_key_jwt; no secret is made",
    )
    add.add_argument(
        "--jwks-uri", metavar="URL", help="or where the client publishes its JWKS (https): private_key_jwt"
    )
    add.set_defaults(run=_add)

    listing = actions.add_parser("list", help="print every client (never a secret)")
    listing.set_defaults(run=_list)

    rotate = actions.add_parser("rotate-secret", help="a new secret; the old one stays valid until --finish")
    rotate.add_argument("client_id")
    rotate.add_argument("--finish", action="store_true", help="end the rotation: drop the previous secret")
    rotate.set_defaults(run=_rotate)

    for name, help_text, run in (
        ("disable", "refuse the client's authentication from now on", _disable),
        ("enable", "accept the client's authentication again", _enable),
        ("remove", "delete the client", _remove),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("client_id")
        action.set_defaults(run=run)
    for action in actions.choices.values():
        dynamodb_options(action)


def _table(args: argparse.Namespace) -> Any:
    from auth_service.cli.main import connect
    from auth_service.clients import ClientTable

    return ClientTable(connect(args), args.clients_table)


def _run(args: argparse.Namespace, work: Callable[[Any], dict[str, Any] | list[dict[str, Any]]]) -> int:
    from auth_service.cli.main import UsageError, dynamodb_trouble
    from auth_service.clients import ClientRecordError

    try:
        result = work(_table(args))
    except ClientRecordError as exc:
        raise UsageError(str(exc)) from None
    except (BotoCoreError, ClientError) as exc:
        trouble = dynamodb_trouble(exc, args, args.clients_table)
        raise UsageError(f"cannot use the clients table: {trouble}") from None
    print(json.dumps(result))
    return 0


def _add(args: argparse.Namespace) -> int:
    jwks = _read_jwks(args.jwks) if args.jwks is not None else None

    def add(table: Any) -> dict[str, Any]:
        client_id, secret = table.add(
            args.name, args.scope, client_id=args.client_id, jwks=jwks, jwks_uri=args.jwks_uri
        )
        stored = table.lookup(client_id)
        return {
            "client_id": client_id,
            **(
                {"client_secret": secret}
                if secret is not None
                else {"token_endpoint_auth_method": "private_key_jwt"}
            ),
            "name": args.name,
            "scope": " ".join(stored.client.scope),
            "grant_types": list(stored.client.grant_types),
        }

    return _run(args, add)


def _read_jwks(path: Path) -> Any:
    from auth_service.cli.main import UsageError

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise UsageError(f'{path} is not JSON (a JWKS: {{"keys": [...]}})') from None


def _list(args: argparse.Namespace) -> int:
    def listing(table: Any) -> list[dict[str, Any]]:
        return [
            {
                "client_id": stored.client.client_id,
                "name": stored.client.name,
                "scope": " ".join(stored.client.scope),
                "grant_types": list(stored.client.grant_types),
                "disabled": stored.disabled,
                "secrets": len(stored.secret_hashes),
                "keys": len(json.loads(stored.jwks)["keys"]) if stored.jwks else 0,
                "created_at": stored.created_at,
            }
            for stored in table.list()
        ]

    return _run(args, listing)


def _rotate(args: argparse.Namespace) -> int:
    def rotate(table: Any) -> dict[str, Any]:
        if args.finish:
            table.drop_previous_secret(args.client_id)
            return {"client_id": args.client_id, "rotation": "finished", "secrets": 1}
        secret = table.rotate_secret(args.client_id)
        return {"client_id": args.client_id, "client_secret": secret, "rotation": "started", "secrets": 2}

    return _run(args, rotate)


def _disable(args: argparse.Namespace) -> int:
    return _run(args, lambda table: _set(table, args.client_id, disabled=True))


def _enable(args: argparse.Namespace) -> int:
    return _run(args, lambda table: _set(table, args.client_id, disabled=False))


def _set(table: Any, client_id: str, *, disabled: bool) -> dict[str, Any]:
    table.set_disabled(client_id, disabled)
    note = "its tokens already issued stay valid: auth-service revoke --client also ends them"
    return {"client_id": client_id, "disabled": disabled, **({"note": note} if disabled else {})}


def _remove(args: argparse.Namespace) -> int:
    def remove(table: Any) -> dict[str, Any]:
        table.remove(args.client_id)
        return {"client_id": args.client_id, "removed": True}

    return _run(args, remove)
