"""For the API's own handlers: the verified principal, handed over from the authorizer context.

    @authenticated(scopes=("orders:write",))
    def handler(event, context, principal):
        return {"statusCode": 200, "body": principal.sub}

The authorizer already verified the token; this reads its context (REST APIs:
`requestContext.authorizer`, HTTP APIs: `requestContext.authorizer.lambda`) and answers 403 when
a required scope is missing. It is the stateless counterpart of a session decorator.

Behind an Application Load Balancer or a Lambda function URL no authorizer runs: give the
decorator a verifier (authorizer.tokens.jwt_verifier) and it verifies the request's bearer token itself:

    verifier = JwtVerifier(issuer="https://auth.example.com", audience="orders-api")

    @authenticated(scopes=("orders:read",), verifier=verifier)
    def handler(event, context, principal): ...

Refusals are answered in the event's own format (an ALB with multi-value headers gets
`multiValueHeaders`), as authorizer.tokens.bearer words them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from authorizer.tokens.bearer import TokenVerifying
    from authorizer.tokens.claims import TokenClaims

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
    def from_claims(cls, claims: TokenClaims) -> Principal:
        """The principal of claims a verifier returned."""
        return cls(
            sub=claims.sub,
            scope=claims.scope,
            sid=claims.sid,
            jti=claims.jti,
            client_id=claims.client_id,
            exp=claims.exp,
            issuer=claims.issuer or None,
            groups=claims.groups,
        )

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


def authenticated(
    scopes: Iterable[str] = (), verifier: TokenVerifying | None = None
) -> Callable[[Handler], LambdaHandler]:
    """Hand the wrapped handler the verified principal; 403 when a required scope is missing.

    Without `verifier`: the principal the API Gateway authorizer verified (its context). With
    one: the request's bearer token, verified here (ALB, function URL, or any event with headers).
    """
    required = frozenset(scopes)
    if verifier is not None:
        return _verifying(verifier, required)

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


def _verifying(verifier: TokenVerifying, required: frozenset[str]) -> Callable[[Handler], LambdaHandler]:
    from authorizer.tokens.bearer import Refusal, authenticate

    def decorate(func: Handler) -> LambdaHandler:
        @functools.wraps(func)
        def wrapper(event: dict[str, Any], context: Any) -> Any:
            try:
                claims = authenticate(verifier, _authorization(event), required)
            except Refusal as refusal:
                return _answer(event, refusal.status, refusal.headers, refusal.body)
            return func(event, context, Principal.from_claims(claims))

        return wrapper

    return decorate


def _authorization(event: Any) -> str | None:
    """The one Authorization header of a REST/HTTP API, ALB or function URL event; None when
    there is none, or more than one (an ALB with multi-value headers passes each)."""
    from authorizer.gateway.events import header

    if not isinstance(event, Mapping):
        return None
    multi = event.get("multiValueHeaders")
    if isinstance(multi, Mapping):
        values = [v for k, v in multi.items() if isinstance(k, str) and k.lower() == "authorization"]
        flat = [item for value in values if isinstance(value, list) for item in value]
        return flat[0] if len(flat) == 1 and isinstance(flat[0], str) else None
    return header(event.get("headers"), "authorization")


def _answer(event: Any, status: int, headers: Mapping[str, str], body: str) -> dict[str, Any]:
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    answer: dict[str, Any] = {"statusCode": status, "body": body}
    if isinstance(event, Mapping) and isinstance(event.get("multiValueHeaders"), Mapping):
        answer["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    else:
        answer["headers"] = dict(headers)
    if isinstance(context, Mapping) and "elb" in context:  # ALB: these two are expected too
        answer["statusDescription"] = f"{status} {_REASONS.get(status, '')}".strip()
        answer["isBase64Encoded"] = False
    return answer


_REASONS = {401: "Unauthorized", 403: "Forbidden", 503: "Service Unavailable"}
