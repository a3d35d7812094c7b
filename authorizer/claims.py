"""The verified claims of a token, as a typed object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TokenClaims:
    """Claims of a token whose signature, type, issuer, audience and times were verified."""

    sub: str
    jti: str
    iat: int
    exp: int
    scope: str = ""
    sid: str | None = None
    client_id: str | None = None
    origin_jti: str | None = None  # Cognito: the refresh token (login) the token descends from
    groups: tuple[str, ...] = ()  # Cognito: `cognito:groups`
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    @property
    def issuer(self) -> str:
        return str(self.raw.get("iss", ""))
