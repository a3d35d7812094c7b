"""POST /auth/introspect (RFC 7662). The caller proves it may ask (§2.1) with either
- its own Bearer access token carrying the introspection scope (AUTH_INTROSPECTION_SCOPE), or
- client authentication (auth_service.client_auth) as a registered client granted that scope.
"""

from __future__ import annotations

import logging
from typing import Any

from auth_service import runtime
from auth_service.client_auth import invalid_client, presented_client
from auth_service.http import (
    Request,
    endpoint,
    json_response,
    optional_text,
    read_params,
    required_text,
)

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
_sessions = runtime.sessions(signing=False)
_clients = runtime.client_authenticator()
_MAX_BODY_BYTES = runtime.config().max_body_bytes


def introspect(request: Request) -> dict[str, Any]:
    params = read_params(request)
    presented = presented_client(request, params)
    if presented is not None and presented.authenticates:
        if _clients is None:
            raise invalid_client("no clients are registered here")
        _sessions.may_introspect(_clients.authenticate(presented, request.source_ip).scope)
    else:
        _sessions.may_introspect(_sessions.authenticate(request.bearer_token()).scopes)
    result = _sessions.describe(required_text(params, "token"), optional_text(params, "token_type_hint"))
    return json_response(200, {k: v for k, v in result.items() if v is not None})


handler = endpoint(introspect, max_body_bytes=_MAX_BODY_BYTES, metrics=runtime.metrics())
