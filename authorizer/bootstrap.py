"""Build an `Authorizer` from configuration: keys, clients and caches, once per container."""

from __future__ import annotations

import os

from authorizer import snapstart
from authorizer.authorization import Authorizer
from authorizer.aws import denylist_follow_up_window
from authorizer.cognito import cognito_verifier
from authorizer.config import AuthorizerConfig, JwksCacheSettings
from authorizer.credentials import from_environment
from authorizer.dynamodb import DynamoDB
from authorizer.issuers import ScopedVerifier, TrustedIssuer, TrustedIssuers, Verifier
from authorizer.jwks_cache import JwksCache
from authorizer.jwks_source import load_key_set, read_configured_file
from authorizer.revocation import RevocationList
from authorizer.verifier import ACCESS, KeyLookup, TokenType, TokenVerifier


def build_authorizer(config: AuthorizerConfig) -> Authorizer:
    common = config.common
    # AWS's own variables, read where the SDKs read them (see authorizer.credentials).
    credentials = from_environment(os.environ, local_endpoint=common.dynamodb_endpoint is not None)
    own = TokenVerifier(
        load_key_set(config.jwks, common.region, credentials),
        issuer=common.issuer,
        audience=common.audiences,
        token_type=ACCESS,
        leeway=common.leeway,
        max_token_bytes=common.max_token_bytes,
    )
    verifiers: dict[str, Verifier] = {common.issuer: own}
    for trusted in config.trusted_issuers:
        verifiers[trusted.issuer] = trusted_verifier(trusted, config.jwks_cache, common.leeway)
    dynamodb = DynamoDB.connect_to(common.region, common.dynamodb_endpoint, credentials)
    snapstart.register(dynamodb.http, credentials)
    revocations = RevocationList(
        dynamodb,
        common.denylist_table,
        cache_seconds=config.revocation_cache_seconds,
        grace_seconds=config.revocation_grace_seconds,
        follow_up_window=denylist_follow_up_window(),
    )
    return Authorizer(
        TrustedIssuers(verifiers, max_token_bytes=common.max_token_bytes),
        revocations,
        config.route_scopes,
        simple_responses=config.simple_responses,
        cookies=config.cookies if "cookie" in config.token_sources else None,
    )


def issuer_keys(trusted: TrustedIssuer, settings: JwksCacheSettings) -> KeyLookup:
    """The issuer's keys: fetched from its JWKS URL (and cached), or given inline or as a file."""
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
    if trusted.preload:
        cache.preload()  # at cold start, not on the first request
    return cache


def trusted_verifier(trusted: TrustedIssuer, settings: JwksCacheSettings, leeway: int) -> Verifier:
    keys = issuer_keys(trusted, settings)
    verifier: TokenVerifier
    if trusted.kind == "cognito":
        verifier = cognito_verifier(
            keys,
            issuer=trusted.issuer,
            token_use=trusted.token_use,
            client_ids=trusted.audiences,
            required_groups=trusted.required_groups,
            required_scopes=trusted.required_scopes,
            leeway=leeway,
        )
    else:
        verifier = TokenVerifier(
            keys,
            issuer=trusted.issuer,
            audience=trusted.audiences,
            token_type=TokenType(f"{trusted.issuer} access", trusted.typ),
            leeway=leeway,
            algorithms=trusted.algorithms,
        )
    if trusted.default_scope or trusted.group_scopes:
        return ScopedVerifier(
            verifier, default_scope=trusted.default_scope, group_scopes=trusted.group_scopes
        )
    return verifier
