"""Build an `Authorizer` from configuration: keys, clients and caches, once per container."""

from __future__ import annotations

from authorizer.authorization import Authorizer
from authorizer.aws import dynamodb_client
from authorizer.config import AuthorizerConfig
from authorizer.jwks_source import load_key_set
from authorizer.revocation import RevocationList
from authorizer.verifier import ACCESS, TokenVerifier


def build_authorizer(config: AuthorizerConfig) -> Authorizer:
    common = config.common
    verifier = TokenVerifier(
        load_key_set(config.jwks, common.region),
        issuer=common.issuer,
        audience=common.audiences,
        token_type=ACCESS,
        leeway=common.leeway,
        max_token_bytes=common.max_token_bytes,
    )
    revocations = RevocationList(
        dynamodb_client(common.region, common.dynamodb_endpoint),
        common.denylist_table,
        cache_seconds=config.revocation_cache_seconds,
    )
    return Authorizer(verifier, revocations, config.route_scopes, simple_responses=config.simple_responses)
