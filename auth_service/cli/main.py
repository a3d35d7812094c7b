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
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from auth_service.cli import clients as cli_clients
from auth_service.cli import keys as cli_keys
from auth_service.cli import unlock as cli_unlock
from auth_service.tables import LOCAL_CLIENTS_TABLE, LOCAL_DENYLIST_TABLE, LOCAL_USERS_TABLE

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# A compact JWS or JWE: base64url segments, the first a JSON header ("eyJ" is `{"`).
_TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*){2,4}")
_MAX_ECHOED = 64  # longer values are not repeated back: they may be pasted secrets
_MAX_SUB = 255  # OpenID Connect: a `sub` is at most 255 ASCII characters


class UsageError(Exception):
    """Wrong input from the operator: reported in one line, exit status 2."""


class CommandFailed(Exception):
    """The command could not do what was asked (nothing, or only part of it, was done): exit 1."""



def _port(text: str) -> int:
    """A TCP port for argparse: 0-65535 (0: any free port), or a usage error that says so."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535 (0 picks a free port), got {port}")
    return port

def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
        return result
    except UsageError as exc:
        print(f"auth-service: {exc}", file=sys.stderr)
        return 2
    except CommandFailed as exc:
        print(f"auth-service: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auth-service", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the whole service locally behind an API Gateway emulation")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000, help="0 picks a free port")
    serve.add_argument(
        "--users", type=Path, metavar="FILE", help='seed users: {"users": [{"username", ...}]}'
    )
    serve.add_argument(
        "--signing-key",
        metavar="PEM|kms",
        help="a PEM file, or kms: sign with a KMS key of the embedded moto server, the key set in its "
        "SSM, re-read every 5 s as deployed functions re-read theirs (default: an ephemeral RS256 key)",
    )
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
        "--metrics",
        action="store_true",
        help="print each function's CloudWatch metrics (EMF lines, as deployed) on this console",
    )
    serve.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="with --cookies: an origin allowed to use the session (repeatable; default: this server's)",
    )
    from auth_service.local.container_limits import DEFAULT_MAX_CONTAINERS

    serve.add_argument(
        "--containers",
        action="append",
        default=[],
        metavar="N|FUNCTION=N",
        help="containers (processes) a function may run at once, started on demand: N for every"
        f" function, FUNCTION=N for one (repeatable; default: {DEFAULT_MAX_CONTAINERS})",
    )
    serve.set_defaults(run=_serve)

    users = commands.add_parser("users", help="manage users of the DynamoDB identity backend")
    users_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = users_commands.add_parser("add", help="add a user; the password is read from a prompt or stdin")
    add.add_argument("username")
    add.add_argument("--scope", default="profile", help='space-separated scopes (default: "profile")')
    _dynamodb_options(add)
    add.set_defaults(run=_users_add)

    cli_clients.register(commands, _dynamodb_options)
    cli_unlock.add_parser(commands, _dynamodb_options)

    keys = commands.add_parser("keys", help="signing keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    generate = keys_commands.add_parser("generate", help="print a new private signing key (PEM)")
    generate.add_argument("--alg", choices=["RS256", "ES256", "EdDSA"], default="RS256")
    generate.add_argument("--out", type=Path, help="write to this file (mode 0600) instead of stdout")
    generate.set_defaults(run=_keys_generate)
    publish = keys_commands.add_parser("jwks", help="print the public JWKS of a key bundle")
    publish.add_argument("pem", type=Path, help="PEM bundle: the signing key first, then retired keys")
    publish.set_defaults(run=_keys_jwks)
    cli_keys.register(keys_commands)

    revoke = commands.add_parser(
        "revoke", help="revoke a token, a session, a machine client's tokens, or sign a user out everywhere"
    )
    target = revoke.add_mutually_exclusive_group(required=True)
    target.add_argument("--jti", help="one token, by its jti (a UUID, as ours and Cognito's are)")
    target.add_argument("--sid", help="every token of one login session, by its sid (a UUID)")
    target.add_argument(
        "--user",
        metavar="USERNAME",
        help="every session of a user, by username: of the users table, or of the user pool "
        "with --cognito-user-pool-id",
    )
    target.add_argument(
        "--sub", help="every session of a user, by the `sub` their tokens carry (any trusted issuer's)"
    )
    target.add_argument(
        "--client", metavar="CLIENT_ID", help="every token of a machine client (of the clients table)"
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
    parser.add_argument("--clients-table", default=env("AUTH_CLIENTS_TABLE") or LOCAL_CLIENTS_TABLE)


def connect(args: argparse.Namespace) -> Any:
    """The DynamoDB client of a command's --dynamodb-endpoint and --region."""
    return _dynamodb(args)


def _dynamodb(args: argparse.Namespace) -> Any:
    from auth_service.aws import dynamodb_client

    _credentials_for(args.dynamodb_endpoint)
    return dynamodb_client(args.region, args.dynamodb_endpoint)


def dynamodb_trouble(exc: Exception, args: argparse.Namespace, table: str) -> str:
    """What a failed DynamoDB call tried (the table, where), why, and what to do about it."""
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    where = args.dynamodb_endpoint or f"AWS DynamoDB in {args.region}"
    local = "auth-service serve prints its endpoint as 'DynamoDB: http://127.0.0.1:PORT'"
    if isinstance(exc, NoCredentialsError):
        hint = (
            "no AWS credentials found; for a deployed stage configure them (aws configure, AWS_PROFILE), "
            f"for the local server pass --dynamodb-endpoint URL ({local})"
        )
    elif isinstance(exc, EndpointConnectionError):
        hint = f"nothing answers there; is the server running? ({local})"
    else:
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
        hint = code or "the request failed"
        if code == "ResourceNotFoundException":
            hint = "no such table there; name the stage's (--users-table, --denylist-table, --clients-table)"
    return f"table {table} at {where}: {type(exc).__name__}: {hint}"


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

    from auth_service.local.container_limits import ContainerLimits

    try:
        containers = ContainerLimits.parse(args.containers)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    # What CloudWatch would show: the functions' JSON log lines, one per event.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    options = ServeOptions(
        host=args.host,
        port=args.port,
        users_file=args.users,
        signing_key_file=None if args.signing_key in (None, "kms") else Path(args.signing_key),
        kms_signing=args.signing_key == "kms",
        dynamodb_endpoint=args.dynamodb_endpoint,
        cognito=args.cognito,
        cookies=args.cookies,
        allowed_origins=args.allowed_origin,
        containers=containers,
        metrics=args.metrics,
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
        raise UsageError(f"cannot add the user: {dynamodb_trouble(exc, args, args.users_table)}") from None
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
    from authorizer.tokens.revocation import jti_key, sid_key

    # Everything the operator typed is checked before anything is written.
    jti = _uuid_argument("--jti", "jti", args.jti) if args.jti is not None else None
    sid = _uuid_argument("--sid", "sid", args.sid) if args.sid is not None else None
    sub = _sub_argument(args.sub) if args.sub is not None else None
    if args.user is not None and not args.user.strip():
        raise UsageError("--user needs a username")
    # Outlive any token the revocation could concern: read the lifetimes as the functions do.
    env = EnvReader(os.environ)
    lifetime = max(
        env.integer("AUTH_ACCESS_TOKEN_TTL", 900, minimum=60),
        env.integer("AUTH_REFRESH_TOKEN_TTL", 2_592_000, minimum=300),
    )
    leeway = env.integer("AUTH_LEEWAY_SECONDS", 30, maximum=300)
    if env.problems:
        raise UsageError("; ".join(env.problems))
    client = _dynamodb(args)
    denylist = Denylist(client, args.denylist_table, max_token_lifetime=lifetime, leeway=leeway)
    try:
        if jti is not None:
            expires_at = denylist.revoke_jti(jti, "operator")
            result: dict[str, Any] = {
                "revoked": "token",
                "jti": jti,
                "item": jti_key(jti),
                "expires_at": expires_at,
            }
        elif sid is not None:
            expires_at = denylist.revoke_session(sid, "operator")
            result = {"revoked": "session", "sid": sid, "item": sid_key(sid), "expires_at": expires_at}
        elif args.client is not None:
            result = {**_sign_out(denylist, client, _client_sub(args, client)), "revoked": "client"}
        elif sub is not None:
            result = _sign_out(denylist, client, sub)
            if args.cognito_user_pool_id:
                print(
                    "auth-service: note: --sub writes our denylist only; to also sign a user of the "
                    "pool out at Cognito, use --user USERNAME",
                    file=sys.stderr,
                )
        elif args.cognito_user_pool_id:
            return _revoke_cognito_user(args, denylist, client)
        else:
            username, found = _table_user(args, client)
            result = {"username": username, **_sign_out(denylist, client, found)}
    except RevocationUnavailableError as exc:
        raise CommandFailed(f"{exc}; nothing was revoked") from None
    print(json.dumps(result))
    return 0


def _client_sub(args: argparse.Namespace, client: Any) -> str:
    """The `sub` of a registered client's tokens (its id); a client that is not registered is a
    usage error, never a revocation of nobody."""
    from auth_service.clients import ClientTable

    try:
        stored = ClientTable(client, args.clients_table).lookup(args.client)
    except Exception as exc:  # UnavailableError: the table cannot be read
        raise CommandFailed(f"{exc}; nothing was revoked") from None
    if stored is None:
        raise UsageError(f"no client {args.client[:_MAX_ECHOED]!r} in table {args.clients_table}")
    return stored.client.client_id


def _sign_out(denylist: Any, client: Any, sub: str) -> dict[str, Any]:
    """Write the user's sign-out; what was written, as the JSON output reports it."""
    from authorizer.tokens.revocation import user_key

    clock = _DynamoDBClock(client)
    sign_out = denylist.revoke_user(sub, "operator")
    clock.warn_if_off()
    return {
        "revoked": "user",
        "sub": sub,
        "item": user_key(sub),
        "not_before": sign_out.not_before,
        "signed_out_at": sign_out.signed_out_at,
        "expires_at": sign_out.expires_at,
    }


def _revoke_cognito_user(args: argparse.Namespace, denylist: Any, client: Any) -> int:
    """Our tokens (and the pool's, by `sub`) refused from now on, then Cognito's own sign-out."""
    from auth_service.cognito.admin import CognitoAdminError, find_user, global_sign_out
    from auth_service.cognito.client import cognito_client

    pool_id = args.cognito_user_pool_id
    _credentials_for(args.cognito_endpoint)
    cognito = cognito_client(args.cognito_region or args.region, args.cognito_endpoint)
    try:
        user = find_user(cognito, pool_id, args.user)
    except CognitoAdminError as exc:
        raise CommandFailed(f"{exc}; nothing was revoked") from None
    result: dict[str, Any] = {"username": user.username, **_sign_out(denylist, client, user.sub)}
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


def _table_user(args: argparse.Namespace, client: Any) -> tuple[str, str]:
    """(username, sub) of a user of the users table; `--user` is always a username."""
    from auth_service.users import normalize_username

    username = normalize_username(args.user)
    try:
        item = client.get_item(TableName=args.users_table, Key={"username": {"S": username}})
    except (BotoCoreError, ClientError) as exc:
        raise CommandFailed(
            f"cannot look {args.user!r} up: {dynamodb_trouble(exc, args, args.users_table)}; "
            "nothing was revoked"
        ) from None
    if "Item" not in item:
        raise CommandFailed(
            f"no user {args.user!r} in table {args.users_table}; nothing was revoked "
            "(a Cognito user: pass --cognito-user-pool-id; by the tokens' sub: --sub)"
        )
    return username, str(item["Item"]["sub"]["S"])


def _uuid_argument(option: str, claim: str, value: str) -> str:
    """Our `jti` and `sid` values, and Cognito's, are UUIDs: anything else names no token of ours."""
    if _UUID.fullmatch(value.strip()):
        return value.strip().lower()  # UUIDs are case-insensitive; ours are written in lower case
    raise UsageError(f"{option} must be a UUID (8-4-4-4-12 hex digits), {_described(value, claim)}")


def _sub_argument(value: str) -> str:
    """A `sub` exactly as tokens carry it (case-sensitive); only the obviously wrong is refused."""
    if _TOKEN.fullmatch(value.strip()):
        raise UsageError(f"--sub {_described(value, 'sub')}")
    if not value or len(value) > _MAX_SUB or not value.isprintable() or value != value.strip():
        raise UsageError(
            f"--sub must be 1 to {_MAX_SUB} printable characters without surrounding spaces, "
            f"{_described(value, 'sub')}"
        )
    return value


def _described(value: str, claim: str) -> str:
    """What was given instead, in words: a pasted token or a long value is never repeated back."""
    if _TOKEN.fullmatch(value.strip()):
        return f"not a token: this looks like a JWT; pass its {claim!r} claim (inspect-token shows it)"
    if len(value) > _MAX_ECHOED or not value.isprintable():
        return f"not the {len(value)}-character value given"
    return f"not {value!r}"


class _DynamoDBClock:
    """Compares this machine's clock with DynamoDB's (the `Date` of its answer to the write).

    The "not before" of a sign-out comes from this clock, and sessions are started and judged by
    the functions' clocks: when the two disagree by more than a second, a sign-in close to the
    sign-out may be judged on the wrong side of it. `Date` has whole seconds: only a difference
    that is more than a second whichever way the header was rounded is reported.
    """

    def __init__(self, client: Any) -> None:
        self._seen: tuple[float, float, str] | None = None  # (sent, answered, Date)
        self._sent = 0.0
        client.meta.events.register("before-send.dynamodb.PutItem", self._before_send)
        client.meta.events.register("after-call.dynamodb.PutItem", self._after_call)

    def _before_send(self, **_: Any) -> None:
        self._sent = time.time()

    def _after_call(self, http_response: Any = None, **_: Any) -> None:
        date = http_response.headers.get("Date") if http_response is not None else None
        if date:
            self._seen = (self._sent, time.time(), str(date))

    def warn_if_off(self) -> None:
        if self._seen is None:
            return
        offset = clock_offset(*self._seen)
        if offset is not None:
            way = "ahead of" if offset > 0 else "behind"
            print(
                f"auth-service: warning: this machine's clock is about {abs(offset):.0f} s {way} "
                "DynamoDB's; the sign-out's not_before comes from this clock, so sign-ins that "
                "close to it may be judged on the wrong side of it (README: The revocation delay)",
                file=sys.stderr,
            )


def clock_offset(sent: float, answered: float, date: str, *, tolerance: float = 1.0) -> float | None:
    """About how far our clock is ahead of the server's (negative: behind); None when it may be
    within `tolerance`, or the header cannot be read.

    The server wrote `Date` at a moment that our clock put between `sent` and `answered`, and its
    own clock in [Date, Date + 1): our clock's lead lies between the two bounds below.
    """
    try:
        server = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    least, most = sent - (server + 1), answered - server
    if least > tolerance or most < -tolerance:
        return (least + most) / 2
    return None


if __name__ == "__main__":
    sys.exit(main())
