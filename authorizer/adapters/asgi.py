"""An ASGI middleware (Starlette, FastAPI, or any ASGI app): HTTP requests need a valid bearer
token; the claims are put in the request scope's state (`request.state.jwt_claims` in Starlette).

    app = JwtAuthMiddleware(app, verifier, scopes=("orders:read",), exempt=("/health",))

Refusals are answered here, as JSON with `WWW-Authenticate: Bearer` (RFC 6750); the app never
sees the request. WebSocket and lifespan events pass through. No framework is imported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from authorizer.tokens.bearer import Refusal, TokenVerifying, authenticate

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class JwtAuthMiddleware:
    """Verify every HTTP request's bearer token except on the `exempt` paths (exact matches)."""

    def __init__(
        self, app: App, verifier: TokenVerifying, *, scopes: Iterable[str] = (), exempt: Iterable[str] = ()
    ) -> None:
        self.app = app
        self._verifier = verifier
        self._scopes = tuple(scopes)
        self._exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("path") in self._exempt:
            await self.app(scope, receive, send)
            return
        try:
            claims = authenticate(self._verifier, _authorization(scope), self._scopes)
        except Refusal as refusal:
            await _refuse(send, refusal)
            return
        scope.setdefault("state", {})["jwt_claims"] = claims
        await self.app(scope, receive, send)


def _authorization(scope: Scope) -> str | None:
    values = [value for name, value in scope.get("headers") or () if name.lower() == b"authorization"]
    if len(values) != 1:
        return None  # none, or two: which one would count?
    try:
        return bytes(values[0]).decode("latin-1")
    except (TypeError, ValueError):
        return None


async def _refuse(send: Send, refusal: Refusal) -> None:
    body = refusal.body.encode("utf-8")
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in refusal.headers.items()
    ]
    headers.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
