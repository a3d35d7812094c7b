"""AWS credentials for the authorizer's signed requests, found the way the SDKs find them on Lambda.

* Environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, which Lambda sets
  for the execution role. They are fixed for the life of the execution environment.
* Container credential provider: AWS_CONTAINER_CREDENTIALS_FULL_URI with
  AWS_CONTAINER_AUTHORIZATION_TOKEN (or _FILE). Lambda uses it instead of the variables above for
  functions with SnapStart, whose snapshot outlives any one set of keys. Fetched on first use,
  fetched again a while before they expire, and forgotten after a snapshot restore.

The variables are AWS's own and are read from the process environment at cold start, where the
SDKs read them; nothing else of the configuration is.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

from authorizer.errors import ConfigurationError

# Refreshed this long before they expire (botocore's container provider: 15 min advisory).
REFRESH_BEFORE_EXPIRY = 15 * 60
_FETCH_TIMEOUT = 1.0
_FETCH_ATTEMPTS = 2
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
    def get(self) -> Credentials: ...

    def forget(self) -> None:
        """Drop what is cached (after a snapshot restore, or when AWS refused the keys)."""


class StaticCredentials:
    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def get(self) -> Credentials:
        return self._credentials

    def forget(self) -> None:
        pass  # nothing to fetch again: these are the only keys there are


class ContainerCredentials:
    """Credentials from the container credential endpoint, cached until shortly before expiry."""

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
        self._refresh_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> Credentials:
        cached = self._cached
        if cached is not None and self._clock() < self._refresh_at:
            return cached
        with self._lock:
            if self._cached is None or self._clock() >= self._refresh_at:
                fetched = self._fetch()
                now = self._clock()
                expires = fetched.expires_at
                # 15 min before expiry, or half-way for keys that live shorter than 30 min: never
                # a fetch per request.
                lead = (
                    REFRESH_BEFORE_EXPIRY
                    if expires is None
                    else min(REFRESH_BEFORE_EXPIRY, (expires - now) / 2)
                )
                self._refresh_at = float("inf") if expires is None else expires - lead
                self._cached = fetched
            return self._cached

    def forget(self) -> None:
        self._cached = None

    def _fetch(self) -> Credentials:
        from authorizer.http1 import Connection, tls_context

        parts = urlsplit(self._uri)
        https = parts.scheme == "https"
        headers = {"Host": parts.netloc, "Accept": "application/json"}
        token = self._authorization()
        if token:
            headers["Authorization"] = token
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        port = parts.port or (443 if https else 80)
        last = "no answer"
        for _ in range(_FETCH_ATTEMPTS):
            connection = Connection(
                parts.hostname or "",
                port,
                tls=tls_context() if https else None,
                connect_timeout=_FETCH_TIMEOUT,
            )
            try:
                response = connection.exchange("GET", path, headers, b"", _FETCH_TIMEOUT)
            except (OSError, ValueError) as exc:
                last = type(exc).__name__
                continue
            finally:
                connection.close()
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
