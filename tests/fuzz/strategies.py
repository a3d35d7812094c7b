"""Hypothesis strategies for the fuzzers: JSON-ish values, headers, tokens and API Gateway events.

Everything a client controls (and a few things API Gateway would never send) is generated: text
with lone surrogates, NULs and bidi marks, JSON values of every type, huge and deeply nested
bodies, base64 flags that lie, random content types and header names in any case, and tokens
ranging from garbage to near-valid mutations of real ones (a flipped character, a swapped
segment, a forged header, claims changed under the old signature, or re-signed with our real key).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

Strategy = st.SearchStrategy

# --------------------------------------------------------------------------- text and JSON values

_SPECIAL = [
    "\ud800",
    "\udfff",
    "\x00",
    "\u202e",
    "\ufeff",
    "\u0130",
    "ß",
    "ﷺ",
    "\r",
    "\n",
    "%",
    "&",
    "=",
    "+",
]
CHARACTERS = st.one_of(st.characters(), st.sampled_from(_SPECIAL))
# Not st.text(): it never yields lone surrogates, which JSON's "\ud800" escapes do.
TEXT = st.lists(CHARACTERS, max_size=40).map("".join)
SHORT_TEXT = st.lists(CHARACTERS, max_size=8).map("".join)
HUGE_TEXT = st.integers(min_value=1_000, max_value=70_000).map(lambda n: "x" * n)

SCALARS: Strategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**20, max_value=10**40),
    st.floats(),
    TEXT,
)
JSON_VALUES: Strategy[Any] = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(SHORT_TEXT, children, max_size=4),
    ),
    max_leaves=12,
)


def weighted(*choices: tuple[int, Strategy[Any]]) -> Strategy[Any]:
    """One of the strategies, chosen with the given weights.

    Not st.one_of(a, a, a, b): Hypothesis merges repeated branches, so that is a, b half and half.
    """
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda index: table[index])


def junk_or(good: Strategy[Any], odds: int = 6) -> Strategy[Any]:
    """Mostly (`odds` to 1) the right kind of value, sometimes anything at all.

    Events have many fields: each must usually be right for the deeper code to be reached.
    """
    return weighted((odds, good), (1, JSON_VALUES))


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


NESTED_JSON = st.integers(min_value=1, max_value=5_000).map(nested)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_json_segment(value: Any) -> str:
    return b64url(json.dumps(value).encode("utf-8", "surrogatepass"))


def decode_json_segment(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


# --------------------------------------------------------------------------- tokens

Signer = Callable[[dict[str, Any], dict[str, Any]], str]

_HEADER_CHANGES: list[tuple[str, Any]] = [
    ("alg", "none"),
    ("alg", "HS256"),
    ("alg", "RS512"),
    ("alg", "ES256"),
    ("alg", "EdDSA"),
    ("alg", ""),
    ("alg", None),
    ("kid", None),
    ("kid", ""),
    ("kid", "../../etc/passwd"),
    ("typ", "JWT"),
    ("typ", "rt+jwt"),
    ("typ", "at+jwt"),
    ("jku", "https://attacker.example/jwks.json"),
    ("x5u", "https://attacker.example/cert.pem"),
    ("jwk", {"kty": "oct", "k": "AAAA"}),
    ("crit", ["exp"]),
    ("b64", False),
]
_CLAIMS = ["iss", "aud", "exp", "nbf", "iat", "sub", "scope", "jti", "sid", "client_id", "token_use", "typ"]
_CLAIM_VALUES: Strategy[Any] = st.one_of(
    JSON_VALUES,
    st.sampled_from(
        [
            "https://auth.example.test",
            "orders-api",
            ["orders-api", "other"],
            "access",
            "id",
            "refresh",
            0,
            -1,
            2**31,
            2**63,
            10**30,
            1.5,
            float("nan"),
            float("inf"),
            "1900000000",
            True,
        ]
    ),
)


@st.composite
def mutated_token(draw: st.DrawFn, valid: Sequence[str], sign: Signer | None = None) -> str:
    """A real token, changed a little."""
    token = draw(st.sampled_from(list(valid)))
    parts = token.split(".")
    kind = draw(
        st.sampled_from(
            [
                "flip",
                "delete",
                "insert",
                "truncate",
                "swap",
                "drop-signature",
                "extra-segment",
                "whitespace",
                "case",
                "padding",
                "header",
                "claims",
                "resigned",
                "repeat",
            ]
        )
    )
    if kind == "flip":
        at = draw(st.integers(0, len(token) - 1))
        return token[:at] + draw(CHARACTERS) + token[at + 1 :]
    if kind == "delete":
        at = draw(st.integers(0, len(token) - 1))
        return token[:at] + token[at + 1 :]
    if kind == "insert":
        at = draw(st.integers(0, len(token)))
        return token[:at] + draw(SHORT_TEXT) + token[at:]
    if kind == "truncate":
        return token[: draw(st.integers(0, len(token)))]
    if kind == "swap":
        order = draw(st.permutations(range(len(parts))))
        return ".".join(parts[i] for i in order)
    if kind == "drop-signature":
        return ".".join(parts[:2]) + draw(st.sampled_from([".", "", ".AAAA", ".."]))
    if kind == "extra-segment":
        return token + "." + draw(st.sampled_from(["", "AAAA", parts[-1]]))
    if kind == "whitespace":
        at = draw(st.integers(0, len(token)))
        return token[:at] + draw(st.sampled_from([" ", "\t", "\n", "\u00a0", "\u2028"])) + token[at:]
    if kind == "case":
        index = draw(st.integers(0, len(parts) - 1))
        return ".".join(part.swapcase() if i == index else part for i, part in enumerate(parts))
    if kind == "padding":
        return ".".join(part + "=" * draw(st.integers(0, 3)) for part in parts)
    if kind == "repeat":
        return token * draw(st.integers(2, 8))
    try:
        header, claims = decode_json_segment(parts[0]), decode_json_segment(parts[1])
    except ValueError:  # not a JWT to begin with: nothing to re-encode
        return token[::-1]
    if kind in ("header", "resigned"):
        for name, value in draw(st.lists(st.sampled_from(_HEADER_CHANGES), max_size=3)):
            if value is None:
                header.pop(name, None)
            else:
                header[name] = value
    if kind in ("claims", "resigned"):
        for name in draw(st.lists(st.one_of(st.sampled_from(_CLAIMS), SHORT_TEXT), max_size=3)):
            if draw(st.booleans()):
                claims.pop(name, None)
            else:
                claims[name] = draw(_CLAIM_VALUES)
    if kind == "resigned" and sign is not None:
        return sign(header, claims)
    try:
        return f"{encode_json_segment(header)}.{encode_json_segment(claims)}.{parts[2]}"
    except ValueError:  # NaN and friends are valid Python, not JSON: keep them anyway
        return f"{parts[0]}.{b64url(repr(claims).encode('utf-8', 'surrogatepass'))}.{parts[2]}"


def tokens(valid: Sequence[str], sign: Signer | None = None) -> Strategy[str]:
    real = st.sampled_from(list(valid))
    near = mutated_token(valid, sign)
    return weighted(
        (1, TEXT),
        (
            1,
            st.from_regex(
                r"[A-Za-z0-9_\-]{0,40}\.[A-Za-z0-9_\-]{0,80}\.[A-Za-z0-9_\-]{0,40}", fullmatch=True
            ),
        ),
        (2, real),
        (3, near),
        (1, HUGE_TEXT),
    )


def authorization_values(token_strategy: Strategy[str]) -> Strategy[Any]:
    scheme = st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR", "Basic", "Token", "Bearer:", ""])
    bearer = st.builds(lambda t: f"Bearer {t}", token_strategy)
    return weighted(
        (1, st.builds(lambda s, t: f"{s} {t}", scheme, token_strategy)),
        (3, bearer),
        (1, st.builds(lambda t: f"  Bearer   {t}  ", token_strategy)),
        (1, st.builds(lambda t, u: f"Bearer {t} {u}", token_strategy, SHORT_TEXT)),
        (1, token_strategy),
        (1, JSON_VALUES),
    )


HEADER_NAMES = st.one_of(
    st.sampled_from(
        [
            "authorization",
            "Authorization",
            "AUTHORIZATION",
            "aUtHoRiZaTiOn",
            "content-type",
            "Content-Type",
            "CONTENT-TYPE",
            "x-forwarded-for",
            "content-length",
            "cookie",
        ]
    ),
    SHORT_TEXT,
)


def headers(values: dict[str, Strategy[Any]]) -> Strategy[Any]:
    """Header maps with random names and case; `values` gives the likely value of some names."""
    pairs = [st.tuples(st.sampled_from(sorted({n, n.title(), n.upper()})), v) for n, v in values.items()]
    entry = st.one_of(*pairs, st.tuples(HEADER_NAMES, st.one_of(TEXT, JSON_VALUES)))
    # The likely names, each present with its likely value, plus random entries in any case.
    likely = st.fixed_dictionaries({}, optional={name: value for name, value in values.items()})
    maps = st.builds(lambda base, more: {**base, **dict(more)}, likely, st.lists(entry, max_size=6))
    return weighted((4, maps), (1, st.lists(entry, max_size=8).map(dict)), (1, st.none()), (1, JSON_VALUES))


# --------------------------------------------------------------------------- authorizer events

ACCOUNT_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123"
METHODS = st.one_of(st.sampled_from(["GET", "POST", "PUT", "DELETE", "ANY", "get", "*", ""]), SHORT_TEXT)
PATHS = st.one_of(st.sampled_from(["/me", "/orders", "/admin/x/y", "/", "", "/me/", "//me"]), TEXT)


def _arn(stage: str, method: str, path: str) -> str:
    return f"{ACCOUNT_ARN}/{stage}/{method}{path if path.startswith('/') or not path else '/' + path}"


_GOOD_ARNS = st.builds(
    _arn,
    st.sampled_from(["prod", "$default"]),
    st.sampled_from(["GET", "POST", "ANY"]),
    st.sampled_from(["/me", "/orders", "/admin/x", "/"]),
)
ARNS: Strategy[Any] = weighted(
    (3, _GOOD_ARNS),
    (1, st.builds(_arn, st.sampled_from(["prod", "$default", "", "*"]), METHODS, PATHS)),
    (
        1,
        st.sampled_from(
            ["arn:aws:execute-api", "arn:::::", "arn:aws:execute-api:r:a:api/s/GET", "arn:aws:s3:::b/k"]
        ),
    ),
    (1, TEXT),
    (1, JSON_VALUES),
)


def authorizer_events(valid: Sequence[str], sign: Signer | None = None) -> Strategy[Any]:
    auth = authorization_values(tokens(valid, sign))
    header_maps = headers({"authorization": auth})
    extra = st.dictionaries(SHORT_TEXT, JSON_VALUES, max_size=3)

    def event(required: dict[str, Strategy[Any]], optional: dict[str, Strategy[Any]]) -> Strategy[Any]:
        return st.builds(
            lambda fixed, more: {**more, **fixed},
            st.fixed_dictionaries(required, optional=optional),
            extra,
        )

    rest_token = event(
        {"type": junk_or(st.just("TOKEN")), "methodArn": ARNS, "authorizationToken": auth},
        {},
    )
    rest_request = event(
        {"type": junk_or(st.just("REQUEST")), "methodArn": ARNS, "headers": header_maps},
        {
            "routeArn": ARNS,
            "httpMethod": junk_or(METHODS),
            "path": junk_or(PATHS),
            "resource": junk_or(PATHS),
            "multiValueHeaders": JSON_VALUES,
            "requestContext": JSON_VALUES,
        },
    )
    http_v2 = event(
        {"version": junk_or(st.just("2.0")), "routeArn": ARNS, "headers": header_maps},
        {
            "type": junk_or(st.just("REQUEST")),
            "identitySource": junk_or(st.lists(auth, max_size=2)),
            "routeKey": junk_or(st.builds(lambda m, p: f"{m} {p}", METHODS, PATHS) | st.just("$default")),
            "rawPath": junk_or(PATHS),
            "requestContext": junk_or(
                st.fixed_dictionaries(
                    {
                        "http": junk_or(
                            st.fixed_dictionaries({"method": junk_or(METHODS), "path": junk_or(PATHS)})
                        )
                    }
                )
            ),
        },
    )
    # Well-formed events around a real or near-real token: the paths past parsing get their share.
    bearer = st.builds(lambda t: f"Bearer {t}", tokens(valid, sign))
    route = st.sampled_from(["GET /me", "POST /orders", "GET /orders", "ANY /admin/{proxy+}"])
    rest_token_good = st.fixed_dictionaries(
        {"type": st.just("TOKEN"), "methodArn": _GOOD_ARNS, "authorizationToken": bearer}
    )
    rest_request_good = st.builds(
        lambda arn, value, name, key: {
            "type": "REQUEST",
            "methodArn": arn,
            "headers": {name: value},
            "httpMethod": key.split()[0],
            "resource": key.split()[1],
            "path": key.split()[1],
        },
        _GOOD_ARNS,
        bearer,
        st.sampled_from(["Authorization", "authorization", "AUTHORIZATION"]),
        route,
    )
    http_v2_good = st.builds(
        lambda arn, value, name, key: {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": arn,
            "routeKey": key,
            "rawPath": key.split()[1],
            "headers": {name: value},
            "identitySource": [value],
            "requestContext": {"http": {"method": key.split()[0], "path": key.split()[1]}},
        },
        _GOOD_ARNS,
        bearer,
        st.sampled_from(["authorization", "Authorization"]),
        route,
    )
    return weighted(
        (1, rest_token),
        (1, rest_request),
        (1, http_v2),
        (1, JSON_VALUES),
        (1, rest_token_good),
        (1, rest_request_good),
        (2, http_v2_good),
    )


# --------------------------------------------------------------------------- HTTP API events

CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/JSON; charset=utf-8",
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=ISO-8859-1",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/json;",
            ";",
            "",
        ]
    ),
    TEXT,
)
IPS = st.one_of(st.ip_addresses().map(str), st.sampled_from(["", "unknown", "::ffff:1.2.3.4"]), TEXT)

ROUTES = {
    "login": ("POST", "/auth/login"),
    "refresh": ("POST", "/auth/refresh"),
    "logout": ("POST", "/auth/logout"),
    "revoke": ("POST", "/auth/revoke"),
    "introspect": ("POST", "/auth/introspect"),
    "token": ("POST", "/auth/token"),
    "jwks": ("GET", "/.well-known/jwks.json"),
    "discovery": ("GET", "/.well-known/openid-configuration"),
    "me": ("GET", "/me"),
}
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TOKEN_TYPES = [
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:access_token",
    "urn:ietf:params:oauth:token-type:refresh_token",
    "urn:ietf:params:oauth:token-type:jwt",
]
CONTEXT_NAMES = ["sub", "scope", "sid", "jti", "client_id", "exp", "iss", "groups"]


def _form(pairs: list[tuple[Any, Any]]) -> str:
    return urlencode([(str(k), str(v)) for k, v in pairs], errors="surrogatepass")


COGNITO_ISSUERS = "https://cognito-idp."


def _issuer(token: str) -> str:
    try:
        claims = decode_json_segment(token.split(".")[1])
    except (ValueError, IndexError):
        return ""
    return str(claims.get("iss", "")) if isinstance(claims, dict) else ""


def _fields(name: str, token: Strategy[str], cognito: Sequence[str] = ()) -> Strategy[dict[str, Any]]:
    """A body object with the fields `name` reads, each well-typed or not."""
    if name == "login":
        return st.fixed_dictionaries(
            {
                "username": junk_or(st.one_of(TEXT, st.sampled_from(["alice", "admin", "ALICE", "carol"]))),
                "password": junk_or(TEXT),
            },
            optional={"extra": JSON_VALUES},
        )
    if name in ("refresh", "logout"):
        return st.fixed_dictionaries({}, optional={"refresh_token": junk_or(token)})
    if name in ("revoke", "introspect"):
        return st.fixed_dictionaries(
            {"token": junk_or(token)},
            optional={
                "token_type_hint": junk_or(st.sampled_from(["access_token", "refresh_token", ""]) | TEXT)
            },
        )
    if name == "token":
        return st.fixed_dictionaries(
            {
                "grant_type": junk_or(weighted((5, st.just(TOKEN_EXCHANGE)), (1, TEXT))),
                "subject_token": junk_or(
                    weighted((1, st.sampled_from(list(cognito))), (2, token)) if cognito else token
                ),
                "subject_token_type": junk_or(weighted((5, st.sampled_from(TOKEN_TYPES[:2])), (1, TEXT))),
            },
            optional={
                "scope": junk_or(st.sampled_from(["profile", "orders:read", "admin", ""]) | TEXT),
                "audience": junk_or(st.sampled_from(["orders-api", "other"]) | TEXT),
                "resource": junk_or(TEXT),
                "requested_token_type": junk_or(TEXT),
            },
        )
    return st.fixed_dictionaries({}, optional={"anything": JSON_VALUES})


def _bodies(name: str, token: Strategy[str]) -> Strategy[tuple[Any, Any]]:
    """(body, isBase64Encoded) pairs."""
    fields = _fields(name, token)
    text_bodies: Strategy[Any] = st.one_of(
        fields.map(lambda f: json.dumps(f)),
        fields.map(lambda f: _form(list(f.items()))),
        st.lists(
            st.tuples(st.sampled_from(["token", "grant_type", "subject_token", "x"]), TEXT), max_size=4
        ).map(_form),
        JSON_VALUES.map(lambda v: json.dumps(v)),
        TEXT,
        HUGE_TEXT,
        NESTED_JSON,
        st.none(),
    )
    return st.one_of(
        st.tuples(text_bodies, junk_or(st.just(False))),
        st.tuples(st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode("ascii")), st.just(True)),
        st.tuples(text_bodies.map(lambda b: b if not isinstance(b, str) else _b64(b)), st.just(True)),
        st.tuples(TEXT, st.just(True)),  # claims base64 and is not
        st.tuples(JSON_VALUES, JSON_VALUES),  # a body that is not a string at all
    )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")


def _authorizer_context(token: Strategy[str]) -> Strategy[Any]:
    claims = st.dictionaries(
        st.one_of(st.sampled_from(CONTEXT_NAMES), SHORT_TEXT),
        st.one_of(JSON_VALUES, st.sampled_from(["profile", "orders:read", "1900000000", "²", "٣"]), token),
        max_size=8,
    )
    return st.one_of(
        st.fixed_dictionaries({"lambda": claims}),
        claims,
        st.fixed_dictionaries({"jwt": st.fixed_dictionaries({"claims": claims, "scopes": JSON_VALUES})}),
        JSON_VALUES,
    )


_GOOD_TYPES = {
    "login": ["application/json"],
    "refresh": ["application/json"],
    "logout": ["application/json"],
    "revoke": ["application/x-www-form-urlencoded", "application/json"],
    "introspect": ["application/x-www-form-urlencoded", "application/json"],
    "token": ["application/x-www-form-urlencoded", "application/json"],
}
_NEEDS_BEARER = {"logout", "introspect"}


def _random_event(name: str, token: Strategy[str]) -> Strategy[dict[str, Any]]:
    """Every field random, or of the right kind but random."""
    method, path = ROUTES[name]
    header_maps = headers(
        {
            "authorization": authorization_values(token),
            "content-type": CONTENT_TYPES,
            "content-length": st.integers(-1, 10**9).map(str),
        }
    )
    http_context = junk_or(
        st.fixed_dictionaries(
            {"method": junk_or(st.just(method)), "path": junk_or(st.just(path)), "sourceIp": junk_or(IPS)}
        )
    )
    context = junk_or(
        st.fixed_dictionaries(
            {"http": http_context, "requestId": junk_or(TEXT)},
            optional={"authorizer": _authorizer_context(token)},
        )
    )

    def build(parts: dict[str, Any], body: tuple[Any, Any]) -> dict[str, Any]:
        event = dict(parts)
        event["body"], event["isBase64Encoded"] = body
        if event["body"] is None and parts.get("omit_body"):
            del event["body"]
        event.pop("omit_body", None)
        return event

    return st.builds(
        build,
        st.fixed_dictionaries(
            {
                "version": junk_or(st.just("2.0")),
                "routeKey": junk_or(st.just(f"{method} {path}")),
                "rawPath": junk_or(st.just(path)),
                "headers": header_maps,
                "requestContext": context,
            },
            optional={
                "rawQueryString": junk_or(TEXT),
                "queryStringParameters": junk_or(st.dictionaries(SHORT_TEXT, TEXT, max_size=3)),
                "cookies": junk_or(st.lists(TEXT, max_size=3)),
                "pathParameters": JSON_VALUES,
                "stageVariables": JSON_VALUES,
                "omit_body": st.booleans(),
            },
        ),
        _bodies(name, token),
    )


@st.composite
def _well_formed_event(
    draw: st.DrawFn, name: str, token: Strategy[str], valid: Sequence[str], password: str | None
) -> dict[str, Any]:
    """An event as API Gateway sends it, of the kind the handler expects, with random values."""
    method, path = ROUTES[name]
    event_headers: dict[str, Any] = {}
    body: str | None = None
    if name in _GOOD_TYPES:
        media_type = draw(weighted((6, st.sampled_from(_GOOD_TYPES[name])), (1, CONTENT_TYPES)))
        suffix = draw(st.sampled_from(["", "; charset=utf-8", ";charset=UTF-8"]))
        event_headers[draw(st.sampled_from(["content-type", "Content-Type"]))] = media_type + suffix
        fields = draw(_fields(name, token, [t for t in valid if _issuer(t).startswith(COGNITO_ISSUERS)]))
        if name == "login" and password is not None and draw(st.booleans()):
            fields["password"] = password
        body = _form(list(fields.items())) if "form" in media_type else json.dumps(fields)
    if name in _NEEDS_BEARER or draw(st.integers(0, 3)) == 0:
        caller = (st.sampled_from(list(valid)) if name in _NEEDS_BEARER else token).map("Bearer {}".format)
        event_headers["authorization"] = draw(weighted((3, caller), (1, authorization_values(token))))
    taken = {name.lower() for name in event_headers}
    for header_name, value in draw(st.dictionaries(HEADER_NAMES, TEXT, max_size=3)).items():
        if header_name.lower() not in taken:  # a second spelling of a header would replace it
            event_headers[header_name] = value
    context: dict[str, Any] = {
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": draw(IPS)},
        "requestId": draw(TEXT),
        "routeKey": f"{method} {path}",
    }
    if name == "me":
        claims = draw(
            st.fixed_dictionaries(
                {
                    "sub": st.one_of(TEXT, st.sampled_from(["alice", ""]), JSON_VALUES),
                    "scope": st.one_of(
                        st.sampled_from(["profile", "profile orders:read", "", "admin"]), TEXT
                    ),
                },
                optional={
                    name: st.one_of(
                        JSON_VALUES,
                        st.integers(0, 2**40),
                        st.integers(0, 2**40).map(str),
                        st.sampled_from(["²", "٣", "1" * 4301, "-1", " 1"]),
                        token,
                    )
                    for name in ("exp", "sid", "jti", "client_id", "iss", "groups")
                },
            )
        )
        context["authorizer"] = {"lambda": claims}
    encoded = draw(st.integers(0, 4)) == 0
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": draw(st.one_of(st.just(""), TEXT)),
        "headers": event_headers,
        "requestContext": context,
        "isBase64Encoded": encoded,
    }
    if body is not None:
        event["body"] = _b64(body) if encoded else body
    return event


def http_events(
    name: str, valid: Sequence[str], sign: Signer | None = None, password: str | None = None
) -> Strategy[dict[str, Any]]:
    token = tokens(valid, sign)
    return weighted((4, _well_formed_event(name, token, valid, password)), (1, _random_event(name, token)))
