"""Which request path gets which file of the demo page, and the headers it goes out with.

Only the files named in `_FILES` are ever read: a request path is looked up in that table, never
joined onto a directory, so no path (`..`, encoded or not) can reach another file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "/demo"
_HERE = Path(__file__).resolve().parent
_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",  # named by index.html, so no browser asks for /favicon.ico
}
# The page loads nothing from elsewhere and talks only to its own origin.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class AssetResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def is_demo_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def demo_response(path: str) -> AssetResponse:
    """The answer to GET `path`: a file of the page, a redirect to it, or 404."""
    if path == PREFIX:
        # Not to /demo/: whether a trailing slash reaches this function depends on the API's
        # routes (`/demo/{proxy+}` needs a character after the slash); index.html always does.
        return AssetResponse(308, {"Location": PREFIX + "/index.html"})
    name = _file_name(path)
    if name is None:
        body = json.dumps({"message": "Not Found"}).encode()
        return AssetResponse(404, {"Content-Type": "application/json"}, body)
    headers = {"Content-Type": _FILES[name], **_SECURITY_HEADERS}
    return AssetResponse(200, headers, (_HERE / name).read_bytes())


def _file_name(path: str) -> str | None:
    if not path.startswith(PREFIX + "/"):
        return None
    name = path.removeprefix(PREFIX + "/") or "index.html"
    return name if name in _FILES else None
