"""The parts each Lambda function needs, built from configuration once per container.

Handler modules call these at import (cold start); each part is built at most once per process
and only if some function asks for it, so a function never loads what it does not use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from auth_service.aws import ISSUING_CONFIG, dynamodb_client
from auth_service.config import CognitoSettings, ServiceConfig
from auth_service.denylist import Denylist
from auth_service.discovery import TOKEN_ENDPOINT_PATH
from auth_service.keys import KeyRing, LiveKeyRing
from auth_service.live_keys import LiveKeySet, PublishedKeys, Reloading
from auth_service.sessions import Sessions
from auth_service.side_by_side import SideBySide
from auth_service.tokens import TokenIssuer
from authorizer.errors import ConfigurationError
from authorizer.gateway.jwks_source import read_jwks
from authorizer.log import log_event
from authorizer.metrics import Emitter
from authorizer.tokens.keys import KeySet
from authorizer.tokens.revocation import RevocationList
from authorizer.tokens.verifier import ACCESS, REFRESH, TokenType, TokenVerifier

if TYPE_CHECKING:
    from auth_service.client_auth import ClientAuthenticator
    from auth_service.cognito.login import CognitoLogin
    from auth_service.cognito.revoke import CognitoRefreshTokenRevoker
    from auth_service.cognito.token_exchange import TokenExchange
    from auth_service.cookies import SessionCookies
    from auth_service.users import UserTable
    from authorizer.tokens.jwks_cache import JwksCache

T = TypeVar("T")


@cache
def config() -> ServiceConfig:
    return ServiceConfig.from_env()


@cache
def metrics() -> Emitter:
    """The function's CloudWatch metrics (AUTH_METRICS_NAMESPACE; unset: none are written)."""
    common = config().common
    return Emitter(common.metrics_namespace, common.metrics_service)


@cache
def key_ring() -> LiveKeyRing:
    """The signing keys, re-read once AUTH_KEYS_MAX_AGE_SECONDS old (auth_service.live_keys)."""
    from auth_service.key_source import read_key_ring

    cfg = config()
    source = cfg.signing_key
    if source is None:
        raise ConfigurationError(
            "this function signs tokens: set AUTH_SIGNING_KEY, AUTH_SIGNING_KEY_FILE, "
            "AUTH_SIGNING_KEY_SSM_PARAMETER or AUTH_SIGNING_KEY_SECRET_ID"
        )
    common = cfg.common

    def load() -> KeyRing:
        return read_key_ring(
            source,
            common.region,
            max_age=common.keys_max_age_seconds,
            token_lifetime=max(cfg.refresh_token_ttl, cfg.access_token_ttl) + common.leeway,
        )

    return LiveKeyRing(_reloading(load, f"the signing keys ({source.kind.value})"))


@cache
def key_set() -> LiveKeySet:
    """The public keys we publish and verify with: configured (AUTH_JWKS...), or derived from
    the signing keys; re-read as they age, and on an unknown `kid`."""
    common = config().common

    def load() -> PublishedKeys:
        if common.jwks is None:
            document = key_ring().jwks()
        else:
            document = read_jwks(common.jwks, common.region, ssm_endpoint=common.ssm_endpoint)
        keys = KeySet.from_jwks(document)  # validated before anything is published
        return PublishedKeys({"keys": list(document["keys"])}, keys)

    what = "the JWKS" + (f" ({common.jwks.kind.value})" if common.jwks else " of the signing keys")
    return LiveKeySet(_reloading(load, what, on_change=_log_key_change, same=lambda a, b: a.jwks == b.jwks))


def jwks() -> dict[str, Any]:
    return key_set().jwks()


def _reloading(
    load: Callable[[], T],
    what: str,
    on_change: Callable[[T, T], None] | None = None,
    same: Callable[[T, T], bool] = lambda a, b: a == b,
) -> Reloading[T]:
    common = config().common
    return Reloading(
        load,
        what=what,
        max_age=common.keys_max_age_seconds,
        cooldown=common.jwks_cooldown_seconds,
        on_change=on_change,
        same=same,
    )


def _log_key_change(before: PublishedKeys, after: PublishedKeys) -> None:
    old, new = set(before.key_set.kids), set(after.key_set.kids)
    log_event(
        logging.getLogger("lambda_jwt_auth.keys"),
        "published keys changed",
        added=sorted(new - old),
        removed=sorted(old - new),
    )


def _verifier(token_type: TokenType, audience: str | tuple[str, ...]) -> TokenVerifier:
    common = config().common
    return TokenVerifier(
        key_set(),
        issuer=common.issuer,
        audience=audience,
        token_type=token_type,
        leeway=common.leeway,
        max_token_bytes=common.max_token_bytes,
    )


@cache
def access_verifier() -> TokenVerifier:
    return _verifier(ACCESS, config().common.audiences)


@cache
def refresh_verifier() -> TokenVerifier:
    # Refresh tokens are addressed to the issuer itself.
    return _verifier(REFRESH, config().common.issuer)


@cache
def dynamodb() -> Any:
    """The DynamoDB client every issuing function shares (boto3, issuing timeouts and retries)."""
    common = config().common
    # A retry more than the authorizer's (authorizer.aws.client, no boto3): a failed write is a
    # 503 to the client.
    return dynamodb_client(common.region, common.dynamodb_endpoint, config=ISSUING_CONFIG)


@cache
def denylist() -> Denylist:
    cfg = config()
    return Denylist(
        dynamodb(),
        cfg.common.denylist_table,
        max_token_lifetime=max(cfg.refresh_token_ttl, cfg.access_token_ttl),
        leeway=cfg.common.leeway,
    )


@cache
def token_issuer() -> TokenIssuer:
    cfg = config()
    kid = key_ring().current.kid
    if kid not in key_set().kids:
        raise ConfigurationError(
            f"the signing key (kid {kid}) is not in the configured JWKS: publish its public key "
            "first (auth-service keys jwks), or the tokens it signs will be refused everywhere"
        )
    return TokenIssuer(
        key_ring(),
        published=key_set(),
        issuer=cfg.issuer,
        audience=cfg.audience,
        client_id=cfg.client_id,
        access_ttl=cfg.access_token_ttl,
        refresh_ttl=cfg.refresh_token_ttl,
    )


def sessions(*, signing: bool, ending: bool = False) -> Sessions:
    """The session logic; `signing` functions (login, refresh) also get the token issuer.

    With a user pool configured, functions that end sessions (`ending`: logout, revoke; and
    refresh, which ends a session on reuse) revoke the Cognito refresh token sealed in ours,
    so they need the signing key to open it.
    """
    cfg = config()
    cognito = cfg.cognito is not None and (signing or ending)
    if cognito and not signing and cfg.signing_key is None:
        raise ConfigurationError(
            "with a Cognito user pool configured (AUTH_COGNITO_USER_POOL_ID), logout and revoke "
            "open the Cognito refresh token sealed in our refresh tokens to revoke it: set "
            "AUTH_SIGNING_KEY, AUTH_SIGNING_KEY_FILE, AUTH_SIGNING_KEY_SSM_PARAMETER or "
            "AUTH_SIGNING_KEY_SECRET_ID for this function too"
        )
    return Sessions(
        access=access_verifier(),
        refresh_verifier=refresh_verifier(),
        denylist=denylist(),
        revocations=revocations(),
        issuer=token_issuer() if signing else None,
        introspection_scope=cfg.introspection_scope,
        keys=key_ring() if signing or cognito else None,
        cognito_revoker=cognito_revoker() if cognito else None,
        side_by_side=SideBySide("sessions") if signing else None,
    )


@cache
def session_cookies() -> SessionCookies:
    """Browser sessions (AUTH_COOKIES): building and reading the session cookies."""
    from auth_service.cookies import SessionCookies

    cfg = config()
    return SessionCookies(cfg.cookies, access_ttl=cfg.access_token_ttl, refresh_ttl=cfg.refresh_token_ttl)


@cache
def revocations() -> RevocationList:
    # The issuing side always reads the denylist fresh: no cache.
    return RevocationList(dynamodb(), config().common.denylist_table, cache_seconds=0)


def cognito_settings() -> CognitoSettings:
    settings = config().cognito
    if settings is None:
        raise ConfigurationError(
            "this function talks to a Cognito user pool: set AUTH_COGNITO_USER_POOL_ID and "
            "AUTH_COGNITO_CLIENT_ID"
        )
    return settings


@cache
def _cognito_client() -> Any:
    from auth_service.cognito.client import cognito_client

    settings = cognito_settings()
    return cognito_client(settings.region, settings.endpoint)


@cache
def cognito_keys() -> JwksCache:
    """The pool's public keys, fetched from its JWKS URI once per container (and on rotation)."""
    from authorizer.tokens.jwks_cache import JwksCache

    keys = JwksCache(cognito_settings().jwks_uri)
    keys.preload()  # at cold start; never raises (a failure is retried on first use)
    return keys


@cache
def cognito_verifier(token_use: str) -> TokenVerifier:
    """The pool's ID or access tokens, issued to our app client."""
    from authorizer.tokens.cognito import cognito_verifier as build

    settings = cognito_settings()
    return build(
        cognito_keys(),
        issuer=settings.issuer,
        token_use=token_use,
        client_ids=[settings.client_id],
        leeway=config().common.leeway,
        max_token_bytes=config().common.max_token_bytes,
    )


@cache
def cognito_login() -> CognitoLogin:
    from auth_service.cognito.login import CognitoLogin

    settings = cognito_settings()
    return CognitoLogin(
        _cognito_client(),
        user_pool_id=settings.user_pool_id,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        verifier=cognito_verifier("id"),
        group_scopes=settings.group_scopes,
    )


@cache
def cognito_revoker() -> CognitoRefreshTokenRevoker:
    from auth_service.cognito.revoke import CognitoRefreshTokenRevoker

    settings = cognito_settings()
    return CognitoRefreshTokenRevoker(
        _cognito_client(), client_id=settings.client_id, client_secret=settings.client_secret
    )


@cache
def token_exchange() -> TokenExchange | None:
    """RFC 8693 exchange of the pool's tokens; None when no user pool is configured."""
    from auth_service.cognito.token_exchange import TokenExchange

    settings = config().cognito
    if settings is None:
        return None
    return TokenExchange(
        verifiers={use: cognito_verifier(use) for use in ("id", "access")},
        revocations=revocations(),
        sessions=sessions(signing=True),
        group_scopes=settings.group_scopes,
    )


@cache
def client_authenticator(*, assertions: bool = False) -> ClientAuthenticator | None:
    """Client authentication against the client table (AUTH_CLIENTS_TABLE; imports argon2), with
    failures throttled as logins are; None when no client table is configured. `assertions`:
    private_key_jwt is accepted too (the token endpoint, which may write their replay cache)."""
    from auth_service.client_auth import AssertionRules, ClientAuthenticator
    from auth_service.clients import ClientTable
    from auth_service.login_throttle import LoginThrottle

    cfg = config()
    if cfg.clients_table is None:
        return None
    throttle = LoginThrottle(dynamodb(), cfg.common.denylist_table, cfg.login_throttle, key=None)
    rules = None
    if assertions:
        audiences = (cfg.issuer + TOKEN_ENDPOINT_PATH, cfg.issuer)
        rules = AssertionRules(audiences, denylist(), cfg.common.leeway)
    return ClientAuthenticator(ClientTable(dynamodb(), cfg.clients_table), throttle, rules)


def users() -> UserTable:
    """The user table (imports argon2: only the login function and the CLI call this)."""
    from auth_service.users import UserTable

    table = config().users_table
    if table is None:
        raise ConfigurationError("the login function needs AUTH_USERS_TABLE")
    return UserTable(dynamodb(), table)
