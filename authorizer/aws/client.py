"""A minimal signed client for AWS JSON-protocol APIs (DynamoDB, SSM), without boto3.

The authorizer makes one kind of call per request, a DynamoDB BatchGetItem; importing and
building boto3 for it cost more than the rest of a cold start together. This client sends that
one POST over a kept-alive connection (one per container; authorizer.aws.http_connection, on the
standard library's http.client), signed with SigV4 (authorizer.aws.sigv4).

Time budget. Every function has a 10 s timeout (serverless.yml). One call takes at most

    attempts x (connect_timeout + read_timeout) + the backoff between attempts

(`worst_case_seconds`), fetching the credentials it signs with included: the call has that
deadline, and every wait within it (a credential fetch, a connect, an answer) gets what is left.
The denylist check, which may repeat its BatchGetItem for keys DynamoDB left unprocessed, is held
to `AUTHORIZER_DENYLIST_CHECK_SECONDS` as a whole. tests/unit/test_faults_sdk_budget.py checks
these numbers and measures them against misbehaving local endpoints. The read timeout bounds the
whole answer, not each read from the socket: a trickling answer, its status line and headers
included, fails like a silent one.

What is retried (2 attempts in all): refused, reset or timed-out connections, answers that are
not exact HTTP/1.1, HTTP 5xx, throttling errors and a checksum mismatch, after a jittered
backoff. A kept-alive connection the server closed while we were idle (a Lambda freeze, a
SnapStart restore) is reopened and the request sent again at once, within the same attempt.
Never retried: other 4xx errors, and a 2xx answer whose body is not a JSON object (it would read
as "nothing revoked"): it is an error.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from authorizer.aws.credentials import CredentialsError, CredentialSource
from authorizer.aws.http_connection import Connection, RemoteDisconnected, Response, host_header
from authorizer.aws.sigv4 import authorization


class ClientSettings(NamedTuple):  # not a dataclass: ~1-3 ms less at cold start
    connect_timeout: float = 0.5
    read_timeout: float = 1.0
    attempts: int = 2
    # Full jitter: the n-th retry waits random() x min(max_backoff, scale x 2^(n-1)).
    throttling_backoff: float = 1.0  # botocore's scale for throttling errors
    transient_backoff: float = 0.05
    max_backoff: float = 20.0
    max_idle_seconds: float = 30.0  # a connection idle longer is reopened rather than trusted


# The authorizer sits in front of every API request: fail (closed) fast rather than hold the
# request. One retry absorbs a single dropped connection or throttled read.
AUTHORIZER_CLIENT = ClientSettings()

# The authorizer's whole denylist check, follow-up BatchGetItem calls included. With the JWKS
# fetch of a trusted issuer (AUTH_JWKS_FETCH_TIMEOUT_MS, 2 s by default) it leaves room in 10 s.
AUTHORIZER_DENYLIST_CHECK_SECONDS = 5.0

THROTTLING_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "LimitExceededException",
        "TransactionInProgressException",
    }
)
# AWS refused the keys: cached container credentials are fetched again before the retry.
CREDENTIAL_ERRORS = frozenset(
    {"ExpiredTokenException", "UnrecognizedClientException", "InvalidSignatureException"}
)


class AwsRequestError(Exception):
    """A call failed. `error` and `code` are what a log line says about it: never secrets."""

    retryable = False

    def __init__(self, error: str, code: str | None = None, message: str = "") -> None:
        super().__init__(f"{error}" + (f" ({code})" if code else "") + (f": {message}" if message else ""))
        self.error = error  # the kind of failure, or the service's error code
        self.code = code  # the service's error code, or a detail such as the HTTP status


class ServiceError(AwsRequestError):
    """The service answered with an error (HTTP status >= 300)."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(code or "HTTPError", code or str(status), message)
        self.status = status
        self.retryable = status >= 500 or code in THROTTLING_ERRORS
        self.throttling = code in THROTTLING_ERRORS


class ConnectionFailedError(AwsRequestError):
    """No answer: the connection was refused, reset, timed out or closed mid-answer."""

    retryable = True


class ChecksumError(AwsRequestError):
    """The answer does not match its x-amz-crc32: damaged on the way."""

    retryable = True


class MalformedResponseError(AwsRequestError):
    """A 2xx answer whose body is not a JSON object: we cannot tell what it means, so it is a fault."""


def worst_case_seconds(settings: ClientSettings) -> float:
    """The longest one call made with `settings` can take, retries and backoff included.

    Name resolution is not bounded by any timeout; AWS endpoints resolve from the Lambda's cache
    in practice.
    """
    backoff = sum(
        min(settings.throttling_backoff * 2.0 ** (retry - 1), settings.max_backoff)
        for retry in range(1, settings.attempts)
    )
    return settings.attempts * (settings.connect_timeout + settings.read_timeout) + backoff


def denylist_follow_up_window(settings: ClientSettings = AUTHORIZER_CLIENT) -> float:
    """How long after its first BatchGetItem the denylist check may still start another one."""
    return AUTHORIZER_DENYLIST_CHECK_SECONDS - worst_case_seconds(settings)


class JsonClient:
    """POSTs to one AWS JSON-protocol endpoint over kept-alive connections: one in a Lambda
    execution environment (one request at a time), one per concurrent caller elsewhere."""

    def __init__(
        self,
        *,
        service: str,
        target_prefix: str,
        json_version: str,
        region: str,
        endpoint: str,
        credentials: CredentialSource,
        settings: ClientSettings = AUTHORIZER_CLIENT,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint!r}")
        self._service = service
        self._target_prefix = target_prefix
        self._content_type = f"application/x-amz-json-{json_version}"
        self._region = region
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._host_header = host_header(parts.hostname, parts.port, self._https)
        self._path = parts.path or "/"
        self._credentials = credentials
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        # Idle kept-alive connections and when each was last used. A Lambda environment handles
        # one request at a time and keeps one; concurrent callers (the local server's threads)
        # each take their own. list.append and list.pop are atomic in CPython.
        self._idle: list[tuple[Connection, float]] = []

    @property
    def endpoint(self) -> str:
        return f"{'https' if self._https else 'http'}://{self._host_header}{self._path}"

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """The operation's answer, a JSON object; `AwsRequestError` if there is none to trust."""
        body = json.dumps(params, separators=(",", ":")).encode()
        settings = self.settings
        deadline = time.monotonic() + worst_case_seconds(settings)
        for attempt in range(1, settings.attempts + 1):
            try:
                return self._attempt(operation, body, deadline)
            except AwsRequestError as exc:
                if not exc.retryable or attempt == settings.attempts:
                    raise
                throttled = isinstance(exc, ServiceError) and exc.throttling
                scale = settings.throttling_backoff if throttled else settings.transient_backoff
                import random  # only once a retry is due: not a cold-start import

                delay = random.random() * min(settings.max_backoff, scale * 2.0 ** (attempt - 1))  # noqa: S311
                (self._sleep or _backoff)(min(delay, max(0.0, deadline - time.monotonic())))
        raise AssertionError("unreachable")  # pragma: no cover

    def connect(self) -> None:
        """Open the connection now (after a snapshot restore, say) rather than on the next call."""
        self.close()
        connection = self._new_connection()
        connection.open()
        self._idle.append((connection, time.monotonic()))

    def close(self) -> None:
        """Close every idle connection (one in use is closed by its caller's end of use)."""
        while self._idle:
            try:
                connection, _ = self._idle.pop()
            except IndexError:
                break
            connection.close()

    def _attempt(self, operation: str, body: bytes, deadline: float) -> dict[str, Any]:
        try:
            headers = self.signed_headers(operation, body, deadline=deadline)
        except CredentialsError as exc:
            raise AwsRequestError("CredentialsError", None, str(exc)) from None
        # One attempt: its own connect and read timeouts, never past the call's deadline.
        settings = self.settings
        attempt_by = min(deadline, time.monotonic() + settings.connect_timeout + settings.read_timeout)
        connection: Connection | None = None
        try:
            connection, reused = self._take()
            if not reused:
                connection.open(attempt_by)
            answer_by = min(attempt_by, time.monotonic() + settings.read_timeout)
            try:
                response = connection.exchange("POST", self._path, headers, body, deadline=answer_by)
            except (ConnectionResetError, BrokenPipeError, RemoteDisconnected):
                if not reused or time.monotonic() >= answer_by:
                    raise
                # The server closed the idle connection without our noticing: once more, anew,
                # within what is left of this attempt (a reused connection spent no connect time).
                connection.open(answer_by)
                response = connection.exchange("POST", self._path, headers, body, deadline=answer_by)
        except OSError as exc:  # refused, reset, timed out, TLS failed, not exact HTTP/1.1...
            if connection is not None:
                connection.close()
            raise ConnectionFailedError(type(exc).__name__) from None
        except ValueError:  # http.client refused to send a header (a line break in a token, say)
            if connection is not None:
                connection.close()
            raise AwsRequestError("InvalidRequest", None, "a request header cannot be sent") from None
        if response.keep_alive:
            self._idle.append((connection, time.monotonic()))
        return self._result(response)

    def signed_headers(self, operation: str, body: bytes, *, deadline: float | None = None) -> dict[str, str]:
        """The headers of one request, Authorization included, signed now. Credentials that must
        be fetched first are fetched by `deadline` (time.monotonic())."""
        credentials = self._credentials.get(deadline)
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        headers = {
            "Host": self._host_header,
            "Content-Type": self._content_type,
            "X-Amz-Date": amz_date,
            "X-Amz-Target": f"{self._target_prefix}.{operation}",
        }
        if credentials.session_token:
            headers["X-Amz-Security-Token"] = credentials.session_token
        headers["Authorization"] = authorization(
            method="POST",
            path=self._path,
            headers=headers,
            payload=body,
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            region=self._region,
            service=self._service,
            amz_date=amz_date,
        )
        return headers

    def _take(self) -> tuple[Connection, bool]:
        """An idle connection nothing happened to, else a new (unopened) one; and whether it was idle."""
        while self._idle:
            try:
                connection, last_used = self._idle.pop()
            except IndexError:
                break
            if time.monotonic() - last_used > self.settings.max_idle_seconds:
                connection.close()
                continue
            # Bytes or a close while idle: the server closed it, or sent what nobody asked for.
            if connection.quiet():
                return connection, True
        return self._new_connection(), False

    def _new_connection(self) -> Connection:
        timeout = self.settings.connect_timeout
        return Connection(self._host, self._port, tls=self._https, connect_timeout=timeout)

    def _result(self, response: Response) -> dict[str, Any]:
        status, headers, data = response.status, response.headers, response.body
        expected = headers.get("x-amz-crc32")
        if expected is not None and (
            not _CRC32.fullmatch(expected.strip()) or zlib.crc32(data) != int(expected)
        ):
            raise ChecksumError("ChecksumError", "x-amz-crc32 mismatch")
        try:
            document = json.loads(data) if data else None
        except ValueError:  # also UnicodeDecodeError
            document = None
        if 200 <= status < 300:
            if not isinstance(document, dict):
                raise MalformedResponseError(
                    "MalformedResponseError", f"HTTP {status}", "the body is not a JSON object"
                )
            return document
        code, message = _error_of(document, headers)
        if code in CREDENTIAL_ERRORS:
            self._credentials.forget()
        raise ServiceError(status, code, message)


_CRC32 = re.compile(r"[0-9]{1,10}")


def _backoff(seconds: float) -> None:
    time.sleep(seconds)


def _error_of(document: Any, headers: Mapping[str, str]) -> tuple[str | None, str]:
    """The error code and message of an error answer: `__type` in the body, else the header."""
    code: str | None = None
    message = ""
    if isinstance(document, dict):
        kind = document.get("__type")
        if isinstance(kind, str) and kind:
            code = kind.rsplit("#", 1)[-1]
        text = document.get("message", document.get("Message"))
        message = text if isinstance(text, str) else ""
    if code is None:
        header = headers.get("x-amzn-errortype")
        if header:
            code = header.split(":", 1)[0].rsplit("#", 1)[-1] or None
    return code, message[:200]
