"""Where inspect-token gets the keys it verifies with, and whether they are the issuer's own.

The issuer's own keys are found by discovery: `ISSUER/.well-known/openid-configuration` must name
exactly ISSUER as its `issuer`, and its `jwks_uri` must be on the issuer's host (same scheme,
host and port) unless the operator names that URL with `--jwks-uri`. Keys given with `--jwks`
(a file or a URL) are the operator's choice, and every verdict says they are not the issuer's.

Fetches follow no redirect at all, to another host or the same one (a 3xx is an error, as for
the authorizer's JWKS fetch), use https:// except on localhost, and are bounded in time and size.
Keys are read with the authorizer's own rules (`authorizer.tokens.keys`, `authorizer.tokens.jwks_cache`): a
file strictly, as AUTH_JWKS_FILE is; a fetched JWKS leniently, skipping keys the authorizer would
skip. Error messages name what went wrong, never the server's answer or a key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authorizer.errors import ConfigurationError
from authorizer.tokens.jwks_cache import InvalidJwksError, JwksStatusError, http_get, lenient_key_set
from authorizer.tokens.keys import KeySet

DISCOVERY_PATH = "/.well-known/openid-configuration"
HTTP_TIMEOUT_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 512_000  # as the authorizer's JwksCache
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_DEFAULT_PORTS = {"https": 443, "http": 80}


class KeySourceError(Exception):
    """The keys could not be read: the operator has to fix an argument or the source."""


@dataclass(frozen=True)
class Keys:
    key_set: KeySet
    source: str  # where they came from, for the verdict
    from_issuer: bool  # found through the issuer's own discovery document
    skipped: tuple[str, ...] = ()  # keys of a fetched JWKS the authorizer skips, and why

    @property
    def label(self) -> str:
        return f"keys from {self.source}" + ("" if self.from_issuer else ", not from the issuer")


def keys_from_file(path: str) -> Keys:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
        raise KeySourceError(f"cannot read JWKS file {path}: {reason}") from None
    try:
        document = json.loads(text)
    except ValueError:
        raise KeySourceError(f"JWKS file {path} is not valid JSON") from None
    try:
        return Keys(KeySet.from_jwks(document), f"FILE {path}", from_issuer=False)
    except ConfigurationError as exc:
        raise KeySourceError(f"JWKS file {path}: {exc}") from None


def keys_from_url(url: str) -> Keys:
    """Keys from a JWKS URL the operator gave with --jwks: not the issuer's, whatever its host."""
    return _fetched_keys(url, f"URL {url}", from_issuer=False)


def keys_from_issuer(issuer: str, jwks_uri: str | None = None) -> Keys:
    """The issuer's keys, through its discovery document; `jwks_uri`: the one the operator expects."""
    document_url = discovery_url(issuer)
    document = fetch_json(document_url, "discovery document")
    if not isinstance(document, dict):
        raise KeySourceError(f"discovery failed: {document_url} is not a JSON object")
    # A document naming another issuer could hand us an attacker's keys (mix-up attack).
    if document.get("issuer") != issuer:
        raise KeySourceError(f"discovery failed: the issuer in {document_url} is not exactly {issuer}")
    found = document.get("jwks_uri")
    if not isinstance(found, str):
        raise KeySourceError(f"discovery failed: {document_url} has no jwks_uri")
    if jwks_uri is not None and found != jwks_uri:
        raise KeySourceError(f"discovery failed: the jwks_uri in {document_url} is not the --jwks-uri given")
    if jwks_uri is None and _origin(found) != _origin(issuer):
        raise KeySourceError(
            f"discovery failed: the jwks_uri in {document_url} is not on the issuer's host; "
            "if that is right, name it with --jwks-uri"
        )
    return _fetched_keys(found, f"the issuer (jwks_uri {found})", from_issuer=True)


def discovery_url(issuer: str) -> str:
    check_fetchable(issuer, "--issuer")
    # OpenID Connect Discovery 1.0 §4: drop a terminating "/" before appending the path.
    return issuer.rstrip("/") + DISCOVERY_PATH


def check_fetchable(url: str, what: str) -> None:
    """https://, or http:// on this machine only: anyone on the path could swap the keys."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise KeySourceError(f"{what} is not a URL") from None
    if not parts.hostname or parts.scheme not in _DEFAULT_PORTS:
        raise KeySourceError(f"{what} must be an https:// URL")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise KeySourceError(f"{what} must be https:// (http:// only on localhost)")


def fetch_json(url: str, what: str) -> Any:
    check_fetchable(url, f"the {what} URL")
    try:
        body = http_get(url, HTTP_TIMEOUT_SECONDS, max_bytes=MAX_DOCUMENT_BYTES)
    except JwksStatusError as exc:
        raise KeySourceError(f"cannot fetch the {what}: {_status(exc.status)}") from None
    except InvalidJwksError:
        raise KeySourceError(
            f"cannot fetch the {what}: not a 200 answer of at most {MAX_DOCUMENT_BYTES} bytes"
        ) from None
    except TimeoutError:
        raise KeySourceError(
            f"cannot fetch the {what}: timed out after {HTTP_TIMEOUT_SECONDS:.0f} s"
        ) from None
    except (OSError, ValueError) as exc:  # refused, reset, TLS, not exact HTTP/1.1 (all OSError)
        raise KeySourceError(f"cannot fetch the {what}: request failed ({type(exc).__name__})") from None
    try:
        return json.loads(body)
    except ValueError:
        raise KeySourceError(f"cannot fetch the {what}: the response is not JSON") from None


def _fetched_keys(url: str, source: str, *, from_issuer: bool) -> Keys:
    document = fetch_json(url, "JWKS")
    try:
        key_set, skipped = lenient_key_set(document)
    except InvalidJwksError as exc:
        raise KeySourceError(f"the JWKS at {url}: {exc}") from None
    return Keys(key_set, source, from_issuer=from_issuer, skipped=tuple(skipped))


def _status(code: int) -> str:
    if 300 <= code < 400:
        return f"HTTP {code}, a redirect: inspect-token follows none (pass the final URL)"
    return f"HTTP {code}"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1  # unparseable: never the issuer's
    return parts.scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(parts.scheme)
