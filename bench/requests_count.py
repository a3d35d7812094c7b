"""DynamoDB requests per authorization, counted where they arrive: at a proxy before moto."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from bench.counting_proxy import CountingProxy
from bench.events import http_v2
from bench.report import Row
from bench.world import Keys, allowed

REQUESTS = "DynamoDB requests per authorization (counted at the endpoint)"


def count_requests(proxy: CountingProxy, authorizer: Any, event: Mapping[str, Any]) -> int:
    """Requests that reached the endpoint while `authorizer` answered `event` (allowed)."""
    proxy.reset()
    answer = authorizer.handle(event)
    if not allowed(answer):
        raise RuntimeError(f"our handler refused a valid token: {answer!r}")
    return proxy.total()


def measure(keys: Keys, proxy: CountingProxy, authorizer: Any) -> list[Row]:
    """`authorizer` must have been built against `proxy.url` as its DynamoDB endpoint."""
    first = http_v2(keys.fresh_tokens("RS256", 1, jti=str(uuid.uuid4()))[0])
    miss = count_requests(proxy, authorizer, first)
    again = http_v2(keys.fresh_tokens("RS256", 1, jti=str(uuid.uuid4()))[0])
    count_requests(proxy, authorizer, again)
    within = count_requests(proxy, authorizer, again)
    return [
        Row(REQUESTS, "revocation-cache miss (a new jti)", miss, "requests", target="≤ 1", passed=miss <= 1),
        Row(
            REQUESTS,
            "within the cache window (same token again)",
            within,
            "requests",
            target="0",
            passed=within == 0,
        ),
    ]
