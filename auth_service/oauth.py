"""OAuth 2.0 names shared by the token endpoint, client authentication and the metadata document.

Only names: importing this costs nothing (the metadata function must not load argon2).
"""

from __future__ import annotations

REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type's name
CLIENT_CREDENTIALS = "client_credentials"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - RFC 8693

# Client authentication methods (RFC 7591 §2 names).
CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method's name
CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105 - a method's name
PRIVATE_KEY_JWT = "private_key_jwt"  # RFC 7523 §2.2, at the token endpoint
NO_CLIENT_AUTH = "none"  # a public client: our first-party app's refresh
SECRET_AUTH_METHODS = (CLIENT_SECRET_BASIC, CLIENT_SECRET_POST)
CONFIDENTIAL_AUTH_METHODS = (*SECRET_AUTH_METHODS, PRIVATE_KEY_JWT)
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# What a client's assertion may be signed with: the algorithms of our own keys.
ASSERTION_ALGORITHMS = ("RS256", "ES256", "EdDSA")


def grant_types(*, clients: bool, exchange: bool) -> list[str]:
    """The grants a deployment's token endpoint serves (`clients`: a client table is configured;
    `exchange`: a Cognito user pool is)."""
    return [
        REFRESH_TOKEN,
        *([CLIENT_CREDENTIALS] if clients else []),
        *([TOKEN_EXCHANGE] if exchange else []),
    ]
