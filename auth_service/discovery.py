"""The metadata documents: RFC 8414 (`/.well-known/oauth-authorization-server`) and OpenID
Connect Discovery (`/.well-known/openid-configuration`), one document served at both.

They list what is served, and nothing else: the token endpoint's grants (refresh_token always;
client_credentials with a client table; token exchange with a user pool) and client
authentication methods, revocation and introspection. There is no authorization endpoint: users
log in first-party at `login_endpoint` (RFC 9700 rules out the password grant), so the only
response type is `none` (OAuth 2.0 Multiple Response Type Encoding Practices), which RFC 8414
and OpenID Connect Discovery require a value for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auth_service.oauth import (
    ASSERTION_ALGORITHMS,
    CONFIDENTIAL_AUTH_METHODS,
    NO_CLIENT_AUTH,
    SECRET_AUTH_METHODS,
    grant_types,
)

TOKEN_ENDPOINT_PATH = "/auth/token"  # noqa: S105 - a path
ENDPOINTS = {
    "token_endpoint": TOKEN_ENDPOINT_PATH,
    "login_endpoint": "/auth/login",
    "refresh_endpoint": "/auth/refresh",
    "logout_endpoint": "/auth/logout",
    "revocation_endpoint": "/auth/revoke",
    "introspection_endpoint": "/auth/introspect",
    "userinfo_endpoint": "/me",
}
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


def discovery_document(
    issuer: str, algorithms: Sequence[str], *, clients: bool = False, exchange: bool = False
) -> dict[str, Any]:
    """`clients`: a client table is configured; `exchange`: a Cognito user pool is."""
    return {
        "issuer": issuer,
        "jwks_uri": issuer + JWKS_PATH,
        **{name: issuer + path for name, path in ENDPOINTS.items()},
        "grant_types_supported": grant_types(clients=clients, exchange=exchange),
        "response_types_supported": ["none"],
        # `none`: our first-party app refreshes as a public client; machine clients authenticate.
        "token_endpoint_auth_methods_supported": [
            *(CONFIDENTIAL_AUTH_METHODS if clients else ()),
            NO_CLIENT_AUTH,
        ],
        # private_key_jwt assertions: signed with a key of the client's registered JWKS.
        **(
            {"token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS)}
            if clients
            else {}
        ),
        # Revocation needs no client authentication (whoever holds a token may revoke it); a
        # client's credentials, when sent, are checked.
        "revocation_endpoint_auth_methods_supported": [
            *(SECRET_AUTH_METHODS if clients else ()),
            NO_CLIENT_AUTH,
        ],
        # The caller's Bearer access token with the introspection scope, or a client granted it
        # (RFC 7662 §2.1; secrets there, assertions only at the token endpoint).
        "introspection_endpoint_auth_methods_supported": [
            *(SECRET_AUTH_METHODS if clients else ()),
            "bearer",
        ],
        "subject_types_supported": ["public"],
        "access_token_signing_alg_values_supported": list(algorithms),
        "id_token_signing_alg_values_supported": list(algorithms),
        "token_types_supported": ["at+jwt", "rt+jwt"],
    }
