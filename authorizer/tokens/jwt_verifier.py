"""The verifier as a library, for any Python service: `JwtVerifier`, `CognitoJwtVerifier`.

The same verifier the Lambda authorizer runs (authorizer.tokens.verifier: the algorithm pinned by the
key, exact `iss`, the token type, `aud`, times), with the JWKS cache of trusted issuers
(authorizer.tokens.jwks_cache), behind a small, typed API configured once:

    verifier = JwtVerifier(issuer="https://auth.example.com", audience="orders-api")
    verifier.hydrate()              # fetch the keys now (cold start), not on the first request
    claims = verifier.verify(token)  # TokenClaims, or a JwtError subclass naming the failed check

Configuration mistakes raise `JwtConfigurationError` at construction. Every refusal is a subclass
of `JwtError` (one tree, as aws-jwt-verify's): `JwtInvalidTokenError` (401: expired, bad
signature, unknown kid, wrong issuer...), `JwtInsufficientScopeError` (403: scopes, groups),
`JwtUnavailableError` (503: revocation could not be checked); messages name the check, never
the token.
Revocation against our denylist table is opt-in: `revocation=RevocationList.for_table(...)`.
Only `cryptography` and the standard library are imported.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from authorizer import errors
from authorizer.tokens.claim_checks import require_any_group, require_scopes
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.cognito import TOKEN_TYPES, cognito_issuer, cognito_jwks_uri, cognito_verifier
from authorizer.tokens.issuers import TrustedIssuers
from authorizer.tokens.jwks_cache import JwksCache, JwksUnavailableError, http_get
from authorizer.tokens.jws import DEFAULT_MAX_TOKEN_BYTES
from authorizer.tokens.keys import ACCEPTED_ALGORITHMS, VerificationKey
from authorizer.tokens.revocation import RevocationList
from authorizer.tokens.verifier import ClaimCheck, TokenType, TokenVerifier

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

# The error tree: the authorizer's own classes under the names a library user looks for.
JwtConfigurationError = errors.ConfigurationError
JwtError = errors.AuthError  # every refusal
JwtInvalidTokenError = errors.TokenError  # the token itself is not acceptable (HTTP 401)
JwtInsufficientScopeError = errors.InsufficientScopeError  # valid, but not enough (HTTP 403)
JwtUnavailableError = errors.UnavailableError  # the denylist could not be read: refused (HTTP 503)
JwtMalformedError = errors.MalformedTokenError
JwtAlgorithmNotAllowedError = errors.AlgorithmNotAllowedError
KidNotFoundError = errors.KidNotFoundError
JwtInvalidSignatureError = errors.InvalidSignatureError
JwtWrongTypeError = errors.TokenTypeError
JwtWrongIssuerError = errors.IssuerMismatchError
JwtWrongAudienceError = errors.AudienceMismatchError
JwtExpiredError = errors.TokenExpiredError
JwtNotYetValidError = errors.TokenNotYetValidError
JwtInvalidClaimError = errors.InvalidClaimError
JwtRevokedError = errors.TokenRevokedError

MAX_LEEWAY_SECONDS = 300
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_DISCOVERY_PATH = "/.well-known/openid-configuration"


class _IssuerVerifier:
    """What `JwtVerifier` and `CognitoJwtVerifier` share: one issuer's keys, verifier and
    optional revocation list, configured by the subclass; `hydrate`, `verify`."""

    def __init__(
        self, issuer: str, keys: _Keys, verifier: TokenVerifier, revocation: RevocationList | None
    ) -> None:
        self.issuer = issuer
        self._keys, self._verifier, self._revocation = keys, verifier, revocation

    def hydrate(self) -> None:
        """Fetch the keys now (at cold start); `JwksUnavailableError` if none can be had."""
        self._keys.hydrate()

    def verify(self, token: str) -> TokenClaims:
        """The verified claims; a `JwtError` subclass (or `UnavailableError` from revocation)."""
        claims = self._verifier.verify(token)
        if self._revocation is not None:
            self._revocation.check(claims)
        return claims

    def verify_parsed(self, parsed: Any) -> TokenClaims:
        """For `any_of`: verify what it already parsed (one parse per token)."""
        claims = self._verifier.verify_parsed(parsed)
        if self._revocation is not None:
            self._revocation.check(claims)
        return claims


class JwtVerifier(_IssuerVerifier):
    """Tokens of one issuer, for one audience (or several), of one type; see the module doc.

    Keys: `jwks` (a JWKS given as a mapping or JSON text: no network), `jwks_uri` (fetched and
    cached: refetched once an hour, and on an unknown `kid` at most once a minute), or neither:
    the issuer's OpenID discovery document names the `jwks_uri` (it must name exactly `issuer`).
    `token_type`: the header `typ` the tokens carry (`at+jwt`, RFC 9068), or None for issuers
    that set none (a refresh token, `typ` rt+jwt, is then still refused as an access token only if
    it says `token_use: refresh`). `required_scopes`: every one must be in the token's `scope`.
    `revocation`: our denylist (`RevocationList`); tokens must then carry `auth_time`, by which a
    user's sign-out is judged.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Sequence[str],
        jwks_uri: str | None = None,
        jwks: Mapping[str, Any] | str | None = None,
        token_type: str | None = "at+jwt",  # noqa: S107 - a header `typ`, not a password
        leeway: int = 30,
        algorithms: Sequence[str] = ("RS256", "ES256", "EdDSA", "Ed25519"),
        required_scopes: Sequence[str] = (),
        revocation: RevocationList | None = None,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
    ) -> None:
        _check_url("issuer", issuer)
        audiences = _audiences(audience)
        if jwks is not None and jwks_uri is not None:
            raise JwtConfigurationError("give jwks or jwks_uri, not both")
        if jwks_uri is not None:
            _check_url("jwks_uri", jwks_uri)
        unknown = sorted(set(algorithms) - set(ACCEPTED_ALGORITHMS))
        if unknown or not algorithms:
            raise JwtConfigurationError(
                f"algorithms must be some of {', '.join(ACCEPTED_ALGORITHMS)}; got {list(algorithms)}"
            )
        _check_leeway(leeway)
        keys = _Keys(issuer, jwks_uri=jwks_uri, jwks=jwks)
        checks: list[ClaimCheck] = [require_scopes(required_scopes)] if required_scopes else []
        # With revocation, a sign-out ("not before") is judged by when the session began: a token
        # without `auth_time` could not be judged, so it is refused (as the authorizer does).
        kind = TokenType(
            f"{issuer} {token_type or 'JWT'}", token_type, requires_auth_time=revocation is not None
        )
        verifier = TokenVerifier(
            keys,
            issuer=issuer,
            audience=audiences,
            token_type=kind,
            leeway=leeway,
            algorithms=tuple(algorithms),
            claim_checks=checks,
            max_token_bytes=max_token_bytes,
        )
        super().__init__(issuer, keys, verifier, revocation)

    @staticmethod
    def any_of(*verifiers: _IssuerVerifier) -> MultiIssuerVerifier:
        """Tokens of several issuers, each routed by its exact `iss` to its own verifier."""
        return MultiIssuerVerifier(verifiers)


class CognitoJwtVerifier(_IssuerVerifier):
    """An Amazon Cognito user pool's access or ID tokens (`token_use`), for its app clients.

    The issuer and JWKS URI follow from the pool id (its region is in it); `jwks_uri` overrides
    where the keys are fetched from (a local emulator), `jwks` gives them (pinned keys).
    `groups`: the token must be in one of them (`cognito:groups`); `required_scopes`: access
    tokens only.
    """

    def __init__(
        self,
        *,
        user_pool_id: str,
        token_use: str,
        client_id: str | Sequence[str],
        groups: Sequence[str] = (),
        required_scopes: Sequence[str] = (),
        leeway: int = 30,
        jwks_uri: str | None = None,
        jwks: Mapping[str, Any] | str | None = None,
        revocation: RevocationList | None = None,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
    ) -> None:
        region, _, pool = user_pool_id.partition("_")
        if not region or not pool or not pool.isalnum():
            raise JwtConfigurationError(f"user_pool_id must look like eu-west-1_AbC123, got {user_pool_id!r}")
        if token_use not in TOKEN_TYPES:
            raise JwtConfigurationError(f"token_use must be 'access' or 'id', got {token_use!r}")
        if required_scopes and token_use != "access":  # noqa: S105 - a claim value
            raise JwtConfigurationError("required_scopes: only Cognito access tokens carry a scope")
        _check_leeway(leeway)
        issuer = cognito_issuer(region, user_pool_id)
        if jwks_uri is not None and jwks is not None:
            raise JwtConfigurationError("give jwks or jwks_uri, not both")
        if jwks_uri is not None:
            _check_url("jwks_uri", jwks_uri)
        uri = None if jwks is not None else jwks_uri or cognito_jwks_uri(issuer)
        keys = _Keys(issuer, jwks_uri=uri, jwks=jwks)
        checks: list[ClaimCheck] = []
        if groups:
            checks.append(require_any_group(groups))
        if required_scopes:
            checks.append(require_scopes(required_scopes))
        verifier = cognito_verifier(
            keys,
            issuer=issuer,
            token_use=token_use,
            client_ids=_audiences(client_id),
            claim_checks=checks,
            leeway=leeway,
            max_token_bytes=max_token_bytes,
        )
        super().__init__(issuer, keys, verifier, revocation)


class MultiIssuerVerifier:
    """Several verifiers, each for its own issuer: a token goes to the one its `iss` names
    exactly (unverified until that verifier checks it again); any other issuer is refused."""

    def __init__(self, verifiers: Sequence[_IssuerVerifier]) -> None:
        if not verifiers:
            raise JwtConfigurationError("any_of needs at least one verifier")
        by_issuer = {verifier.issuer: verifier for verifier in verifiers}
        if len(by_issuer) != len(verifiers):
            raise JwtConfigurationError("any_of: two verifiers for the same issuer")
        self._verifiers = tuple(verifiers)
        self._router = TrustedIssuers(by_issuer)

    def hydrate(self) -> None:
        for verifier in self._verifiers:
            verifier.hydrate()

    def verify(self, token: str) -> TokenClaims:
        return self._router.verify(token)


class _Keys:
    """The issuer's keys: inline, a JWKS URI, or the URI its discovery document names (found at
    `hydrate()` or the first lookup, once)."""

    def __init__(self, issuer: str, *, jwks_uri: str | None, jwks: Mapping[str, Any] | str | None) -> None:
        self._issuer = issuer
        self._lock = threading.Lock()
        self._cache: JwksCache | None = None
        self._jwks_uri = jwks_uri
        if jwks is not None:
            self._cache = JwksCache.from_document(jwks)  # checked now: a bad JWKS fails here

    def hydrate(self) -> None:
        cache = self._resolved()
        cache.preload()
        if not cache.has_keys:
            raise JwksUnavailableError(f"no usable keys could be fetched for {self._issuer}")

    def get(self, kid: str) -> VerificationKey:
        return self._resolved().get(kid)

    def _resolved(self) -> JwksCache:
        cache = self._cache
        if cache is not None:
            return cache
        with self._lock:
            if self._cache is None:
                uri = self._jwks_uri or _discover_jwks_uri(self._issuer)
                self._cache = JwksCache(uri)
            return self._cache


def _discover_jwks_uri(issuer: str) -> str:
    """The `jwks_uri` of the issuer's discovery document, which must name exactly `issuer`."""
    url = issuer.rstrip("/") + _DISCOVERY_PATH
    try:
        document = json.loads(http_get(url, 2.0, max_bytes=512_000))
    except Exception as exc:  # any failure: no keys yet; the next lookup tries again
        why = type(exc).__name__
        raise JwksUnavailableError(f"the discovery document of {issuer} could not be read ({why})") from None
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        raise JwksUnavailableError(f"the discovery document at {url} is not that of issuer {issuer}")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise JwksUnavailableError(f"the discovery document of {issuer} names no jwks_uri")
    try:
        _check_url("jwks_uri", jwks_uri)
    except JwtConfigurationError as exc:
        raise JwksUnavailableError(f"the discovery document of {issuer}: {exc}") from None
    return jwks_uri


def _check_url(name: str, url: str) -> None:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or not parts.hostname or parts.scheme not in ("https", "http"):
        raise JwtConfigurationError(f"{name} must be an https:// URL, got {url!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise JwtConfigurationError(f"{name} must be https:// (http:// only on localhost), got {url!r}")


def _audiences(audience: str | Sequence[str]) -> tuple[str, ...]:
    audiences = (audience,) if isinstance(audience, str) else tuple(audience)
    if not audiences or not all(isinstance(a, str) and a for a in audiences):
        raise JwtConfigurationError("audience (client_id) must name at least one non-empty audience")
    return audiences


def _check_leeway(leeway: int) -> None:
    if not isinstance(leeway, int) or isinstance(leeway, bool) or not 0 <= leeway <= MAX_LEEWAY_SECONDS:
        raise JwtConfigurationError(f"leeway must be 0 to {MAX_LEEWAY_SECONDS} seconds, got {leeway!r}")
