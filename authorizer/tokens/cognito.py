"""Amazon Cognito user pool tokens: a thin layer of claim checks over the generic verifier.

Cognito signs access and ID tokens with RS256 and sets no `typ`; `token_use` tells them apart.
Access tokens name their app client in `client_id`, ID tokens in `aud`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from authorizer.tokens.jws import DEFAULT_MAX_TOKEN_BYTES
from authorizer.tokens.verifier import ClaimCheck, KeyLookup, TokenType, TokenVerifier

# (S106: `token_use` is a claim name, not a password.)
COGNITO_ACCESS = TokenType("Cognito access", None, token_use="access", audience_claim="client_id")  # noqa: S106
COGNITO_ID = TokenType("Cognito ID", None, token_use="id", audience_claim="aud")  # noqa: S106
TOKEN_TYPES = {"access": COGNITO_ACCESS, "id": COGNITO_ID}


def cognito_issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def cognito_jwks_uri(issuer: str) -> str:
    return f"{issuer}/.well-known/jwks.json"


def cognito_verifier(
    keys: KeyLookup,
    *,
    issuer: str,
    token_use: str,
    client_ids: Iterable[str],
    claim_checks: Sequence[ClaimCheck] = (),
    leeway: int = 30,
    max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
    clock: Callable[[], float] = time.time,
) -> TokenVerifier:
    """A verifier for one user pool's access or ID tokens, for the given app clients.

    `claim_checks`: what the configuration requires beyond that (`authorizer.tokens.claim_checks`).
    """
    if token_use not in TOKEN_TYPES:
        raise ValueError(f"token_use must be 'access' or 'id', not {token_use!r}")
    return TokenVerifier(
        keys,
        issuer=issuer,
        audience=tuple(client_ids),
        token_type=TOKEN_TYPES[token_use],
        leeway=leeway,
        algorithms=("RS256",),
        claim_checks=claim_checks,
        max_token_bytes=max_token_bytes,
        clock=clock,
    )
