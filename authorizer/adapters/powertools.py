"""A middleware for Powertools for AWS Lambda's event handler (`APIGatewayHttpResolver`,
`ALBResolver`, `LambdaFunctionUrlResolver`, ...): routes run only with a valid bearer token; the
claims are in `app.context["jwt_claims"]`.

    app = APIGatewayHttpResolver()
    app.use(middlewares=[jwt_middleware(verifier, scopes=("orders:read",))])

Refusals are JSON with `WWW-Authenticate: Bearer` (RFC 6750). Needs `aws-lambda-powertools`
(the `powertools` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aws_lambda_powertools.event_handler import Response

from authorizer.tokens.bearer import Refusal, TokenVerifying, authenticate


def jwt_middleware(
    verifier: TokenVerifying, scopes: Iterable[str] = ()
) -> Callable[[Any, Any], Response[str]]:
    required = tuple(scopes)

    def middleware(app: Any, next_middleware: Any) -> Response[str]:
        authorization = app.current_event.headers.get("authorization")  # case-insensitive (v3)
        try:
            claims = authenticate(verifier, authorization, required)
        except Refusal as refusal:
            return Response(
                status_code=refusal.status,
                content_type="application/json",
                body=refusal.body,
                headers={k: v for k, v in refusal.headers.items() if k != "Content-Type"},
            )
        app.append_context(jwt_claims=claims)
        response: Response[str] = next_middleware(app)
        return response

    return middleware
