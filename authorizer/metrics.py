"""CloudWatch metrics in the Embedded Metric Format: one JSON line per invocation, on stdout.

Lambda sends what a function writes to stdout to CloudWatch Logs, and CloudWatch turns a line
shaped as EMF into metrics (its specification: "Embedded metric format specification" in the
CloudWatch user guide). No SDK, no API call, no thread, nothing at cold start: counting is a dict
update, and an invocation ends with one `write` of a line that is mostly built once and reused.

* `count(name)` and `milliseconds(name, value)` add to the current invocation's metrics. Lambda
  runs one invocation at a time per container, so they sit in one module-level dict;
* `Emitter.flush()` writes them as one line (namespace AUTH_METRICS_NAMESPACE, one dimension,
  `Service` = AUTH_METRICS_SERVICE) and starts over. With no namespace configured the emitter is
  off: `flush()` only forgets what was counted.

Metric names are the `*` constants below (README: "Monitoring"); they are what the alarms and the
dashboard of serverless.yml and of the CDK construct refer to.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable

# The authorizer: one outcome per authorization (their sum is the number of authorizations),
# and what it cost.
ALLOWED = "Allowed"
REFUSED = "Refused"
# Refusals by class (one of these beside REFUSED).
REFUSED_NO_TOKEN = "RefusedNoToken"  # noqa: S105 - a metric name
REFUSED_INVALID = "RefusedInvalidToken"  # forged, malformed, wrong type, issuer or audience
REFUSED_EXPIRED = "RefusedExpired"
REFUSED_REVOKED = "RefusedRevoked"
REFUSED_SCOPE = "RefusedScope"
REFUSED_CSRF = "RefusedCsrf"
REFUSED_MALFORMED_EVENT = "RefusedMalformedEvent"
FAIL_CLOSED = "FailClosedRefusals"  # the denylist could not be read: refused, not guessed
REVOCATION_CACHE_HITS = "RevocationCacheHits"
REVOCATION_CACHE_MISSES = "RevocationCacheMisses"
DENYLIST_READ_LATENCY = "DenylistReadLatency"
DENYLIST_READ_FAILURES = "DenylistReadFailures"
JWKS_FETCHES = "JwksFetches"
JWKS_FETCH_FAILURES = "JwksFetchFailures"
# The issuing functions.
REQUESTS = "Requests"
CLIENT_ERRORS = "ClientErrors"
SERVER_ERRORS = "ServerErrors"
LOGINS = "Logins"
LOGIN_FAILURES = "LoginFailures"
LOCKOUTS = "LoginLockouts"
TOKENS_ISSUED = "TokensIssued"  # also per grant: TokensIssued.<grant>
REFRESH_REUSE = "RefreshReuseDetections"

MILLISECONDS = frozenset({DENYLIST_READ_LATENCY})
DEFAULT_SERVICE = "lambda-jwt-auth"
_TEMPLATES_MAX = 256

_pending: dict[str, float] = {}


def count(name: str, value: int = 1) -> None:
    """Add `value` to the count `name` of the current invocation."""
    _pending[name] = _pending.get(name, 0) + value


def tokens_issued(grant: str) -> None:
    """Count a token response, in all and under its grant (`TokensIssued.<grant>`)."""
    count(TOKENS_ISSUED)
    count(f"{TOKENS_ISSUED}.{grant}")


def milliseconds(name: str, value: float) -> None:
    """Record a duration of the current invocation (the last one recorded under `name` counts)."""
    _pending[name] = round(value, 3)


def pending() -> dict[str, float]:
    """What the current invocation has recorded so far (a copy)."""
    return dict(_pending)


class Emitter:
    """Writes the current invocation's metrics as one EMF line; see the module doc."""

    def __init__(
        self,
        namespace: str | None,
        service: str = DEFAULT_SERVICE,
        *,
        write: Callable[[bytes], object] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.namespace = namespace
        self.service = service
        # Standard output's file descriptor itself, one write(2) per line: no buffer to flush, and
        # a line (well under PIPE_BUF) never interleaves with another writer's.
        self._write = write or functools.partial(os.write, 1)
        self._clock = clock
        # The line of a set of counts, but for its timestamp: invocations repeat a few shapes.
        self._templates: dict[tuple[tuple[str, float], ...], tuple[bytes, bytes]] = {}

    @property
    def enabled(self) -> bool:
        return self.namespace is not None

    def flush(self) -> None:
        if not _pending:
            return
        if self.namespace is None:
            _pending.clear()
            return
        key = tuple(_pending.items())
        _pending.clear()
        template = self._templates.get(key)
        if template is None:
            template = self._template(key)
            if all(value.__class__ is int for _, value in key) and len(self._templates) < _TEMPLATES_MAX:
                self._templates[key] = template
        head, tail = template
        self._write(b"%b%d%b" % (head, self._clock() * 1000, tail))

    def _template(self, values: tuple[tuple[str, float], ...]) -> tuple[bytes, bytes]:
        definitions = [
            {"Name": name, "Unit": "Milliseconds" if name in MILLISECONDS else "Count"} for name, _ in values
        ]
        directive = {"Namespace": self.namespace, "Dimensions": [["Service"]], "Metrics": definitions}
        body = json.dumps({"Service": self.service, **dict(values)}, separators=(",", ":"))
        directives = json.dumps([directive], separators=(",", ":"))
        head = '{"_aws":{"CloudWatchMetrics":' + directives + ',"Timestamp":'
        return head.encode(), ("}," + body[1:] + "\n").encode()
