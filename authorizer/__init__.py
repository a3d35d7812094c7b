"""The Lambda authorizer of lambda-jwt-auth and the token verifier it is built on.

Deployable on its own: nothing here imports ``auth_service``. The verifier as a library:

    from authorizer import JwtVerifier, CognitoJwtVerifier

(authorizer.tokens.jwt_verifier; imported on first use, so the Lambda handler's cold start never
loads it.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from authorizer.tokens.jwt_verifier import (
        CognitoJwtVerifier,
        JwksUnavailableError,
        JwtAlgorithmNotAllowedError,
        JwtConfigurationError,
        JwtError,
        JwtExpiredError,
        JwtInsufficientScopeError,
        JwtInvalidClaimError,
        JwtInvalidSignatureError,
        JwtInvalidTokenError,
        JwtMalformedError,
        JwtNotYetValidError,
        JwtRevokedError,
        JwtUnavailableError,
        JwtVerifier,
        JwtWrongAudienceError,
        JwtWrongIssuerError,
        JwtWrongTypeError,
        KidNotFoundError,
        MultiIssuerVerifier,
        RevocationList,
        TokenClaims,
    )

__all__ = [
    "CognitoJwtVerifier",
    "JwksUnavailableError",
    "JwtAlgorithmNotAllowedError",
    "JwtConfigurationError",
    "JwtError",
    "JwtExpiredError",
    "JwtInsufficientScopeError",
    "JwtInvalidClaimError",
    "JwtInvalidSignatureError",
    "JwtInvalidTokenError",
    "JwtMalformedError",
    "JwtNotYetValidError",
    "JwtRevokedError",
    "JwtUnavailableError",
    "JwtVerifier",
    "JwtWrongAudienceError",
    "JwtWrongIssuerError",
    "JwtWrongTypeError",
    "KidNotFoundError",
    "MultiIssuerVerifier",
    "RevocationList",
    "TokenClaims",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        # By name, on first use: the Lambda zips leave the library out (scripts/build_lambda.py),
        # and none of our functions asks for it.
        import importlib

        return getattr(importlib.import_module("authorizer.tokens.jwt_verifier"), name)
    raise AttributeError(f"module 'authorizer' has no attribute {name!r}")
