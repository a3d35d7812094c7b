"""`auth-service serve`: the functions of serverless.yml behind a local HTTP API, with DynamoDB.

Order matters: the socket is bound first, because the token issuer is the server's own URL and
the handlers read it from the environment when they are first imported; then the environment is
set, DynamoDB started and its tables created, users seeded, and only then are requests served.
Each function runs in up to `containers` processes of its own, started on demand
(lambda_runtime.py), all reaching the same DynamoDB endpoint. SIGINT and SIGTERM stop everything
cleanly, every container included (exit status 0).

With `cognito`, logins go through a user pool in the embedded moto server instead of the user
table: the users are seeded there, and the authorizer also trusts the pool's access tokens.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from auth_service.local.container_limits import ContainerLimits
from auth_service.local.container_template import ContainerTemplate
from auth_service.local.demo_page import DemoPageInFront
from auth_service.local.dynamodb import (
    EmbeddedDynamoDB,
    dynamodb_client,
    prepare_tables,
    use_dummy_credentials_if_unset,
)
from auth_service.local.gateway import HttpApiGateway
from auth_service.local.http_server import LocalHttpServer
from auth_service.local.service_definition import ServiceDefinitionError, load_service_definition
from auth_service.local.users_file import (
    SeedClient,
    SeedUser,
    UsersDocument,
    UsersFileError,
    read_users_document,
    seed_clients,
    seed_users,
)
from auth_service.tables import LOCAL_CLIENTS_TABLE
from authorizer.env import EnvReader
from authorizer.gateway.config import CookieSettings, cookies_enabled

if TYPE_CHECKING:
    from auth_service.local.cognito import LocalUserPool

LOCAL_AUDIENCE = "lambda-jwt-auth-api"
LOCAL_DENYLIST_TABLE = "lambda-jwt-auth-local-denylist"
LOCAL_USERS_TABLE = "lambda-jwt-auth-local-users"
LOCAL_REGION = "us-east-1"
# `serve` decides where keys come from; leftovers from the shell would conflict with that choice.
_KEY_SOURCE_VARIABLES = (
    "AUTH_SIGNING_KEY_FILE",
    "AUTH_SIGNING_KEY_SSM_PARAMETER",
    "AUTH_SIGNING_KEY_SECRET_ID",
    "AUTH_JWKS_FILE",
    "AUTH_JWKS_SSM_PARAMETER",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_KMS",
)
_REPO_ROOT = Path(__file__).resolve().parents[2]


def default_config_path() -> Path:
    """serverless.yml in the current directory, else the one at the root of this repository."""
    here = Path.cwd() / "serverless.yml"
    return here if here.is_file() else _REPO_ROOT / "serverless.yml"


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    users_file: Path | None = None
    signing_key_file: Path | None = None
    # Sign with a KMS key of the embedded moto server, the key set kept in its SSM (as deployed).
    kms_signing: bool = False
    dynamodb_endpoint: str | None = None
    config: Path = field(default_factory=default_config_path)
    cognito: bool = False  # log in through a local Cognito user pool
    # Browser sessions: tokens in cookies (also on with AUTH_COOKIES=on in the environment).
    cookies: bool = False
    allowed_origins: list[str] = field(default_factory=list)  # default: this server's own origins
    # How many containers (processes) each function may run at once.
    containers: ContainerLimits = field(default_factory=ContainerLimits)
    # The functions' CloudWatch EMF lines, one per request, on this console (serverless.yml's
    # metricsNamespace); off by default: nothing locally reads them.
    metrics: bool = False


class ServeError(Exception):
    """`serve` cannot start; the message says why (and never contains a secret)."""


def run(
    options: ServeOptions,
    *,
    stop: threading.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM (or until `stop` is set); returns the exit status.

    `stop` and `on_ready` (called with the URL once requests are served) let tests run this in
    a thread, where signal handlers cannot be installed.
    """
    stop = stop or threading.Event()
    with _stop_on_signals(stop), _restored_process_state():
        try:
            return _serve(options, stop, on_ready)
        except (ServeError, ServiceDefinitionError, UsersFileError) as exc:
            print(f"auth-service serve: {exc}", file=sys.stderr, flush=True)
            return 2


def _serve(options: ServeOptions, stop: threading.Event, on_ready: Callable[[str], None] | None) -> int:
    # Read as the functions read it, so the gateway and the functions agree on cookie mode.
    cookies = options.cookies or cookies_enabled(EnvReader(os.environ))
    if options.allowed_origins and not cookies:
        raise ServeError("--allowed-origin is for browser sessions: add --cookies (or set AUTH_COOKIES=on)")
    if options.allowed_origins:  # checked as the functions will check them, before listening
        env = EnvReader({"AUTH_COOKIES": "on", "AUTH_ALLOWED_ORIGINS": ",".join(options.allowed_origins)})
        CookieSettings.read(env)
        prefix = "AUTH_ALLOWED_ORIGINS: "
        bad = [p.removeprefix(prefix) for p in env.problems if p.startswith(prefix)]
        if bad:  # (that none is left is a consequence, not worth saying)
            raise ServeError("--allowed-origin " + "; ".join(bad))
    # As `--param="cookies=on"` deploys it: the authorizer without identity sources (serverless.yml).
    definition = load_service_definition(options.config, {"cookies": "on"} if cookies else None)
    _set_metrics(options.metrics)
    document = read_users_document(options.users_file) if options.users_file else UsersDocument([])
    users = document.users
    keys = _signing_keys(options.signing_key_file)

    # Nothing is started by building the gateway: functions cold-start on their first request.
    template = ContainerTemplate()
    try:
        api = HttpApiGateway(definition, containers=options.containers, template=template)
    except ValueError as exc:
        raise ServeError(str(exc)) from None
    try:
        server = LocalHttpServer(DemoPageInFront(api), options.host, options.port)
    except OSError as exc:
        raise ServeError(f"cannot listen on {options.host}:{options.port}: {exc.strerror}") from None
    embedded: EmbeddedDynamoDB | None = None
    cognito_server: EmbeddedDynamoDB | None = None  # only with --cognito and --dynamodb-endpoint
    pool: LocalUserPool | None = None
    try:
        url = f"http://{_issuer_host(options.host)}:{server.port}"
        _set_environment(url, keys)
        if cookies:
            _set_cookie_environment(server.port, options.allowed_origins)

        if options.dynamodb_endpoint:
            endpoint = options.dynamodb_endpoint
        else:
            embedded = EmbeddedDynamoDB()
            endpoint = embedded.start()
        os.environ["AUTH_DYNAMODB_ENDPOINT"] = endpoint
        client = dynamodb_client(endpoint, os.environ["AWS_REGION"])
        try:
            prepare_tables(
                client, denylist=LOCAL_DENYLIST_TABLE, users=LOCAL_USERS_TABLE, clients=LOCAL_CLIENTS_TABLE
            )
        except (BotoCoreError, ClientError) as exc:
            raise ServeError(f"cannot prepare the tables at {endpoint}: {exc}") from None
        moto_endpoint = endpoint
        if (options.cognito or options.kms_signing) and embedded is None:
            cognito_server = EmbeddedDynamoDB()  # a moto server: it serves Cognito, KMS and SSM too
            moto_endpoint = cognito_server.start()
        key_set = _start_kms_key_set(moto_endpoint) if options.kms_signing else None
        if options.cognito:
            pool = _start_user_pool(moto_endpoint, users, document.group_scopes)
        elif users:
            print("Seeding users:", flush=True)
            seed_users(client, LOCAL_USERS_TABLE, users, lambda line: print(line, flush=True))
        if document.clients:
            print("Registering clients:", flush=True)
            seed_clients(client, LOCAL_CLIENTS_TABLE, document.clients, lambda line: print(line, flush=True))

        server.start()
        # Functions no HTTP request reaches (rotateKeys: an EventBridge schedule runs it) are left
        # out of the banner: serve never starts them.
        reached = {route.function for route in definition.routes}
        reached |= {authorizer.function for authorizer in definition.authorizers.values()}
        containers = {name: pool.max_containers for name, pool in api.pools.items() if name in reached}
        _print_banner(
            url,
            endpoint,
            embedded is not None,
            keys.ephemeral,
            users,
            containers,
            pool,
            document.clients,
            key_set,
        )
        if cookies:
            origins = os.environ["AUTH_ALLOWED_ORIGINS"]
            print(f"Browser sessions (cookies) on; allowed origins: {origins}", flush=True)
            # localhost: a secure context, where browsers keep Secure cookies sent over http.
            print(f"  demo page: http://localhost:{server.port}/demo/", flush=True)
        if on_ready is not None:
            on_ready(url)
        # A timeout keeps the main thread responsive to signals on every platform.
        while not stop.wait(0.5):
            pass
        print("lambda-jwt-auth stopping", flush=True)
        return 0
    finally:
        server.shutdown()
        api.close()
        template.close()
        if embedded is not None:
            embedded.stop()
        if cognito_server is not None:
            cognito_server.stop()


LOCAL_SIGNING_KEY_PARAMETER = "/lambda-jwt-auth/local/signing-key"
LOCAL_JWKS_PARAMETER = "/lambda-jwt-auth/local/jwks"
# Locally, keys are re-read every 5 s, so a rotation can be watched (deployed: 300 s).
LOCAL_KEYS_MAX_AGE_SECONDS = "5"


def _start_kms_key_set(endpoint: str) -> str:
    """A KMS signing key in the moto server and the key set in its SSM, read by the functions as
    deployed ones read theirs; returns the banner lines."""
    import time

    from auth_service import key_rotation
    from auth_service.key_set import NewKeys
    from authorizer.gateway.config import DEFAULT_LEEWAY_SECONDS

    region = os.environ["AWS_REGION"]
    session = boto3.session.Session()
    store = key_rotation.KeyStore(
        session.client("ssm", region_name=region, endpoint_url=endpoint),
        lambda: session.client("kms", region_name=region, endpoint_url=endpoint),
        signing_parameter=LOCAL_SIGNING_KEY_PARAMETER,
        jwks_parameter=LOCAL_JWKS_PARAMETER,
    )
    max_age = int(os.environ.setdefault("AUTH_KEYS_MAX_AGE_SECONDS", LOCAL_KEYS_MAX_AGE_SECONDS))
    lifetime = int(os.environ.get("AUTH_REFRESH_TOKEN_TTL") or 2_592_000) + DEFAULT_LEEWAY_SECONDS
    try:
        outcome = key_rotation.initialise(
            store,
            NewKeys(source="kms", alg="RS256", alias_prefix="alias/lambda-jwt-auth/local/"),
            int(time.time()),
            propagation_seconds=max_age + 5,
            retire_after_seconds=lifetime,
        )
    except (BotoCoreError, ClientError) as exc:
        raise ServeError(f"cannot create the KMS signing key at {endpoint}: {exc}") from None
    for name in ("AUTH_SIGNING_KEY", "AUTH_JWKS"):
        os.environ.pop(name)
    os.environ.update(
        {
            "AUTH_SIGNING_KEY_SSM_PARAMETER": LOCAL_SIGNING_KEY_PARAMETER,
            "AUTH_JWKS_SSM_PARAMETER": LOCAL_JWKS_PARAMETER,
            "AWS_ENDPOINT_URL_SSM": endpoint,
            "AWS_ENDPOINT_URL_KMS": endpoint,
        }
    )
    return "\n".join(
        [
            f"  signing key: in KMS (embedded moto at {endpoint}), {outcome.lines[0]}",
            f"    key set: SSM {LOCAL_SIGNING_KEY_PARAMETER}, JWKS: SSM {LOCAL_JWKS_PARAMETER}; "
            f"re-read every {max_age} s",
            f"    rotate: auth-service keys rotate --stage local --endpoint-url {endpoint}",
        ]
    )


def _start_user_pool(endpoint: str, users: list[SeedUser], group_scopes: dict[str, str]) -> LocalUserPool:
    from auth_service.local.cognito import create_local_user_pool

    print("Creating the Cognito user pool" + (" and seeding users:" if users else ""), flush=True)
    try:
        pool = create_local_user_pool(
            endpoint, os.environ["AWS_REGION"], users, lambda line: print(line, flush=True)
        )
    except (BotoCoreError, ClientError) as exc:
        raise ServeError(f"cannot create the Cognito user pool at {endpoint}: {exc}") from None
    # This run decides the pool: a client secret left over in the shell would not match it.
    os.environ.pop("AUTH_COGNITO_CLIENT_SECRET", None)
    default_scope = os.environ.get("AUTH_COGNITO_DEFAULT_SCOPE") or "profile"
    os.environ.update(pool.environment(group_scopes, default_scope))
    return pool


@dataclass(frozen=True)
class _Keys:
    private_pem: str = field(repr=False)
    public_jwks: str  # what the authorizer verifies with
    ephemeral: bool  # generated for this run only


def _signing_keys(path: Path | None) -> _Keys:
    from auth_service.keys import generate_private_key_pem, load_key_ring
    from authorizer.errors import ConfigurationError

    if path is None:
        pem, ephemeral = generate_private_key_pem("RS256"), True
    else:
        try:
            pem, ephemeral = path.read_text(encoding="utf-8"), False
        except OSError as exc:
            raise ServeError(f"cannot read the signing key {path}: {exc.strerror}") from None
    try:
        ring = load_key_ring(pem)
    except (ConfigurationError, ValueError) as exc:  # messages describe the key, never quote it
        raise ServeError(f"{path}: not a usable signing key ({exc})") from None
    return _Keys(pem, json.dumps(ring.jwks()), ephemeral)


def _set_metrics(on: bool) -> None:
    # The namespace and service a deployed stack's functions write to (serverless.yml), or none.
    if on:
        os.environ.update({"AUTH_METRICS_NAMESPACE": "LambdaJwtAuth", "AUTH_METRICS_SERVICE": "local"})
    else:
        for name in ("AUTH_METRICS_NAMESPACE", "AUTH_METRICS_SERVICE"):
            os.environ.pop(name, None)


def _issuer_host(host: str) -> str:
    # A wildcard address is where we listen, not an address a client can use (or an issuer).
    if host in ("", "0.0.0.0"):  # noqa: S104 - recognising the wildcard, not binding to it
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _set_environment(url: str, keys: _Keys) -> None:
    for name in _KEY_SOURCE_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AUTH_ISSUER": url,
            "AUTH_DENYLIST_TABLE": LOCAL_DENYLIST_TABLE,
            "AUTH_USERS_TABLE": LOCAL_USERS_TABLE,
            "AUTH_CLIENTS_TABLE": LOCAL_CLIENTS_TABLE,
            "AUTH_SIGNING_KEY": keys.private_pem,
            # The authorizer verifies with public keys only: those of the signing key.
            "AUTH_JWKS": keys.public_jwks,
        }
    )
    os.environ.setdefault("AUTH_AUDIENCE", LOCAL_AUDIENCE)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or LOCAL_REGION
    os.environ.setdefault("AWS_REGION", region)
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    use_dummy_credentials_if_unset()


def _set_cookie_environment(port: int, allowed_origins: list[str]) -> None:
    os.environ["AUTH_COOKIES"] = "on"
    if allowed_origins:
        os.environ["AUTH_ALLOWED_ORIGINS"] = ",".join(allowed_origins)
    else:
        # A browser on http://localhost:<port>/demo/ sends that Origin; 127.0.0.1 is the issuer's.
        os.environ.setdefault("AUTH_ALLOWED_ORIGINS", f"http://localhost:{port},http://127.0.0.1:{port}")


def _print_banner(
    url: str,
    endpoint: str,
    embedded: bool,
    ephemeral: bool,
    users: list[SeedUser],
    containers: Mapping[str, int],
    pool: LocalUserPool | None = None,
    clients: Sequence[SeedClient] = (),
    key_set: str | None = None,
) -> None:
    username = users[0].username if users else "<username>"
    # The password is read from a prompt, not pasted into the command: a literal placeholder posted
    # as is would count as a failed login toward the lockout (login throttling).
    json_header = "content-type: application/json"
    login_body = (
        "python3 -c 'import json,os; print(json.dumps("
        f'{{"username": {json.dumps(username)}, "password": os.environ["PASSWORD"]}}))\''
    )
    extract = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"{}\"])'"
    where = " in the Cognito user pool" if pool is not None else ""
    lines = [
        f"lambda-jwt-auth listening on {url}",
        f"  DynamoDB: {endpoint}{' (embedded moto, in memory)' if embedded else ''}",
        key_set
        or "  signing key: " + ("ephemeral RS256, new on every start" if ephemeral else "from --signing-key"),
        f"  users: {len(users)} seeded{where}" if users else "  users: none (pass --users FILE to add some)",
        f"  machine clients: {len(clients)} registered" if clients else "  machine clients: none",
        "  containers per function (processes, started on demand): "
        + ", ".join(f"{name} {count}" for name, count in containers.items()),
    ]
    if pool is not None:
        lines += [
            f"  Cognito user pool: {pool.user_pool_id} (issuer {pool.issuer})",
            f"  Cognito app client: {pool.client_id}",
            f"  Cognito endpoint: {pool.endpoint} (embedded moto, in memory)",
        ]
    lines += [
        "",
        "Try it:",
        f"  printf 'password of {username}: ' && read -rs PASSWORD && echo && export PASSWORD",
        f"  TOKENS=$({login_body} | curl -s -X POST {url}/auth/login -H '{json_header}' -d @-)",
        f'  ACCESS=$(echo "$TOKENS" | {extract.format("access_token")})',
        f'  REFRESH=$(echo "$TOKENS" | {extract.format("refresh_token")})',
        f'  curl -s {url}/me -H "authorization: Bearer $ACCESS"',
        f"  curl -s -X POST {url}/auth/refresh -H 'content-type: application/json'"
        ' -d "{\\"refresh_token\\": \\"$REFRESH\\"}"',
        f'  curl -s -X POST {url}/auth/logout -H "authorization: Bearer $ACCESS"',
        "  # locked out after wrong passwords (429 slow_down)? end it now:",
        f"  auth-service unlock --all-users --dynamodb-endpoint {endpoint}"
        + ("" if ephemeral else f"   # or: unlock {username} --signing-key <the --signing-key file>"),
    ]
    if clients:
        machine = clients[0]
        lines += [
            f"  # a machine token for client {machine.client_id!r} (OAuth client_credentials, HTTP Basic):",
            f"  curl -s -u '{machine.client_id}:<client_secret>'"
            f" -d grant_type=client_credentials {url}/auth/token",
        ]
    if pool is not None:
        lines += [
            "  # a Cognito ID token ($ID_TOKEN, from InitiateAuth on the endpoint above) for a pair of ours:",
            f"  curl -s -X POST {url}/auth/token"
            " -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange"
            ' -d "subject_token=$ID_TOKEN"'
            " -d subject_token_type=urn:ietf:params:oauth:token-type:id_token",
        ]
    lines += [
        "",
        "Press Ctrl+C to stop.",
    ]
    print("\n".join(lines), flush=True)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Callable[[int, FrameType | None], object] | int | None] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, request_stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def _restored_process_state() -> Iterator[None]:
    """Put os.environ back afterwards, so in-process callers (tests) see no change."""
    environ = dict(os.environ)
    try:
        yield
    finally:
        with suppress(Exception):
            os.environ.clear()
            os.environ.update(environ)
