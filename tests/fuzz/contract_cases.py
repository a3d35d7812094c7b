"""Tokens for the contract fuzz: valid ones, ones invalid in exactly one way, and random ones.

A `Spec` says how to make a token (whose, what kind, which header and claim changes, who signs,
what is done to it after signing, what is revoked first) and which check it is meant to fail
(`intent`: None for a valid token, "random" for several defects at once). Tokens are built when
the example runs (`build`), with times relative to that moment and fresh `sub`/`sid`/`jti`, so a
replayed example judges the same thing and no example sees another's revocations.

Boundaries are kept at least `MARGIN` seconds away (the model and the authorizer read the clock
a moment apart; the exact boundaries are tested with a fixed clock in tests/unit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import strategies as st

from authorizer.tokens.verifier import is_unicode
from tests.fuzz import contract as c
from tests.fuzz.strategies import weighted
from tests.fuzz.world import AUDIENCE, CLIENT_ID, ISSUER, LEEWAY, World

MARGIN = 5  # seconds between a generated time and the nearest boundary
OURS, POOL = "ours", "pool"
ACCESS, REFRESH = "access", "refresh"


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


DROP: Any = _Drop()  # as a header or claim value: leave the member out


@dataclass(frozen=True)
class At:
    """A time claim: `seconds` from the moment the token is built (as a float with `fraction`)."""

    seconds: int
    fraction: float = 0.0


@dataclass(frozen=True)
class Route:
    key: str  # the API Gateway route key
    path: str  # a concrete path of it
    needs: frozenset[str]  # the scopes AUTH_ROUTE_SCOPES requires there (tests/fuzz/world.py)

    @property
    def method(self) -> str:
        method = self.key.split()[0]
        return "GET" if method == "ANY" else method


# The world's AUTH_ROUTE_SCOPES, restated route by route (a route not listed needs no scope).
ROUTES = (
    Route("GET /me", "/me", frozenset({"profile"})),
    Route("POST /orders", "/orders", frozenset({"orders:write"})),
    Route("GET /orders", "/orders", frozenset()),
    Route("ANY /admin/{proxy+}", "/admin/users/7", frozenset({"admin"})),
    Route("DELETE /orders/{id}", "/orders/7", frozenset({"orders:write", "orders:audit"})),
)
SCOPES = ("profile", "orders:read", "orders:write", "orders:audit", "admin", "introspect")
FORMATS = ("rest-token", "rest-request", "http-simple", "http-policy")
REVOCATIONS = ("jti", "sid", "user", "origin", "rotated")


@dataclass(frozen=True)
class Spec:
    issuer: str = OURS  # whose token it claims to be
    kind: str = ACCESS  # ours only: access or refresh
    header: tuple[tuple[str, Any], ...] = ()
    claims: tuple[tuple[str, Any], ...] = ()
    signer: str = "issuer"  # issuer | ours | pool | attacker | hmac-public-key
    after: str | None = None  # tamper-payload | flip-signature
    revoke: tuple[str, ...] = ()  # what is revoked first (REVOCATIONS, or user-later: not this token)
    scope: str = "profile orders:read orders:write orders:audit admin"
    intent: str | None = None  # the one check it is meant to fail; None: valid; "random"

    def with_changes(self, **changes: Any) -> Spec:
        return Spec(**{**self.__dict__, **changes})


@dataclass(frozen=True)
class Built:
    token: str
    denylist: c.Denylist  # what the denylist holds for it, as written by `build`
    claims: Mapping[str, Any] = field(repr=False)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _resolve(value: Any, now: int) -> Any:
    if isinstance(value, At):
        return now + value.seconds + value.fraction if value.fraction else now + value.seconds
    return value


def base_claims(world: World, spec: Spec, now: int, ids: Mapping[str, str]) -> dict[str, Any]:
    if spec.issuer == POOL:
        return {
            "iss": world.extra["pool_issuer"],
            "sub": ids["sub"],
            "client_id": world.extra["pool_client"],
            "token_use": "access",
            "scope": spec.scope,
            "auth_time": now,
            "iat": now,
            "exp": now + 600,
            "jti": ids["jti"],
            "origin_jti": ids["origin"],
            "username": "fuzz-user",
        }
    claims = {
        "iss": ISSUER,
        "sub": ids["sub"],
        "aud": AUDIENCE if spec.kind == ACCESS else ISSUER,
        "iat": now,
        "exp": now + 600,
        "jti": ids["jti"],
        "scope": spec.scope,
        "sid": ids["sid"],
        "client_id": CLIENT_ID,
        "auth_time": now,
    }
    if spec.kind == REFRESH:
        claims["token_use"] = "refresh"
    return claims


def base_header(world: World, spec: Spec) -> dict[str, Any]:
    if spec.issuer == POOL:
        return {"kid": world.kids["pool"], "alg": "RS256"}
    return {"alg": "RS256", "typ": "at+jwt" if spec.kind == ACCESS else "rt+jwt", "kid": world.kids["ours"]}


def _changed(base: dict[str, Any], changes: tuple[tuple[str, Any], ...], now: int) -> dict[str, Any]:
    merged = dict(base)
    for name, value in changes:
        if value is DROP:
            merged.pop(name, None)
        else:
            merged[name] = _resolve(value, now)
    return merged


def build(world: World, spec: Spec, now: int | None = None) -> Built:
    """The token `spec` describes, signed now; its revocations written to the denylist."""
    now = int(time.time()) if now is None else now
    ids = {name: str(uuid.uuid4()) for name in ("sub", "sid", "jti", "origin")}
    ids["sub"] = f"fuzz-{ids['sub']}"
    claims = _changed(base_claims(world, spec, now, ids), spec.claims, now)
    if "origin" in spec.revoke and spec.issuer == OURS:
        claims["origin_jti"] = ids["origin"]  # a session started from a Cognito login
    if "origin-legacy" in spec.revoke:  # as our tokens named the login before they took Cognito's name
        claims["cognito_origin_jti"] = ids["origin"]
    header = _changed(base_header(world, spec), spec.header, now)
    token = _signed(world, spec, header, claims)
    if spec.after == "tamper-payload":
        head, _, signature = token.split(".")
        escalated = {**claims, "scope": "admin introspect orders:write orders:audit profile", "sub": "admin"}
        token = f"{head}.{b64(_json(escalated))}.{signature}"
    elif spec.after == "flip-signature":
        head, body, signature = token.split(".")
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[len(raw) // 2] ^= 0x01
        token = f"{head}.{body}.{b64(bytes(raw))}"
    return Built(token, _revoke(world, spec, claims), claims)


def _signed(world: World, spec: Spec, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    signing_input = f"{b64(_json(dict(header)))}.{b64(_json(dict(claims)))}".encode("ascii")
    signer = spec.signer
    if signer == "issuer":
        signer = spec.issuer
    if signer == "hmac-public-key":
        public = world.signers["ours"].public_key()
        secret = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    else:
        alg = header.get("alg")
        digest = {"RS384": hashes.SHA384(), "RS512": hashes.SHA512()}.get(alg if isinstance(alg, str) else "")
        signature = world.signers[signer].sign(signing_input, padding.PKCS1v15(), digest or hashes.SHA256())
    return f"{signing_input.decode('ascii')}.{b64(signature)}"


def _revoke(world: World, spec: Spec, claims: Mapping[str, Any]) -> c.Denylist:
    """Write what `spec` revokes; a claim a random spec dropped or mistyped revokes nothing."""
    denylist = world.denylist
    jtis, sids, origins, not_before = set(), set(), set(), {}

    def text(name: str) -> str | None:
        # A string with a lone surrogate cannot be stored (DynamoDB takes UTF-8), and every
        # verifier refuses such a claim anyway: it revokes nothing.
        value = claims.get(name)
        return value if isinstance(value, str) and value and is_unicode(value) else None

    for what in spec.revoke:
        if what in ("jti", "rotated") and (jti := text("jti")):
            if what == "jti":
                denylist.revoke_jti(jti, "contract fuzz")
            else:
                exp = claims.get("exp")
                assert denylist.claim_refresh_token(jti, exp if type(exp) is int else int(time.time()) + 600)
            jtis.add(jti)
        elif what == "sid" and (sid := text("sid")):
            denylist.revoke_session(sid, "contract fuzz")
            sids.add(sid)
        elif (
            what in ("origin", "origin-legacy") and isinstance(origin := c.origin_of(claims), str) and origin
        ):
            denylist.revoke_origin(origin, "contract fuzz")
            origins.add(origin)
        elif what in ("user", "user-later") and (sub := text("sub")):
            not_before[sub] = denylist.revoke_user(sub, "contract fuzz").not_before
    return c.Denylist(frozenset(jtis), frozenset(sids), frozenset(origins), not_before)


# --------------------------------------------------------------------------- specs


def _scopes_holding(needs: frozenset[str]) -> st.SearchStrategy[str]:
    """Scope strings holding all of `needs`, and maybe more."""
    return st.sets(st.sampled_from(SCOPES)).map(lambda more: " ".join(sorted(needs | more)))


def _valid_changes(
    issuer: str, kind: str, needs: frozenset[str]
) -> st.SearchStrategy[tuple[tuple[str, Any], ...]]:
    """Accepted spellings: each change leaves the token valid."""
    leeway_past = -LEEWAY + MARGIN  # expired, but within the leeway
    common: list[tuple[str, Any]] = [
        ("exp", At(leeway_past)),
        ("exp", At(3600, 0.5)),  # a float NumericDate
        ("iat", At(LEEWAY - MARGIN)),  # issued in the future, within the leeway
        ("iat", At(-86_000)),
        ("nbf", At(LEEWAY - MARGIN)),
        ("nbf", At(-10)),
        ("note", "an extra claim"),
        ("auth_time", At(-100)),
    ]
    if issuer == OURS and kind == ACCESS:
        common += [("aud", ["billing-api", AUDIENCE]), ("sid", DROP), ("client_id", DROP)]
    if issuer == POOL:
        common.append(("cognito:groups", ["readers"]))
    if not needs:
        common.append(("scope", DROP))
    return st.lists(st.sampled_from(common), max_size=3, unique_by=lambda change: change[0]).map(tuple)


def _valid_headers(issuer: str, kind: str) -> st.SearchStrategy[tuple[tuple[str, Any], ...]]:
    if issuer == POOL:
        spellings: list[Any] = [DROP, "JWT", "jwt", "application/JWT"]
    else:
        typ = "at+jwt" if kind == ACCESS else "rt+jwt"
        spellings = [typ, typ.upper(), f"application/{typ}", f"Application/{typ.upper()}"]
    return st.sampled_from(spellings).map(lambda typ: (("typ", typ),))


@st.composite
def valid_spec(
    draw: st.DrawFn, route: Route, kinds: tuple[str, ...] = (ACCESS,), revocations: bool = True
) -> Spec:
    issuer = draw(st.sampled_from([OURS, POOL] if ACCESS in kinds else [OURS]))
    kind = ACCESS if issuer == POOL else draw(st.sampled_from(kinds))
    needs = route.needs - ({"profile"} if issuer == POOL else set())  # the pool grants `profile`
    claims = draw(_valid_changes(issuer, kind, needs))
    revoke = draw(st.sampled_from([(), (), ("user-later",)])) if revocations else ()
    if revoke:  # the user was signed out just before this session began: it is not caught
        claims = (*claims, ("iat", At(MARGIN)), ("auth_time", At(MARGIN)))
    return Spec(
        issuer=issuer,
        kind=kind,
        header=draw(_valid_headers(issuer, kind)),
        claims=claims,
        scope=draw(_scopes_holding(needs)),
        revoke=revoke,
    )


# Near misses of our issuer (and names of no issuer at all).
_NEAR_ISSUERS = [ISSUER + "/", ISSUER.upper(), ISSUER + ".evil.example", "https://evil.example", " " + ISSUER]


def _defects(world: World, spec: Spec, route: Route) -> dict[str, list[Spec]]:
    """Every one-defect variant of the valid `spec`, by the check it fails (at the authorizer)."""
    ours = spec.issuer == OURS
    if not ours:
        other_typ: list[Any] = ["at+jwt", "rt+jwt", "JWS", 5]
    else:
        other_typ = ["JWT", "at-jwt", DROP, 5] + (["rt+jwt"] if spec.kind == ACCESS else ["at+jwt"])
    use = "id" if not ours else ("access" if spec.kind == REFRESH else "refresh")
    aud_claim = "client_id" if not ours else "aud"
    aud_value = world.extra["pool_client"] if not ours else (AUDIENCE if spec.kind == ACCESS else ISSUER)
    found: dict[str, list[Spec]] = {
        c.SIGNATURE: [
            spec.with_changes(after="tamper-payload"),
            spec.with_changes(after="flip-signature"),
            spec.with_changes(signer="attacker"),
        ],
        c.UNKNOWN_KID: [
            spec.with_changes(header=(*spec.header, ("kid", world.kids["attacker"])), signer="attacker"),
            spec.with_changes(header=(*spec.header, ("kid", "no-such-key"))),
            # Another trusted issuer's key for this issuer's token.
            spec.with_changes(
                header=(*spec.header, ("kid", world.kids["pool" if ours else "ours"])),
                signer="pool" if ours else "ours",
            ),
        ],
        c.NO_KID: [
            spec.with_changes(header=(*spec.header, ("kid", DROP))),
            spec.with_changes(header=(*spec.header, ("kid", ""))),
            spec.with_changes(header=(*spec.header, ("kid", 7))),
        ],
        c.ALGORITHM: [
            spec.with_changes(header=(*spec.header, ("alg", "RS512"))),
            spec.with_changes(header=(*spec.header, ("alg", "none"))),
            spec.with_changes(header=(*spec.header, ("alg", "HS256")), signer="hmac-public-key"),
            spec.with_changes(header=(*spec.header, ("alg", "rs256"))),
            spec.with_changes(header=(*spec.header, ("alg", DROP))),
        ],
        c.HEADER: [
            spec.with_changes(header=(*spec.header, (name, value)))
            for name, value in (
                ("jku", "https://attacker.example/jwks.json"),
                ("x5u", "https://attacker.example/cert.pem"),
                ("jwk", {"kty": "oct", "k": "AAAA"}),
                ("crit", ["exp"]),
                ("x5t", "dGh1bWJwcmludA"),
                ("cty", "JWT"),
            )
        ],
        c.TYPE: [spec.with_changes(header=(*spec.header, ("typ", typ))) for typ in other_typ]
        + [spec.with_changes(claims=(*spec.claims, ("token_use", use)))],
        c.AUDIENCE: [
            spec.with_changes(claims=(*spec.claims, (aud_claim, value)))
            # Cognito's `client_id` is also a string claim: only strings are an audience defect alone.
            for value in (
                "billing-api",
                aud_value.upper(),
                *([["billing-api"], [[aud_value]], 7] if ours else []),
            )
        ],
        c.CLAIM: [
            spec.with_changes(claims=(*spec.claims, (name, DROP)))
            for name in ("sub", "jti", "iat", "exp", aud_claim)
        ]
        + [
            spec.with_changes(claims=(*spec.claims, (name, value)))
            for name, value in (
                ("sub", 12345),
                ("jti", ""),
                ("exp", "1900000000"),
                ("exp", True),
                ("iat", None),
                ("nbf", "0"),
                ("scope", ["admin"]),
                ("sid", 7),
                ("cognito:groups", "admins"),
                ("sub", "\ud800"),
                (aud_claim, ""),
                *((("auth_time", DROP), ("auth_time", "yesterday")) if ours else ()),
            )
        ],
        c.EXPIRED: [
            spec.with_changes(
                claims=(*spec.claims, ("exp", At(-LEEWAY - MARGIN - back)), ("iat", At(-90_000)))
            )
            for back in (0, 3600, 10**6)
        ],
        c.NOT_YET_VALID: [
            spec.with_changes(claims=(*spec.claims, (name, At(LEEWAY + MARGIN + ahead)), ("exp", At(10**6))))
            for name in ("iat", "nbf")
            for ahead in (0, 3600)
        ],
        c.REVOKED: [
            spec.with_changes(revoke=(what,), claims=(*spec.claims, ("iat", At(-60)), ("auth_time", At(-60))))
            for what in ("jti", "user", "origin")
            + (("sid", "origin-legacy") if ours and ("sid", DROP) not in spec.claims else ())
        ]
        # Signed out after the session began, this token issued after the sign-out (a refresh in
        # flight): the session is dead, whatever the token's `iat` (README "The revocation delay").
        + [
            spec.with_changes(
                revoke=("user",), claims=(*spec.claims, ("iat", At(MARGIN)), ("auth_time", At(-60)))
            )
        ],
    }
    if ours:
        found[c.UNTRUSTED_ISSUER] = [
            spec.with_changes(claims=(*spec.claims, ("iss", iss))) for iss in _NEAR_ISSUERS
        ] + [spec.with_changes(claims=(*spec.claims, ("iss", [ISSUER])))]
    else:
        found[c.UNTRUSTED_ISSUER] = [
            spec.with_changes(claims=(*spec.claims, ("iss", world.extra["pool_issuer"] + "x")))
        ]
    lacking = _lacking_examples(spec, route)
    if lacking:
        found[c.SCOPE] = [spec.with_changes(scope=scope) for scope in lacking]
    return found


def _lacking_examples(spec: Spec, route: Route) -> list[str]:
    granted = {"profile"} if spec.issuer == POOL else set()
    needs = route.needs - granted
    held = set(spec.scope.split())
    return [" ".join(sorted(held - {scope})) for scope in sorted(needs)] if needs else []


FAMILIES = (
    c.ALGORITHM, c.AUDIENCE, c.CLAIM, c.EXPIRED, c.HEADER, c.NO_KID, c.NOT_YET_VALID, c.REVOKED,
    c.SCOPE, c.SIGNATURE, c.TYPE, c.UNKNOWN_KID, c.UNTRUSTED_ISSUER,
)  # fmt: skip
# The scope family has the fewest chances (a route that needs scopes, the right format), and
# "all of" vs "any of" shows only at the route needing two: both are drawn more often.
_FAMILY_WEIGHT = {c.SCOPE: 3}
_TWO_SCOPES_WEIGHT = 3


def _route_for(check: str, routes: tuple[Route, ...]) -> st.SearchStrategy[Route]:
    if check != c.SCOPE:
        return st.sampled_from(routes)
    scoped = [route for route in routes if route.needs]
    return weighted(
        *((_TWO_SCOPES_WEIGHT if len(route.needs) > 1 else 1, st.just(route)) for route in scoped)
    )


@st.composite
def one_defect_case(
    draw: st.DrawFn, world: World, routes: tuple[Route, ...], kinds: tuple[str, ...] = (ACCESS,)
) -> tuple[Route, Spec]:
    """A valid spec changed in exactly one way: first the check, then a route, then the variant."""
    families = [check for check in FAMILIES if check != c.SCOPE or any(route.needs for route in routes)]
    check = draw(weighted(*((_FAMILY_WEIGHT.get(check, 1), st.just(check)) for check in families)))
    route = draw(_route_for(check, routes))
    spec = draw(valid_spec(route, kinds, revocations=False))  # one way means one
    variants = _defects(world, spec, route)
    if check not in variants:  # none of that kind for this spec (the pool grants `profile`)
        check = draw(st.sampled_from(sorted(variants)))
    chosen = draw(st.sampled_from(variants[check]))
    return route, chosen.with_changes(intent=check)


@st.composite
def random_spec(draw: st.DrawFn, world: World, route: Route, kinds: tuple[str, ...] = (ACCESS,)) -> Spec:
    """A valid spec with two or three defects of different checks, changes merged."""
    spec = draw(valid_spec(route, kinds, revocations=False))
    variants = _defects(world, spec, route)
    checks = draw(st.lists(st.sampled_from(sorted(variants)), min_size=2, max_size=3, unique=True))
    merged = spec
    for check in checks:
        variant = draw(st.sampled_from(variants[check]))
        merged = merged.with_changes(
            header=tuple(dict([*merged.header, *variant.header]).items()),
            claims=tuple(dict([*merged.claims, *variant.claims]).items()),
            signer=variant.signer if variant.signer != "issuer" else merged.signer,
            after=variant.after or merged.after,
            revoke=variant.revoke or merged.revoke,
            scope=variant.scope if check == c.SCOPE else merged.scope,
        )
    return merged.with_changes(intent="random")


def cases(
    world: World, routes: tuple[Route, ...] = ROUTES, kinds: tuple[str, ...] = (ACCESS,)
) -> st.SearchStrategy[tuple[Route, Spec]]:
    """(route, spec): valid, invalid in exactly one way, or in several."""
    any_route = st.sampled_from(routes)
    return weighted(
        (2, any_route.flatmap(lambda route: st.tuples(st.just(route), valid_spec(route, kinds)))),
        (6, one_defect_case(world, routes, kinds)),
        (2, any_route.flatmap(lambda route: st.tuples(st.just(route), random_spec(world, route, kinds)))),
    )
