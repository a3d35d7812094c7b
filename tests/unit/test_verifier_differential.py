"""Differential tests: our verifier against PyJWT and python-jose (joserfc for EdDSA).

Valid tokens of each key type (ours: RS256, ES256, EdDSA with `typ: at+jwt`; a Cognito-like
RS256 access token without `typ`) and large sets of mutated and forged ones go to our verifier
and to two libraries configured alike (the same pinned key and algorithm, issuer, audience,
required claims and leeway). Then:

* whatever ours accepts, both libraries accept;
* whatever both accept but ours refuses falls in one of the documented classes where we are
  stricter by design (`STRICTER`, the same list as SECURITY.md), told by an oracle written
  here from the token alone, not from our code.

python-jose has no EdDSA, so Ed25519 tokens are compared with PyJWT and joserfc. The default run
is small and seeded (a few seconds); VERIFIER_DIFFERENTIAL_CASES=20000 runs more, and
VERIFIER_DIFFERENTIAL_SEED picks another seed.
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jose import jwt as jose_jwt

from authorizer.errors import TokenError
from authorizer.tokens.cognito import cognito_verifier
from authorizer.tokens.keys import KeySet, jwk_thumbprint
from authorizer.tokens.verifier import ACCESS, TokenVerifier, normalize_typ

joserfc_jwt = pytest.importorskip("joserfc.jwt")
joserfc_jwk = pytest.importorskip("joserfc.jwk")

CASES = int(os.environ.get("VERIFIER_DIFFERENTIAL_CASES", "120"))
SEED = int(os.environ.get("VERIFIER_DIFFERENTIAL_SEED", "20261126"))
ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
POOL = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Differ1"
POOL_CLIENT = "pool-client"
LEEWAY = 30
MAX_TOKEN_BYTES = 8192
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493

# Where ours refuses what both libraries accept, by design (SECURITY.md lists the same classes).
STRICTER = {
    "encoding": "a part is not unpadded base64url (`=` padding, `+`/`/`, stray bytes, non-zero unused bits)",
    "utf-8": "header or payload is not UTF-8 (UTF-16/32 JSON, a byte-order mark, invalid bytes)",
    "header-parameters": "a header member other than `alg`, `kid`, `typ`",
    "kid": "`kid` is not exactly the id of a configured key (the libraries were handed the key)",
    "typ": "`typ` is not the token type's (`at+jwt` for ours; absent or `JWT` for Cognito/OIDC)",
    "claim-types": (
        "`sub`/`jti` empty or not strings; `iat`/`exp`/`nbf` not JSON numbers (strings, booleans); "
        "`scope`/`sid`/`client_id`/`origin_jti` not strings; `cognito:groups` not a list of strings; "
        "a string claim holding a lone surrogate"
    ),
    "token-use": (
        "`token_use: refresh` on an access token; Cognito: `token_use` or `client_id` not configured"
    ),
    "auth-time": "one of our own tokens without `auth_time` as a NumericDate (every one we issue has it)",
    "size": "longer than AUTH_MAX_TOKEN_BYTES",
}


# --------------------------------------------------------------------------- material


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Lab:
    """One key, one verifier configuration, and the same configuration for the libraries."""

    name: str
    alg: str
    private: Any
    public: Any
    jwk: dict[str, Any]
    kid: str
    ours: TokenVerifier
    cognito: bool

    @property
    def issuer(self) -> str:
        return POOL if self.cognito else ISSUER

    def sign(self, signing_input: bytes) -> bytes:
        if self.alg == "RS256":
            return bytes(self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256()))
        if self.alg == "ES256":
            r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return bytes(self.private.sign(signing_input))

    def header(self) -> dict[str, Any]:
        if self.cognito:
            return {"kid": self.kid, "alg": self.alg}
        return {"alg": self.alg, "typ": "at+jwt", "kid": self.kid}

    def claims(self) -> dict[str, Any]:
        now = int(time.time())
        if self.cognito:
            return {
                "sub": str(uuid.uuid4()),
                "iss": POOL,
                "client_id": POOL_CLIENT,
                "origin_jti": str(uuid.uuid4()),
                "event_id": str(uuid.uuid4()),
                "token_use": "access",
                "scope": "aws.cognito.signin.user.admin",
                "auth_time": now - 20,
                "exp": now + 3600,
                "iat": now - 20,
                "jti": str(uuid.uuid4()),
                "username": "alice",
            }
        return {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": f"user-{uuid.uuid4()}",
            "jti": str(uuid.uuid4()),
            "iat": now - 20,
            "auth_time": now - 600,
            "exp": now + 900,
            "scope": "profile orders:read",
            "sid": str(uuid.uuid4()),
            "client_id": "web",
        }

    def token(
        self, header: Any = None, claims: Any = None, *, head: str | None = None, body: str | None = None
    ) -> str:
        """A token signed over exactly the given parts (JSON values, or raw encoded parts)."""
        if head is None:
            head = b64(_json(self.header() if header is None else header))
        if body is None:
            body = b64(_json(self.claims() if claims is None else claims))
        signing_input = f"{head}.{body}"
        return f"{signing_input}.{b64(self.sign(signing_input.encode('ascii')))}"


def _json(value: Any) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()


def _make_lab(name: str, alg: str, *, cognito: bool = False) -> Lab:
    private: Any
    if alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = private.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": b64(numbers.n.to_bytes(256, "big")), "e": b64(numbers.e.to_bytes(3, "big"))}
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        numbers = private.public_key().public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64(numbers.x.to_bytes(32, "big")),
            "y": b64(numbers.y.to_bytes(32, "big")),
        }
    else:
        private = ed25519.Ed25519PrivateKey.generate()
        raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
    kid = jwk_thumbprint(jwk)
    jwk = {**jwk, "kid": kid, "use": "sig", "alg": alg}
    keys = KeySet.from_jwks({"keys": [jwk]})
    ours = (
        cognito_verifier(keys, issuer=POOL, token_use="access", client_ids=[POOL_CLIENT], leeway=LEEWAY)
        if cognito
        else TokenVerifier(
            keys,
            issuer=ISSUER,
            audience=AUDIENCE,
            token_type=ACCESS,
            leeway=LEEWAY,
            max_token_bytes=MAX_TOKEN_BYTES,
        )
    )
    return Lab(name, alg, private, private.public_key(), jwk, kid, ours, cognito)


@pytest.fixture(scope="module")
def labs() -> dict[str, Lab]:
    return {
        "RS256": _make_lab("RS256", "RS256"),
        "ES256": _make_lab("ES256", "ES256"),
        "EdDSA": _make_lab("EdDSA", "EdDSA"),
        "cognito": _make_lab("cognito", "RS256", cognito=True),
    }


# --------------------------------------------------------------------------- the three verdicts


def ours_accepts(lab: Lab, token: str) -> bool:
    try:
        lab.ours.verify(token)
    except TokenError:
        return False
    return True  # any other exception fails the test: a refusal must always be a TokenError


def _required(lab: Lab) -> list[str]:
    return ["iss", "sub", "exp", "iat", "jti"] + ([] if lab.cognito else ["aud"])


def pyjwt_accepts(lab: Lab, token: str) -> bool:
    try:
        pyjwt.decode(
            token,
            lab.public,
            algorithms=[lab.alg],
            issuer=lab.issuer,
            audience=None if lab.cognito else AUDIENCE,
            leeway=LEEWAY,
            options={"require": _required(lab), "verify_aud": not lab.cognito},
        )
    except Exception:
        return False
    return True


def jose_accepts(lab: Lab, token: str) -> bool:
    try:
        jose_jwt.decode(
            token,
            lab.jwk,
            algorithms=[lab.alg],
            issuer=lab.issuer,
            audience=None if lab.cognito else AUDIENCE,
            options={
                "leeway": LEEWAY,
                "verify_aud": not lab.cognito,
                **{f"require_{name}": True for name in _required(lab)},
            },
        )
    except Exception:
        return False
    return True


def joserfc_accepts(lab: Lab, token: str) -> bool:
    try:
        decoded = joserfc_jwt.decode(token, joserfc_jwk.OKPKey.import_key(lab.jwk), algorithms=[lab.alg])
        registry = joserfc_jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": lab.issuer},
            aud={"essential": True, "value": AUDIENCE},
            sub={"essential": True},
            jti={"essential": True},
            iat={"essential": True},
            exp={"essential": True},
        )
        registry.validate(decoded.claims)
    except Exception:
        return False
    return True


def references(lab: Lab) -> tuple[Callable[[Lab, str], bool], Callable[[Lab, str], bool]]:
    return (pyjwt_accepts, joserfc_accepts if lab.alg == "EdDSA" else jose_accepts)


# --------------------------------------------------------------------------- the oracle

_CANONICAL_LAST = {2: "AQgw", 3: "AEIMQUYcgkosw048"}
_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _canonical(part: str) -> bool:
    rest = len(part) % 4
    return (
        bool(part) and set(part) <= _B64URL and rest != 1 and (rest == 0 or part[-1] in _CANONICAL_LAST[rest])
    )


def _lenient_json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part.rstrip("=") + "=" * (-len(part.rstrip("=")) % 4)))


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def stricter_class(lab: Lab, token: str) -> str | None:
    """Which documented class explains ours refusing `token` (which both libraries accepted)."""
    if len(token) > MAX_TOKEN_BYTES:
        return "size"
    parts = token.split(".")
    if len(parts) != 3 or not all(_canonical(part) for part in parts):
        return "encoding"
    for part in parts[:2]:
        data = unb64(part)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return "utf-8"
        if data.startswith(b"\xef\xbb\xbf"):
            return "utf-8"
    header, claims = _lenient_json(parts[0]), _lenient_json(parts[1])
    if set(header) - {"alg", "kid", "typ"}:
        return "header-parameters"
    if header.get("kid") != lab.kid:
        return "kid"
    typ = normalize_typ(header["typ"]) if "typ" in header else None
    if (lab.cognito and typ not in (None, "jwt")) or (not lab.cognito and typ != "at+jwt"):
        return "typ"
    for name in ("sub", "jti"):
        if not isinstance(claims.get(name), str) or not claims[name] or not _is_unicode(claims[name]):
            return "claim-types"
    for name in ("iat", "exp", "nbf"):
        if name in claims and not _number(claims[name]):
            return "claim-types"
    for name in ("scope", "sid", "client_id", "origin_jti"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, str) or not _is_unicode(value)):
            return "claim-types"
    groups = claims.get("cognito:groups", [])
    if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
        return "claim-types"
    use = claims.get("token_use")
    if lab.cognito and (use != "access" or claims.get("client_id") != POOL_CLIENT):
        return "token-use"
    if not lab.cognito and use == "refresh":
        return "token-use"
    auth_time = claims.get("auth_time")
    if not lab.cognito and not (_number(auth_time) and math.isfinite(auth_time)):
        return "auth-time"
    return None


def check(lab: Lab, token: str) -> str:
    """Compare the three verdicts; returns what happened (for the coverage assertions)."""
    ours = ours_accepts(lab, token)
    first, second = (reference(lab, token) for reference in references(lab))
    if ours:
        assert first and second, f"ours accepts what a library refuses ({first=}, {second=}): {token!r}"
        return "all accept"
    if first and second:
        why = stricter_class(lab, token)
        assert why in STRICTER, f"ours refuses what both libraries accept, in no documented class: {token!r}"
        return f"stricter: {why}"
    return "refused"


# --------------------------------------------------------------------------- mutations

Mutation = Callable[[Lab, random.Random], str]


def _header_mutation(lab: Lab, rng: random.Random) -> str:
    header = lab.header()
    choice = rng.randrange(14)
    if choice == 0:
        header["alg"] = rng.choice(
            ["RS256", "ES256", "EdDSA", "HS256", "none", "rs256", "PS256", lab.alg + " "]
        )
    elif choice == 1:
        header["typ"] = rng.choice(
            ["JWT", "jwt", "at+JWT", "application/at+jwt", "rt+jwt", "", "at+jwt ", 1, None]
        )
    elif choice == 2:
        header.pop("typ", None)
    elif choice == 3:
        header[rng.choice(["jku", "x5u", "jwk", "x5c", "cty", "enc", "zip", "x-extra"])] = (
            "https://evil.example"
        )
    elif choice == 4:
        header["crit"] = rng.choice([["b64"], ["exp"], []])
        header["b64"] = False
    elif choice == 5:
        header["kid"] = rng.choice(["", "other", lab.kid + " ", lab.kid.upper(), 7, None, [lab.kid]])
    elif choice == 6:
        header.pop("kid")
    elif choice == 7:
        header.pop("alg")
    elif choice == 8:  # duplicate members: the last one wins everywhere
        raw = json.dumps(header)[:-1] + f', "alg": {json.dumps(rng.choice(["none", lab.alg, "HS256"]))}}}'
        return lab.token(raw.encode())
    elif choice == 9:
        return lab.token(json.dumps(header, indent=rng.choice([None, 1, 2])).encode("utf-16"))
    elif choice == 10:
        return lab.token(b"\xef\xbb\xbf" + json.dumps(header).encode())
    elif choice == 11:
        return lab.token(b" " + json.dumps(header).encode() + b"\n")
    elif choice == 12:
        header["typ"] = "at+jwt" if lab.cognito else "JWT"
    else:
        header = rng.choice([[header], "text", 1, None])  # type: ignore[assignment]
    return lab.token(header)


def _claims_mutation(lab: Lab, rng: random.Random) -> str:
    claims = lab.claims()
    now = int(time.time())
    name = rng.choice(
        ["iss", "aud", "sub", "jti", "iat", "exp", "nbf", "scope", "sid", "client_id", "origin_jti",
         "token_use", "cognito:groups", "auth_time"]
    )  # fmt: skip
    values: list[Any] = [
        None, "", 0, 1, -1, True, False, 1.5, now, now + 7200, now - 7200, float(now), str(now), [], {},
        [AUDIENCE], [AUDIENCE, 1], ["other"], "other", ISSUER, POOL, ISSUER + "/", " " + ISSUER,
        "\u00e9l\u00e8ve", "refresh", "access", "id", POOL_CLIENT, ["admins"], "admins", 10**30, 1e300,
    ]  # fmt: skip
    choice = rng.randrange(10)
    if choice < 7:
        claims[name] = rng.choice(values)
    elif choice == 7:
        claims.pop(name, None)
    elif choice == 8:  # raw JSON the encoder would not write
        raw = rng.choice(["NaN", "Infinity", "-Infinity", "1e400", '"\\ud800"', "1" * 400, "-0", "1.0"])
        text = json.dumps({**claims, name: "@@"}).replace('"@@"', raw)
        return lab.token(claims=text.encode())
    else:  # duplicate members, encodings
        text = json.dumps(claims)
        raw = rng.choice(
            [
                (text[:-1] + f', "{name}": {json.dumps(rng.choice(values))}}}').encode(),
                text.encode("utf-16"),
                text.encode("utf-32"),
                b"\xef\xbb\xbf" + text.encode(),
                b"\n" + text.encode() + b" ",
                json.dumps(claims, ensure_ascii=False).encode(),
                json.dumps([claims]).encode(),
            ]
        )
        return lab.token(claims=raw)
    return lab.token(claims=claims)


def _encoding_mutation(lab: Lab, rng: random.Random) -> str:
    head, body = b64(_json(lab.header())), b64(_json(lab.claims()))
    choice = rng.randrange(5)
    if choice == 0:  # padding, signed over the padded parts
        head = base64.urlsafe_b64encode(_json(lab.header())).decode()
        body = base64.urlsafe_b64encode(_json(lab.claims())).decode()
        return lab.token(head=head, body=body)
    if choice == 1:  # standard alphabet
        return lab.token(head=base64.b64encode(_json(lab.header())).decode().rstrip("="), body=body)
    if choice == 2:  # non-canonical unused bits in one part, signed over exactly that text
        parts = [head, body]
        index = rng.randrange(2)
        if len(parts[index]) % 4 in (2, 3):
            last = parts[index][-1]
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            position = alphabet.index(last) + rng.randrange(1, 4 if len(parts[index]) % 4 == 3 else 16)
            parts[index] = parts[index][:-1] + alphabet[position % 64]
        return lab.token(head=parts[0], body=parts[1])
    token = lab.token()
    head, body, signature = token.split(".")
    if choice == 3:  # the signature part re-spelled: padding, stray characters, non-canonical bits
        extra = rng.choice(["=", "==", " ", "\n", "!", "+", "."])
        where = rng.randrange(len(signature) + 1)
        return f"{head}.{body}.{signature[:where]}{extra}{signature[where:]}"
    # a whole-token wrapping a lenient parser might strip
    return rng.choice([f" {token}", f"{token} ", f"{token}\n", f"Bearer {token}", f"{token}."])


def _corruption(lab: Lab, rng: random.Random) -> str:
    token = lab.token()
    parts = token.split(".")
    choice = rng.randrange(6)
    if choice == 0:  # a bit of a decoded part flipped, re-encoded canonically, not re-signed
        index = rng.randrange(3)
        data = bytearray(unb64(parts[index]))
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        parts[index] = b64(bytes(data))
    elif choice == 1:  # one character of the text changed
        index = rng.randrange(3)
        where = rng.randrange(len(parts[index]))
        parts[index] = parts[index][:where] + rng.choice("AbZ09-_") + parts[index][where + 1 :]
    elif choice == 2:
        parts[2] = parts[2][: rng.randrange(len(parts[2]))]
    elif choice == 3:  # another token's signature
        parts[2] = lab.token().split(".")[2]
    elif choice == 4:  # signed by another key of the same type
        other = _other_keys[lab.alg]
        return Lab(
            lab.name, lab.alg, other, other.public_key(), lab.jwk, lab.kid, lab.ours, lab.cognito
        ).token()
    else:
        return ".".join(parts[: rng.randrange(3)])
    return ".".join(parts)


def _signature_mutation(lab: Lab, rng: random.Random) -> str:
    head, body, signature = lab.token().split(".")
    raw = unb64(signature)
    if lab.alg == "ES256":
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        raw = rng.choice(
            [
                r.to_bytes(32, "big") + (P256_ORDER - s).to_bytes(32, "big"),  # the high-s twin: valid
                encode_dss_signature(r, s),
                bytes(64),
                P256_ORDER.to_bytes(32, "big") + raw[32:],
                raw[:63],
                raw + b"\0",
            ]
        )
    elif lab.alg == "EdDSA":
        s = int.from_bytes(raw[32:], "little")
        raw = rng.choice(
            [raw[:32] + (s + ED25519_ORDER).to_bytes(32, "little"), bytes(64), raw[:63], raw + b"\0"]
        )
    else:
        raw = rng.choice([b"\0" + raw, raw[1:], bytes(len(raw)), (1).to_bytes(len(raw), "big")])
    return f"{head}.{body}.{b64(raw)}"


_other_keys: dict[str, Any] = {}
MUTATIONS: tuple[Mutation, ...] = (
    lambda lab, rng: lab.token(),
    _header_mutation,
    _claims_mutation,
    _claims_mutation,
    _encoding_mutation,
    _corruption,
    _signature_mutation,
)


@pytest.fixture(scope="module", autouse=True)
def other_keys() -> None:
    _other_keys.update(
        RS256=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ES256=ec.generate_private_key(ec.SECP256R1()),
        EdDSA=ed25519.Ed25519PrivateKey.generate(),
    )


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", ["RS256", "ES256", "EdDSA", "cognito"])
def test_valid_tokens_are_accepted_by_all_three(labs: dict[str, Lab], name: str) -> None:
    lab = labs[name]
    for _ in range(3):
        assert check(lab, lab.token()) == "all accept"


@pytest.mark.parametrize("name", ["RS256", "ES256", "EdDSA", "cognito"])
def test_mutated_and_forged_tokens(labs: dict[str, Lab], name: str) -> None:
    lab = labs[name]
    rng = random.Random(f"{SEED}-{name}")  # noqa: S311 - reproducible mutations, not secrets
    outcomes: dict[str, int] = {}
    for _ in range(CASES):
        token = rng.choice(MUTATIONS)(lab, rng)
        outcome = check(lab, token)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # The run must have exercised all three verdicts, or it proved little.
    assert outcomes.get("all accept") and outcomes.get("refused"), outcomes
    assert any(outcome.startswith("stricter") for outcome in outcomes), outcomes


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        ("padded", "stricter: encoding"),
        ("non-canonical-signature", "refused"),  # PyJWT >= 2.12 also wants the canonical spelling
        # PyJWT reads UTF-16 and a BOM; python-jose, like us, only UTF-8.
        ("utf-16-claims", "refused"),
        ("bom-claims", "refused"),
        ("extra-header", "stricter: header-parameters"),
        ("other-kid", "stricter: kid"),
        ("typ-jwt", "stricter: typ"),
        ("iat-string", "stricter: claim-types"),
        ("iat-bool", "stricter: claim-types"),
        ("sub-empty", "stricter: claim-types"),
        ("token-use-refresh", "stricter: token-use"),
        ("auth-time-missing", "stricter: auth-time"),
        ("auth-time-string", "stricter: auth-time"),
        ("high-s", "all accept"),
        ("duplicate-alg-none", "refused"),
    ],
)
def test_each_documented_class_is_reached(labs: dict[str, Lab], mutation: str, expected: str) -> None:
    lab = labs["ES256"]
    claims, header = lab.claims(), lab.header()
    head, body, signature = lab.token(header, claims).split(".")
    tokens = {
        "padded": lambda: lab.token(
            head=base64.urlsafe_b64encode(_json(header)).decode(),
            body=base64.urlsafe_b64encode(_json(claims)).decode(),
        ),
        "non-canonical-signature": lambda: f"{head}.{body}.{_non_canonical(signature)}",
        "utf-16-claims": lambda: lab.token(claims=json.dumps(claims).encode("utf-16")),
        "bom-claims": lambda: lab.token(claims=b"\xef\xbb\xbf" + json.dumps(claims).encode()),
        "extra-header": lambda: lab.token({**header, "cty": "JWT"}),
        "other-kid": lambda: lab.token({**header, "kid": "another-key"}),
        "typ-jwt": lambda: lab.token({**header, "typ": "JWT"}),
        "iat-string": lambda: lab.token(claims={**claims, "iat": str(claims["iat"])}),
        "iat-bool": lambda: lab.token(claims={**claims, "iat": True}),
        "sub-empty": lambda: lab.token(claims={**claims, "sub": ""}),
        "token-use-refresh": lambda: lab.token(claims={**claims, "token_use": "refresh"}),
        "auth-time-missing": lambda: lab.token(claims={k: v for k, v in claims.items() if k != "auth_time"}),
        "auth-time-string": lambda: lab.token(claims={**claims, "auth_time": str(claims["auth_time"])}),
        "high-s": lambda: _signature_mutation_high_s(lab, f"{head}.{body}.{signature}"),
        "duplicate-alg-none": lambda: lab.token(json.dumps(header)[:-1].encode() + b', "alg": "none"}'),
    }
    assert check(lab, tokens[mutation]()) == expected


def _non_canonical(part: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(part) % 4 in (2, 3)
    return part[:-1] + alphabet[alphabet.index(part[-1]) + 1]


def _signature_mutation_high_s(lab: Lab, token: str) -> str:
    head, body, signature = token.split(".")
    raw = unb64(signature)
    s = int.from_bytes(raw[32:], "big")
    return f"{head}.{body}.{b64(raw[:32] + (P256_ORDER - s).to_bytes(32, 'big'))}"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


@settings(
    max_examples=max(25, CASES // 4),
    deadline=None,
    derandomize="VERIFIER_DIFFERENTIAL_SEED" not in os.environ,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(["iss", "aud", "sub", "jti", "iat", "exp", "nbf", "scope", "sid", "client_id",
                          "token_use", "cognito:groups", "origin_jti", "extra"]),
    value=JSON_VALUES,
    key_type=st.sampled_from(["ES256", "EdDSA", "cognito"]),
)  # fmt: skip
def test_any_json_value_in_a_claim(labs: dict[str, Lab], name: str, value: Any, key_type: str) -> None:
    lab = labs[key_type]
    claims = {**lab.claims(), name: value}
    check(lab, lab.token(claims=json.dumps(claims).encode()))
