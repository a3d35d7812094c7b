"""Our refusals in the words of the contract model (tests/fuzz/contract.py): which check refused.

The authorizer logs a refusal as `reason: "<ExceptionClass>: <message>"` (or `missing scope: …`,
`no bearer token`); the issuing endpoints answer `{"error", "error_description": <message>}`.
Both are read here: the class names the check, and for `MalformedTokenError` (several checks
share it) the message does. An issuing endpoint says only the message, so each message we raise
is listed with its class; an unknown one fails the test that meets it (add it here).
"""

from __future__ import annotations

import re

from tests.fuzz import contract as c

# Exception class -> the model's check it stands for.
CHECK_OF_CLASS = {
    "KidNotFoundError": c.UNKNOWN_KID,
    "AlgorithmNotAllowedError": c.ALGORITHM,
    "InvalidSignatureError": c.SIGNATURE,
    "TokenTypeError": c.TYPE,
    "UntrustedIssuerError": c.UNTRUSTED_ISSUER,
    "IssuerMismatchError": c.ISSUER,
    "AudienceMismatchError": c.AUDIENCE,
    "InvalidClaimError": c.CLAIM,
    "TokenExpiredError": c.EXPIRED,
    "TokenNotYetValidError": c.NOT_YET_VALID,
    "TokenRevokedError": c.REVOKED,
    "RefreshTokenReuseError": c.REVOKED,
    "InsufficientScopeError": c.SCOPE,
    "MissingTokenError": c.NO_TOKEN,
    "BodyTooLarge": c.SHAPE,  # not an exception class: the issuing endpoints' 413
}
# MalformedTokenError messages -> check (the rest are the token's shape).
_MALFORMED = (
    (re.compile(r"header parameter\(s\) not accepted"), c.HEADER),
    (re.compile(r"token header has no kid$"), c.NO_KID),
)

# Every message a token refusal carries, with its class (for answers that give only the message).
MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"token is empty$", "MalformedTokenError"),
        (r"token is longer than \d+ bytes$", "MalformedTokenError"),
        (r"token parts are not (canonical )?base64url$", "MalformedTokenError"),
        (r"token is not a compact JWS \(three dot-separated parts\)$", "MalformedTokenError"),
        (r"token (header|payload) is not (base64url-encoded JSON|a JSON object)$", "MalformedTokenError"),
        (r"header parameter\(s\) not accepted: .+", "MalformedTokenError"),
        (r"token header has no kid$", "MalformedTokenError"),
        (r"token kid is not in the trusted key set$", "KidNotFoundError"),
        (r"algorithm must be .+ for this key$", "AlgorithmNotAllowedError"),
        (r"\S+ is not an allowed algorithm for this issuer$", "AlgorithmNotAllowedError"),
        (r"signature verification failed$", "InvalidSignatureError"),
        (r"not an? .+ token \((typ .+|typ must be .+|token_use must be .+)\)$", "TokenTypeError"),
        (r"a refresh token is not an? .+ token$", "TokenTypeError"),
        (r"token issuer is not one of the trusted issuers$", "UntrustedIssuerError"),
        (r"token 'iss' does not match the expected issuer$", "IssuerMismatchError"),
        (r"token \S+ (must be a string or a list of strings|is not accepted here)$", "AudienceMismatchError"),
        (r"token lacks the '.+' claim$", "InvalidClaimError"),
        (r"token 'sub' and 'jti' must be strings$", "InvalidClaimError"),
        (r"'.+' must be a NumericDate$", "InvalidClaimError"),
        (r"'.+' must be a string of valid Unicode$", "InvalidClaimError"),
        (r"'cognito:groups' must be a list( of strings)?$", "InvalidClaimError"),
        (r"'scope' must be a string$", "InvalidClaimError"),
        (r"token has expired$", "TokenExpiredError"),
        (r"token (was issued in the future|is not valid yet)$", "TokenNotYetValidError"),
        (
            r"(token revoked|refresh token already used|session revoked|login revoked|"
            r"user signed out everywhere)$",
            "TokenRevokedError",
        ),
        (r"refresh token was already used; the session is revoked$", "RefreshTokenReuseError"),
        (
            r"(introspection requires the '.+' scope|the token lacks the scopes .+|"
            r"the user is in none of the groups .+)$",
            "InsufficientScopeError",
        ),
        (r"a Bearer access token is required$", "MissingTokenError"),
        # 413 invalid_request: a token too long for a request body is refused with the body.
        (r"request body is larger than \d+ bytes$", "BodyTooLarge"),
        # 400 invalid_request: the request carries no token at all (an empty field).
        (r"'(refresh_token|token)' is required and must be a non-empty string$", "MissingTokenError"),
    )
)


class UnknownRefusal(AssertionError):
    """A refusal this table does not know: a new message or class (list it above)."""


def class_of_message(message: str) -> str:
    for pattern, name in MESSAGES:
        if pattern.match(message):
            return name
    raise UnknownRefusal(f"no refusal class known for the message {message!r} (tests/fuzz/refusals.py)")


def check_of(name: str, message: str) -> str:
    """The model's check for a refusal of exception class `name` with `message`."""
    if name == "MalformedTokenError":
        return next((check for pattern, check in _MALFORMED if pattern.search(message)), c.SHAPE)
    if name not in CHECK_OF_CLASS:
        raise UnknownRefusal(f"no check known for {name}: {message!r} (tests/fuzz/refusals.py)")
    return CHECK_OF_CLASS[name]


def check_of_reason(reason: str) -> str:
    """The check behind the authorizer's logged `reason`."""
    if reason == "no bearer token":
        return c.NO_TOKEN
    if reason.startswith("missing scope: "):
        return c.SCOPE
    name, _, message = reason.partition(": ")
    return check_of(name, message)


def check_of_description(description: str) -> str:
    """The check behind an issuing endpoint's `error_description`."""
    return check_of(class_of_message(description), description)
