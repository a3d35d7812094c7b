"""Every refusal is a named exception under one base class, so callers can catch `AuthError`."""

from __future__ import annotations


class ConfigurationError(Exception):
    """The deployment is misconfigured. Raised at cold start, never per request."""


class AuthError(Exception):
    """Base class of every refusal of a request or token."""

    #: OAuth-style error code (RFC 6749 / RFC 6750) used in HTTP answers.
    error = "invalid_request"


class TokenError(AuthError):
    """The token is not acceptable. The message says why; it never contains the token."""

    error = "invalid_token"


class MalformedTokenError(TokenError):
    """Not a compact JWS we accept: shape, size, encoding or header parameters."""


class AlgorithmNotAllowedError(TokenError):
    """The header's `alg` is not the one our key configuration pins for that key."""


class KidNotFoundError(TokenError):
    """The header's `kid` names no key in the trusted key set."""


class InvalidSignatureError(TokenError):
    """The signature does not verify with the pinned key and algorithm."""


class TokenTypeError(TokenError):
    """The token is of another type (for example a refresh token offered as an access token)."""


class IssuerMismatchError(TokenError):
    """`iss` is not exactly the issuer of the verifier that checks the token."""


class UntrustedIssuerError(IssuerMismatchError):
    """`iss` names none of the configured issuers: no verifier was chosen (issuer routing)."""


class AudienceMismatchError(TokenError):
    """`aud` does not name this audience."""


class TokenExpiredError(TokenError):
    """`exp` has passed (beyond the configured leeway)."""


class TokenNotYetValidError(TokenError):
    """`nbf` or `iat` lies in the future (beyond the configured leeway)."""


class InvalidClaimError(TokenError):
    """A required claim is missing or has the wrong type."""


class TokenRevokedError(TokenError):
    """The token, its session or its user has been revoked."""


class InsufficientScopeError(AuthError):
    """The token is valid but lacks a scope the route requires."""

    error = "insufficient_scope"


class UnavailableError(AuthError):
    """A backing store (DynamoDB) could not be reached. Nothing is granted; retry later."""

    error = "temporarily_unavailable"


class RevocationUnavailableError(UnavailableError):
    """The denylist could not be read or written. We fail closed: the request is refused."""
