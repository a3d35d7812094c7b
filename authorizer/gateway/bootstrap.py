"""Build an `Authorizer` from configuration: keys, clients and caches, once per container."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Callable

from authorizer.aws import snapstart, tls
from authorizer.aws.client import denylist_follow_up_window
from authorizer.aws.credentials import CredentialSource, from_environment
from authorizer.aws.dynamodb import DynamoDB
from authorizer.errors import ConfigurationError
from authorizer.gateway.authorization import Authorizer
from authorizer.gateway.config import AuthorizerConfig, JwksCacheSettings, JwksKind
from authorizer.gateway.jwks_source import load_key_set, read_configured_file, read_jwks
from authorizer.tokens.claim_checks import require_any_group, require_scopes
from authorizer.tokens.cognito import cognito_verifier
from authorizer.tokens.issuers import ScopedVerifier, TrustedIssuer, TrustedIssuers, Verifier
from authorizer.tokens.jwks_cache import JwksCache
from authorizer.tokens.revocation import RevocationList
from authorizer.tokens.token_cache import VerifiedTokenCache
from authorizer.tokens.verifier import ACCESS, ClaimCheck, KeyLookup, TokenType, TokenVerifier


def build_authorizer(config: AuthorizerConfig) -> Authorizer:
    common = config.common
    # AWS's own variables, read where the SDKs read them (see authorizer.aws.credentials).
    credentials = from_environment(os.environ, local_endpoint=common.dynamodb_endpoint is not None)
    # Whatever is derived from the keys must be forgotten when a fetched key set changes.
    key_set_listeners: list[Callable[[], None]] = []

    def key_set_changed() -> None:
        for listener in key_set_listeners:
            listener()

    own = TokenVerifier(
        own_keys(config, credentials, key_set_changed),
        issuer=common.issuer,
        audience=common.audiences,
        token_type=ACCESS,
        leeway=common.leeway,
        max_token_bytes=common.max_token_bytes,
    )
    verifiers: dict[str, Verifier] = {common.issuer: own}
    for trusted in config.trusted_issuers:
        verifiers[trusted.issuer] = trusted_verifier(
            trusted,
            config.jwks_cache,
            leeway=common.leeway,
            max_token_bytes=common.max_token_bytes,
            on_key_change=key_set_changed,
        )
    verifier: Verifier = TrustedIssuers(verifiers, max_token_bytes=common.max_token_bytes)
    if config.verified_token_cache_size:
        token_cache = VerifiedTokenCache(
            verifier,
            leeway=common.leeway,
            max_entries=config.verified_token_cache_size,
            max_age=common.keys_max_age_seconds,
        )
        key_set_listeners.append(token_cache.clear)
        verifier = token_cache
    dynamodb = DynamoDB.connect_to(common.region, common.dynamodb_endpoint, credentials)
    if not snapstart.register(dynamodb.http, credentials):
        prepare_tls(dynamodb, common.ca_bundle)
    revocations = RevocationList(
        dynamodb,
        common.denylist_table,
        cache_seconds=config.revocation_cache_seconds,
        grace_seconds=config.revocation_grace_seconds,
        follow_up_window=denylist_follow_up_window(),
    )
    return Authorizer(
        verifier,
        revocations,
        config.route_scopes,
        simple_responses=config.simple_responses,
        cookies=config.cookies if "cookie" in config.token_sources else None,
        log_allowed=config.log_allowed,
    )


def own_keys(
    config: AuthorizerConfig, credentials: CredentialSource, on_change: Callable[[], None]
) -> KeyLookup:
    """Our own public keys. Kept in SSM (as deployed), they are re-read once
    AUTH_KEYS_MAX_AGE_SECONDS old and on an unknown `kid` (once per cooldown), so a rotation or a
    revoked key reaches every warm container without a redeploy. Inline or in a file they are
    part of the deployment, and change only with it."""
    common = config.common
    if config.jwks.kind is not JwksKind.SSM:
        return load_key_set(config.jwks, common.region, credentials, ssm_endpoint=common.ssm_endpoint)

    def load() -> str:
        return json.dumps(
            read_jwks(config.jwks, common.region, credentials, ssm_endpoint=common.ssm_endpoint)
        )

    keys = JwksCache.from_loader(
        load,
        f"SSM parameter {config.jwks.value}",
        max_age_seconds=common.keys_max_age_seconds,
        cooldown_seconds=common.jwks_cooldown_seconds,
    )
    keys.on_change(on_change)
    return keys


def prepare_tls(dynamodb: DynamoDB, ca_bundle: str | None) -> None:
    """For an https DynamoDB endpoint, build the TLS context now, in Lambda's init phase, not in the
    first request: prepaid with provisioned concurrency, and CAs that cannot be loaded fail the
    cold start. Not with SnapStart: nothing that seeds randomness goes into a snapshot; the restore
    hook builds it. (A plain http endpoint, a local run, may never need one.)"""
    if not dynamodb.http.endpoint.startswith("https://"):
        return
    try:
        tls.client_context()
    except ssl.SSLError as exc:
        what = "AWS_CA_BUNDLE" if ca_bundle else "the system's CA certificates"
        raise ConfigurationError(f"{what}: cannot be loaded for TLS ({exc.reason or exc})") from None


def issuer_keys(
    trusted: TrustedIssuer, settings: JwksCacheSettings, on_change: Callable[[], None] | None = None
) -> KeyLookup:
    """The issuer's keys: fetched from its JWKS URL (and cached), or given inline or as a file.

    `on_change` is called whenever fetched keys replace the key set (static ones never change).
    """
    if trusted.jwks is not None:
        return JwksCache.from_document(trusted.jwks)
    if trusted.jwks_file is not None:
        return JwksCache.from_document(
            read_configured_file(f"jwks_file of {trusted.issuer}", trusted.jwks_file)
        )
    assert trusted.jwks_uri is not None
    cache = JwksCache(
        trusted.jwks_uri,
        timeout_seconds=settings.timeout_seconds,
        cooldown_seconds=settings.cooldown_seconds,
        max_age_seconds=settings.max_age_seconds,
    )
    if on_change is not None:
        cache.on_change(on_change)
    if trusted.preload:
        cache.preload()  # at cold start, not on the first request
    return cache


def trusted_verifier(
    trusted: TrustedIssuer,
    settings: JwksCacheSettings,
    *,
    leeway: int,
    max_token_bytes: int,
    on_key_change: Callable[[], None] | None = None,
) -> Verifier:
    keys = issuer_keys(trusted, settings, on_key_change)
    checks = issuer_requirements(trusted)
    verifier: TokenVerifier
    if trusted.kind == "cognito":
        verifier = cognito_verifier(
            keys,
            issuer=trusted.issuer,
            token_use=trusted.token_use,
            client_ids=trusted.audiences,
            claim_checks=checks,
            leeway=leeway,
            max_token_bytes=max_token_bytes,
        )
    else:
        verifier = TokenVerifier(
            keys,
            issuer=trusted.issuer,
            audience=trusted.audiences,
            token_type=TokenType(f"{trusted.issuer} access", trusted.typ),
            leeway=leeway,
            algorithms=trusted.algorithms,
            claim_checks=checks,
            max_token_bytes=max_token_bytes,
            ignored_header_parameters=trusted.ignored_header_parameters,
        )
    if trusted.default_scope or trusted.group_scopes:
        return ScopedVerifier(
            verifier, default_scope=trusted.default_scope, group_scopes=trusted.group_scopes
        )
    return verifier


def issuer_requirements(trusted: TrustedIssuer) -> tuple[ClaimCheck, ...]:
    """`required_groups` and `required_scopes`, for whichever kind of issuer sets them.

    Checked on the token as the issuer signed it, before `default_scope` and `group_scopes` add
    scopes (the `ScopedVerifier` around the verifier): configuration cannot satisfy them.
    """
    checks: list[ClaimCheck] = []
    if trusted.required_groups:
        checks.append(require_any_group(trusted.required_groups))
    if trusted.required_scopes:
        checks.append(require_scopes(trusted.required_scopes))
    return tuple(checks)
