"""What every adapter does with a request's `Authorization` header, and how it refuses."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from authorizer.errors import AuthError, InsufficientScopeError, TokenError, UnavailableError
from authorizer.tokens.claims import TokenClaims


def bearer_token(value: object) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (scheme case-insensitive)."""
    if value.__class__ is str and value.startswith("Bearer "):  # the usual spelling, no more ado
        token = value[7:]
        if token and " " not in token and token.strip() == token:
            return token
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


class TokenVerifying(Protocol):
    """A `JwtVerifier`, `CognitoJwtVerifier` or `JwtVerifier.any_of(...)`."""

    def verify(self, token: str) -> TokenClaims: ...


@dataclass(frozen=True)
class Refusal(Exception):
    """The answer to give instead of the request's: status, RFC 6750 error, headers, JSON body."""

    status: int
    error: str
    description: str
    scopes: tuple[str, ...] = field(default=())

    @property
    def headers(self) -> dict[str, str]:
        challenge = f'Bearer error="{self.error}"'
        if self.scopes:
            challenge += f', scope="{" ".join(self.scopes)}"'
        headers = {"Content-Type": "application/json", "WWW-Authenticate": challenge}
        if self.status == 503:
            headers["Retry-After"] = "1"
        return headers

    @property
    def body(self) -> str:
        return json.dumps({"error": self.error, "error_description": self.description})


def authenticate(
    verifier: TokenVerifying, authorization: str | None, scopes: Iterable[str] = ()
) -> TokenClaims:
    """The verified claims of the header's bearer token, holding every one of `scopes`; else a
    `Refusal` (the description names the failed check, never the token)."""
    required = tuple(sorted(set(scopes)))
    token = bearer_token(authorization)
    if token is None:
        raise Refusal(401, "invalid_token", "a Bearer token is required (Authorization: Bearer <token>)")
    try:
        claims = verifier.verify(token)
    except InsufficientScopeError as exc:  # a verifier's own required scopes or groups
        raise Refusal(403, "insufficient_scope", str(exc), required) from None
    except UnavailableError:
        raise Refusal(503, "temporarily_unavailable", "the token could not be checked; retry") from None
    except TokenError as exc:
        raise Refusal(401, "invalid_token", str(exc)) from None
    except AuthError as exc:
        raise Refusal(401, "invalid_token", str(exc)) from None
    if required and not set(required) <= claims.scopes:
        raise Refusal(403, "insufficient_scope", "the token lacks a required scope", required)
    return claims
