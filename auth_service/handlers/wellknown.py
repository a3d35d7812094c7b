"""GET /.well-known/jwks.json, and the metadata document at GET /.well-known/openid-configuration
and GET /.well-known/oauth-authorization-server (auth_service.discovery)."""

from __future__ import annotations

import json
from typing import Any

from auth_service import runtime
from auth_service.discovery import discovery_document

# Clients may cache both for 5 minutes (the key set's propagation_seconds covers it).
_PUBLIC = {"Content-Type": "application/json", "Cache-Control": "public, max-age=300"}
_keys = runtime.key_set()  # read at cold start, re-read as it ages: a rotation shows at once
_rendered: dict[int, str] = {}


def _render(document: dict[str, Any]) -> str:
    # The same document object until the keys are re-read: render it once per key set.
    body = _rendered.get(id(document))
    if body is None:
        _rendered.clear()
        body = _rendered[id(document)] = json.dumps(document)
    return body


def jwks(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": dict(_PUBLIC), "body": _render(_keys.jwks())}


def discovery(event: dict[str, Any], context: Any) -> dict[str, Any]:
    document = discovery_document(
        runtime.config().issuer,
        _keys.algorithms,
        clients=runtime.config().clients_table is not None,
        exchange=runtime.config().cognito is not None,
    )
    return {"statusCode": 200, "headers": dict(_PUBLIC), "body": json.dumps(document)}
