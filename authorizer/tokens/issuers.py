"""Several trusted issuers: ours, Amazon Cognito user pools and other OIDC issuers.

Each issuer is configured with the exact `iss` it signs as and, apart from it, where its keys
are (emulators and proxies serve JWKS from other hosts). A token is routed to its issuer's
verifier by its unverified `iss`; that verifier then checks `iss` again, exactly, with the
signature. The token is parsed once (`authorizer.tokens.jws`): routing and verification read the same
decoded payload. Keys are fetched only from configured URLs, never from a URL named in a token.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from authorizer.errors import ConfigurationError, InvalidClaimError, UntrustedIssuerError
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.cognito import cognito_jwks_uri
from authorizer.tokens.jws import DEFAULT_MAX_TOKEN_BYTES, ParsedToken, parse_token
from authorizer.tokens.keys import ACCEPTED_ALGORITHMS
from authorizer.tokens.verifier import IGNORABLE_HEADER_PARAMETERS, normalize_typ

_KINDS = ("cognito", "oidc")
_KEYS = {
    "issuer", "type", "jwks_uri", "jwks", "jwks_file", "token_use", "client_ids", "audiences",
    "algorithms", "required_groups", "required_scopes", "group_scopes", "default_scope", "preload", "typ",
    "ignored_header_parameters",
}  # fmt: skip
# Keys that mean something for one kind of issuer only, and what to do instead. Given for the
# other kind they would change nothing (a check that never runs), so they are refused.
_ONE_KIND_KEYS: Mapping[str, tuple[str, str]] = {
    "client_ids": ("cognito", "list an OIDC issuer's accepted `aud` values in 'audiences'"),
    "token_use": ("cognito", "an OIDC issuer's tokens are told apart by their header 'typ'"),
    "required_groups": ("cognito", "groups are read from Cognito's `cognito:groups` claim only"),
    "group_scopes": (
        "cognito",
        "groups are read from Cognito's `cognito:groups` claim only; 'default_scope' grants "
        "scopes to every token of an issuer",
    ),
    "audiences": ("oidc", "list a user pool's app client ids in 'client_ids'"),
    "algorithms": ("oidc", "Cognito user pools sign with RS256 only, and only RS256 is accepted"),
    "typ": ("oidc", "Cognito sets no `typ`; its tokens are told apart by 'token_use'"),
    "ignored_header_parameters": ("oidc", "Cognito's tokens carry no header parameters to ignore"),
}


def keys_for(kind: str) -> frozenset[str]:
    """The keys an AUTH_TRUSTED_ISSUERS entry of this `type` may have; each one takes effect."""
    return frozenset(key for key in _KEYS if _ONE_KIND_KEYS.get(key, (kind, ""))[0] == kind)


class Verifier(Protocol):
    """Verifies a token. `TokenVerifier` and `ScopedVerifier` also offer `verify_parsed`, which
    `TrustedIssuers` uses to verify on the parse it routed by."""

    def verify(self, token: str) -> TokenClaims: ...


@dataclass(frozen=True)
class TrustedIssuer:
    """One entry of AUTH_TRUSTED_ISSUERS."""

    issuer: str
    kind: str  # "cognito" or "oidc"
    audiences: tuple[str, ...]  # Cognito: app client ids; OIDC: accepted `aud` values
    jwks_uri: str | None = None
    jwks: Mapping[str, Any] | None = None
    jwks_file: str | None = None
    token_use: str = "access"  # noqa: S105 - Cognito only: "access" or "id", a claim value
    algorithms: tuple[str, ...] = ("RS256",)
    required_groups: tuple[str, ...] = ()
    required_scopes: tuple[str, ...] = ()
    # Scopes granted by Cognito groups, added to the token's own `scope` for route checks.
    group_scopes: Mapping[str, str] = field(default_factory=dict)
    default_scope: str = ""
    preload: bool = False
    typ: str | None = None  # OIDC only: the header `typ` its tokens carry, if any
    # OIDC only: header parameters its tokens carry that we accept and never read (`x5t`...).
    ignored_header_parameters: tuple[str, ...] = ()


def parse_trusted_issuers(raw: Any) -> tuple[TrustedIssuer, ...]:
    """Validate AUTH_TRUSTED_ISSUERS (a JSON list); every mistake is a configuration error."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigurationError("must be a JSON list of issuer objects")
    issuers = [_issuer(entry, index) for index, entry in enumerate(raw)]
    names = [issuer.issuer for issuer in issuers]
    if len(set(names)) != len(names):
        raise ConfigurationError("lists the same issuer twice")
    return tuple(issuers)


def _issuer(entry: Any, index: int) -> TrustedIssuer:
    where = f"entry #{index}"
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where} is not a JSON object")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ConfigurationError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    issuer = entry.get("issuer")
    if not isinstance(issuer, str) or not _is_url(issuer):
        raise ConfigurationError(f"{where}: 'issuer' must be the exact https:// URL of the issuer")
    where = f"issuer {issuer!r}"
    kind = entry.get("type", "oidc")
    if kind not in _KINDS:
        raise ConfigurationError(f"{where}: 'type' must be one of {', '.join(_KINDS)}")
    misplaced = sorted(set(entry) - keys_for(kind))
    if misplaced:
        reasons = "; ".join(
            f"{key!r} is for {_ONE_KIND_KEYS[key][0]} issuers ({_ONE_KIND_KEYS[key][1]})" for key in misplaced
        )
        raise ConfigurationError(f"{where} is of type {kind}: {reasons}")
    sources = [name for name in ("jwks_uri", "jwks", "jwks_file") if entry.get(name) is not None]
    if len(sources) > 1:
        raise ConfigurationError(f"{where}: give only one of jwks_uri, jwks, jwks_file")
    jwks_uri = entry.get("jwks_uri")
    if not sources:
        if kind != "cognito":
            raise ConfigurationError(f"{where}: one of jwks_uri, jwks or jwks_file is required")
        jwks_uri = cognito_jwks_uri(issuer)
    if jwks_uri is not None and (not isinstance(jwks_uri, str) or not _is_url(jwks_uri)):
        # Keys fetched in plain text could be swapped on the way, and then any token verifies.
        raise ConfigurationError(
            f"{where}: 'jwks_uri' must be an https:// URL (plain http only on this machine: "
            "localhost, 127.0.0.1 or [::1])"
        )
    audience_key = "client_ids" if kind == "cognito" else "audiences"
    audiences = _strings(entry.get(audience_key), f"{where}: {audience_key!r}")
    if not audiences:
        raise ConfigurationError(f"{where}: {audience_key!r} must list at least one value")
    token_use = entry.get("token_use", "access")
    if token_use not in ("access", "id"):
        raise ConfigurationError(f"{where}: 'token_use' must be 'access' or 'id'")
    required_scopes = _strings(entry.get("required_scopes", []), f"{where}: 'required_scopes'")
    if required_scopes and token_use == "id":  # noqa: S105 - a claim value
        raise ConfigurationError(
            f"{where}: 'required_scopes' cannot hold for Cognito ID tokens, which carry no `scope`: "
            "trust access tokens (token_use 'access'), or require groups with 'required_groups'"
        )
    preload = bool(_optional(entry, "preload", bool, where))
    if preload and jwks_uri is None:
        raise ConfigurationError(
            f"{where}: 'preload' fetches keys from 'jwks_uri'; keys given in 'jwks' or 'jwks_file' "
            "are loaded at cold start anyway (remove 'preload')"
        )
    typ = _optional(entry, "typ", str, where)
    if typ is not None and not normalize_typ(typ):
        raise ConfigurationError(f"{where}: 'typ' must name a media type, e.g. at+jwt")
    algorithms = _strings(entry.get("algorithms", ["RS256"]), f"{where}: 'algorithms'")
    if not algorithms or set(algorithms) - set(ACCEPTED_ALGORITHMS):
        raise ConfigurationError(f"{where}: 'algorithms' must be among {', '.join(ACCEPTED_ALGORITHMS)}")
    group_scopes = entry.get("group_scopes", {})
    if not isinstance(group_scopes, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in group_scopes.items()
    ):
        raise ConfigurationError(f"{where}: 'group_scopes' must map group names to scope strings")
    return TrustedIssuer(
        issuer=issuer,
        kind=kind,
        audiences=audiences,
        jwks_uri=jwks_uri,
        jwks=_optional(entry, "jwks", Mapping, where),
        jwks_file=_optional(entry, "jwks_file", str, where),
        token_use=token_use,
        algorithms=algorithms,
        required_groups=_strings(entry.get("required_groups", []), f"{where}: 'required_groups'"),
        required_scopes=required_scopes,
        group_scopes=dict(group_scopes),
        default_scope=_optional(entry, "default_scope", str, where) or "",
        preload=preload,
        # Compared as the verifier reads a header `typ`: case-insensitive, without "application/".
        typ=normalize_typ(typ) if typ is not None else None,
        ignored_header_parameters=_ignored_header_parameters(entry, where),
    )


def _ignored_header_parameters(entry: Mapping[str, Any], where: str) -> tuple[str, ...]:
    names = _strings(entry.get("ignored_header_parameters", []), f"{where}: 'ignored_header_parameters'")
    if set(names) - IGNORABLE_HEADER_PARAMETERS:
        allowed = ", ".join(sorted(IGNORABLE_HEADER_PARAMETERS))
        raise ConfigurationError(f"{where}: 'ignored_header_parameters' may name only {allowed}")
    return names


def _is_url(value: str) -> bool:
    """An https URL, or http on a loopback host (a local emulator)."""
    parts = urlsplit(value)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    schemes = ("https", "http") if local else ("https",)
    return parts.scheme in schemes and bool(parts.hostname) and not value.endswith("/")


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigurationError(f"{what} must be a list of strings")
    return tuple(value)


def _optional(entry: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    value = entry.get(name)
    if value is not None and not isinstance(value, kind):
        raise ConfigurationError(f"{where}: {name!r} has the wrong type")
    return value


class ScopedVerifier:
    """Adds the scopes an issuer's configuration grants (default, per group) to its tokens."""

    def __init__(self, verifier: Verifier, *, default_scope: str, group_scopes: Mapping[str, str]) -> None:
        self._verifier = verifier
        self._verify_parsed = _parsed_verify(verifier)
        self._default = default_scope.split()
        self._group_scopes = {group: scope.split() for group, scope in group_scopes.items()}

    def verify(self, token: str) -> TokenClaims:
        return self._scoped(self._verifier.verify(token))

    def verify_parsed(self, parsed: ParsedToken) -> TokenClaims:
        return self._scoped(self._verify_parsed(parsed))

    def _scoped(self, claims: TokenClaims) -> TokenClaims:
        scopes = [*claims.scope.split(), *self._default]
        for group in claims.groups:
            scopes += self._group_scopes.get(group, [])
        return dataclasses.replace(claims, scope=" ".join(dict.fromkeys(scopes)))


class TrustedIssuers:
    """Route a token to the verifier of its issuer; an unknown issuer is refused."""

    def __init__(
        self, verifiers: Mapping[str, Verifier], *, max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES
    ) -> None:
        self._verifiers = dict(verifiers)
        self._verify_parsed = {issuer: _parsed_verify(v) for issuer, v in self._verifiers.items()}
        self._max_token_bytes = max_token_bytes

    @property
    def issuers(self) -> Sequence[str]:
        return tuple(self._verifiers)

    def verify(self, token: str) -> TokenClaims:
        parsed = parse_token(token, self._max_token_bytes)
        issuer = parsed.payload.get("iss")
        if issuer is None:  # worded as the verifier words a missing required claim
            raise InvalidClaimError("token lacks the 'iss' claim")
        # A list or a number names no issuer either (exact lookup: `str` keys only).
        verify = self._verify_parsed.get(issuer) if isinstance(issuer, str) else None
        if verify is None:
            raise UntrustedIssuerError("token issuer is not one of the trusted issuers")
        return verify(parsed)


def _parsed_verify(verifier: Verifier) -> Callable[[ParsedToken], TokenClaims]:
    """The verifier's own `verify_parsed`, or its `verify` of the token text if it has none."""
    verify_parsed: Callable[[ParsedToken], TokenClaims] | None = getattr(verifier, "verify_parsed", None)
    if verify_parsed is not None:
        return verify_parsed
    return lambda parsed: verifier.verify(parsed.token)
