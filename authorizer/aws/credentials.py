"""AWS credentials for the authorizer's signed requests, found the way the SDKs find them on Lambda.

* Environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, which Lambda sets
  for the execution role. They are fixed for the life of the execution environment.
* Container credential provider: AWS_CONTAINER_CREDENTIALS_FULL_URI with
  AWS_CONTAINER_AUTHORIZATION_TOKEN (or _FILE). Lambda uses it instead of the variables above for
  functions with SnapStart, whose snapshot outlives any one set of keys. Fetched on first use,
  fetched again a while before they expire, and forgotten after a snapshot restore.

Refreshing, as botocore's refreshable credentials do: from 15 minutes before expiry (its advisory
window) a refresh is tried; if it fails, the cached keys are used on until 10 minutes before
expiry (its mandatory window), after which a failed refresh fails the request. Unlike botocore,
a failed refresh is not tried again on every request: the next try waits 1, 2, 4... up to 30 s
(up to 5 s while there are no usable keys at all, when every request is refused). Keys that live
shorter than 30 minutes are refreshed half-way and used until two thirds of the way. A fetch
takes no longer than the caller's deadline (the AWS call it signs for).

The variables are AWS's own and are read from the process environment at cold start, where the
SDKs read them; nothing else of the configuration is.
"""

from __future__ import annotations

import json
import math
import time
from _thread import allocate_lock  # threading.Lock itself, without importing threading (~1 ms)
from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

from authorizer.errors import ConfigurationError
from authorizer.log import ERROR, WARNING, get_logger, log_event

logger = get_logger("lambda_jwt_auth.credentials")

# botocore's RefreshableCredentials: refreshed from this long before expiry (advisory window)...
REFRESH_BEFORE_EXPIRY = 15 * 60  # _DEFAULT_ADVISORY_REFRESH_TIMEOUT
# ... and no longer used this long before expiry (mandatory window).
USABLE_UNTIL_BEFORE_EXPIRY = 10 * 60  # _DEFAULT_MANDATORY_REFRESH_TIMEOUT
# After a failed fetch the next waits 1, 2, 4... seconds, at most this long with usable cached
# keys, and at most NO_KEYS_RETRY_SECONDS without (every request is refused meanwhile).
MAX_RETRY_SECONDS = 30.0
NO_KEYS_RETRY_SECONDS = 5.0
_FETCH_TIMEOUT = 1.0
_FETCH_ATTEMPTS = 2
_MAX_BODY_BYTES = 64 * 1024
# The token goes to the container endpoint: only to the hosts AWS uses for it, or over https.
_CONTAINER_HOSTS = {"127.0.0.1", "localhost", "::1", "169.254.170.2", "169.254.170.23", "fd00:ec2::23"}
_ECS_HOST = "http://169.254.170.2"
# Throwaway keys for a local endpoint (moto, DynamoDB Local): neither checks signatures.
LOCAL_DUMMY = ("local-dummy-access-key", "local-dummy-secret")


class Credentials(NamedTuple):  # not a dataclass: ~1-3 ms less at cold start
    access_key: str
    secret_key: str
    session_token: str | None = None
    expires_at: float | None = None  # epoch seconds; None for keys that do not expire

    def __repr__(self) -> str:  # never the secret, never the token
        return f"Credentials(access_key={self.access_key!r}, expires_at={self.expires_at!r})"


class CredentialsError(Exception):
    """No usable credentials right now (the container endpoint failed or answered nonsense)."""


class CredentialSource(Protocol):
    def get(self, deadline: float | None = None) -> Credentials:
        """Usable credentials; any fetch they need done by `deadline` (time.monotonic())."""
        ...

    def forget(self) -> None:
        """Drop what is cached (after a snapshot restore, or when AWS refused the keys)."""


class StaticCredentials:
    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def get(self, deadline: float | None = None) -> Credentials:
        return self._credentials

    def forget(self) -> None:
        pass  # nothing to fetch again: these are the only keys there are


class ContainerCredentials:
    """Credentials from the container credential endpoint, refreshed as the module doc says."""

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        token_file: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._uri = uri
        self._token = token
        self._token_file = token_file
        self._clock = clock
        self._cached: Credentials | None = None
        self._refresh_at = 0.0  # clock() from which a refresh is tried
        self._usable_until = 0.0  # clock() until which the cached keys may sign requests
        self._failures = 0
        self._next_try = -math.inf  # clock() before which no fetch is tried after a failure
        self._lock = allocate_lock()

    def get(self, deadline: float | None = None) -> Credentials:
        cached, now = self._cached, self._clock()
        if cached is not None and now < self._refresh_at:
            return cached
        usable = cached is not None and now < self._usable_until
        # Another caller is refreshing: keep signing with what we have, if it may still be used.
        if not self._lock.acquire(blocking=not usable):
            assert cached is not None
            return cached
        try:
            cached, now = self._cached, self._clock()
            usable = cached is not None and now < self._usable_until
            if cached is not None and (now < self._refresh_at or (usable and now < self._next_try)):
                return cached
            if now < self._next_try:
                raise CredentialsError(
                    f"the container credential endpoint failed; next try in {self._next_try - now:.1f} s"
                )
            try:
                fetched = self._fetch(deadline)
            except CredentialsError as exc:
                self._failed(exc, cached if usable else None)
                if usable:
                    assert cached is not None
                    return cached
                raise
            self._store(fetched)
            return fetched
        finally:
            self._lock.release()

    def forget(self) -> None:
        with self._lock:
            self._cached = None
            self._failures = 0
            self._next_try = -math.inf

    def _store(self, fetched: Credentials) -> None:
        now, expires = self._clock(), fetched.expires_at
        if expires is None:
            self._refresh_at = self._usable_until = math.inf
        else:
            # botocore's windows; for keys that live shorter than 30 minutes, half-way and two
            # thirds of the way: never a fetch per request.
            lifetime = max(0.0, expires - now)
            self._refresh_at = expires - min(REFRESH_BEFORE_EXPIRY, lifetime / 2)
            self._usable_until = expires - min(USABLE_UNTIL_BEFORE_EXPIRY, lifetime / 3)
        self._cached = fetched
        self._failures = 0
        self._next_try = -math.inf

    def _failed(self, exc: CredentialsError, kept: Credentials | None) -> None:
        self._failures += 1
        cap = MAX_RETRY_SECONDS if kept is not None else NO_KEYS_RETRY_SECONDS
        wait = min(cap, 2.0 ** (self._failures - 1))
        self._next_try = self._clock() + wait
        log_event(
            logger,
            "credentials_refresh_failed",
            WARNING if kept is not None else ERROR,
            message="fetching credentials from the container endpoint failed"
            + ("; signing with the cached ones" if kept is not None else ""),
            error=str(exc),
            failures=self._failures,
            next_try_seconds=wait,
            cached_usable_seconds=round(self._usable_until - self._clock(), 1) if kept is not None else None,
        )

    def _fetch(self, deadline: float | None) -> Credentials:
        from authorizer.aws.http_connection import get

        headers = {"Accept": "application/json"}
        token = self._authorization()
        if token:
            headers["Authorization"] = token
        last = "no answer"
        for _ in range(_FETCH_ATTEMPTS):
            timeout = _FETCH_TIMEOUT if deadline is None else min(_FETCH_TIMEOUT, deadline - time.monotonic())
            if timeout <= 0:
                last = "no time left in the request's budget" if last == "no answer" else last
                break
            try:
                response = get(self._uri, headers, timeout=timeout, max_body=_MAX_BODY_BYTES)
            except (OSError, ValueError) as exc:
                last = type(exc).__name__
                continue
            if response.status == 200:
                return _parse(response.body)
            last = f"HTTP {response.status}"
        raise CredentialsError(f"the container credential endpoint answered {last}")

    def _authorization(self) -> str | None:
        if self._token_file:
            try:  # re-read on every fetch: the file is rotated under us
                with open(self._token_file, encoding="utf-8") as file:
                    return file.read().strip()
            except OSError as exc:
                raise CredentialsError(
                    f"cannot read the container authorization token file: {exc.strerror}"
                ) from None
        return self._token


def from_environment(environ: Mapping[str, str], *, local_endpoint: bool) -> CredentialSource:
    """The credentials the environment offers; `ConfigurationError` at cold start if none."""
    access_key = environ.get("AWS_ACCESS_KEY_ID", "").strip()
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY", "").strip()
    if access_key and secret_key:
        session_token = environ.get("AWS_SESSION_TOKEN", "").strip() or None
        return StaticCredentials(Credentials(access_key, secret_key, session_token))
    full_uri = environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI", "").strip()
    relative_uri = environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "").strip()
    if full_uri or relative_uri:
        uri = full_uri or _ECS_HOST + relative_uri
        _check_container_uri(uri)
        return ContainerCredentials(
            uri,
            token=environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN", "").strip() or None,
            token_file=environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "").strip() or None,
        )
    if local_endpoint:
        return StaticCredentials(Credentials(*LOCAL_DUMMY))
    raise ConfigurationError(
        "no AWS credentials for the denylist table: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
        "(Lambda sets them) or AWS_CONTAINER_CREDENTIALS_FULL_URI (Lambda with SnapStart), "
        "or point AUTH_DYNAMODB_ENDPOINT at a local DynamoDB"
    )


def _check_container_uri(uri: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _CONTAINER_HOSTS):
        return
    raise ConfigurationError(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https:// or http:// to a loopback or AWS "
        f"container credential address, got {uri!r}"
    )


def _parse(body: bytes) -> Credentials:
    try:
        document = json.loads(body)
        expiration = document.get("Expiration")
        return Credentials(
            access_key=str(document["AccessKeyId"]),
            secret_key=str(document["SecretAccessKey"]),
            session_token=str(document["Token"]) if document.get("Token") else None,
            expires_at=_epoch(expiration) if expiration else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CredentialsError("the container credential endpoint answered no credentials") from None


def _epoch(text: str) -> float:
    from datetime import datetime  # only with container credentials

    # ISO 8601, e.g. 2026-11-26T20:00:00Z; fromisoformat reads the Z from Python 3.11 on.
    return datetime.fromisoformat(text).timestamp()
