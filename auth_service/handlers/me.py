"""GET /me: who the authorizer says the caller is. An example of `authorizer.principal`."""

from __future__ import annotations

from typing import Any

from auth_service.http import json_response
from authorizer.principal import Principal, authenticated


@authenticated(scopes=("profile",))
def handler(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return json_response(
        200,
        {
            "sub": principal.sub,
            "scope": principal.scope,
            "sid": principal.sid,
            "jti": principal.jti,
            "client_id": principal.client_id,
            "exp": principal.exp,
        },
    )
