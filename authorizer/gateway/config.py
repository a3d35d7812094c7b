"""Configuration, read from the environment once at cold start and validated in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

from authorizer.aws import endpoints
from authorizer.aws.proxy import read_https_proxy
from authorizer.env import EnvReader
from authorizer.errors import ConfigurationError
from authorizer.gateway.cookies import CookieNames
from authorizer.gateway.routes import RouteScopes
from authorizer.metrics import DEFAULT_SERVICE as DEFAULT_METRICS_SERVICE
from authorizer.tokens.issuers import TrustedIssuer, parse_trusted_issuers
from authorizer.tokens.jws import DEFAULT_MAX_TOKEN_BYTES

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
# AUTH_LEEWAY_SECONDS: the clock skew allowed for `exp`, `iat` and `nbf` (inspect-token's default too).
DEFAULT_LEEWAY_SECONDS = 30
MAX_LEEWAY_SECONDS = 300
# AUTH_KEYS_MAX_AGE_SECONDS: how old our own keys may get in a container before they are re-read.
DEFAULT_KEYS_MAX_AGE_SECONDS = 300


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
    # Endpoint overrides (authorizer.aws.endpoints); None: the region's own endpoint.
    dynamodb_endpoint: str | None
    leeway: int
    max_token_bytes: int
    ssm_endpoint: str | None = None
    # Our own keys (a JWKS or key set in SSM) are re-read once this old, and on an unknown `kid`
    # at most once per `jwks_cooldown_seconds`: a rotation or a revoked key needs no redeploy.
    keys_max_age_seconds: int = DEFAULT_KEYS_MAX_AGE_SECONDS
    jwks_cooldown_seconds: int = 60
    ca_bundle: str | None = None  # AWS_CA_BUNDLE, checked here; authorizer.aws.tls reads it
    https_proxy: str | None = None  # HTTPS_PROXY, checked here; authorizer.aws.proxy reads it
    # CloudWatch metrics (authorizer.metrics): an EMF line per invocation in this namespace, with
    # the dimension Service; None (the variable unset) writes none.
    metrics_namespace: str | None = None
    metrics_service: str = DEFAULT_METRICS_SERVICE

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
            region=endpoints.read_region(env),
            dynamodb_endpoint=endpoints.read_endpoint(env, "dynamodb", own="AUTH_DYNAMODB_ENDPOINT"),
            leeway=read_leeway(env),
            max_token_bytes=read_max_token_bytes(env),
            ssm_endpoint=endpoints.read_endpoint(env, "ssm"),
            keys_max_age_seconds=env.integer(
                "AUTH_KEYS_MAX_AGE_SECONDS", DEFAULT_KEYS_MAX_AGE_SECONDS, minimum=1, maximum=3600
            ),
            jwks_cooldown_seconds=env.integer("AUTH_JWKS_COOLDOWN_SECONDS", 60, maximum=3600),
            ca_bundle=endpoints.read_ca_bundle(env),
            https_proxy=read_https_proxy(env),
            metrics_namespace=_metrics_name(env, "AUTH_METRICS_NAMESPACE", None),
            metrics_service=_metrics_name(env, "AUTH_METRICS_SERVICE", DEFAULT_METRICS_SERVICE)
            or DEFAULT_METRICS_SERVICE,
        )


def _metrics_name(env: EnvReader, name: str, default: str | None) -> str | None:
    # CloudWatch: namespaces and dimension values of 1-255 printable ASCII characters, and a
    # namespace may not start with "AWS/".
    value = env.text(name, default)
    if value is not None and (len(value) > 255 or not value.isascii() or not value.isprintable()):
        env.problems.append(f"{name} must be 1-255 printable ASCII characters, got {value!r}")
        return default
    if name == "AUTH_METRICS_NAMESPACE" and value is not None and value.startswith("AWS/"):
        env.problems.append(f"{name} must not start with AWS/ (AWS's own namespaces), got {value!r}")
        return default
    return value


def read_leeway(env: EnvReader) -> int:
    return env.integer("AUTH_LEEWAY_SECONDS", DEFAULT_LEEWAY_SECONDS, maximum=MAX_LEEWAY_SECONDS)


def read_max_token_bytes(env: EnvReader) -> int:
    return env.integer("AUTH_MAX_TOKEN_BYTES", DEFAULT_MAX_TOKEN_BYTES, minimum=512, maximum=65536)


@dataclass(frozen=True)
class CookieSettings:
    """Browser sessions in cookies (README: "Browser sessions (cookies)"); off by default."""

    enabled: bool = False
    same_site: str = "Strict"
    secure_prefix: bool = True  # `__Host-` / `__Secure-` cookie names
    # Exact origins (scheme://host[:port]) allowed to make cookie-authenticated, state-changing
    # requests, and CORS with credentials.
    allowed_origins: frozenset[str] = frozenset()

    @property
    def names(self) -> CookieNames:
        return CookieNames.for_prefix(self.secure_prefix)

    @classmethod
    def read(cls, env: EnvReader) -> CookieSettings:
        enabled = cookies_enabled(env)
        raw_same_site = env.text("AUTH_COOKIE_SAMESITE", "Strict") or "Strict"
        same_site = raw_same_site.capitalize()
        if same_site not in ("Strict", "Lax"):
            why = " (None would send the cookies on other sites' requests)" if same_site == "None" else ""
            env.problems.append(f"AUTH_COOKIE_SAMESITE must be Strict or Lax{why}, got {raw_same_site!r}")
            same_site = "Strict"
        origins = _allowed_origins(env.text("AUTH_ALLOWED_ORIGINS") or "", env)
        if enabled and not origins:
            env.problems.append(
                "AUTH_ALLOWED_ORIGINS is required when AUTH_COOKIES is on: the exact origins of the "
                "pages that use the session, e.g. https://app.example.com"
            )
        return cls(
            enabled=enabled,
            same_site=same_site,
            secure_prefix=env.boolean("AUTH_COOKIE_SECURE_PREFIX", True),
            allowed_origins=frozenset(origins),
        )


def cookies_enabled(env: EnvReader) -> bool:
    """AUTH_COOKIES: on (on, true, 1, yes) or off (off, false, 0, no; the default)."""
    raw = env.text("AUTH_COOKIES", "off") or "off"
    enabled = raw.lower() in ("on", "true", "1", "yes")
    if not enabled and raw.lower() not in ("off", "false", "0", "no"):
        env.problems.append(f"AUTH_COOKIES must be on or off, got {raw!r}")
    return enabled


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
    # this long past its normal reuse (see authorizer.tokens.revocation). 0, the default, fails closed.
    revocation_grace_seconds: int = 0
    cookies: CookieSettings = CookieSettings()
    # Where the access token may come from: the Authorization header, and the access cookie.
    token_sources: frozenset[str] = frozenset({"header"})
    # Tokens already verified by this container, reused until their `exp` (authorizer.tokens.token_cache).
    # 0 turns the cache off.
    verified_token_cache_size: int = 1000
    # Log a line for every allowed request too (refusals are always logged). Off by default: API
    # Gateway's access log already records each allowed request with the authorizer's context.
    log_allowed: bool = False

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
        log_allowed = env.boolean("AUTH_LOG_ALLOWED", False)
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
            cooldown_seconds=common.jwks_cooldown_seconds,
            max_age_seconds=env.integer("AUTH_JWKS_MAX_AGE_SECONDS", 3600, minimum=60, maximum=86_400),
        )
        cookies = CookieSettings.read(env)
        token_sources = _token_sources(env, cookies)
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
            cookies=cookies,
            token_sources=token_sources,
            verified_token_cache_size=token_cache_size,
            log_allowed=log_allowed,
        )


def _token_sources(env: EnvReader, cookies: CookieSettings) -> frozenset[str]:
    default = "header,cookie" if cookies.enabled else "header"
    raw = env.text("AUTH_TOKEN_SOURCES", default) or default
    sources = frozenset(s.strip().lower() for s in raw.split(",") if s.strip())
    if sources not in ({"header"}, {"header", "cookie"}):
        env.problems.append(f"AUTH_TOKEN_SOURCES must be header or header,cookie, got {raw!r}")
        return frozenset({"header"})
    if "cookie" in sources and not cookies.enabled:
        env.problems.append("AUTH_TOKEN_SOURCES names cookie: set AUTH_COOKIES=on and AUTH_ALLOWED_ORIGINS")
    return sources


def _allowed_origins(raw: str, env: EnvReader) -> list[str]:
    origins = []
    for origin in (o.strip() for o in raw.split(",")):
        if not origin:
            continue
        if origin in ("*", "null"):
            env.problems.append(f"AUTH_ALLOWED_ORIGINS: {origin!r} is not allowed: name each origin exactly")
            continue
        try:
            parts = urlsplit(origin)
            port = parts.port
        except ValueError:
            env.problems.append(f"AUTH_ALLOWED_ORIGINS: {origin!r} is not a URL origin")
            continue
        local = parts.hostname in _LOCAL_HOSTS
        exact = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port is not None else "")
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            env.problems.append(
                f"AUTH_ALLOWED_ORIGINS: {origin!r} must be https:// (http:// only on localhost)"
            )
        elif parts.username or parts.password or not parts.hostname or ":" in parts.hostname:
            env.problems.append(f"AUTH_ALLOWED_ORIGINS: {origin!r} must be scheme://host[:port]")
        elif origin != exact or port in ({"https": 443, "http": 80}[parts.scheme],):
            env.problems.append(
                f"AUTH_ALLOWED_ORIGINS: {origin!r} is not an exact origin as browsers send it "
                "(scheme://host[:port], lowercase, no default port, no path or trailing slash)"
            )
        else:
            origins.append(origin)
    return origins


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
