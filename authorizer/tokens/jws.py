"""Parse a compact JWS once, strictly: size, three base64url parts, two JSON objects, the signature.

Nothing here is trusted yet: the verifier checks the header, the signature and the claims. The
parse is strict (RFC 7515 §2, §7.1; RFC 8725 §3.7) and done once per token, in C where possible:

* at most `max_bytes` characters, ASCII, exactly three non-empty parts;
* base64url without padding, no other character (no `+`, `/`, `=`, whitespace), and canonical:
  the unused low bits of the last character must be zero, so each token has one spelling;
* header and payload: UTF-8 JSON objects (not UTF-16 or UTF-32, which `json.loads(bytes)` would
  guess). Duplicate members: the last one wins, as in PyJWT, for every check alike.
"""

from __future__ import annotations

import binascii
import functools
import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from authorizer.errors import MalformedTokenError

DEFAULT_MAX_TOKEN_BYTES = 8192

_TOKEN_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
# base64url to base64 for binascii; `+`, `/` and `=` are no base64url, so they become `!`, which
# strict decoding refuses like any other stray byte.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")  # by length % 4; 1 is refused before
_a2b = binascii.a2b_base64
# The last character of a part of length 2 or 3 (mod 4) holds 4 or 2 unused bits: zero if canonical.
_CANONICAL_LAST: tuple[frozenset[int], ...] = (
    frozenset(),
    frozenset(),
    frozenset(b"AQgw"),
    frozenset(b"AEIMQUYcgkosw048"),
)
# The C scanner `json.loads` ends in, called directly: it skips two wrappers and a regex.
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


# Headers repeat (one per key and token type): each distinct encoded header is decoded once.
# Bounded, since the header text comes from the token; read-only, since it is shared.
@functools.lru_cache(maxsize=64)
def _header(encoded: bytes) -> Mapping[str, Any]:
    return MappingProxyType(json_object(decode_part(encoded), "header"))


class ParsedToken:
    """A compact JWS split and decoded, not verified: what the verifier checks, parsed once."""

    __slots__ = ("escaped", "header", "payload", "signature", "signing_input", "token")

    def __init__(
        self,
        token: str,
        header: Mapping[str, Any],
        payload: dict[str, Any],
        signing_input: bytes,
        signature: bytes,
        escaped: bool = True,
    ) -> None:
        self.token = token
        self.header = header
        self.payload = payload
        self.signing_input = signing_input
        self.signature = signature
        # Whether the payload's JSON holds a `\u` escape, the only way a string in it can hold
        # what is no valid Unicode (a lone surrogate: the bytes themselves are strict UTF-8).
        # False: every string of the payload is valid Unicode, without looking at each.
        self.escaped = escaped


def parse_token(token: str, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> ParsedToken:
    """Split and decode `token`; `MalformedTokenError` if it is not a compact JWS we could accept."""
    # The usual token first, in one straight line (every request parses one); anything else goes
    # through `_split`, which says what is wrong.
    if token.__class__ is str and 0 < len(token) <= max_bytes and token.isascii():
        raw = token.encode("ascii")
        # Two partitions find the two dots in half the time of split() (which reads every byte).
        signed, _, signature = raw.rpartition(b".")
        head, _, body = signed.partition(b".")
        if head and body and signature and b"." not in body:
            payload = decode_part(body)
            return ParsedToken(
                token,
                _header(head),
                json_object(payload, "payload"),
                signed,
                decode_part(signature),
                b"\\u" in payload,
            )
    _split(token, max_bytes)  # refuses what the usual path did not take, saying why
    raise AssertionError("unreachable: _split accepted a token the usual path refused")


def token_part(token: str, index: int, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> bytes:
    """One part of a compact JWS, decoded (the whole token checked for shape, nothing else)."""
    raw, parts = _split(token, max_bytes)
    if raw.translate(None, _TOKEN_ALPHABET):  # the parts not decoded here are checked too
        raise MalformedTokenError("token parts are not base64url")
    return decode_part(parts[index])


def _split(token: str, max_bytes: int) -> tuple[bytes, list[bytes]]:
    if not isinstance(token, str) or not token:
        raise MalformedTokenError("token is empty")
    if len(token) > max_bytes:
        raise MalformedTokenError(f"token is longer than {max_bytes} bytes")
    if not token.isascii():
        raise MalformedTokenError("token parts are not base64url")
    raw = token.encode("ascii")
    parts = raw.split(b".")
    if len(parts) != 3:
        raise MalformedTokenError("token is not a compact JWS (three dot-separated parts)")
    if not (parts[0] and parts[1] and parts[2]):
        raise MalformedTokenError("token parts are not base64url")
    return raw, parts


def decode_part(part: bytes) -> bytes:
    """Canonical unpadded base64url to bytes; any other byte (or padding) is malformed."""
    data = part.translate(_TO_STANDARD)
    rest = len(part) & 3
    if rest:
        if rest == 1 or part[-1] not in _CANONICAL_LAST[rest]:
            raise MalformedTokenError("token parts are not canonical base64url")
        data += _PADDING[rest]
    try:
        return _a2b(data, strict_mode=True)
    except binascii.Error:
        raise MalformedTokenError("token parts are not base64url") from None


def json_object(data: bytes, what: str) -> dict[str, Any]:
    """A UTF-8 JSON object, exactly as `json.loads` reads it (its C scanner first: no overhead)."""
    try:
        text = data.decode("utf-8")  # UTF-8 only (RFC 8725 §3.7)
        try:
            value, end = _scan(text, 0)
        except StopIteration:  # leading whitespace or no JSON value: json.loads decides
            value, end = json.loads(text), len(text)
        if end != len(text):  # trailing whitespace is allowed, anything else is not
            value = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedTokenError(f"token {what} is not base64url-encoded JSON") from None
    if type(value) is not dict:
        raise MalformedTokenError(f"token {what} is not a JSON object")
    return value
