"""The issuing functions' configuration, read once at cold start and validated in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from authorizer.config import CommonSettings
from authorizer.env import EnvReader


class SigningKeyKind(Enum):
    INLINE = "AUTH_SIGNING_KEY"
    FILE = "AUTH_SIGNING_KEY_FILE"
    SSM = "AUTH_SIGNING_KEY_SSM_PARAMETER"
    SECRETS_MANAGER = "AUTH_SIGNING_KEY_SECRET_ID"


@dataclass(frozen=True)
class SigningKeySource:
    kind: SigningKeyKind
    value: str  # the PEM itself, a file path, an SSM parameter name or a secret id


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
        )
        env.raise_if_invalid("auth service")
        return config
