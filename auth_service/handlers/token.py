"""POST /auth/token (RFC 6749 §3.2): refresh_token, client_credentials and token exchange.

Form-encoded, as RFC 6749 token requests are (JSON is accepted too); client credentials by
HTTP Basic or in the form (auth_service.client_auth). What each grant does:
auth_service.token_endpoint.
"""

from __future__ import annotations

import logging
from typing import Any

from auth_service import runtime
from auth_service.client_auth import presented_client
from auth_service.http import Request, endpoint, json_response, read_params
from auth_service.token_endpoint import TokenEndpoint

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
_endpoint = TokenEndpoint(
    sessions=runtime.sessions(signing=True),
    audience=runtime.config().audience,
    clients=runtime.client_authenticator(assertions=True),
    exchange=runtime.token_exchange(),
)
_MAX_BODY_BYTES = runtime.config().max_body_bytes


def token(request: Request) -> dict[str, Any]:
    params = read_params(request)
    return json_response(200, _endpoint.token(params, presented_client(request, params), request.source_ip))


handler = endpoint(token, max_body_bytes=_MAX_BODY_BYTES, metrics=runtime.metrics())
