"""Amazon Cognito user pool tokens: a thin layer of claim checks over the generic verifier.

Cognito signs access and ID tokens with RS256 and sets no `typ`; `token_use` tells them apart.
Access tokens name their app client in `client_id`, ID tokens in `aud`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from authorizer.errors import InsufficientScopeError, InvalidClaimError
from authorizer.verifier import ClaimCheck, KeyLookup, TokenType, TokenVerifier

# (S106: `token_use` is a claim name, not a password.)
COGNITO_ACCESS = TokenType("Cognito access", None, token_use="access", audience_claim="client_id")  # noqa: S106
COGNITO_ID = TokenType("Cognito ID", None, token_use="id", audience_claim="aud")  # noqa: S106
TOKEN_TYPES = {"access": COGNITO_ACCESS, "id": COGNITO_ID}


def cognito_issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def cognito_jwks_uri(issuer: str) -> str:
    return f"{issuer}/.well-known/jwks.json"


def require_any_group(groups: Iterable[str]) -> ClaimCheck:
    wanted = frozenset(groups)

    def check(payload: Mapping[str, Any]) -> None:
        found = payload.get("cognito:groups", [])
        if not isinstance(found, list):
            raise InvalidClaimError("'cognito:groups' must be a list")
        if wanted.isdisjoint(found):
            raise InsufficientScopeError(f"the user is in none of the groups {', '.join(sorted(wanted))}")

    return check


def require_scopes(scopes: Iterable[str]) -> ClaimCheck:
    wanted = frozenset(scopes)

    def check(payload: Mapping[str, Any]) -> None:
        scope = payload.get("scope", "")
        if not isinstance(scope, str):
            raise InvalidClaimError("'scope' must be a string")
        missing = wanted - set(scope.split())
        if missing:
            raise InsufficientScopeError(f"the token lacks the scopes {', '.join(sorted(missing))}")

    return check


def cognito_verifier(
    keys: KeyLookup,
    *,
    issuer: str,
    token_use: str,
    client_ids: Iterable[str],
    required_groups: Iterable[str] = (),
    required_scopes: Iterable[str] = (),
    leeway: int = 30,
    clock: Callable[[], float] = time.time,
) -> TokenVerifier:
    """A verifier for one user pool's access or ID tokens, for the given app clients."""
    if token_use not in TOKEN_TYPES:
        raise ValueError(f"token_use must be 'access' or 'id', not {token_use!r}")
    checks: list[ClaimCheck] = []
    if required_groups:
        checks.append(require_any_group(required_groups))
    if required_scopes:
        checks.append(require_scopes(required_scopes))
    return TokenVerifier(
        keys,
        issuer=issuer,
        audience=tuple(client_ids),
        token_type=TOKEN_TYPES[token_use],
        leeway=leeway,
        algorithms=("RS256",),
        claim_checks=checks,
        clock=clock,
    )
