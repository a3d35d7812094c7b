"""Which scopes each route requires: the route-to-scope map from configuration.

Keys look like API Gateway route keys: `"GET /orders/{id}"`, `"ANY /admin/{proxy+}"`. A route
that is not listed needs a valid token and no particular scope.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authorizer.errors import ConfigurationError

_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}


@dataclass(frozen=True)
class RouteRule:
    method: str  # an HTTP method or ANY
    segments: tuple[str, ...]
    scopes: frozenset[str]

    def matches(self, method: str, path: str) -> bool:
        if self.method != "ANY" and self.method != method.upper():
            return False
        actual = _segments(path)
        for index, pattern in enumerate(self.segments):
            if _is_greedy(pattern):
                return len(actual) > index
            if index >= len(actual):
                return False
            if not _is_parameter(pattern) and pattern != actual[index]:
                return False
        return len(actual) == len(self.segments)

    def arn_resource(self, prefix: str) -> str:
        """The execute-api resource pattern of this route, for IAM policies."""
        method = "*" if self.method == "ANY" else self.method
        path = "/".join("*" if _is_parameter(s) or _is_greedy(s) else s for s in self.segments)
        return f"{prefix}/{method}/{path}"


# Answers of `RouteScopes.required` kept per (method, path); bounded, since paths come from requests.
_REQUIRED_MEMO_SIZE = 1024


class RouteScopes:
    def __init__(self, rules: list[RouteRule]) -> None:
        self.rules = rules
        self._required = functools.lru_cache(maxsize=_REQUIRED_MEMO_SIZE)(self._match)

    @classmethod
    def from_mapping(cls, mapping: Any) -> RouteScopes:
        if mapping is None:
            return cls([])
        if not isinstance(mapping, Mapping):
            raise ConfigurationError('route scopes must be a JSON object like {"GET /me": ["profile"]}')
        rules = []
        for route, scopes in mapping.items():
            method, _, path = str(route).strip().partition(" ")
            # No whitespace in a path: API Gateway has no such route, so the rule would never apply.
            if method.upper() not in _METHODS or not path.startswith("/") or path.split() != [path]:
                raise ConfigurationError(
                    f"route {route!r} must look like 'GET /path' or 'ANY /path/{{proxy+}}'"
                )
            if isinstance(scopes, str):
                scopes = scopes.split()
            if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
                raise ConfigurationError(f"scopes of route {route!r} must be a list of strings")
            rules.append(RouteRule(method.upper(), _segments(path), frozenset(scopes)))
        return cls(rules)

    def required(self, method: str, path: str) -> frozenset[str]:
        """Scopes every matching rule requires (all of them must be held)."""
        return self._required(method, path)

    def _match(self, method: str, path: str) -> frozenset[str]:
        needed: set[str] = set()
        for rule in self.rules:
            if rule.matches(method, path):
                needed |= rule.scopes
        return frozenset(needed)

    def forbidden(self, scopes: frozenset[str]) -> list[RouteRule]:
        """Rules whose scopes a holder of `scopes` lacks."""
        return [rule for rule in self.rules if not rule.scopes <= scopes]


def _segments(path: str) -> tuple[str, ...]:
    return tuple(segment for segment in path.split("/") if segment)


def _is_parameter(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}") and not segment.endswith("+}")


def _is_greedy(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("+}")
