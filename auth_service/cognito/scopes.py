"""Our scopes for a Cognito user: a default scope plus the scopes its `cognito:groups` map to.

The mapping is AUTH_COGNITO_GROUP_SCOPES, JSON `{"group": "scope1 scope2"}`; the same mapping is
given to the authorizer (AUTH_TRUSTED_ISSUERS) so Cognito tokens and ours grant the same scopes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT_SCOPE = "profile"
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_CHARACTERS = frozenset(chr(c) for c in range(0x21, 0x7F)) - {'"', "\\"}


class GroupScopesError(ValueError):
    """The group-to-scope mapping is malformed; the message says where."""


def is_scope_token(token: str) -> bool:
    return bool(token) and all(character in _SCOPE_CHARACTERS for character in token)


def parse_scope(value: str, where: str) -> tuple[str, ...]:
    tokens = tuple(value.split())
    bad = [token for token in tokens if not is_scope_token(token)]
    if bad:
        raise GroupScopesError(f"{where}: {bad[0]!r} is not a valid scope")
    return tokens


class GroupScopes:
    def __init__(self, mapping: Mapping[str, str] | None = None, default_scope: str = DEFAULT_SCOPE) -> None:
        self._default = parse_scope(default_scope, "default scope")
        self._by_group = {
            group: parse_scope(scope, f"group {group!r}") for group, scope in (mapping or {}).items()
        }

    @classmethod
    def from_json_value(cls, value: Any, default_scope: str = DEFAULT_SCOPE) -> GroupScopes:
        """From the parsed JSON of AUTH_COGNITO_GROUP_SCOPES (None: no mapping)."""
        if value is None:
            return cls({}, default_scope)
        if not isinstance(value, Mapping) or not all(
            isinstance(group, str) and group and isinstance(scope, str) for group, scope in value.items()
        ):
            raise GroupScopesError(
                "must be a JSON object mapping group names to scope strings, e.g. "
                '{"admins": "admin orders:write"}'
            )
        return cls(value, default_scope)

    def mapping(self) -> dict[str, str]:
        """The mapping as JSON-ready data (for AUTH_TRUSTED_ISSUERS)."""
        return {group: " ".join(scopes) for group, scopes in self._by_group.items()}

    @property
    def default_scope(self) -> str:
        return " ".join(self._default)

    def scope_for(self, groups: Iterable[str]) -> str:
        """The default scope, then each group's scopes in group order, each scope once."""
        scopes = list(self._default)
        for group in groups:
            scopes += self._by_group.get(group, ())
        return " ".join(dict.fromkeys(scopes))
