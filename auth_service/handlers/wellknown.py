"""GET /.well-known/jwks.json, and the metadata document at GET /.well-known/openid-configuration
and GET /.well-known/oauth-authorization-server (auth_service.discovery)."""

from __future__ import annotations

import json
from typing import Any

from auth_service import runtime
from auth_service.discovery import discovery_document

# Both documents are fixed for the life of a container: render them once.
_PUBLIC = {"Content-Type": "application/json", "Cache-Control": "public, max-age=300"}
_JWKS_BODY = json.dumps(runtime.jwks())
_DISCOVERY_BODY = json.dumps(
    discovery_document(
        runtime.config().issuer,
        runtime.key_set().algorithms,
        clients=runtime.config().clients_table is not None,
        exchange=runtime.config().cognito is not None,
    )
)


def jwks(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": dict(_PUBLIC), "body": _JWKS_BODY}


def discovery(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": dict(_PUBLIC), "body": _DISCOVERY_BODY}
