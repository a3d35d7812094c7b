"""`auth-service`: run the service locally, manage users and keys, revoke tokens.

Heavy imports happen inside the subcommand that needs them, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from auth_service.tables import LOCAL_DENYLIST_TABLE, LOCAL_USERS_TABLE

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


class UsageError(Exception):
    """Wrong input from the operator: reported in one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
        return result
    except UsageError as exc:
        print(f"auth-service: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auth-service", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the whole service locally behind an API Gateway emulation")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    serve.add_argument(
        "--users", type=Path, metavar="FILE", help='seed users: {"users": [{"username", ...}]}'
    )
    serve.add_argument("--signing-key", type=Path, metavar="PEM", help="default: an ephemeral RS256 key")
    serve.add_argument("--dynamodb-endpoint", metavar="URL", help="default: an embedded moto server")
    serve.add_argument("--config", type=Path, help="serverless.yml to read routes from")
    serve.add_argument(
        "--cognito",
        action="store_true",
        help="log in through a local Cognito user pool (in the embedded moto server) seeded with --users",
    )
    serve.add_argument(
        "--cookies",
        action="store_true",
        help="browser sessions: logins asking for it get their tokens as cookies (AUTH_COOKIES=on)",
    )
    serve.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="with --cookies: an origin allowed to use the session (repeatable; default: this server's)",
    )
    serve.set_defaults(run=_serve)

    users = commands.add_parser("users", help="manage users of the DynamoDB identity backend")
    users_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = users_commands.add_parser("add", help="add a user; the password is read from a prompt or stdin")
    add.add_argument("username")
    add.add_argument("--scope", default="profile", help='space-separated scopes (default: "profile")')
    _dynamodb_options(add)
    add.set_defaults(run=_users_add)

    keys = commands.add_parser("keys", help="signing keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    generate = keys_commands.add_parser("generate", help="print a new private signing key (PEM)")
    generate.add_argument("--alg", choices=["RS256", "ES256", "EdDSA"], default="RS256")
    generate.add_argument("--out", type=Path, help="write to this file (mode 0600) instead of stdout")
    generate.set_defaults(run=_keys_generate)
    publish = keys_commands.add_parser("jwks", help="print the public JWKS of a key bundle")
    publish.add_argument("pem", type=Path, help="PEM bundle: the signing key first, then retired keys")
    publish.set_defaults(run=_keys_jwks)

    revoke = commands.add_parser("revoke", help="revoke a token, a session or all of a user's tokens")
    target = revoke.add_mutually_exclusive_group(required=True)
    target.add_argument("--jti", help="one token, by its jti")
    target.add_argument("--sid", help="every token of one login session")
    target.add_argument(
        "--user", help="every token of a user (sub, or username of the users table or of the user pool)"
    )
    _dynamodb_options(revoke)
    env = os.environ.get
    revoke.add_argument(
        "--cognito-user-pool-id",
        default=env("AUTH_COGNITO_USER_POOL_ID"),
        metavar="POOL_ID",
        help="--user names a user of this Cognito user pool: also sign them out of Cognito",
    )
    revoke.add_argument("--cognito-endpoint", default=env("AUTH_COGNITO_ENDPOINT"), metavar="URL")
    revoke.add_argument("--cognito-region", default=env("AUTH_COGNITO_REGION"), help="default: --region")
    revoke.set_defaults(run=_revoke)
    return parser


def _dynamodb_options(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("--dynamodb-endpoint", default=env("AUTH_DYNAMODB_ENDPOINT"), metavar="URL")
    parser.add_argument("--region", default=env("AWS_REGION") or env("AWS_DEFAULT_REGION") or "us-east-1")
    parser.add_argument("--users-table", default=env("AUTH_USERS_TABLE") or LOCAL_USERS_TABLE)
    parser.add_argument("--denylist-table", default=env("AUTH_DENYLIST_TABLE") or LOCAL_DENYLIST_TABLE)


def _dynamodb(args: argparse.Namespace) -> Any:
    from auth_service.aws import dynamodb_client

    _credentials_for(args.dynamodb_endpoint)
    return dynamodb_client(args.region, args.dynamodb_endpoint)


def _credentials_for(endpoint: str | None) -> None:
    if endpoint and urlsplit(endpoint).hostname in ("127.0.0.1", "localhost", "::1"):
        from auth_service.local.dynamodb import use_dummy_credentials_if_unset

        # A local endpoint (`auth-service serve`) takes any signature; a new shell has no credentials.
        use_dummy_credentials_if_unset()


def _serve(args: argparse.Namespace) -> int:
    try:
        from auth_service.local.serve import ServeOptions, run
    except ImportError as exc:
        raise UsageError(
            f"serve needs the local extra: pip install 'lambda-jwt-auth[local]' ({exc.name})"
        ) from None
    import logging

    # What CloudWatch would show: the functions' JSON log lines, one per event.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    options = ServeOptions(
        host=args.host,
        port=args.port,
        users_file=args.users,
        signing_key_file=args.signing_key,
        dynamodb_endpoint=args.dynamodb_endpoint,
        cognito=args.cognito,
        cookies=args.cookies,
        allowed_origins=args.allowed_origin,
    )
    if args.config is not None:
        options.config = args.config
    return run(options)


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise UsageError("the passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


def _users_add(args: argparse.Namespace) -> int:
    from auth_service.users import UserError, UserTable, normalize_username

    password = _read_password()
    try:
        sub = UserTable(_dynamodb(args), args.users_table).add(args.username, password, args.scope)
    except UserError as exc:
        raise UsageError(str(exc)) from None
    except (BotoCoreError, ClientError) as exc:
        raise UsageError(f"cannot write to table {args.users_table}: {type(exc).__name__}") from None
    username = normalize_username(args.username)
    print(json.dumps({"username": username, "sub": sub, "scope": " ".join(args.scope.split())}))
    return 0


def _keys_generate(args: argparse.Namespace) -> int:
    from auth_service.keys import generate_private_key_pem, load_key_ring

    pem = generate_private_key_pem(args.alg)
    kid = load_key_ring(pem).current.kid
    if args.out is None:
        sys.stdout.write(pem)
    else:
        try:
            fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise UsageError(f"{args.out} exists already; a signing key is never overwritten") from None
        except OSError as exc:
            raise UsageError(f"cannot write {args.out}: {exc.strerror}") from None
        with os.fdopen(fd, "w") as out:
            out.write(pem)
    print(f"generated {args.alg} key, kid {kid}", file=sys.stderr)
    return 0


def _keys_jwks(args: argparse.Namespace) -> int:
    from auth_service.keys import load_key_ring
    from authorizer.errors import ConfigurationError

    try:
        ring = load_key_ring(args.pem.read_text(encoding="utf-8"))
    except (OSError, ConfigurationError) as exc:
        raise UsageError(f"cannot load {args.pem}: {exc}") from None
    print(json.dumps(ring.jwks(), indent=2))
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from auth_service.denylist import Denylist
    from authorizer.env import EnvReader
    from authorizer.errors import RevocationUnavailableError

    client = _dynamodb(args)
    # Outlive any token the revocation could concern: read the lifetimes as the functions do.
    env = EnvReader(os.environ)
    lifetime = max(
        env.integer("AUTH_ACCESS_TOKEN_TTL", 900, minimum=60),
        env.integer("AUTH_REFRESH_TOKEN_TTL", 2_592_000, minimum=300),
    )
    leeway = env.integer("AUTH_LEEWAY_SECONDS", 30, maximum=300)
    if env.problems:
        raise UsageError("; ".join(env.problems))
    denylist = Denylist(client, args.denylist_table, max_token_lifetime=lifetime, leeway=leeway)
    try:
        if args.jti:
            denylist.revoke_jti(args.jti, "operator")
            result: dict[str, Any] = {"revoked": "token", "jti": args.jti}
        elif args.sid:
            denylist.revoke_session(args.sid, "operator")
            result = {"revoked": "session", "sid": args.sid}
        elif args.cognito_user_pool_id:
            return _revoke_cognito_user(args, denylist)
        else:
            sub = _resolve_user(args, client)
            not_before = denylist.revoke_user(sub, "operator")
            result = {"revoked": "user", "sub": sub, "not_before": not_before}
    except RevocationUnavailableError as exc:
        print(f"auth-service: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


def _revoke_cognito_user(args: argparse.Namespace, denylist: Any) -> int:
    """Our tokens (and the pool's, by `sub`) refused from now on, then Cognito's own sign-out."""
    from auth_service.cognito_admin import CognitoAdminError, find_user, global_sign_out
    from auth_service.cognito_client import cognito_client

    pool_id = args.cognito_user_pool_id
    _credentials_for(args.cognito_endpoint)
    cognito = cognito_client(args.cognito_region or args.region, args.cognito_endpoint)
    try:
        user = find_user(cognito, pool_id, args.user)
    except CognitoAdminError as exc:
        raise UsageError(str(exc)) from None
    not_before = denylist.revoke_user(user.sub, "operator")
    result: dict[str, Any] = {"revoked": "user", "sub": user.sub, "not_before": not_before}
    outcome: dict[str, Any] = {"user_pool_id": pool_id, "username": user.username}
    status = 0
    try:
        global_sign_out(cognito, pool_id, user.username)
        outcome["global_sign_out"] = True
    except CognitoAdminError as exc:
        outcome.update(global_sign_out=False, error=exc.code)
        print(
            f"auth-service: {exc}; our tokens are revoked, Cognito's refresh tokens are not", file=sys.stderr
        )
        status = 1
    result["cognito"] = outcome
    print(json.dumps(result))
    return status


def _resolve_user(args: argparse.Namespace, client: Any) -> str:
    if _UUID.fullmatch(args.user):
        return str(args.user).lower()
    from auth_service.users import normalize_username

    try:
        item = client.get_item(
            TableName=args.users_table, Key={"username": {"S": normalize_username(args.user)}}
        )
    except (BotoCoreError, ClientError) as exc:
        raise UsageError(
            f"cannot look {args.user!r} up in table {args.users_table}: {type(exc).__name__}"
        ) from None
    if "Item" not in item:
        raise UsageError(f"no user {args.user!r} in table {args.users_table}; pass the user's sub instead")
    return str(item["Item"]["sub"]["S"])


if __name__ == "__main__":
    sys.exit(main())
