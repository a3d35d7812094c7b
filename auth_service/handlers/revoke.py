"""POST /auth/revoke (RFC 7009): token=...&token_type_hint=... -> 200, even for unknown tokens."""

from __future__ import annotations

import logging
from typing import Any

from auth_service import runtime
from auth_service.http import Request, empty_response, endpoint, optional_text, read_params, required_text

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
_sessions = runtime.sessions(signing=False, ending=True)


def revoke(request: Request) -> dict[str, Any]:
    params = read_params(request)
    _sessions.revoke(required_text(params, "token"), optional_text(params, "token_type_hint"))
    return empty_response(200)


handler = endpoint(revoke, max_body_bytes=runtime.config().max_body_bytes)
