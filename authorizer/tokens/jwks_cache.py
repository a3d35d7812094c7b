"""Trusted keys fetched from a JWKS URL, cached for the life of the container.

The Lambda authorizer must not call the issuer's JWKS endpoint per request, nor let a token
decide when (or where) we fetch. So:

* the key set is fetched once (at cold start with `preload()`, else on the first `get`) and reused;
* concurrent lookups share one fetch: threads that waited for it use its result;
* an unknown `kid` (a key rotation) prompts one refetch, then a cooldown: during it unknown kids
  are refused at once, so a flood of tokens with made-up kids cannot hammer the endpoint;
* keys older than `max_age_seconds` are refetched on the next lookup;
* a failed fetch keeps the last good key set (stale-on-failure), logs a warning and also starts
  the cooldown; with no good key set at all, lookups raise `JwksUnavailableError`, a
  `TokenError`, so the request is refused (401/403) rather than failing with a 500.

Fetches go only to the configured http(s) URL, never follow redirects, and are bounded in time
(the whole fetch, connect and headers included) and size. They use the authorizer's own HTTP
connection (authorizer.aws.http_connection: the standard library's http.client, strictly framed)
and its one TLS context (authorizer.aws.tls), through HTTPS_PROXY if set (authorizer.aws.proxy).

Whoever keeps something derived from the keys (the verified-token cache) registers with
`on_change`: it is called each time a fetch replaces the key set.
"""

from __future__ import annotations

import functools
import json
import math
import time
from _thread import allocate_lock  # threading.Lock itself, without importing threading (~1 ms)
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from authorizer import metrics
from authorizer.errors import ConfigurationError, KidNotFoundError, TokenError
from authorizer.log import get_logger
from authorizer.tokens.keys import KeySet, VerificationKey, verification_key

logger = get_logger(__name__)

Fetch = Callable[[str, float], bytes]

_ALLOWED_SCHEMES = ("http", "https")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_USER_AGENT = "lambda-jwt-auth-jwks-cache"


# Without any good key set, a failed fetch is retried this soon (the cooldown applies otherwise).
NO_KEYS_RETRY_SECONDS = 5.0


class JwksUnavailableError(TokenError):
    """No trusted key set could be fetched yet, so no token can be verified: refuse the request."""


class InvalidJwksError(ValueError):
    """A fetched JWKS response is unusable: wrong status, too large, not JSON, or no usable key."""


class JwksStatusError(InvalidJwksError):
    """The JWKS URL answered with a status other than 200 (a redirect too: none is followed)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"JWKS response status is {status}, not 200")
        self.status = status


@dataclass(frozen=True)
class _State:
    """Replaced as a whole, so a lock-free reader always sees a consistent key set and age."""

    keys: KeySet | None  # None until a fetch has succeeded
    fetched_at: float  # clock() when `keys` were fetched; meaningless while keys is None
    # Bumped by every fetch attempt, good or failed: a thread that waited on the lock compares
    # it with what it saw before waiting to tell that someone fetched for it meanwhile.
    generation: int


class JwksCache:
    """Looks up verification keys by `kid` in a JWKS fetched from one URL; see the module doc."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 2.0,
        cooldown_seconds: float = 60.0,
        max_age_seconds: float = 3600.0,
        max_bytes: int = 512_000,
        clock: Callable[[], float] = time.monotonic,
        fetch: Fetch | None = None,
    ) -> None:
        _check_url(url)
        if timeout_seconds <= 0 or cooldown_seconds < 0 or max_age_seconds <= 0 or max_bytes <= 0:
            raise ConfigurationError("JWKS cache timeout, max age and size must be positive")
        self._setup(url, None, timeout_seconds, cooldown_seconds, max_age_seconds, max_bytes, clock)
        self._fetch = fetch or functools.partial(http_get, max_bytes=max_bytes)

    @classmethod
    def from_document(cls, jwks: Any) -> JwksCache:
        """Keys from a JWKS we were given (inline or read from a file): no network, ever.

        This is our own configuration, so it is checked strictly: any unusable key is a
        `ConfigurationError` at cold start. `jwks` is the parsed document or its JSON text.
        """
        if isinstance(jwks, str | bytes):
            try:
                jwks = json.loads(jwks)
            except ValueError:
                raise ConfigurationError("the JWKS is not valid JSON") from None
        keys = KeySet.from_jwks(jwks)
        cache = cls.__new__(cls)  # not __init__: there is no URL to check, and none to fetch
        cache._setup(None, keys, math.inf, math.inf, math.inf, 0, time.monotonic)
        cache._fetch = _never_fetch
        return cache

    @classmethod
    def from_loader(
        cls,
        load: Callable[[], bytes | str],
        what: str,
        *,
        max_age_seconds: float,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> JwksCache:
        """Keys we configured (our own JWKS in SSM) read now, strictly (a `ConfigurationError`
        at cold start), then re-read by `load()` like a fetched JWKS: once `max_age_seconds` old,
        and on an unknown `kid` at most once per cooldown. `what` names the source in the log."""
        first = load()
        try:
            document = json.loads(first)
        except ValueError:
            raise ConfigurationError(f"{what}: the JWKS is not valid JSON") from None
        keys = KeySet.from_jwks(document)
        cache = cls.__new__(cls)
        cache._setup(what, keys, math.inf, cooldown_seconds, max_age_seconds, 512_000, clock)
        cache._host = what
        cache._last_body = first.encode("utf-8") if isinstance(first, str) else first

        def fetch(url: str, timeout: float) -> bytes:
            body = load()
            return body.encode("utf-8") if isinstance(body, str) else body

        cache._fetch = fetch
        return cache

    def _setup(
        self,
        url: str | None,
        keys: KeySet | None,
        timeout: float,
        cooldown: float,
        max_age: float,
        max_bytes: int,
        clock: Callable[[], float],
    ) -> None:
        self._url = url  # None: a static document, never refetched
        # What we log: the host, never the whole URL (its query or user info may hold secrets).
        self._host = (urlsplit(url).hostname or "?") if url else "inline JWKS"
        self._timeout = timeout
        self._cooldown = cooldown
        self._max_age = max_age
        self._max_bytes = max_bytes
        self._clock = clock
        self._state = _State(keys=keys, fetched_at=-math.inf if keys is None else clock(), generation=0)
        self._lock = allocate_lock()
        self._cooldown_until = -math.inf  # guarded by _lock
        self._fetch_count = 0
        self._last_skipped: list[str] = []  # guarded by _lock
        self._listeners: list[Callable[[], None]] = []
        self._last_body: bytes | None = None  # the last body fetched

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener()` whenever a fetch replaces a key set we had (a refresh or a rotation)."""
        self._listeners.append(listener)

    @property
    def has_keys(self) -> bool:
        """Whether a key set has been fetched (or was given)."""
        return self._state.keys is not None

    @property
    def fetch_count(self) -> int:
        """Fetch attempts so far, successful or not (for tests and metrics)."""
        return self._fetch_count

    def preload(self) -> None:
        """Fetch now (at cold start) unless a fresh key set is already cached.

        Never raises: a failure is logged and the next `get` retries once the cooldown is over,
        so a brief outage of the endpoint does not fail the container's initialisation.
        """
        with self._lock:
            state, now = self._state, self._clock()
            if self._url is None or (state.keys is not None and not self._is_old(state, now)):
                return
            if now >= self._cooldown_until:
                self._fetch_and_store()

    def get(self, kid: str) -> VerificationKey:
        """The key for `kid`; `KidNotFoundError` or `JwksUnavailableError` (both `TokenError`)."""
        seen = self._state
        cached = _find(seen.keys, kid)
        if cached is not None and not self._is_old(seen, self._clock()):
            return cached  # the common case: no lock, no fetch
        if cached is not None:
            # Keys past their max age still serve while one thread refreshes them.
            if not self._lock.acquire(blocking=False):
                return cached
        else:
            self._lock.acquire()
        try:
            if self._state.generation == seen.generation:
                self._refresh_for(kid)
            # else: another thread fetched while we waited; its result is the newest there is.
            return self._lookup(self._state, kid)
        finally:
            self._lock.release()

    # ------------------------------------------------------------------ internals

    def _is_old(self, state: _State, now: float) -> bool:
        return self._url is not None and now - state.fetched_at >= self._max_age

    def _refresh_for(self, kid: str) -> None:
        """Fetch if `kid` calls for it and the cooldown allows. Caller holds the lock."""
        state, now = self._state, self._clock()
        if self._url is None or now < self._cooldown_until:
            return  # a static document, or in the penalty box: answer from what we have
        fresh = state.keys is not None and not self._is_old(state, now)
        if fresh and _find(state.keys, kid) is not None:
            return
        self._fetch_and_store()
        if fresh:
            # The kid was unknown to a fresh key set. Whether the refetch finds it or not, the next
            # unknown kid waits: refetches prompted by tokens stay at one per cooldown, whatever
            # an attacker sends.
            self._cooldown_until = max(self._cooldown_until, self._clock() + self._cooldown)

    def _fetch_and_store(self) -> None:
        """One fetch attempt; on failure keep the last good keys and start the cooldown."""
        assert self._url is not None
        self._fetch_count += 1
        metrics.count(metrics.JWKS_FETCHES)
        state = self._state
        try:
            body = self._fetch(self._url, self._timeout)
            unchanged = body == self._last_body
            keys, skipped = _parse_jwks(body, self._max_bytes)
        except Exception as exc:  # any failure (network, HTTP, JSON, keys...) must not fail requests
            self._state = replace(state, generation=state.generation + 1)
            self._cooldown_until = self._clock() + self._retry_after_failure(state)
            self._log_failure(exc, state)
            metrics.count(metrics.JWKS_FETCH_FAILURES)
            return
        if skipped != self._last_skipped:  # say it once, not at every refetch of the same set
            self._last_skipped = skipped
            for reason in skipped:
                logger.warning("JWKS from %s: skipped a key: %s", self._host, reason)
        self._state = _State(keys=keys, fetched_at=self._clock(), generation=state.generation + 1)
        self._last_body = body
        logger.info("JWKS fetched from %s: %d key(s)", self._host, len(keys))
        if (
            state.keys is not None and not unchanged
        ):  # replaced (refreshed or rotated), not just fetched at last
            for listener in self._listeners:
                listener()

    def _retry_after_failure(self, state: _State) -> float:
        # With stale keys we can wait out the whole cooldown; with none, every token is refused,
        # so try again sooner (still bounded: one fetch per NO_KEYS_RETRY_SECONDS at most).
        return self._cooldown if state.keys is not None else min(self._cooldown, NO_KEYS_RETRY_SECONDS)

    def _log_failure(self, exc: Exception, state: _State) -> None:
        if state.keys is None:
            outcome = "no keys are available, tokens are refused until a fetch succeeds"
        else:
            outcome = f"keeping the {len(state.keys)} key(s) fetched before"
        logger.warning(
            "JWKS fetch from %s failed (%s: %s); %s; next attempt in %.0f s at the earliest",
            self._host,
            type(exc).__name__,
            str(exc)[:200],
            outcome,
            self._retry_after_failure(state),
        )

    def _lookup(self, state: _State, kid: str) -> VerificationKey:
        if state.keys is None:
            raise JwksUnavailableError("the trusted key set could not be fetched")
        return state.keys.get(kid)


def lenient_key_set(jwks: Any) -> tuple[KeySet, list[str]]:
    """A key set from a JWKS someone else publishes: unusable keys are skipped, not fatal.

    The issuer may publish keys we do not support (other types, encryption keys) beside the ones
    we need, and that must not stop us from using the rest. Returns the keys and why each skipped
    one was skipped; raises `InvalidJwksError` if the document is malformed or no key is usable.
    """
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise InvalidJwksError('JWKS is not a JSON object with a "keys" list')
    usable: list[VerificationKey] = []
    skipped: list[str] = []
    for index, jwk in enumerate(jwks["keys"]):
        try:
            usable.append(verification_key(jwk))
        except (ValueError, TypeError) as exc:
            skipped.append(f"key #{index}: {exc}")
    usable = _drop_ambiguous(usable, skipped)
    if not usable:
        raise InvalidJwksError(f"JWKS holds no usable key ({len(jwks['keys'])} published)")
    return KeySet(usable), skipped


def _drop_ambiguous(keys: list[VerificationKey], skipped: list[str]) -> list[VerificationKey]:
    # Two keys under one kid: we cannot tell which one a token means, so trust neither.
    counts: dict[str, int] = {}
    for key in keys:
        counts[key.kid] = counts.get(key.kid, 0) + 1
    skipped.extend(f"kid {kid!r} names {n} keys" for kid, n in counts.items() if n > 1)
    return [key for key in keys if counts[key.kid] == 1]


def _parse_jwks(body: bytes, max_bytes: int) -> tuple[KeySet, list[str]]:
    # Checked here too, since an injected `fetch` need not enforce the limit itself.
    if len(body) > max_bytes:
        raise InvalidJwksError(f"JWKS response is larger than {max_bytes} bytes")
    try:
        document = json.loads(body)
    except ValueError:  # also UnicodeDecodeError
        raise InvalidJwksError("JWKS response is not JSON") from None
    return lenient_key_set(document)


def _never_fetch(url: str, timeout: float) -> bytes:
    raise AssertionError("a JwksCache built from a document never fetches")


def _find(keys: KeySet | None, kid: str) -> VerificationKey | None:
    if keys is None:
        return None
    try:
        return keys.get(kid)
    except KidNotFoundError:
        return None


def _check_url(url: str) -> None:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in _ALLOWED_SCHEMES or not parts.hostname:
        raise ConfigurationError("the JWKS URL must be an absolute http:// or https:// URL")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        # Allowed (an endpoint inside a VPC), but whoever can tamper with the traffic picks our keys.
        logger.warning(
            "JWKS URL on %s uses plain http: its keys are not protected in transit", parts.hostname
        )


def http_get(url: str, timeout: float, *, max_bytes: int) -> bytes:
    """GET `url` without following redirects, all of it within `timeout` s and `max_bytes` bytes."""
    from authorizer.aws.http_connection import AnswerTooLargeError, get

    if urlsplit(url).scheme not in _ALLOWED_SCHEMES:
        raise InvalidJwksError("only http:// and https:// URLs are fetched")
    headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
    try:
        response = get(url, headers, timeout=timeout, max_body=max_bytes)
    except AnswerTooLargeError:
        raise InvalidJwksError(f"JWKS response is larger than {max_bytes} bytes") from None
    if response.status != 200:  # a redirect too: it could take us to a host we did not configure
        raise JwksStatusError(response.status)
    return response.body
