"""A FastAPI dependency: the verified claims of the request's bearer token.

    verifier = JwtVerifier(issuer="https://auth.example.com", audience="orders-api")
    orders_reader = bearer_claims(verifier, scopes=("orders:read",))

    @app.get("/orders")
    def orders(claims: TokenClaims = Depends(orders_reader)) -> dict[str, str]:
        return {"sub": claims.sub}

A refusal is an `HTTPException` (401 with `WWW-Authenticate: Bearer`, 403, 503) whose detail is
the RFC 6750 error and its description. Needs `fastapi` (the `fastapi` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastapi import Header, HTTPException

from authorizer.tokens.bearer import Refusal, TokenVerifying, authenticate
from authorizer.tokens.claims import TokenClaims


def bearer_claims(verifier: TokenVerifying, scopes: Iterable[str] = ()) -> Callable[..., TokenClaims]:
    """A dependency (`Depends(...)`) answering the claims, or refusing the request."""
    required = tuple(scopes)

    def dependency(authorization: str | None = Header(default=None)) -> TokenClaims:
        try:
            return authenticate(verifier, authorization, required)
        except Refusal as refusal:
            raise HTTPException(
                status_code=refusal.status,
                detail={"error": refusal.error, "error_description": refusal.description},
                headers={k: v for k, v in refusal.headers.items() if k != "Content-Type"},
            ) from None

    return dependency
