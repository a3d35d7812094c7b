"""Keys a container re-reads while it runs, so a rotation or a revoked key needs no redeploy.

A warm Lambda container would otherwise keep the keys of its cold start for hours. Here the keys
are read at cold start (a failure there fails the cold start, loudly), then again once they are
`max_age` seconds old, and at once when a token names a `kid` we do not know (a key published
since), at most once per `cooldown`, whatever the tokens say. A failed re-read keeps the keys we
have, logs a warning and is retried after the cooldown: an SSM hiccup never stops logins.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from authorizer.errors import KidNotFoundError
from authorizer.tokens.keys import KeySet, VerificationKey

logger = logging.getLogger("lambda_jwt_auth.keys")

T = TypeVar("T")


@dataclass(frozen=True)
class _Loaded(Generic[T]):
    value: T
    loaded_at: float


class Reloading(Generic[T]):
    """A value from `load()`, loaded now and again after `max_age` seconds (see the module doc)."""

    def __init__(
        self,
        load: Callable[[], T],
        *,
        what: str,
        max_age: float,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[T, T], None] | None = None,
        same: Callable[[T, T], bool] = lambda a, b: a == b,
    ) -> None:
        self._load, self._what = load, what
        self._max_age, self._cooldown, self._clock = max_age, cooldown, clock
        self._on_change, self._same = on_change, same
        self._lock = threading.Lock()
        self._state = _Loaded(load(), clock())  # at cold start: a failure here is fatal
        self._retry_at = -1.0
        self.loads = 1

    def get(self) -> T:
        state = self._state
        if self._clock() - state.loaded_at < self._max_age:
            return state.value
        return self.reload(aged=True)

    def reload(self, *, aged: bool = False) -> T:
        """Load again now: because the value is `aged`, or because it lacks something asked for
        (an unknown kid), then at most once per cooldown. Never within the cooldown of a failure."""
        with self._lock:
            now = self._clock()
            state = self._state
            if now < self._retry_at or (not aged and now - state.loaded_at < self._cooldown):
                return state.value
            if aged and now - state.loaded_at < self._max_age:
                return state.value  # another thread reloaded while we waited
            self.loads += 1
            try:
                value = self._load()
            except Exception as exc:  # keep what we have: the next attempt after the cooldown
                self._retry_at = now + self._cooldown
                logger.warning(
                    "re-reading %s failed (%s: %s); keeping the keys read %.0f s ago, next try in %.0f s",
                    self._what,
                    type(exc).__name__,
                    str(exc)[:200],
                    now - state.loaded_at,
                    self._cooldown,
                )
                return state.value
            self._state = _Loaded(value, self._clock())
            if self._on_change is not None and not self._same(state.value, value):
                self._on_change(state.value, value)
            return value


@dataclass(frozen=True, eq=False)
class PublishedKeys:
    """A JWKS as published and the key set built from it (two are the same when their JWKS are)."""

    jwks: dict[str, Any]
    key_set: KeySet


class LiveKeySet:
    """The published keys as a `KeyLookup`: an unknown `kid` re-reads them (once per cooldown)."""

    def __init__(self, keys: Reloading[PublishedKeys]) -> None:
        self._keys = keys

    def jwks(self) -> dict[str, Any]:
        return self._keys.get().jwks

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys.get().key_set.kids)

    @property
    def algorithms(self) -> tuple[str, ...]:
        return self._keys.get().key_set.algorithms

    def get(self, kid: str) -> VerificationKey:
        try:
            return self._keys.get().key_set.get(kid)
        except KidNotFoundError:
            return self._keys.reload().key_set.get(kid)
