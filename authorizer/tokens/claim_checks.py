"""Requirements a trusted issuer's configuration adds to its tokens (`AUTH_TRUSTED_ISSUERS`).

They run inside the verifier, on the token as its issuer signed it: `required_scopes` looks at
the token's own `scope`, before `default_scope` and `group_scopes` add anything for route checks
(`authorizer.tokens.issuers.ScopedVerifier`). The same checks serve Cognito pools and OIDC issuers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from authorizer.errors import InsufficientScopeError, InvalidClaimError
from authorizer.tokens.verifier import ClaimCheck


def require_any_group(groups: Iterable[str]) -> ClaimCheck:
    """The token's `cognito:groups` must name at least one of `groups`."""
    wanted = frozenset(groups)

    def check(payload: Mapping[str, Any]) -> None:
        found = payload.get("cognito:groups", [])
        if not isinstance(found, list):
            raise InvalidClaimError("'cognito:groups' must be a list")
        if wanted.isdisjoint(found):
            raise InsufficientScopeError(f"the user is in none of the groups {', '.join(sorted(wanted))}")

    return check


def require_scopes(scopes: Iterable[str]) -> ClaimCheck:
    """The token's own `scope` (a space-separated string) must hold every one of `scopes`."""
    wanted = frozenset(scopes)

    def check(payload: Mapping[str, Any]) -> None:
        scope = payload.get("scope", "")
        if not isinstance(scope, str):
            raise InvalidClaimError("'scope' must be a string")
        missing = wanted - set(scope.split())
        if missing:
            raise InsufficientScopeError(f"the token lacks the scopes {', '.join(sorted(missing))}")

    return check
