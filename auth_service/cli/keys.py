"""`auth-service keys init|status|rotate|revoke|settings`: the deployed key set (key_rotation)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auth_service.key_set import DEFAULT_PROPAGATION_SECONDS, DEFAULT_RETIRE_AFTER_SECONDS, NewKeys


def register(keys_commands: Any) -> None:
    """Add the key set commands to `auth-service keys`."""
    init = keys_commands.add_parser("init", help="create the deployed key set with its first signing key")
    init.add_argument(
        "--source", choices=["kms", "pem"], default="kms", help="where new keys live (default: kms)"
    )
    init.add_argument("--alg", choices=["RS256", "ES256"], default="RS256")
    init.add_argument(
        "--from-pem",
        type=Path,
        metavar="FILE",
        help="start from an existing PEM bundle (its first key signs, the others are retired)",
    )
    init.add_argument(
        "--propagation-seconds",
        type=int,
        default=DEFAULT_PROPAGATION_SECONDS,
        help="how long a new key is published before it signs: at least AUTH_KEYS_MAX_AGE_SECONDS "
        "plus the authorizer result TTL; 3600 or more if API Gateway's own JWT authorizer trusts us "
        f"(default: {DEFAULT_PROPAGATION_SECONDS})",
    )
    init.add_argument(
        "--retire-after-seconds",
        type=int,
        default=DEFAULT_RETIRE_AFTER_SECONDS,
        help="how long a retired key stays published: the longest token lifetime plus the leeway "
        f"(default: {DEFAULT_RETIRE_AFTER_SECONDS}, 30 days and 30 s)",
    )
    _store_options(init)
    init.set_defaults(run=_init)

    status = keys_commands.add_parser(
        "status", help="the keys of the key set, their states, and the next step"
    )
    _store_options(status)
    status.set_defaults(run=_status)

    rotate = keys_commands.add_parser(
        "rotate",
        help="one step of the rotation: publish a next key, or make it sign once every verifier has it",
    )
    _store_options(rotate)
    rotate.set_defaults(run=_rotate)

    revoke = keys_commands.add_parser(
        "revoke", help="compromise: remove a key now; every token it signed is refused within the bound"
    )
    revoke.add_argument("kid")
    _store_options(revoke)
    revoke.set_defaults(run=_revoke)

    settings = keys_commands.add_parser(
        "settings", help="change the key set's propagation or retirement bound"
    )
    settings.add_argument("--propagation-seconds", type=int)
    settings.add_argument("--retire-after-seconds", type=int)
    _store_options(settings)
    settings.set_defaults(run=_settings)


def _store_options(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("--stage", default="dev", help="the deployed stage (default: dev)")
    parser.add_argument(
        "--signing-key-parameter", help="default: /lambda-jwt-auth/STAGE/signing-key (serverless.yml)"
    )
    parser.add_argument("--jwks-parameter", help="default: /lambda-jwt-auth/STAGE/jwks")
    parser.add_argument("--region", default=env("AWS_REGION") or env("AWS_DEFAULT_REGION") or "us-east-1")
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="an SSM and KMS endpoint other than AWS's: the one `auth-service serve --signing-key kms` "
        "prints (default: AWS_ENDPOINT_URL_SSM / AWS_ENDPOINT_URL_KMS, else AWS)",
    )


def store_for(args: argparse.Namespace) -> Any:
    from auth_service.key_rotation import KeyStore

    return KeyStore(
        _client("ssm", args),
        lambda: _client("kms", args),
        signing_parameter=args.signing_key_parameter or f"/lambda-jwt-auth/{args.stage}/signing-key",
        jwks_parameter=args.jwks_parameter or f"/lambda-jwt-auth/{args.stage}/jwks",
    )


def _client(service: str, args: argparse.Namespace) -> Any:
    import boto3

    from auth_service.aws import ISSUING_CONFIG

    if args.endpoint_url:
        from auth_service.local.dynamodb import use_dummy_credentials_if_unset

        use_dummy_credentials_if_unset()  # a local moto endpoint takes any signature
    session: Any = boto3.session.Session()
    return session.client(
        service, region_name=args.region, endpoint_url=args.endpoint_url, config=ISSUING_CONFIG
    )


def _init(args: argparse.Namespace) -> int:
    from auth_service import key_rotation

    pem = None
    if args.from_pem is not None:
        try:
            pem = args.from_pem.read_text(encoding="utf-8")
        except OSError as exc:
            from auth_service.cli.main import UsageError

            raise UsageError(f"cannot read {args.from_pem}: {exc.strerror}") from None
    new_keys = NewKeys(source=args.source, alg=args.alg, alias_prefix=f"alias/lambda-jwt-auth/{args.stage}/")
    return _run(
        lambda store: (
            key_rotation.initialise(
                store,
                new_keys,
                int(time.time()),
                propagation_seconds=args.propagation_seconds,
                retire_after_seconds=args.retire_after_seconds,
                from_pem=pem,
            ).lines
        ),
        args,
    )


def _status(args: argparse.Namespace) -> int:
    from auth_service import key_rotation

    return _run(lambda store: key_rotation.describe(store, int(time.time())), args)


def _rotate(args: argparse.Namespace) -> int:
    from auth_service import key_rotation

    def step(store: Any) -> tuple[str, ...]:
        outcome = key_rotation.rotate(store, int(time.time()))
        if outcome.action == "waiting":  # refused: say why and when, exit 1
            from auth_service.cli.main import CommandFailed

            raise CommandFailed("\n".join(outcome.lines))
        return outcome.lines

    return _run(step, args)


def _revoke(args: argparse.Namespace) -> int:
    from auth_service import key_rotation

    return _run(lambda store: key_rotation.revoke(store, args.kid, int(time.time())).lines, args)


def _settings(args: argparse.Namespace) -> int:
    from auth_service import key_rotation

    if args.propagation_seconds is None and args.retire_after_seconds is None:
        from auth_service.cli.main import UsageError

        raise UsageError("give --propagation-seconds and/or --retire-after-seconds")
    return _run(
        lambda store: (
            key_rotation.change_settings(
                store,
                propagation_seconds=args.propagation_seconds,
                retire_after_seconds=args.retire_after_seconds,
            ).lines
        ),
        args,
    )


def _run(step: Callable[[Any], Any], args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from auth_service.cli.main import CommandFailed
    from auth_service.key_set import KeySetError
    from authorizer.errors import ConfigurationError

    store = store_for(args)
    where = args.endpoint_url or f"AWS ({args.region})"
    try:
        lines = step(store)
    except CommandFailed:
        raise
    except (KeySetError, ConfigurationError) as exc:
        raise CommandFailed(str(exc)) from None
    except (BotoCoreError, ClientError) as exc:
        raise CommandFailed(
            f"{store.signing_parameter} / {store.jwks_parameter} at {where}: {exc} "
            "(locally: --endpoint-url with the URL `auth-service serve --signing-key kms` prints)"
        ) from None
    for line in lines:
        print(line, file=sys.stdout)
    return 0
