"""Tokens this container already verified, so the same token seen again skips the signature.

A bounded map from the exact token text to the claims its verification returned. It sits in
front of signature and claim verification only: the caller (`Authorizer.decide`) still asks the
revocation list about every token, cached or not. Its rules:

* only tokens that verified are stored; a refused token is verified (and refused) every time;
* an entry is never used at or after the moment the verifier would refuse the token as expired
  (`exp` + leeway, compared as the verifier does), and is dropped when met there;
* bounded in entries and in bytes (a token may be up to AUTH_MAX_TOKEN_BYTES long): the least
  recently used entries go first, so a client calling again keeps its entry while new tokens
  pass through;
* an entry is used for at most `max_age` seconds (the keys' max age), then the token is verified
  again: that lookup is what re-reads aged keys, so a key withdrawn since is noticed even for a
  token that is presented over and over;
* `clear()` forgets everything: called whenever a key set changes (`JwksCache.on_change`), so a
  key rotated out stops vouching for tokens at once.

The key is the whole token, so two issuers' tokens can never share an entry, and neither can two
spellings of one token (a malleated signature is another string: verified on its own).
"""

from __future__ import annotations

import math
import time
from _thread import allocate_lock  # threading.Lock itself, without importing threading (~1 ms)
from collections import OrderedDict
from collections.abc import Callable

from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.issuers import Verifier

DEFAULT_MAX_ENTRIES = 1000
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
# What an entry is reckoned to cost: its text, the decoded payload as Python objects (a few times
# its JSON, itself 3/4 of the text at most) and a fixed part for the claims object and the map
# slot. An estimate on the generous side, used only to bound memory.
_BYTES_PER_TOKEN_CHARACTER = 4
_ENTRY_OVERHEAD_BYTES = 1024


class VerifiedTokenCache:
    """A `Verifier` that remembers what `verifier` accepted; see the module doc."""

    def __init__(
        self,
        verifier: Verifier,
        *,
        leeway: int,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age: float = math.inf,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("a verified-token cache needs room for at least one entry")
        self._verifier = verifier
        # Must not exceed the leeway of any verifier behind `verifier` (bootstrap gives all the same).
        self._leeway = leeway
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._max_age = max_age
        self._clock = clock
        # token -> (when it is verified again: expired, or aged; claims); least recently used
        # first. An OrderedDict: moving an entry to the end and dropping the first are O(1) (a
        # plain dict's first entry is found by skipping every slot deleted before it).
        self._entries: OrderedDict[str, tuple[float, TokenClaims]] = OrderedDict()
        self._bytes = 0
        # Bumped by clear(): a token verified while the keys changed is not stored afterwards.
        self._generation = 0
        self._lock = allocate_lock()  # writers only; a lookup is a dict read and an O(1) move

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """The estimated memory the entries hold (what `max_bytes` bounds)."""
        return self._bytes

    def verify(self, token: str) -> TokenClaims:
        entries = self._entries
        entry = entries.get(token)
        if entry is not None:
            if self._clock() < entry[0]:
                try:  # noqa: SIM105 - contextlib.suppress costs a context manager per request
                    entries.move_to_end(token)
                except KeyError:  # dropped by another thread since the lookup: still valid
                    pass
                return entry[1]
            self._forget(token)
        generation = self._generation
        claims = self._verifier.verify(token)  # raises for a refused token: nothing is stored
        self._store(token, claims, generation)
        return claims

    def clear(self) -> None:
        with self._lock:
            self._entries = OrderedDict()
            self._bytes = 0
            self._generation += 1

    def _store(self, token: str, claims: TokenClaims, generation: int) -> None:
        cost = _BYTES_PER_TOKEN_CHARACTER * len(token) + _ENTRY_OVERHEAD_BYTES  # as `_cost`
        if cost > self._max_bytes:
            return
        aged = self._clock() + self._max_age
        expired = claims.exp + self._leeway
        deadline = expired if expired < aged else aged
        with self._lock:
            entries = self._entries
            if generation != self._generation or token in entries:
                return  # verified while the keys changed (possibly with a withdrawn key), or stored
            if len(entries) >= self._max_entries or self._bytes + cost > self._max_bytes:
                self._make_room(cost)
            entries[token] = (deadline, claims)
            self._bytes += cost

    def _make_room(self, cost: int) -> None:
        """Drop the least recently used entries until one of `cost` fits (the lock is held)."""
        entries = self._entries
        while entries and (len(entries) >= self._max_entries or self._bytes + cost > self._max_bytes):
            oldest, _ = entries.popitem(last=False)
            self._bytes -= _cost(oldest)

    def _forget(self, token: str) -> None:
        with self._lock:
            if self._entries.pop(token, None) is not None:
                self._bytes -= _cost(token)


def _cost(token: str) -> int:
    return _BYTES_PER_TOKEN_CHARACTER * len(token) + _ENTRY_OVERHEAD_BYTES
