"""Authorizer responses: HTTP API simple responses and IAM policies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from authorizer.tokens.claims import TokenClaims

# Raised to API Gateway, a REST authorizer's way of answering 401 (rather than 403).
UNAUTHORIZED = "Unauthorized"


class Unauthorized(Exception):  # API Gateway matches the message "Unauthorized", not the name
    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


def context(claims: TokenClaims) -> dict[str, str | int]:
    """What protected handlers receive; values must be strings, numbers or booleans."""
    return dict(claims.authorizer_context)


def simple(authorized: bool, ctx: Mapping[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"isAuthorized": authorized}
    if authorized and ctx:
        response["context"] = _copy(ctx)
    return response


def _copy(ctx: Mapping[str, Any]) -> dict[str, Any]:
    # A read-only view (TokenClaims.authorizer_context) copies its dict in C; dict(view) would
    # read it key by key through the mapping protocol, several times slower.
    return ctx.copy() if ctx.__class__ is MappingProxyType else dict(ctx)


def policy(
    principal_id: str,
    *,
    allow: Iterable[str],
    deny: Iterable[str] = (),
    ctx: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    statements = [
        {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resources}
        for effect, resources in (("Allow", list(allow)), ("Deny", list(deny)))
        if resources
    ]
    response: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {"Version": "2012-10-17", "Statement": statements},
    }
    if ctx:
        response["context"] = _copy(ctx)
    return response
