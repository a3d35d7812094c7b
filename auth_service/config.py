"""The issuing functions' configuration, read once at cold start and validated in one place."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

from auth_service.cognito.scopes import DEFAULT_SCOPE, GroupScopes, GroupScopesError
from authorizer.env import EnvReader
from authorizer.gateway.config import CommonSettings, CookieSettings
from authorizer.tokens.cognito import cognito_issuer, cognito_jwks_uri

# A user pool id is its region, "_" and an id: us-east-1_AbCdEf123.
_USER_POOL_ID = re.compile(r"(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+")


class SigningKeyKind(Enum):
    INLINE = "AUTH_SIGNING_KEY"
    FILE = "AUTH_SIGNING_KEY_FILE"
    SSM = "AUTH_SIGNING_KEY_SSM_PARAMETER"
    SECRETS_MANAGER = "AUTH_SIGNING_KEY_SECRET_ID"


@dataclass(frozen=True)
class SigningKeySource:
    kind: SigningKeyKind
    value: str  # the PEM itself, a file path, an SSM parameter name or a secret id


class IdentityBackend(Enum):
    """Who checks passwords at POST /auth/login."""

    TABLE = "table"  # our DynamoDB user table (argon2id)
    COGNITO = "cognito"  # an Amazon Cognito user pool (InitiateAuth USER_PASSWORD_AUTH)


@dataclass(frozen=True)
class CognitoSettings:
    """One user pool and its app client: login, token exchange and Cognito token revocation."""

    user_pool_id: str
    client_id: str
    client_secret: str | None = field(repr=False)
    region: str
    endpoint: str | None  # a Cognito API endpoint override (local runs); None: AWS
    jwks_uri: str
    group_scopes: GroupScopes = field(compare=False)

    @property
    def issuer(self) -> str:
        """The exact `iss` of the pool's tokens."""
        return cognito_issuer(self.region, self.user_pool_id)

    @classmethod
    def read(cls, env: EnvReader, *, required: bool, region: str) -> CognitoSettings | None:
        """The AUTH_COGNITO_* settings; None when no pool is configured and none is `required`."""
        pool_id = env.text("AUTH_COGNITO_USER_POOL_ID")
        client_id = env.text("AUTH_COGNITO_CLIENT_ID")
        if pool_id is None and client_id is None and not required:
            return None
        why = "AUTH_IDENTITY_BACKEND is cognito" if required else "a user pool is configured"
        if pool_id is None:
            env.problems.append(f"AUTH_COGNITO_USER_POOL_ID is required when {why}")
        if client_id is None:
            env.problems.append(f"AUTH_COGNITO_CLIENT_ID is required when {why}: the pool's app client id")
        region = env.text("AUTH_COGNITO_REGION") or region
        if pool_id is not None:
            match = _USER_POOL_ID.fullmatch(pool_id)
            if match is None:
                env.problems.append(
                    f"AUTH_COGNITO_USER_POOL_ID must look like us-east-1_AbCdEf123, got {pool_id!r}"
                )
            elif match.group("region") != region:
                env.problems.append(
                    f"AUTH_COGNITO_USER_POOL_ID {pool_id} is in {match.group('region')}, but the "
                    f"Cognito region is {region} (set AUTH_COGNITO_REGION)"
                )
        endpoint = env.text("AUTH_COGNITO_ENDPOINT")
        if endpoint is not None and not _is_http_url(endpoint):
            env.problems.append(f"AUTH_COGNITO_ENDPOINT must be an http(s):// URL, got {endpoint!r}")
        jwks_uri = env.text("AUTH_COGNITO_JWKS_URI")
        if jwks_uri is not None and not _is_http_url(jwks_uri):
            env.problems.append(f"AUTH_COGNITO_JWKS_URI must be an http(s):// URL, got {jwks_uri!r}")
        issuer = cognito_issuer(region, pool_id or "")
        default_scope = env.text("AUTH_COGNITO_DEFAULT_SCOPE", DEFAULT_SCOPE) or DEFAULT_SCOPE
        group_scopes = GroupScopes()
        try:
            group_scopes = GroupScopes.from_json_value(env.json("AUTH_COGNITO_GROUP_SCOPES"), default_scope)
        except GroupScopesError as exc:
            env.problems.append(f"AUTH_COGNITO_GROUP_SCOPES / AUTH_COGNITO_DEFAULT_SCOPE: {exc}")
        return cls(
            user_pool_id=pool_id or "",
            client_id=client_id or "",
            client_secret=env.text("AUTH_COGNITO_CLIENT_SECRET"),
            region=region,
            endpoint=endpoint,
            jwks_uri=jwks_uri or cognito_jwks_uri(issuer),
            group_scopes=group_scopes,
        )


@dataclass(frozen=True)
class ThrottleLimit:
    """`max_failures` failed logins within `window_seconds`, then refused for `lockout_seconds`."""

    max_failures: int  # 0: this limit is off
    window_seconds: int
    lockout_seconds: int


@dataclass(frozen=True)
class LoginThrottleSettings:
    """Login throttling (auth_service.login_throttle): per username tried and per client address."""

    per_user: ThrottleLimit = ThrottleLimit(max_failures=5, window_seconds=900, lockout_seconds=900)
    per_ip: ThrottleLimit = ThrottleLimit(max_failures=50, window_seconds=900, lockout_seconds=900)

    @classmethod
    def read(cls, env: EnvReader) -> LoginThrottleSettings:
        window = env.integer("AUTH_LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=1, maximum=86_400)
        lockout = env.integer("AUTH_LOGIN_LOCKOUT_SECONDS", 900, minimum=1, maximum=86_400)
        per_user = env.integer("AUTH_LOGIN_MAX_FAILURES_PER_USER", 5, minimum=0, maximum=10_000)
        per_ip = env.integer("AUTH_LOGIN_MAX_FAILURES_PER_IP", 50, minimum=0, maximum=1_000_000)
        return cls(
            per_user=ThrottleLimit(per_user, window, lockout),
            per_ip=ThrottleLimit(per_ip, window, lockout),
        )


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@dataclass(frozen=True)
class ServiceConfig:
    common: CommonSettings
    signing_key: SigningKeySource | None
    users_table: str | None
    client_id: str
    access_token_ttl: int
    refresh_token_ttl: int
    introspection_scope: str
    max_body_bytes: int
    identity_backend: IdentityBackend = IdentityBackend.TABLE
    cognito: CognitoSettings | None = None  # set when a user pool is configured
    login_throttle: LoginThrottleSettings = LoginThrottleSettings()
    cookies: CookieSettings = field(default_factory=CookieSettings)  # browser sessions (cookies)
    # Registered machine clients (auth_service.clients); None: no client_credentials grant.
    clients_table: str | None = None

    @property
    def issuer(self) -> str:
        return self.common.issuer

    @property
    def audience(self) -> str:
        """The audience our access tokens are issued for (the first configured)."""
        return self.common.audiences[0]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceConfig:
        env = EnvReader(os.environ if environ is None else environ)
        common = CommonSettings.read(env)
        signing = env.one_of(*(kind.value for kind in SigningKeyKind))
        if common.jwks is None and signing is None:
            env.problems.append(
                "a signing key (AUTH_SIGNING_KEY, AUTH_SIGNING_KEY_FILE, AUTH_SIGNING_KEY_SSM_PARAMETER or "
                "AUTH_SIGNING_KEY_SECRET_ID) or public keys (AUTH_JWKS, AUTH_JWKS_FILE or "
                "AUTH_JWKS_SSM_PARAMETER) are required"
            )
        if common.issuer and common.issuer in common.audiences:
            env.problems.append(
                "AUTH_AUDIENCE must differ from AUTH_ISSUER: refresh tokens are issued to the issuer"
            )
        backend = IdentityBackend.TABLE
        raw_backend = env.text("AUTH_IDENTITY_BACKEND", "table") or "table"
        try:
            backend = IdentityBackend(raw_backend.lower())
        except ValueError:
            env.problems.append(f"AUTH_IDENTITY_BACKEND must be table or cognito, got {raw_backend!r}")
        cognito = CognitoSettings.read(env, required=backend is IdentityBackend.COGNITO, region=common.region)
        config = cls(
            common=common,
            signing_key=SigningKeySource(SigningKeyKind(signing[0]), signing[1]) if signing else None,
            users_table=env.text("AUTH_USERS_TABLE"),
            client_id=env.text("AUTH_CLIENT_ID", "lambda-jwt-auth") or "lambda-jwt-auth",
            access_token_ttl=env.integer("AUTH_ACCESS_TOKEN_TTL", 900, minimum=60, maximum=86_400),
            refresh_token_ttl=env.integer(
                "AUTH_REFRESH_TOKEN_TTL", 2_592_000, minimum=300, maximum=31_536_000
            ),
            introspection_scope=env.text("AUTH_INTROSPECTION_SCOPE", "introspect") or "introspect",
            max_body_bytes=env.integer("AUTH_MAX_BODY_BYTES", 16_384, minimum=1024, maximum=1_048_576),
            identity_backend=backend,
            cognito=cognito,
            login_throttle=LoginThrottleSettings.read(env),
            cookies=CookieSettings.read(env),
            clients_table=env.text("AUTH_CLIENTS_TABLE"),
        )
        env.raise_if_invalid("auth service")
        return config
