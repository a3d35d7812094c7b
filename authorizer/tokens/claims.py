"""The verified claims of a token, as a typed object."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")

ORIGIN_CLAIM = "origin_jti"  # the Cognito login a token descends from: Cognito's claim, and ours
# What our own tokens called it before they took Cognito's name. Such tokens are still about
# (refresh tokens live 30 days): read here, and nowhere else, so they are judged the same way.
LEGACY_ORIGIN_CLAIM = "cognito_origin_jti"


def origin_claim(payload: Mapping[str, Any]) -> object:
    """The token's `origin_jti`, unchecked: the value of the claim, or of its legacy name."""
    origin = payload.get(ORIGIN_CLAIM)
    return payload.get(LEGACY_ORIGIN_CLAIM) if origin is None else origin


def session_start_of(auth_time: object, iat: int) -> int:
    """When the session a token belongs to began: `auth_time` if it is a NumericDate, else `iat`.

    Never later than `iat`: an issuer's clock running ahead at login must not move a session's
    start past a sign-out that came after the token was issued.
    """
    if isinstance(auth_time, float) and math.isfinite(auth_time):
        start = math.floor(auth_time)
    elif isinstance(auth_time, int) and not isinstance(auth_time, bool):
        start = auth_time
    else:
        return iat
    return min(start, iat)


class _computed_once(Generic[_T]):  # lower case: used like `functools.cached_property`
    """`functools.cached_property` without its lock, which Python 3.11 takes on every first read
    (one per attribute per token, on the authorizer's hot path). Two threads reading at once may
    both compute the value: the same value, from frozen fields."""

    def __init__(self, compute: Callable[[Any], _T]) -> None:
        self._compute = compute
        self._name = compute.__name__
        self.__doc__ = compute.__doc__

    def __get__(self, instance: Any, owner: type | None = None) -> _T:
        if instance is None:
            # Read on the class: the descriptor itself.
            return self  # type: ignore[return-value]
        value = instance.__dict__[self._name] = self._compute(instance)
        return value


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
    origin_jti: str | None = None  # the Cognito login (its refresh token) the token descends from
    groups: tuple[str, ...] = ()  # Cognito: `cognito:groups`
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @_computed_once  # asked for each request; a cached token's claims answer at once
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    @_computed_once  # read by the revocation check, the context and the log of each request
    def issuer(self) -> str:
        return str(self.raw.get("iss", ""))

    @_computed_once  # the verifier sets it at once (`verified_claims`); built by hand, from `raw`
    def session_start(self) -> int:
        """When the token's session began (`session_start_of`): a user's sign-out ("not before")
        is judged by it, not by when this token was issued."""
        return session_start_of(self.raw.get("auth_time"), self.iat)

    @_computed_once  # a cached token's claims come again: its context is built once, read-only
    def authorizer_context(self) -> MappingProxyType[str, str | int]:
        """What protected handlers receive from the authorizer (`authorizer.gateway.responses.context`)."""
        return MappingProxyType(
            {
                "sub": self.sub,
                "scope": self.scope,
                "sid": self.sid or "",
                "jti": self.jti,
                "client_id": self.client_id or "",
                "exp": self.exp,
                "iss": self.issuer,
                "groups": " ".join(self.groups),
            }
        )


_set_dict = object.__setattr__  # a frozen dataclass refuses its own __setattr__


def verified_claims(
    sub: str,
    jti: str,
    iat: int,
    exp: int,
    scope: str,
    sid: str | None,
    client_id: str | None,
    origin_jti: str | None,
    groups: tuple[str, ...],
    raw: Mapping[str, Any],
    started: int,
) -> TokenClaims:
    """`TokenClaims(...)` for the verifier's hot path: the same object, built in a third of the time.

    A frozen dataclass sets each field through `object.__setattr__`; filling `__dict__` at once
    skips that per-field cost. Every argument is required, so no default can be forgotten.
    `issuer`, which every request reads (the revocation check's cache key), is set at once too,
    and so are `session_start` (`started`, which the caller computed from the claims it checked)
    and `scopes`.
    """
    claims = object.__new__(TokenClaims)
    _set_dict(
        claims,
        "__dict__",
        {
            "sub": sub,
            "jti": jti,
            "iat": iat,
            "exp": exp,
            "scope": scope,
            "sid": sid,
            "client_id": client_id,
            "origin_jti": origin_jti,
            "groups": groups,
            "raw": raw,
            "issuer": str(raw.get("iss", "")),
            "session_start": started,
            "scopes": frozenset(scope.split()),  # every route check reads them
        },
    )
    return claims
