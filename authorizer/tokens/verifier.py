"""Verify a compact JWS token: shape, pinned algorithm, signature, type, issuer, audience, times.

Configured once (keys, issuer, audience, token type), then only asked `verify(token)` (or
`verify_parsed`, with a token `authorizer.tokens.jws` already parsed). Built directly on `cryptography`
for exactly the token forms we accept; tests/unit/test_verifier_differential.py checks it
against PyJWT and python-jose, and SECURITY.md lists where it is stricter by design.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from authorizer.errors import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    InvalidClaimError,
    InvalidSignatureError,
    IssuerMismatchError,
    MalformedTokenError,
    TokenExpiredError,
    TokenNotYetValidError,
    TokenTypeError,
)
from authorizer.tokens.claims import (
    LEGACY_ORIGIN_CLAIM,
    TokenClaims,
    origin_claim,
    session_start_of,
    verified_claims,
)
from authorizer.tokens.jws import DEFAULT_MAX_TOKEN_BYTES, ParsedToken, json_object, parse_token, token_part
from authorizer.tokens.keys import VerificationKey

__all__ = [
    "ACCESS",
    "ALLOWED_HEADER_PARAMETERS",
    "DEFAULT_MAX_TOKEN_BYTES",
    "IGNORABLE_HEADER_PARAMETERS",
    "REFRESH",
    "ClaimCheck",
    "KeyLookup",
    "ParsedToken",
    "TokenType",
    "TokenVerifier",
    "decode_header",
    "decode_payload",
    "is_unicode",
    "normalize_typ",
]

# We issue and accept nothing else in a header; `jku`, `x5u`, `jwk`, `crit`, `b64`... are refused.
ALLOWED_HEADER_PARAMETERS = frozenset({"alg", "kid", "typ"})
# What a verifier may also let through, when its issuer sends them (Microsoft Entra ID sends
# `x5t`): certificate thumbprints, which select no key and change no processing here. They are
# never read: the key is the `kid`'s alone. Nothing that names a key, a URL, an extension or an
# encoding (`jku`, `x5u`, `jwk`, `x5c`, `crit`, `b64`, `zip`, `cty`...) can ever be added.
IGNORABLE_HEADER_PARAMETERS = frozenset({"x5t", "x5t#S256"})
_ABSENT = object()


@dataclass(frozen=True)
class TokenType:
    """What makes a token of one kind: its header `typ`, its `token_use`, where its audience is."""

    name: str
    # The JOSE header `typ`, compared case-insensitively without "application/". None: the
    # issuer sets none (Cognito), so `typ` must be absent or plain "JWT".
    typ: str | None
    # The `token_use` claim it must carry. None: it may carry none, but never "refresh".
    token_use: str | None = None
    # The claim naming who the token is for: `aud`, or `client_id` for Cognito access tokens.
    audience_claim: str = "aud"
    # Ours: every token we issue names when its session began (`auth_time`); one without is refused.
    requires_auth_time: bool = False

    @property
    def article(self) -> str:
        """The name with its article: "an access", "a refresh", "a Cognito ID"."""
        return f"{'an' if self.name[:1].lower() in 'aeiou' else 'a'} {self.name}"


ACCESS = TokenType("access", "at+jwt", requires_auth_time=True)  # RFC 9068
REFRESH = TokenType("refresh", "rt+jwt", token_use="refresh", requires_auth_time=True)  # noqa: S106

ClaimCheck = Callable[[Mapping[str, Any]], None]


class KeyLookup(Protocol):
    """Where a verifier finds the key a `kid` names: a fixed `KeySet` or a `JwksCache`."""

    def get(self, kid: str) -> VerificationKey: ...


def decode_payload(token: str, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> dict[str, Any]:
    """The claims of a compact JWS, UNVERIFIED: only to choose which verifier to ask."""
    return json_object(token_part(token, 1, max_bytes), "payload")


def decode_header(token: str, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> dict[str, Any]:
    """The JOSE header of a compact JWS, checked for shape only (nothing is trusted yet)."""
    header = json_object(token_part(token, 0, max_bytes), "header")
    _check_header_parameters(header)
    return header


def _check_header_parameters(
    header: Mapping[str, Any], allowed: frozenset[str] = ALLOWED_HEADER_PARAMETERS
) -> None:
    if not header.keys() <= allowed:  # (a C set comparison)
        unexpected = set(header) - allowed
        raise MalformedTokenError(f"header parameter(s) not accepted: {', '.join(sorted(unexpected))}")


def normalize_typ(typ: object) -> str:
    if not isinstance(typ, str):
        return ""
    typ = typ.lower()
    return typ.removeprefix("application/")


class TokenVerifier:
    def __init__(
        self,
        keys: KeyLookup,
        *,
        issuer: str,
        audience: str | Sequence[str],
        token_type: TokenType,
        leeway: int = 30,
        algorithms: Sequence[str] | None = None,
        claim_checks: Sequence[ClaimCheck] = (),
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        clock: Callable[[], float] = time.time,
        ignored_header_parameters: Sequence[str] = (),
    ) -> None:
        unknown = set(ignored_header_parameters) - IGNORABLE_HEADER_PARAMETERS
        if unknown:
            raise ValueError(f"header parameters that may never be ignored: {', '.join(sorted(unknown))}")
        self.keys = keys
        self.issuer = issuer
        self.audiences = frozenset([audience] if isinstance(audience, str) else audience)
        if not self.audiences:
            raise ValueError("a verifier needs at least one accepted audience")
        self.token_type = token_type
        self.leeway = leeway
        self.algorithms = frozenset(algorithms) if algorithms is not None else None
        self.header_parameters = ALLOWED_HEADER_PARAMETERS | frozenset(ignored_header_parameters)
        self.claim_checks = tuple(claim_checks)
        self.required_claims = ["iss", "sub", "exp", "iat", "jti", token_type.audience_claim]
        self._audience_claim = token_type.audience_claim
        self._use_required = token_type.token_use is not None
        self._auth_time_required = token_type.requires_auth_time
        self.max_token_bytes = max_token_bytes
        self._clock = clock
        # The header `typ` as the issuer writes it (absent for Cognito): accepted without more ado.
        self._usual_typ: object = _ABSENT if token_type.typ is None else token_type.typ

    def verify(self, token: str) -> TokenClaims:
        return self.verify_parsed(parse_token(token, self.max_token_bytes))

    def verify_signed(self, parsed: ParsedToken) -> VerificationKey:
        """The checks of everything but the claims: size, header, pinned algorithm, signature.

        Returns the key that signed. `verify_parsed` starts with it; the standard JWS test vectors,
        whose payloads are no JWT claims, are run through it alone.
        """
        if len(parsed.token) > self.max_token_bytes:  # parsed under another issuer's limit
            raise MalformedTokenError(f"token is longer than {self.max_token_bytes} bytes")
        header = parsed.header
        if not header.keys() <= self.header_parameters:
            _check_header_parameters(header, self.header_parameters)
        if header.get("typ", _ABSENT) != self._usual_typ:  # anything but the usual spelling
            self._check_typ(header)
        kid = header.get("kid")
        if kid.__class__ is not str or not kid:
            raise MalformedTokenError("token header has no kid")
        key = self.keys.get(kid)
        # The key pins the algorithm; the header must name it (never chooses it). An Ed25519 key
        # without a JWK `alg` answers to both names of its one algorithm (see authorizer.tokens.keys).
        alg = header.get("alg")
        if alg != key.alg and alg not in key.algorithms:
            raise AlgorithmNotAllowedError(f"algorithm must be {' or '.join(key.algorithms)} for this key")
        if self.algorithms is not None and alg not in self.algorithms:
            raise AlgorithmNotAllowedError(f"{alg} is not an allowed algorithm for this issuer")
        if not key.verify_signature(parsed.signing_input, parsed.signature):
            raise InvalidSignatureError("signature verification failed")
        return key

    def verify_parsed(self, parsed: ParsedToken) -> TokenClaims:
        """Verify a token `authorizer.tokens.jws.parse_token` split and decoded (its shape is checked)."""
        self.verify_signed(parsed)
        payload = parsed.payload
        get = payload.get
        audience = get(self._audience_claim)
        # The usual token: our claims' types (`_usual_claims`), our issuer, an audience claim, and
        # none of the claims that take more checks. Any other takes every check in its order.
        claims = None if parsed.escaped else _usual_claims(payload)
        if claims is None or audience is None or get("iss") != self.issuer:
            self._check_registered(payload)
            claims = _checked_claims(payload)
        now, leeway = self._clock(), self.leeway
        if now >= claims.exp + leeway or claims.iat > now + leeway or "nbf" in payload:  # as _check_times
            self._check_times(payload, claims, now)  # refuses, or accepts an `nbf` already past
        if self._auth_time_required and get("auth_time").__class__ is not int:
            _check_auth_time(payload)
        if self._use_required or "token_use" in payload:
            self._check_use(payload)
        if audience.__class__ is not str or not audience or audience not in self.audiences:
            self._check_audience(payload)  # refuses, or accepts a list naming one of ours
        if self.claim_checks:
            for check in self.claim_checks:
                check(payload)
        return claims

    def _check_registered(self, payload: Mapping[str, Any]) -> None:
        if self._use_required or "token_use" in payload:  # another type is named so, not as a missing claim
            self._check_use(payload)
        for name in self.required_claims:
            if payload.get(name) is None:
                raise InvalidClaimError(f"token lacks the {name!r} claim")
        if payload["iss"] != self.issuer:  # exactly; a list or a number is never equal
            raise IssuerMismatchError("token 'iss' does not match the expected issuer")
        if not isinstance(payload["sub"], str) or not isinstance(payload["jti"], str):
            raise InvalidClaimError("token 'sub' and 'jti' must be strings")

    def _check_typ(self, header: Mapping[str, Any]) -> None:
        expected = self.token_type.typ
        found = normalize_typ(header.get("typ")) if "typ" in header else None
        if expected is None:
            if found not in (None, "jwt"):
                raise TokenTypeError(f"not {self.token_type.article} token (typ {found!r})")
        elif found != expected:
            raise TokenTypeError(f"not {self.token_type.article} token (typ must be {expected})")

    def _check_audience(self, payload: Mapping[str, Any]) -> None:
        name = self.token_type.audience_claim
        value = payload.get(name)
        if value.__class__ is str and value and value in self.audiences:  # the usual: one accepted value
            return
        if value in (None, "", []):
            raise InvalidClaimError(f"token lacks the {name!r} claim")
        named = [value] if isinstance(value, str) else value
        if not isinstance(named, list) or not all(isinstance(item, str) for item in named):
            raise AudienceMismatchError(f"token {name} must be a string or a list of strings")
        if self.audiences.isdisjoint(named):
            raise AudienceMismatchError(f"token {name} is not accepted here")

    def _check_times(self, payload: Mapping[str, Any], claims: TokenClaims, now: float) -> None:
        if now >= claims.exp + self.leeway:
            raise TokenExpiredError("token has expired")
        if claims.iat > now + self.leeway:
            raise TokenNotYetValidError("token was issued in the future")
        if "nbf" in payload and _numeric_date(payload, "nbf") > now + self.leeway:
            raise TokenNotYetValidError("token is not valid yet")

    def _check_use(self, payload: Mapping[str, Any]) -> None:
        # Belt and braces beside `typ`: refresh tokens also say so in the signed payload.
        use = payload.get("token_use")
        expected = self.token_type.token_use
        if expected is not None and use != expected:
            raise TokenTypeError(f"not {self.token_type.article} token (token_use must be {expected})")
        if expected is None and use == "refresh":
            raise TokenTypeError(f"a refresh token is not {self.token_type.article} token")


def _numeric_date(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if value.__class__ is int:  # not a bool; and no float check: a huge int would overflow it
        return int(value)
    if value.__class__ is not float or not math.isfinite(value):
        raise InvalidClaimError(f"{name!r} must be a NumericDate")
    return int(value)


def _check_auth_time(payload: Mapping[str, Any]) -> None:
    if payload.get("auth_time") is None:
        raise InvalidClaimError("token lacks the 'auth_time' claim")
    _numeric_date(payload, "auth_time")


def _optional_text(payload: Mapping[str, Any], name: str) -> str | None:
    return _text_or_none(payload.get(name), name)


def _text_or_none(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not is_unicode(value):
        raise InvalidClaimError(f"{name!r} must be a string of valid Unicode")
    return value


def is_unicode(text: str) -> bool:
    """False for strings holding lone surrogates: JSON can escape them, Unicode text cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _required_text(payload: Mapping[str, Any], name: str) -> str:
    value = _optional_text(payload, name)
    if not value:
        raise InvalidClaimError(f"token lacks the {name!r} claim")
    return value


# The claims `_usual_claims` reads, in one C-level pass (`map(payload.get, ...)`), and the types
# it accepts: the required ones exactly, the optional ones or their absence (None).
_USUAL_CLAIMS = ("sub", "jti", "iat", "exp", "auth_time", "scope", "sid", "client_id", "origin_jti")
_REQUIRED_TYPES = (str, str, int, int)  # sub, jti, iat, exp; `.__class__`: no bool, no subclass
_INT_OR_NONE = (int, type(None))
_STR_OR_NONE = frozenset({str, type(None)})


def _usual_claims(payload: Mapping[str, Any]) -> TokenClaims | None:
    """The claims of the usual token, checked inline; None for anything else, which
    `_checked_claims` accepts or refuses saying what is wrong.

    Only for a payload whose JSON holds no `\\u` escape (`ParsedToken.escaped`): its strings are
    then valid Unicode as decoded (strict UTF-8), so only types are checked here: non-empty
    strings, integer dates (`.__class__ is int`: no bool), no groups, no legacy claim names.
    """
    get: Callable[[str], Any] = payload.get  # JSON values: checked below, whatever they are
    sub, jti, iat, exp, auth_time, scope, sid, client_id, origin_jti = map(get, _USUAL_CLAIMS)
    if (
        (sub.__class__, jti.__class__, iat.__class__, exp.__class__) == _REQUIRED_TYPES
        and sub
        and jti
        and auth_time.__class__ in _INT_OR_NONE
        and {scope.__class__, sid.__class__, client_id.__class__, origin_jti.__class__} <= _STR_OR_NONE
        and "cognito:groups" not in payload
        and LEGACY_ORIGIN_CLAIM not in payload
    ):
        # As `session_start_of`, inline: `auth_time`, never later than `iat`.
        started = iat if auth_time is None or auth_time > iat else auth_time
        return verified_claims(
            sub, jti, iat, exp, scope or "", sid, client_id, origin_jti, (), payload, started
        )
    return None


def _checked_claims(payload: Mapping[str, Any]) -> TokenClaims:
    iat = _numeric_date(payload, "iat")
    return verified_claims(
        sub=_required_text(payload, "sub"),
        jti=_required_text(payload, "jti"),
        iat=iat,
        exp=_numeric_date(payload, "exp"),
        scope=_optional_text(payload, "scope") or "",
        sid=_optional_text(payload, "sid"),
        client_id=_optional_text(payload, "client_id"),
        origin_jti=_text_or_none(origin_claim(payload), "origin_jti"),
        groups=_groups(payload),
        raw=payload,
        started=session_start_of(payload.get("auth_time"), iat),
    )


def _groups(payload: Mapping[str, Any]) -> tuple[str, ...]:
    value = payload.get("cognito:groups", [])
    if not isinstance(value, list) or not all(isinstance(group, str) for group in value):
        raise InvalidClaimError("'cognito:groups' must be a list of strings")
    return tuple(value)
