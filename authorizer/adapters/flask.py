"""A Flask decorator: the view runs only with a valid bearer token; the claims are in
`flask.g.jwt_claims`.

    verifier = JwtVerifier(issuer="https://auth.example.com", audience="orders-api")

    @app.get("/orders")
    @require_token(verifier, scopes=("orders:read",))
    def orders():
        return {"sub": g.jwt_claims.sub}

Refusals are JSON with `WWW-Authenticate: Bearer` (RFC 6750). Needs `flask` (the `flask` extra).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Response, g, request

from authorizer.tokens.bearer import Refusal, TokenVerifying, authenticate

View = TypeVar("View", bound=Callable[..., Any])


def require_token(verifier: TokenVerifying, scopes: Iterable[str] = ()) -> Callable[[View], View]:
    required = tuple(scopes)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = request.headers.getlist("Authorization")
            try:
                g.jwt_claims = authenticate(verifier, values[0] if len(values) == 1 else None, required)
            except Refusal as refusal:
                return Response(refusal.body, status=refusal.status, headers=refusal.headers)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
