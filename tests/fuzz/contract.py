"""A model of the token contract: what a correct verifier decides for a token, and why.

Written from the contract, not from our code: README.md ("Tokens", "The revocation delay",
"Trusting Cognito user pools and other issuers", AUTH_ROUTE_SCOPES), SECURITY.md ("Strict
verifier"), RFC 7515 (compact JWS), RFC 7519 (claims), RFC 7518 (algorithms), RFC 8725 (BCP),
RFC 9068 (`typ: at+jwt`) and RFC 6750 (Bearer). Nothing here imports `authorizer` or
`auth_service`: tokens are parsed with `base64` and `json`, signatures checked with
`cryptography` straight from the configured public keys, revocation read from a plain statement
of what the denylist holds.

`judge` does not stop at the first problem: it lists every check the token fails (`Verdict.
defects`). A verifier may refuse for any of them (the order of the checks is not part of the
contract), but only for one of them: a refusal for a reason the token does not have means the
check that should have refused it did not run. A token with no defect must be accepted.

The tests compare our answers with the model's: tests/fuzz (the authorizer and the issuing
endpoints, on generated tokens) and tests/security (each case of the catalogue, at each target).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256

# The checks, by name. A refusal is for one of them.
NO_TOKEN = "no-token"  # no credential, or one that is not a single Bearer token (RFC 6750 §2.1)
SHAPE = "shape"  # not a compact JWS we accept: size, three parts, canonical base64url, UTF-8 JSON objects
HEADER = "header"  # a header parameter other than `alg`, `kid`, `typ`
NO_KID = "no-kid"  # no `kid`, or one that is not a non-empty string
UNKNOWN_KID = "unknown-kid"  # a `kid` that names none of the issuer's keys
ALGORITHM = "algorithm"  # `alg` is not the one the key pins (or not one the issuer allows)
SIGNATURE = "signature"  # the signature does not verify with that key
TYPE = "type"  # the `typ` or `token_use` of another kind of token
UNTRUSTED_ISSUER = "untrusted-issuer"  # `iss` names no issuer the target trusts (issuer routing)
ISSUER = "issuer"  # `iss` is not exactly the issuer the (only) verifier expects
AUDIENCE = "audience"  # `aud` (Cognito access tokens: `client_id`) names none of ours
CLAIM = "claim"  # a required claim is missing or null, or a claim has the wrong type
EXPIRED = "expired"  # `exp` passed, beyond the leeway
NOT_YET_VALID = "not-yet-valid"  # `iat` or `nbf` in the future, beyond the leeway
REVOKED = "revoked"  # its `jti`, session, Cognito login or user (not-before) is revoked
SCOPE = "scope"  # the route needs a scope the token does not hold

CHECKS = (
    NO_TOKEN, SHAPE, HEADER, NO_KID, UNKNOWN_KID, ALGORITHM, SIGNATURE, TYPE, UNTRUSTED_ISSUER,
    ISSUER, AUDIENCE, CLAIM, EXPIRED, NOT_YET_VALID, REVOKED, SCOPE,
)  # fmt: skip

ALLOWED_HEADER = frozenset({"alg", "kid", "typ"})  # README "Tokens"; SECURITY.md `header-parameters`
REQUIRED_CLAIMS = ("iss", "sub", "exp", "iat", "jti")  # and the audience claim
TEXT_CLAIMS = ("scope", "sid", "client_id")  # strings when present
# The claim naming the Cognito login a token descends from, whose revocation ends it (Cognito's
# name, and ours); our older tokens named it `cognito_origin_jti`, read when `origin_jti` is not
# there (README "Cognito").
ORIGIN_CLAIM = "origin_jti"
LEGACY_ORIGIN_CLAIM = "cognito_origin_jti"
_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True)
class Key:
    """A configured public key: the one algorithm it verifies (by its names), and the key itself."""

    alg: str  # RS256, ES256 or EdDSA
    public_key: Any  # a `cryptography` public key
    # The `alg` values naming that algorithm: the JWK's own `alg` if it states one, else, for an
    # Ed25519 key, both `EdDSA` (RFC 8037) and `Ed25519` (RFC 9864).
    names: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.names:
            object.__setattr__(self, "names", frozenset({self.alg}))


@dataclass(frozen=True)
class Issuer:
    """One issuer a target trusts, as its configuration describes it."""

    iss: str
    keys: Mapping[str, Key]  # by `kid`
    audiences: frozenset[str]
    audience_claim: str = "aud"  # `client_id` for Cognito access tokens
    # The header `typ` its tokens must carry (compared case-insensitively, `application/`
    # optional); None: no `typ`, or plain `JWT` (Cognito sets none).
    typ: str | None = "at+jwt"
    # The `token_use` its tokens must carry; None: any but `refresh` (RFC 9068 access tokens).
    token_use: str | None = None
    algorithms: frozenset[str] | None = None  # None: whatever the key pins
    default_scope: str = ""  # scopes the configuration grants every token of this issuer
    group_scopes: Mapping[str, str] = field(default_factory=dict)  # Cognito group -> scopes
    # Ours: every token names when its session began (`auth_time`, a NumericDate).
    requires_auth_time: bool = False
    # OIDC issuers may be allowed header parameters that select nothing (`x5t`, `x5t#S256`).
    ignored_header_parameters: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Target:
    """Who judges the token: the authorizer (which routes tokens to issuers by their `iss`), or an
    issuing endpoint (one verifier: our issuer, access or refresh tokens)."""

    name: str
    issuers: tuple[Issuer, ...]
    routed: bool  # by `iss` among `issuers`; else `issuers` holds the one verifier
    leeway: int = 30
    max_token_bytes: int = 8192

    def issuer(self, iss: str) -> Issuer | None:
        return next((issuer for issuer in self.issuers if issuer.iss == iss), None)


@dataclass(frozen=True)
class Denylist:
    """What the denylist holds (live items only) for the token in question."""

    jtis: frozenset[str] = frozenset()
    sids: frozenset[str] = frozenset()
    origins: frozenset[str] = frozenset()
    not_before: Mapping[str, float] = field(default_factory=dict)  # sub -> "not before"


def keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, Key]:
    """A configured JWKS document's keys, by `kid`, each pinned to the one algorithm its type and
    curve allow (README "Tokens": RS256 for RSA, ES256 for P-256, EdDSA for Ed25519)."""
    keys = {}
    for jwk in jwks["keys"]:
        if jwk["kty"] == "RSA":
            numbers = rsa.RSAPublicNumbers(jwk_int(jwk["e"]), jwk_int(jwk["n"]))
            keys[jwk["kid"]] = Key("RS256", numbers.public_key())
        elif jwk["kty"] == "EC" and jwk["crv"] == "P-256":
            point = ec.EllipticCurvePublicNumbers(jwk_int(jwk["x"]), jwk_int(jwk["y"]), ec.SECP256R1())
            keys[jwk["kid"]] = Key("ES256", point.public_key())
        elif jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519":
            raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
            names = frozenset({jwk["alg"]} if "alg" in jwk else {"EdDSA", "Ed25519"})
            keys[jwk["kid"]] = Key("EdDSA", ed25519.Ed25519PublicKey.from_public_bytes(raw), names)
    return keys


def jwk_int(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


NOTHING_REVOKED = Denylist()
# Asked only when nothing else is wrong with the token: what the denylist holds for its claims.
DenylistLookup = Callable[[Mapping[str, Any]], Denylist]


@dataclass(frozen=True)
class Verdict:
    defects: frozenset[str]
    header: Mapping[str, Any] | None = None  # as decoded, when the token has the shape of one
    payload: Mapping[str, Any] | None = None
    issuer: Issuer | None = None  # who judged it

    @property
    def valid(self) -> bool:
        return not self.defects


def judge_bearer(value: str | None, target: Target, *, now: float, **options: Any) -> Verdict:
    """The verdict on an `Authorization` credential `Bearer <token>` (here: what follows `Bearer`).

    Whitespace around it frames the header value; a credential holding a space is no token.
    """
    token = value.strip() if isinstance(value, str) else ""
    if not token or " " in token:
        return Verdict(frozenset({NO_TOKEN}))
    return judge(token, target, now=now, **options)


def judge_field(value: str | None, target: Target, *, now: float, **options: Any) -> Verdict:
    """The verdict on a token sent as a request field (`refresh_token`, `token`): none if empty."""
    if not value:
        return Verdict(frozenset({NO_TOKEN}))
    return judge(value, target, now=now, **options)


def judge(
    token: str,
    target: Target,
    *,
    now: float,
    denylist: Denylist | DenylistLookup = NOTHING_REVOKED,
    needed_scopes: frozenset[str] = frozenset(),
) -> Verdict:
    """Every check `token` fails at `target` at time `now` (nothing: it must be accepted)."""
    parsed = _parse(token, target.max_token_bytes)
    if parsed is None:
        return Verdict(frozenset({SHAPE}))
    header, payload, signing_input, signature = parsed
    defects: set[str] = set()
    issuer = _issuer_for(payload, target, defects)
    if not header.keys() <= ALLOWED_HEADER | (issuer.ignored_header_parameters if issuer else frozenset()):
        defects.add(HEADER)
    if issuer is None:
        return Verdict(frozenset(defects), header, payload)
    _check_type(header, payload, issuer, defects)
    _check_key(header, signing_input, signature, issuer, defects)
    typed = _check_claims(payload, issuer, defects)
    _check_times(payload, target.leeway, now, defects)
    _check_audience(payload, issuer, defects)
    if typed and not defects:
        state = denylist(payload) if callable(denylist) else denylist
        if _revoked(payload, state):
            defects.add(REVOKED)
    if typed and needed_scopes and not needed_scopes <= _scopes(payload, issuer):
        defects.add(SCOPE)
    return Verdict(frozenset(defects), header, payload, issuer)


# --------------------------------------------------------------------------- shape (RFC 7515 §7.1)


def _parse(token: str, max_bytes: int) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes] | None:
    if not isinstance(token, str) or not token or len(token) > max_bytes or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    decoded = [_base64url(part) for part in parts]
    if any(part is None for part in decoded):
        return None
    head, body, signature = decoded
    assert head is not None and body is not None and signature is not None
    header, payload = _json_object(head), _json_object(body)
    if header is None or payload is None:
        return None
    return header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _base64url(text: str) -> bytes | None:
    """Unpadded base64url in its one canonical spelling (RFC 7515 §2), else None."""
    if not text or not set(text) <= _BASE64URL:
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") == text else None


def _json_object(data: bytes) -> dict[str, Any] | None:
    """A JSON object in UTF-8 (RFC 8725 §3.7); duplicate members: the last one counts."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return value if type(value) is dict else None


# --------------------------------------------------------------------------- issuer, type, key


def _issuer_for(payload: Mapping[str, Any], target: Target, defects: set[str]) -> Issuer | None:
    iss = payload.get("iss")
    if target.routed:
        if iss is None:
            defects.add(CLAIM)
            return None
        issuer = target.issuer(iss) if isinstance(iss, str) else None
        if issuer is None:
            defects.add(UNTRUSTED_ISSUER)
        return issuer
    issuer = target.issuers[0]
    if iss is None:
        defects.add(CLAIM)
    elif not (isinstance(iss, str) and iss == issuer.iss):  # exactly: no list, no near miss
        defects.add(ISSUER)
    return issuer


def _normalized_typ(value: Any) -> str | None:
    return value.lower().removeprefix("application/") if isinstance(value, str) else None


def _check_type(
    header: Mapping[str, Any], payload: Mapping[str, Any], issuer: Issuer, defects: set[str]
) -> None:
    typ = _normalized_typ(header.get("typ"))
    if issuer.typ is None:
        if "typ" in header and typ != "jwt":
            defects.add(TYPE)
    elif typ != issuer.typ:
        defects.add(TYPE)
    use = payload.get("token_use")
    if issuer.token_use is not None:
        if use != issuer.token_use:
            defects.add(TYPE)
    elif use == "refresh":  # never an access token (README "Tokens")
        defects.add(TYPE)


def _check_key(
    header: Mapping[str, Any], signing_input: bytes, signature: bytes, issuer: Issuer, defects: set[str]
) -> None:
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        defects.add(NO_KID)
        return
    key = issuer.keys.get(kid)
    if key is None:
        defects.add(UNKNOWN_KID)
        return
    # The key pins the algorithm; the header must name exactly that one (by one of its names).
    alg = header.get("alg")
    named = isinstance(alg, str) and alg in key.names  # (a list or an object names nothing)
    if not named or (issuer.algorithms is not None and alg not in issuer.algorithms):
        defects.add(ALGORITHM)
        return
    if not signature_is_valid(key, signing_input, signature):
        defects.add(SIGNATURE)


def signature_is_valid(key: Key, signing_input: bytes, signature: bytes) -> bool:
    """RFC 7518 §3.3 (RS256: exactly the modulus length), §3.4 (ES256: R || S, 64 bytes, both in
    [1, n-1]), RFC 8037 (EdDSA: Ed25519, 64 bytes)."""
    public = key.public_key
    try:
        if key.alg == "RS256" and isinstance(public, rsa.RSAPublicKey):
            if len(signature) != (public.key_size + 7) // 8:
                return False
            public.verify(signature, signing_input, padding.PKCS1v15(), SHA256())
        elif key.alg == "ES256" and isinstance(public, ec.EllipticCurvePublicKey):
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            if len(signature) != 64 or not (0 < r < P256_ORDER and 0 < s < P256_ORDER):
                return False
            public.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(SHA256()))
        elif key.alg in ("EdDSA", "Ed25519") and isinstance(public, ed25519.Ed25519PublicKey):
            if len(signature) != 64:
                return False
            public.verify(signature, signing_input)
        else:
            return False
    except InvalidSignature:
        return False
    return True


# --------------------------------------------------------------------------- claims (RFC 7519 §4)


def _is_text(value: Any) -> bool:
    """A string of valid Unicode (JSON can escape lone surrogates; text cannot hold them)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_numeric_date(value: Any) -> TypeGuard[float]:
    """A JSON number: an integer (not a boolean) or a finite float."""
    return (type(value) is int) or (type(value) is float and math.isfinite(value))


def _check_claims(payload: Mapping[str, Any], issuer: Issuer, defects: set[str]) -> bool:
    """Required claims and claim types; True when the claims the later checks read are usable."""
    for name in (*REQUIRED_CLAIMS, issuer.audience_claim):
        if payload.get(name) is None:
            defects.add(CLAIM)
    ids = all(_is_text(payload.get(name)) and payload.get(name) for name in ("sub", "jti"))
    dates = all(is_numeric_date(payload.get(name)) for name in ("exp", "iat"))
    not_before = "nbf" not in payload or is_numeric_date(payload["nbf"])
    texts = all(
        value is None or _is_text(value) for value in (*map(payload.get, TEXT_CLAIMS), origin_of(payload))
    )
    groups = "cognito:groups" not in payload or _is_list_of_strings(payload["cognito:groups"])
    if not (ids and dates and not_before and texts and groups):
        defects.add(CLAIM)
    if issuer.requires_auth_time and not is_numeric_date(payload.get("auth_time")):
        defects.add(CLAIM)
    return ids and dates and not_before and texts and groups


def _is_list_of_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _check_times(payload: Mapping[str, Any], leeway: int, now: float, defects: set[str]) -> None:
    """Each time claim that is a NumericDate is judged on its own: a malformed `nbf` (a claim
    defect) does not hide an `exp` that has passed, and a verifier may find either first."""
    exp, iat, nbf = (payload.get(name) for name in ("exp", "iat", "nbf"))
    if is_numeric_date(exp) and now >= exp + leeway:
        defects.add(EXPIRED)
    if is_numeric_date(iat) and iat > now + leeway:
        defects.add(NOT_YET_VALID)
    if is_numeric_date(nbf) and nbf > now + leeway:
        defects.add(NOT_YET_VALID)


def _check_audience(payload: Mapping[str, Any], issuer: Issuer, defects: set[str]) -> None:
    value = payload.get(issuer.audience_claim)
    if value is None:
        return  # a missing required claim, counted already
    if isinstance(value, str | list) and len(value) == 0:
        defects.add(CLAIM)  # present, naming nobody
        return
    named = [value] if isinstance(value, str) else value
    if not _is_list_of_strings(named) or issuer.audiences.isdisjoint(named):
        defects.add(AUDIENCE)


def origin_of(payload: Mapping[str, Any]) -> Any:
    """The Cognito login the token names: `origin_jti`, else the legacy claim."""
    origin = payload.get(ORIGIN_CLAIM)
    return payload.get(LEGACY_ORIGIN_CLAIM) if origin is None else origin


def session_start(payload: Mapping[str, Any]) -> float:
    """When the token's session began: its `auth_time` (a NumericDate, whole seconds), never
    later than its `iat`; without one, its `iat` (README "The revocation delay")."""
    auth_time = payload.get("auth_time")
    iat: float = payload["iat"]  # a NumericDate (checked before), not converted: it may be huge
    return min(math.floor(auth_time), iat) if is_numeric_date(auth_time) else iat


def _revoked(payload: Mapping[str, Any], state: Denylist) -> bool:
    """README "The revocation delay": the token's `jti`, its session, its Cognito login, or a
    sign-out-everywhere of its user after its session began (whatever its own `iat`)."""
    sid, origin = payload.get("sid"), origin_of(payload)
    not_before = state.not_before.get(payload["sub"])
    return (
        payload["jti"] in state.jtis
        or (bool(sid) and sid in state.sids)
        or (bool(origin) and origin in state.origins)
        or (not_before is not None and session_start(payload) < not_before)
    )


def _scopes(payload: Mapping[str, Any], issuer: Issuer) -> frozenset[str]:
    scope = payload.get("scope") or ""
    scopes = set(scope.split()) | set(issuer.default_scope.split())
    for group in payload.get("cognito:groups") or []:
        scopes |= set(issuer.group_scopes.get(group, "").split())
    return frozenset(scopes)
