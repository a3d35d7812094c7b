"""Strict checks of an HTTP/1.1 answer as http.client read it, byte for byte (RFC 9112).

http.client reads the answers of authorizer.aws.http_connection; it is lenient where a lenient
reading lets one answer be framed as two, or two as one: it takes a 1xx other than 100 for the
final answer, the first of two different Content-Length headers, Content-Length and
Transfer-Encoding together, `+5`, `0x5` or `5_0` as a length or chunk size (Python's int()), any
two bytes as the line end of a chunk, and header lines folded or without a colon (the email
parser). These checks see the exact bytes it consumed and refuse all of that; they never decode
anything http.client did not (a mistake here can only refuse, not admit, an answer).
"""

from __future__ import annotations

import re
from typing import NamedTuple

_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: [\t !-~\x80-\xff]*)?")
# field-name ":" OWS field-value OWS; field-value: visible characters, inner spaces and tabs.
_FIELD_LINE = re.compile(
    rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*((?:[!-~\x80-\xff](?:[\t !-~\x80-\xff]*[!-~\x80-\xff])?)?)[ \t]*"
)
_LENGTH = re.compile(rb"[0-9]{1,16}")
# chunk-size [ chunk-ext ] CRLF; the extension is ignored (by http.client too).
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})((?:[ \t]*;[\t !-~\x80-\xff]*)?)\r\n")
_CONTINUE = 100


class FramingError(ValueError):
    """The answer is not HTTP/1.1 as RFC 9112 frames it."""


class Framing(NamedTuple):
    status: int
    version: int  # 10 or 11, as http.client counts them
    length: int | None  # the body's length; None when chunked or until the connection closes
    chunked: bool
    close: bool  # the server closes the connection after this answer


def check_head(head: bytes, *, method: str) -> Framing:
    """The framing of an answer whose head (interim 100 answers included) is `head`."""
    if not head.endswith(b"\r\n\r\n"):
        raise FramingError("the head does not end with an empty line")
    *interim, final = head[:-4].split(b"\r\n\r\n")
    for block in interim:  # http.client skips these (and only these) before the final answer
        status_line, *field_lines = block.split(b"\r\n")
        if _status(status_line)[1] != _CONTINUE:
            raise FramingError("an interim answer that is not 100 Continue")
        for line in field_lines:
            _field(line)
    status_line, *field_lines = final.split(b"\r\n")
    version, status = _status(status_line)
    if not 200 <= status <= 599:
        raise FramingError(f"status {status} where a final answer belongs")
    fields: dict[bytes, list[bytes]] = {}
    for line in field_lines:
        name, value = _field(line)
        fields.setdefault(name, []).append(value)
    lengths = fields.get(b"content-length", [])
    codings = fields.get(b"transfer-encoding", [])
    if any(not _LENGTH.fullmatch(value) for value in lengths) or len(set(lengths)) > 1:
        raise FramingError("a Content-Length that is not one number")
    if codings and (lengths or len(codings) > 1 or codings[0].lower() != b"chunked" or version == 10):
        raise FramingError("a Transfer-Encoding other than chunked alone, in HTTP/1.1")
    connection = b",".join(fields.get(b"connection", [])).lower()
    close = version == 10 or any(token.strip() == b"close" for token in connection.split(b","))
    if method == "HEAD" or status in (204, 304):
        return Framing(status, version, 0, False, close)
    if codings:
        return Framing(status, version, None, True, close)
    if lengths:
        return Framing(status, version, int(lengths[0]), False, close)
    return Framing(status, version, None, False, True)  # the body runs to the end of the connection


def check_chunked(raw: bytes) -> bytes:
    """The body a chunked `raw` (last chunk and trailer section included) decodes to."""
    body: list[bytes] = []
    at = 0
    while True:
        size_line = _CHUNK_SIZE.match(raw, at)
        if size_line is None:
            raise FramingError("a chunk size line that is not hex digits and a line end")
        size, at = int(size_line.group(1), 16), size_line.end()
        if size == 0:
            break
        if len(raw) < at + size + 2 or raw[at + size : at + size + 2] != b"\r\n":
            raise FramingError("a chunk that is not its size long, or without its line end")
        body.append(raw[at : at + size])
        at += size + 2
    while not raw.startswith(b"\r\n", at):  # trailer fields, then the empty line
        end = raw.find(b"\r\n", at)
        if end < 0:
            raise FramingError("a trailer section without its empty line")
        _field(raw[at:end])
        at = end + 2
    if at + 2 != len(raw):
        raise FramingError("bytes after the last chunk")
    return b"".join(body)


def _status(line: bytes) -> tuple[int, int]:
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise FramingError("not an HTTP/1.x status line")
    return 10 + int(match.group(1)), int(match.group(2))


def _field(line: bytes) -> tuple[bytes, bytes]:
    match = _FIELD_LINE.fullmatch(line)
    if match is None:
        raise FramingError("a header line that is not name: value")
    return match.group(1).lower(), match.group(2)
