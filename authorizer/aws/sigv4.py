"""AWS Signature Version 4 for the authorizer's few AWS calls, on hashlib and hmac alone.

Only what a JSON-protocol POST needs (DynamoDB, SSM): every header given is signed, the canonical
URI is the path as given (no normalisation) and the query string is sorted and percent-encoded.
tests/unit/test_sigv4.py checks it against AWS's published test suite and against botocore's own
signer. The derived signing key is cached per (secret, date, region, service): it changes once a
day, or when the credentials do.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@lru_cache(maxsize=8)
def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret_key}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def canonical_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
) -> tuple[str, str]:
    """The canonical request and its signed-headers list, for `headers` exactly as sent."""
    canonical = sorted((name.lower(), _trim(value)) for name, value in headers.items())
    signed = ";".join(name for name, _ in canonical)
    pairs = sorted((_encode(name), _encode(value)) for name, value in query)
    lines = [
        method,
        path,
        "&".join(f"{name}={value}" for name, value in pairs),
        *(f"{name}:{value}" for name, value in canonical),
        "",
        signed,
        payload_hash,
    ]
    return "\n".join(lines), signed


def authorization(
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    payload: bytes,
    access_key: str,
    secret_key: str,
    region: str,
    service: str,
    amz_date: str,
    query: Iterable[tuple[str, str]] = (),
) -> str:
    """The Authorization header for a request that sends exactly `headers` (Host and X-Amz-Date
    included, and X-Amz-Security-Token with temporary credentials)."""
    request, signed = canonical_request(method, path, query, headers, sha256_hex(payload))
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{sha256_hex(request.encode())}"
    key = signing_key(secret_key, date, region, service)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _trim(value: str) -> str:
    # Leading and trailing space removed, runs of spaces inside collapsed to one.
    return " ".join(value.split())


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")
