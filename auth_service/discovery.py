"""The discovery document (RFC 8414 / OpenID Connect Discovery fields that apply to us)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ENDPOINTS = {
    "login_endpoint": "/auth/login",
    "refresh_endpoint": "/auth/refresh",
    "logout_endpoint": "/auth/logout",
    "revocation_endpoint": "/auth/revoke",
    "introspection_endpoint": "/auth/introspect",
    "userinfo_endpoint": "/me",
}
JWKS_PATH = "/.well-known/jwks.json"


def discovery_document(issuer: str, algorithms: Sequence[str]) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "jwks_uri": issuer + JWKS_PATH,
        **{name: issuer + path for name, path in ENDPOINTS.items()},
        "grant_types_supported": ["password", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": ["bearer"],
        "subject_types_supported": ["public"],
        "access_token_signing_alg_values_supported": list(algorithms),
        "id_token_signing_alg_values_supported": list(algorithms),
        "token_types_supported": ["at+jwt", "rt+jwt"],
    }
