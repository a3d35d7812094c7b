"""For the API's own handlers: the verified principal, handed over from the authorizer context.

    @authenticated(scopes=("orders:write",))
    def handler(event, context, principal):
        return {"statusCode": 200, "body": principal.sub}

The authorizer already verified the token; this reads its context (REST APIs:
`requestContext.authorizer`, HTTP APIs: `requestContext.authorizer.lambda`) and answers 403 when
a required scope is missing. It is the stateless counterpart of a session decorator.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Handler = Callable[[dict[str, Any], Any, "Principal"], Any]
LambdaHandler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class Principal:
    sub: str
    scope: str  # space-separated, as in the token
    sid: str | None
    jti: str | None
    client_id: str | None
    exp: int | None
    issuer: str | None = None
    groups: tuple[str, ...] = ()

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    @classmethod
    def from_event(cls, event: Any) -> Principal | None:
        """The principal the authorizer verified, or None when no authorizer ran."""
        if not isinstance(event, Mapping):
            return None
        request_context = event.get("requestContext")
        if not isinstance(request_context, Mapping):
            return None
        authorizer = request_context.get("authorizer")
        if not isinstance(authorizer, Mapping):
            return None
        ctx = authorizer.get("lambda", authorizer)
        if not isinstance(ctx, Mapping) or not ctx.get("sub"):
            return None
        exp = ctx.get("exp")
        return cls(
            sub=str(ctx["sub"]),
            scope=str(ctx.get("scope") or ""),
            sid=str(ctx["sid"]) if ctx.get("sid") else None,
            jti=str(ctx["jti"]) if ctx.get("jti") else None,
            client_id=str(ctx["client_id"]) if ctx.get("client_id") else None,
            exp=_numeric_date(exp),
            issuer=str(ctx["iss"]) if ctx.get("iss") else None,
            groups=tuple(str(ctx.get("groups") or "").split()),
        )


def _numeric_date(value: Any) -> int | None:
    # The authorizer sends an int; REST APIs turn context values into strings. Nothing else is a date.
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        return int(value)
    return None


def _refusal(status: int, error: str, description: str, scopes: Iterable[str] = ()) -> dict[str, Any]:
    challenge = f'Bearer error="{error}"'
    if scopes:
        challenge += f', scope="{" ".join(sorted(scopes))}"'
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "WWW-Authenticate": challenge},
        "body": json.dumps({"error": error, "error_description": description}),
    }


def authenticated(scopes: Iterable[str] = ()) -> Callable[[Handler], LambdaHandler]:
    """Hand the wrapped handler the verified principal; 403 when a required scope is missing."""
    required = frozenset(scopes)

    def decorate(func: Handler) -> LambdaHandler:
        @functools.wraps(func)
        def wrapper(event: dict[str, Any], context: Any) -> Any:
            principal = Principal.from_event(event)
            if principal is None:
                # The route is not behind the authorizer: a deployment mistake, refused safely.
                return _refusal(401, "invalid_token", "no verified principal on this request")
            missing = required - principal.scopes
            if missing:
                return _refusal(403, "insufficient_scope", "the token lacks a required scope", required)
            return func(event, context, principal)

        return wrapper

    return decorate
