"""POST /auth/revoke (RFC 7009): token=...&token_type_hint=... -> 200, even for unknown tokens.

Whoever holds a token may revoke it. A caller that authenticates as a client (RFC 7009 §2.1, as
OAuth libraries do) has its credentials checked: wrong ones are 401 `invalid_client`.
"""

from __future__ import annotations

import logging
from typing import Any

from auth_service import runtime
from auth_service.client_auth import invalid_client, presented_client
from auth_service.http import Request, empty_response, endpoint, optional_text, read_params, required_text

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
_sessions = runtime.sessions(signing=False, ending=True)
_clients = runtime.client_authenticator()
_MAX_BODY_BYTES = runtime.config().max_body_bytes


def revoke(request: Request) -> dict[str, Any]:
    params = read_params(request)
    presented = presented_client(request, params)
    if presented is not None and presented.authenticates:
        if _clients is None:
            raise invalid_client("no clients are registered here")
        _clients.authenticate(presented, request.source_ip)
    _sessions.revoke(required_text(params, "token"), optional_text(params, "token_type_hint"))
    return empty_response(200)


handler = endpoint(revoke, max_body_bytes=_MAX_BODY_BYTES, metrics=runtime.metrics())
