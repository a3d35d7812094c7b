"""Configuration, read from the environment once at cold start and validated in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

from authorizer.env import EnvReader
from authorizer.errors import ConfigurationError
from authorizer.issuers import TrustedIssuer, parse_trusted_issuers
from authorizer.routes import RouteScopes

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class JwksKind(Enum):
    INLINE = "AUTH_JWKS"
    FILE = "AUTH_JWKS_FILE"
    SSM = "AUTH_JWKS_SSM_PARAMETER"


@dataclass(frozen=True)
class JwksSource:
    kind: JwksKind
    value: str  # the JSON itself, a file path or an SSM parameter name


@dataclass(frozen=True)
class CommonSettings:
    """What the authorizer and the issuing functions both read."""

    issuer: str
    audiences: tuple[str, ...]
    jwks: JwksSource | None
    denylist_table: str
    region: str
    dynamodb_endpoint: str | None
    leeway: int
    max_token_bytes: int

    @classmethod
    def read(cls, env: EnvReader) -> CommonSettings:
        issuer = env.required("AUTH_ISSUER", "the exact `iss` of our tokens, e.g. https://auth.example.com")
        if issuer:
            _check_issuer(issuer, env)
        audience = env.required("AUTH_AUDIENCE", "the `aud` our access tokens carry")
        audiences = tuple(a.strip() for a in audience.split(",") if a.strip())
        if audience and not audiences:
            env.problems.append(f"AUTH_AUDIENCE names no audience: {audience!r}")
        jwks = env.one_of(*(kind.value for kind in JwksKind))
        return cls(
            issuer=issuer,
            audiences=audiences,
            jwks=JwksSource(JwksKind(jwks[0]), jwks[1]) if jwks else None,
            denylist_table=env.required("AUTH_DENYLIST_TABLE", "the DynamoDB denylist table name"),
            region=env.text("AWS_REGION") or env.text("AWS_DEFAULT_REGION") or "us-east-1",
            dynamodb_endpoint=env.text("AUTH_DYNAMODB_ENDPOINT"),
            leeway=env.integer("AUTH_LEEWAY_SECONDS", 30, maximum=300),
            max_token_bytes=env.integer("AUTH_MAX_TOKEN_BYTES", 8192, minimum=512, maximum=65536),
        )


@dataclass(frozen=True)
class JwksCacheSettings:
    timeout_seconds: float
    cooldown_seconds: int
    max_age_seconds: int


@dataclass(frozen=True)
class AuthorizerConfig:
    common: CommonSettings
    jwks: JwksSource
    revocation_cache_seconds: int
    simple_responses: bool
    route_scopes: RouteScopes
    trusted_issuers: tuple[TrustedIssuer, ...] = ()
    jwks_cache: JwksCacheSettings = JwksCacheSettings(2.0, 60, 3600)
    # Opt-in: while DynamoDB fails, answer from a token's last known revocation state for up to
    # this long past its normal reuse (see authorizer.revocation). 0, the default, fails closed.
    revocation_grace_seconds: int = 0
    # Tokens already verified by this container, reused until their `exp` (authorizer.token_cache).
    # 0 turns the cache off.
    verified_token_cache_size: int = 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthorizerConfig:
        env = EnvReader(os.environ if environ is None else environ)
        common = CommonSettings.read(env)
        if common.jwks is None:
            env.problems.append(
                "one of AUTH_JWKS, AUTH_JWKS_FILE or AUTH_JWKS_SSM_PARAMETER is required: "
                "the public keys tokens are verified with"
            )
        cache_seconds = env.integer("AUTH_REVOCATION_CACHE_SECONDS", 5, maximum=3600)
        # Bounded: grace adds to the revocation delay during an outage, and 5 min is plenty to
        # ride out a throttling burst or a failover.
        grace_seconds = env.integer("AUTH_REVOCATION_GRACE_SECONDS", 0, maximum=300)
        token_cache_size = env.integer("AUTH_VERIFIED_TOKEN_CACHE_SIZE", 1000, maximum=100_000)
        simple = env.boolean("AUTH_HTTP_API_SIMPLE_RESPONSES", True)
        route_scopes = RouteScopes([])
        try:
            route_scopes = RouteScopes.from_mapping(env.json("AUTH_ROUTE_SCOPES"))
        except ConfigurationError as exc:
            env.problems.append(f"AUTH_ROUTE_SCOPES: {exc}")
        trusted: tuple[TrustedIssuer, ...] = ()
        try:
            trusted = parse_trusted_issuers(env.json("AUTH_TRUSTED_ISSUERS"))
        except ConfigurationError as exc:
            env.problems.append(f"AUTH_TRUSTED_ISSUERS: {exc}")
        if common.issuer and common.issuer in {issuer.issuer for issuer in trusted}:
            env.problems.append("AUTH_TRUSTED_ISSUERS must not list our own issuer (AUTH_ISSUER) again")
        cache = JwksCacheSettings(
            timeout_seconds=env.integer("AUTH_JWKS_FETCH_TIMEOUT_MS", 2000, minimum=100, maximum=10_000)
            / 1000,
            cooldown_seconds=env.integer("AUTH_JWKS_COOLDOWN_SECONDS", 60, maximum=3600),
            max_age_seconds=env.integer("AUTH_JWKS_MAX_AGE_SECONDS", 3600, minimum=60, maximum=86_400),
        )
        env.raise_if_invalid("authorizer")
        assert common.jwks is not None
        return cls(
            common=common,
            jwks=common.jwks,
            revocation_cache_seconds=cache_seconds,
            simple_responses=simple,
            route_scopes=route_scopes,
            trusted_issuers=trusted,
            jwks_cache=cache,
            revocation_grace_seconds=grace_seconds,
            verified_token_cache_size=token_cache_size,
        )


def _check_issuer(issuer: str, env: EnvReader) -> None:
    # An issuer is compared byte for byte; a trailing slash or plain http is a mistake waiting.
    parts = urlsplit(issuer)
    local = parts.hostname in _LOCAL_HOSTS
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        env.problems.append(
            f"AUTH_ISSUER must be an https:// URL (http:// only on localhost), got {issuer!r}"
        )
    elif issuer.endswith("/") or parts.query or parts.fragment:
        env.problems.append(f"AUTH_ISSUER must have no trailing slash, query or fragment, got {issuer!r}")
