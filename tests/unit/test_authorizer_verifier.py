"""Unit tests for authorizer.tokens.verifier and authorizer.tokens.keys.

Keys are generated at run time (once per session). Attack tokens are assembled by hand
(base64url + JSON + the raw signature primitives of PyJWT / hmac), so nothing in the token is
produced by the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, get_default_algorithms

from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from auth_service.tokens import TokenIssuer
from authorizer.errors import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    ConfigurationError,
    InvalidClaimError,
    InvalidSignatureError,
    IssuerMismatchError,
    KidNotFoundError,
    MalformedTokenError,
    TokenError,
    TokenExpiredError,
    TokenNotYetValidError,
    TokenTypeError,
)
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.keys import KeySet, algorithm_for_jwk, jwk_thumbprint
from authorizer.tokens.verifier import ACCESS, REFRESH, TokenType, TokenVerifier, decode_header

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
NOW = 1_700_000_000
ALGS = ("RS256", "ES256", "EdDSA")
PYJWT_ALGORITHMS = get_default_algorithms()


# --------------------------------------------------------------------------- helpers


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value).encode("utf-8"))


def sign_raw(signing_input: str, alg: str, private_key: Any) -> str:
    """Sign `header.payload` with the raw PyJWT primitive for `alg` (no header logic involved)."""
    algorithm = PYJWT_ALGORITHMS[alg]
    return b64url(algorithm.sign(signing_input.encode("ascii"), private_key))


def base_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-42",
        "jti": "jti-0001",
        "iat": NOW,
        "auth_time": NOW - 60,
        "exp": NOW + 300,
        "scope": "orders:read orders:write",
        "sid": "sid-0001",
        "client_id": "web",
    }
    claims.update(overrides)
    return claims


def make_token(
    ring: KeyRing,
    claims: dict[str, Any] | None = None,
    *,
    header: dict[str, Any] | None = None,
    drop_claims: tuple[str, ...] = (),
    drop_header: tuple[str, ...] = (),
    sign_alg: str | None = None,
    sign_key: Any = None,
) -> str:
    """A compact JWS built by hand; by default a valid access token of `ring`'s current key."""
    hdr: dict[str, Any] = {"alg": ring.current.alg, "typ": "at+jwt", "kid": ring.current.kid}
    hdr.update(header or {})
    for name in drop_header:
        hdr.pop(name, None)
    body = base_claims() if claims is None else dict(claims)
    for name in drop_claims:
        body.pop(name, None)
    signing_input = f"{b64url_json(hdr)}.{b64url_json(body)}"
    signature = sign_raw(
        signing_input,
        sign_alg or ring.current.alg,
        sign_key if sign_key is not None else ring.current.private_key,
    )
    return f"{signing_input}.{signature}"


def fixed_clock(value: float) -> Callable[[], float]:
    return lambda: value


def flip_char(segment: str, index: int) -> str:
    replacement = "A" if segment[index] != "A" else "B"
    return segment[:index] + replacement + segment[index + 1 :]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def rings() -> dict[str, KeyRing]:
    return {alg: load_key_ring(generate_private_key_pem(alg)) for alg in ALGS}


@pytest.fixture(scope="session")
def other_rings() -> dict[str, KeyRing]:
    """Keys of the same types that are NOT trusted (an attacker's keys)."""
    return {alg: load_key_ring(generate_private_key_pem(alg)) for alg in ALGS}


# Key sets and verifiers are built per test (they are cheap): a mutation tool that judges a
# mutant by the tests that ran its code must see every test that relies on them.
@pytest.fixture
def key_set(rings: dict[str, KeyRing]) -> KeySet:
    return KeySet.from_jwks({"keys": [jwk for ring in rings.values() for jwk in ring.jwks()["keys"]]})


@pytest.fixture
def make_verifier(key_set: KeySet) -> Callable[..., TokenVerifier]:
    def factory(**kwargs: Any) -> TokenVerifier:
        options: dict[str, Any] = {
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "token_type": ACCESS,
            "leeway": 30,
            "clock": fixed_clock(NOW),
        }
        options.update(kwargs)
        return TokenVerifier(key_set, **options)

    return factory


@pytest.fixture
def verifier(make_verifier: Callable[..., TokenVerifier]) -> TokenVerifier:
    return make_verifier()


@pytest.fixture(scope="session")
def rsa_ring(rings: dict[str, KeyRing]) -> KeyRing:
    return rings["RS256"]


@pytest.fixture(scope="session")
def ec_ring(rings: dict[str, KeyRing]) -> KeyRing:
    return rings["ES256"]


@pytest.fixture(scope="session")
def ed_ring(rings: dict[str, KeyRing]) -> KeyRing:
    return rings["EdDSA"]


# --------------------------------------------------------------------------- valid tokens


@pytest.mark.parametrize("alg", ALGS)
def test_valid_hand_made_access_token_verifies(
    alg: str, rings: dict[str, KeyRing], verifier: TokenVerifier
) -> None:
    claims = verifier.verify(make_token(rings[alg]))
    assert claims == TokenClaims(
        sub="user-42",
        jti="jti-0001",
        iat=NOW,
        exp=NOW + 300,
        scope="orders:read orders:write",
        sid="sid-0001",
        client_id="web",
    )
    assert claims.scopes == frozenset({"orders:read", "orders:write"})
    assert claims.raw["iss"] == ISSUER


@pytest.mark.parametrize("alg", ALGS)
def test_token_issued_by_token_issuer_verifies(
    alg: str, rings: dict[str, KeyRing], verifier: TokenVerifier
) -> None:
    issuer = TokenIssuer(
        rings[alg],
        issuer=ISSUER,
        audience=AUDIENCE,
        client_id="web",
        access_ttl=300,
        refresh_ttl=3600,
        clock=fixed_clock(NOW),
    )
    pair = issuer.issue("alice", "orders:read")
    claims = verifier.verify(pair.access_token)
    assert (claims.sub, claims.jti, claims.sid, claims.scope) == (
        "alice",
        pair.access_jti,
        pair.sid,
        "orders:read",
    )
    assert claims.exp == NOW + 300


@pytest.mark.parametrize("sub", ["user-42", "usér-42"], ids=["ascii", "non-ascii"])
def test_optional_claims_may_be_absent(sub: str, rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    # A token without `scope` holds no scope, on the fast path (ASCII claims) and the full one.
    token = make_token(rsa_ring, base_claims(sub=sub), drop_claims=("scope", "sid", "client_id"))
    claims = verifier.verify(token)
    assert (claims.scope, claims.sid, claims.client_id, claims.scopes) == ("", None, None, frozenset())


# --------------------------------------------------------------------------- tampering


@pytest.mark.parametrize("alg", ALGS)
def test_tampered_payload_is_refused(alg: str, rings: dict[str, KeyRing], verifier: TokenVerifier) -> None:
    header, _, signature = make_token(rings[alg]).split(".")
    forged_payload = b64url_json(base_claims(sub="admin", scope="admin"))
    with pytest.raises(InvalidSignatureError):
        verifier.verify(f"{header}.{forged_payload}.{signature}")


@pytest.mark.parametrize("alg", ALGS)
def test_tampered_header_is_refused(alg: str, rings: dict[str, KeyRing], verifier: TokenVerifier) -> None:
    ring = rings[alg]
    _, payload, signature = make_token(ring).split(".")
    # Still an acceptable header (typ compares case-insensitively), but other bytes than were signed.
    other_header = b64url_json({"kid": ring.current.kid, "alg": alg, "typ": "AT+JWT"})
    with pytest.raises(InvalidSignatureError):
        verifier.verify(f"{other_header}.{payload}.{signature}")


@pytest.mark.parametrize("alg", ALGS)
def test_tampered_signature_is_refused(alg: str, rings: dict[str, KeyRing], verifier: TokenVerifier) -> None:
    header, payload, signature = make_token(rings[alg]).split(".")
    with pytest.raises(InvalidSignatureError):
        verifier.verify(f"{header}.{payload}.{flip_char(signature, len(signature) // 2)}")


@pytest.mark.parametrize("alg", ALGS)
def test_truncated_signature_is_refused(alg: str, rings: dict[str, KeyRing], verifier: TokenVerifier) -> None:
    header, payload, signature = make_token(rings[alg]).split(".")
    with pytest.raises(InvalidSignatureError):
        verifier.verify(f"{header}.{payload}.{b64url(b64url_decode(signature)[:-3])}")


@pytest.mark.parametrize("alg", ALGS)
def test_signature_of_an_untrusted_key_claiming_a_trusted_kid_is_refused(
    alg: str, rings: dict[str, KeyRing], other_rings: dict[str, KeyRing], verifier: TokenVerifier
) -> None:
    token = make_token(rings[alg], sign_key=other_rings[alg].current.private_key)
    with pytest.raises(InvalidSignatureError):
        verifier.verify(token)


def test_signature_of_another_key_family_under_the_right_alg_is_refused(
    rsa_ring: KeyRing, ec_ring: KeyRing, verifier: TokenVerifier
) -> None:
    # Header says RS256 with the RSA kid (consistent), but the bytes are an ES256 signature.
    hdr = {"alg": "RS256", "typ": "at+jwt", "kid": rsa_ring.current.kid}
    signing_input = f"{b64url_json(hdr)}.{b64url_json(base_claims())}"
    token = f"{signing_input}.{sign_raw(signing_input, 'ES256', ec_ring.current.private_key)}"
    with pytest.raises(InvalidSignatureError):
        verifier.verify(token)


def test_token_of_an_untrusted_key_with_its_own_kid_is_refused(
    other_rings: dict[str, KeyRing], verifier: TokenVerifier
) -> None:
    with pytest.raises(KidNotFoundError):
        verifier.verify(make_token(other_rings["RS256"]))


# --------------------------------------------------------------------------- algorithm attacks


@pytest.mark.parametrize("spelling", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("alg", ALGS)
def test_alg_none_with_junk_signature_is_refused(
    spelling: str, alg: str, rings: dict[str, KeyRing], verifier: TokenVerifier
) -> None:
    hdr = {"alg": spelling, "typ": "at+jwt", "kid": rings[alg].current.kid}
    token = f"{b64url_json(hdr)}.{b64url_json(base_claims())}.{b64url(b'x' * 32)}"
    with pytest.raises(AlgorithmNotAllowedError):
        verifier.verify(token)


@pytest.mark.parametrize("spelling", ["none", "None", "NONE", "nOnE"])
def test_alg_none_unsecured_jws_with_empty_signature_is_refused(
    spelling: str, rsa_ring: KeyRing, verifier: TokenVerifier
) -> None:
    hdr = {"alg": spelling, "typ": "at+jwt", "kid": rsa_ring.current.kid}
    token = f"{b64url_json(hdr)}.{b64url_json(base_claims())}."
    # The empty third part already fails the shape check, before `alg` is looked at.
    with pytest.raises(MalformedTokenError):
        verifier.verify(token)


def _public_key_forms(ring: KeyRing) -> dict[str, bytes]:
    private = ring.current.private_key
    assert private is not None
    public = private.public_key()
    forms = {
        "pem-spki": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "der-spki": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk-json": json.dumps(ring.current.public_jwk).encode("utf-8"),
        "jwk-json-compact": json.dumps(ring.current.public_jwk, separators=(",", ":")).encode("utf-8"),
        "jwks-json": json.dumps(ring.jwks()).encode("utf-8"),
    }
    if isinstance(public, crypto_rsa.RSAPublicKey):
        forms["pem-pkcs1"] = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        forms["der-pkcs1"] = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return forms


KEY_FORMS = ("pem-spki", "der-spki", "jwk-json", "jwk-json-compact", "jwks-json")
KEY_FORM_CASES = [(alg, form) for alg in ALGS for form in KEY_FORMS] + [
    ("RS256", "pem-pkcs1"),
    ("RS256", "der-pkcs1"),
]


@pytest.mark.parametrize("hmac_alg", ["HS256", "HS384", "HS512"])
@pytest.mark.parametrize(("alg", "form"), KEY_FORM_CASES)
def test_hmac_signed_with_the_public_key_is_refused(
    alg: str, form: str, hmac_alg: str, rings: dict[str, KeyRing], verifier: TokenVerifier
) -> None:
    ring = rings[alg]
    forms = _public_key_forms(ring)
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[hmac_alg]
    hdr = {"alg": hmac_alg, "typ": "at+jwt", "kid": ring.current.kid}
    signing_input = f"{b64url_json(hdr)}.{b64url_json(base_claims())}"
    signature = b64url(hmac.new(forms[form], signing_input.encode("ascii"), digest).digest())
    with pytest.raises(AlgorithmNotAllowedError):
        verifier.verify(f"{signing_input}.{signature}")


@pytest.mark.parametrize(
    ("kid_of", "header_alg", "sign_with"),
    [
        ("ES256", "RS256", "RS256"),  # RS256 header on the EC key's kid, signed with the RSA key
        ("EdDSA", "RS256", "RS256"),
        ("RS256", "ES256", "ES256"),  # ES256 header on the RSA key's kid, signed with the EC key
        ("EdDSA", "ES256", "ES256"),
        ("RS256", "EdDSA", "EdDSA"),
        ("ES256", "EdDSA", "EdDSA"),
    ],
)
def test_alg_switching_between_key_families_is_refused(
    kid_of: str, header_alg: str, sign_with: str, rings: dict[str, KeyRing], verifier: TokenVerifier
) -> None:
    signer = rings[sign_with].current
    token = make_token(
        rings[kid_of],
        header={"alg": header_alg},
        sign_alg=sign_with,
        sign_key=signer.private_key,
    )
    with pytest.raises(AlgorithmNotAllowedError):
        verifier.verify(token)


@pytest.mark.parametrize("header_alg", ["PS256", "RS384", "RS512", "PS512"])
def test_other_rsa_algorithms_on_the_rsa_key_are_refused(
    header_alg: str, rsa_ring: KeyRing, verifier: TokenVerifier
) -> None:
    # Signed correctly with the trusted RSA key under `header_alg`: only the pin refuses it.
    token = make_token(rsa_ring, header={"alg": header_alg}, sign_alg=header_alg)
    with pytest.raises(AlgorithmNotAllowedError):
        verifier.verify(token)


def test_es384_header_on_the_ec_key_is_refused(ec_ring: KeyRing, verifier: TokenVerifier) -> None:
    token = make_token(ec_ring, header={"alg": "ES384"}, sign_alg="ES256")
    with pytest.raises(AlgorithmNotAllowedError):
        verifier.verify(token)


@pytest.mark.parametrize("alg_value", [None, 256, ["RS256"], "", "rs256"])
def test_missing_or_odd_alg_is_refused(alg_value: Any, rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    if alg_value is None:
        token = make_token(rsa_ring, drop_header=("alg",))
    else:
        token = make_token(rsa_ring, header={"alg": alg_value})
    with pytest.raises(AlgorithmNotAllowedError):
        verifier.verify(token)


# --------------------------------------------------------------------------- kid and header parameters


def test_unknown_kid_is_refused(rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    with pytest.raises(KidNotFoundError):
        verifier.verify(make_token(rsa_ring, header={"kid": "no-such-kid"}))


@pytest.mark.parametrize("kid", [None, "", 123, ["kid"], {"kid": "x"}])
def test_missing_or_non_string_kid_is_refused(kid: Any, rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    token = (
        make_token(rsa_ring, drop_header=("kid",))
        if kid is None
        else make_token(rsa_ring, header={"kid": kid})
    )
    with pytest.raises(MalformedTokenError):
        verifier.verify(token)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jku", "https://attacker.example/jwks.json"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("jwk", {"kty": "oct", "k": "c2VjcmV0"}),
        ("crit", ["exp"]),
        ("x5c", ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
        ("x5t", "abc"),
        ("x5t#S256", "abc"),
        ("cty", "JWT"),
        ("b64", False),
        ("zip", "DEF"),
    ],
)
def test_extra_header_parameters_are_refused(
    name: str, value: Any, rsa_ring: KeyRing, verifier: TokenVerifier
) -> None:
    with pytest.raises(MalformedTokenError, match=name.replace("#", "\\#")):
        verifier.verify(make_token(rsa_ring, header={name: value}))


@pytest.mark.parametrize("name", ["x5t", "x5t#S256"])
def test_a_verifier_may_ignore_a_thumbprint_header_and_nothing_else(
    name: str, rsa_ring: KeyRing, make_verifier: Callable[..., TokenVerifier]
) -> None:
    lenient = make_verifier(ignored_header_parameters=[name])
    token = make_token(rsa_ring, header={name: b64url(bytes(20))})
    assert lenient.verify(token).jti == "jti-0001"
    with pytest.raises(MalformedTokenError, match=name.replace("#", "\\#")):
        make_verifier().verify(token)  # the default, ours: as strict as ever
    # The refusal (logged) names what was refused, never the parameter the issuer may send.
    with pytest.raises(MalformedTokenError, match=r"header parameter\(s\) not accepted: jku$"):
        lenient.verify(make_token(rsa_ring, header={name: "x", "jku": "https://attacker.example/jwks"}))


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk", "x5c", "crit", "b64", "zip", "cty", "nonce"])
def test_a_verifier_never_ignores_a_header_parameter_that_could_matter(
    name: str, make_verifier: Callable[..., TokenVerifier]
) -> None:
    with pytest.raises(ValueError, match="may never be ignored"):
        make_verifier(ignored_header_parameters=["x5t", name])


def test_jwk_header_with_the_attackers_own_key_is_refused(
    rsa_ring: KeyRing, other_rings: dict[str, KeyRing], verifier: TokenVerifier
) -> None:
    attacker = other_rings["RS256"].current
    token = make_token(
        rsa_ring, header={"jwk": attacker.public_jwk, "kid": attacker.kid}, sign_key=attacker.private_key
    )
    with pytest.raises(MalformedTokenError):
        verifier.verify(token)


# --------------------------------------------------------------------------- token type


@pytest.mark.parametrize("typ", ["at+jwt", "at+JWT", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
def test_access_token_typ_spellings_are_accepted(
    typ: str, rsa_ring: KeyRing, verifier: TokenVerifier
) -> None:
    assert verifier.verify(make_token(rsa_ring, header={"typ": typ})).sub == "user-42"


@pytest.mark.parametrize(
    "typ",
    [
        *("JWT", "jwt", "rt+jwt", "application/jwt", "at+jwt ", "at+jws", ""),
        *("application/application/at+jwt", 1, None),
    ],
)
def test_wrong_typ_is_refused(typ: Any, rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    with pytest.raises(TokenTypeError):
        verifier.verify(make_token(rsa_ring, header={"typ": typ}))


def test_missing_typ_is_refused(rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    with pytest.raises(TokenTypeError):
        verifier.verify(make_token(rsa_ring, drop_header=("typ",)))


def test_an_issuer_without_typ_accepts_none_or_jwt_and_refuses_a_null_typ(
    rsa_ring: KeyRing, make_verifier: Callable[..., TokenVerifier]
) -> None:
    # As Cognito: no `typ` (or plain JWT). A `typ` that is present must be a media type.
    untyped = make_verifier(token_type=TokenType("pool access", None))
    assert untyped.verify(make_token(rsa_ring, drop_header=("typ",))).sub == "user-42"
    assert untyped.verify(make_token(rsa_ring, header={"typ": "JWT"})).sub == "user-42"
    for typ in (None, "", "at+jwt", 1):
        with pytest.raises(TokenTypeError):
            untyped.verify(make_token(rsa_ring, header={"typ": typ}))


@pytest.fixture(scope="session")
def issued(rsa_ring: KeyRing) -> Any:
    issuer = TokenIssuer(
        rsa_ring,
        issuer=ISSUER,
        audience=AUDIENCE,
        client_id="web",
        access_ttl=300,
        refresh_ttl=3600,
        clock=fixed_clock(NOW),
    )
    return issuer.issue("alice", "orders:read")


@pytest.fixture
def refresh_verifier(make_verifier: Callable[..., TokenVerifier]) -> TokenVerifier:
    return make_verifier(audience=ISSUER, token_type=REFRESH)


def test_real_refresh_token_is_refused_as_access_token(issued: Any, verifier: TokenVerifier) -> None:
    with pytest.raises(TokenTypeError):
        verifier.verify(issued.refresh_token)


def test_real_refresh_token_is_accepted_by_a_refresh_verifier(
    issued: Any, refresh_verifier: TokenVerifier
) -> None:
    claims = refresh_verifier.verify(issued.refresh_token)
    assert (claims.jti, claims.sub) == (issued.refresh_jti, "alice")


def test_real_access_token_is_refused_as_refresh_token(issued: Any, refresh_verifier: TokenVerifier) -> None:
    with pytest.raises(TokenTypeError):
        refresh_verifier.verify(issued.access_token)


def test_token_use_refresh_under_access_typ_is_refused(rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    # typ says access, the signed payload says refresh: the payload wins.
    with pytest.raises(TokenTypeError):
        verifier.verify(make_token(rsa_ring, base_claims(token_use="refresh")))


def test_refresh_typ_without_token_use_is_refused_as_refresh(
    rsa_ring: KeyRing, refresh_verifier: TokenVerifier
) -> None:
    token = make_token(rsa_ring, base_claims(aud=ISSUER), header={"typ": "rt+jwt"})
    with pytest.raises(TokenTypeError):
        refresh_verifier.verify(token)


def test_refresh_token_addressed_to_the_api_is_still_refused(
    rsa_ring: KeyRing, verifier: TokenVerifier
) -> None:
    token = make_token(rsa_ring, base_claims(token_use="refresh"), header={"typ": "rt+jwt"})
    with pytest.raises(TokenTypeError):
        verifier.verify(token)


# --------------------------------------------------------------------------- issuer and audience


@pytest.mark.parametrize(
    "iss",
    [
        ISSUER + "/",
        ISSUER + "/x",
        ISSUER[:-1],
        "https://auth.example",
        ISSUER + ".evil.example",
        ISSUER + "x",
        "xhttps://auth.example.test",
        "evil" + ISSUER,
        "https://AUTH.example.test",
        "HTTPS://auth.example.test",
        "https://Auth.Example.Test",
        "http://auth.example.test",
        "auth.example.test",
        "example.test",
        "https://auth.example.test:443",
        " " + ISSUER,
        ISSUER + " ",
        ISSUER + "\u0000",
        "",
        [ISSUER],
        {"iss": ISSUER},
        1,
    ],
)
def test_issuer_near_misses_are_refused(iss: Any, rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    # The refusal logged says which claim failed (the authorizer logs "IssuerMismatchError: ...").
    with pytest.raises(IssuerMismatchError, match=r"^token 'iss' does not match the expected issuer$"):
        verifier.verify(make_token(rsa_ring, base_claims(iss=iss)))


def test_missing_or_null_issuer_is_refused(rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidClaimError):
        verifier.verify(make_token(rsa_ring, drop_claims=("iss",)))
    with pytest.raises(InvalidClaimError):
        verifier.verify(make_token(rsa_ring, base_claims(iss=None)))


@pytest.mark.parametrize(
    "aud", ["orders-api2", "Orders-api", "orders", "api", ISSUER, ["other-api"], [ISSUER]]
)
def test_wrong_audience_is_refused(aud: Any, rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    # Logged as a foreign audience, not as a malformed claim: the operator looks at AUTH_AUDIENCE.
    with pytest.raises(AudienceMismatchError, match="is not accepted here"):
        verifier.verify(make_token(rsa_ring, base_claims(aud=aud)))


@pytest.mark.parametrize("aud", [5, {"aud": AUDIENCE}, [AUDIENCE, 5]])
def test_audience_of_the_wrong_type_is_refused(aud: Any, rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    with pytest.raises(AudienceMismatchError):
        verifier.verify(make_token(rsa_ring, base_claims(aud=aud)))


@pytest.mark.parametrize("aud", [None, "", []])
def test_missing_or_empty_audience_is_refused(aud: Any, rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidClaimError):
        verifier.verify(make_token(rsa_ring, base_claims(aud=aud)))
    with pytest.raises(InvalidClaimError):
        verifier.verify(make_token(rsa_ring, drop_claims=("aud",)))


def test_audience_list_containing_ours_is_accepted(rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    token = make_token(rsa_ring, base_claims(aud=["billing-api", AUDIENCE]))
    assert verifier.verify(token).sub == "user-42"


def test_verifier_with_several_audiences_accepts_each(
    rsa_ring: KeyRing, make_verifier: Callable[..., TokenVerifier]
) -> None:
    verifier = make_verifier(audience=("billing-api", AUDIENCE))
    assert verifier.verify(make_token(rsa_ring, base_claims(aud="billing-api"))).sub == "user-42"
    assert verifier.verify(make_token(rsa_ring)).sub == "user-42"
    with pytest.raises(AudienceMismatchError):
        verifier.verify(make_token(rsa_ring, base_claims(aud="admin-api")))


# --------------------------------------------------------------------------- times


def test_expired_token_is_refused(rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    with pytest.raises(TokenExpiredError):
        verifier.verify(make_token(rsa_ring, base_claims(iat=NOW - 3600, exp=NOW - 300)))


def test_nbf_in_the_future_is_refused(rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    with pytest.raises(TokenNotYetValidError):
        verifier.verify(make_token(rsa_ring, base_claims(nbf=NOW + 120)))


def test_iat_in_the_future_is_refused(rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    with pytest.raises(TokenNotYetValidError):
        verifier.verify(make_token(rsa_ring, base_claims(iat=NOW + 120, exp=NOW + 420)))


@pytest.mark.parametrize("leeway", [0, 30])
def test_exp_boundary_with_injected_clock(
    leeway: int, rsa_ring: KeyRing, make_verifier: Callable[..., TokenVerifier]
) -> None:
    exp = NOW + 300
    token = make_token(rsa_ring, base_claims(exp=exp))
    assert make_verifier(leeway=leeway, clock=fixed_clock(exp + leeway - 0.001)).verify(token).exp == exp
    with pytest.raises(TokenExpiredError):
        make_verifier(leeway=leeway, clock=fixed_clock(exp + leeway)).verify(token)
    with pytest.raises(TokenExpiredError):
        make_verifier(leeway=leeway, clock=fixed_clock(exp + leeway + 1)).verify(token)


@pytest.mark.parametrize("leeway", [0, 30])
def test_iat_boundary_with_injected_clock(
    leeway: int, rsa_ring: KeyRing, make_verifier: Callable[..., TokenVerifier]
) -> None:
    iat = NOW
    token = make_token(rsa_ring, base_claims(iat=iat, exp=iat + 300))
    assert make_verifier(leeway=leeway, clock=fixed_clock(iat - leeway)).verify(token).iat == iat
    with pytest.raises(TokenNotYetValidError):
        make_verifier(leeway=leeway, clock=fixed_clock(iat - leeway - 0.5)).verify(token)


@pytest.mark.parametrize("leeway", [0, 30])
def test_nbf_boundary_with_injected_clock(
    leeway: int, rsa_ring: KeyRing, make_verifier: Callable[..., TokenVerifier]
) -> None:
    nbf = NOW + 100
    token = make_token(rsa_ring, base_claims(iat=NOW, nbf=nbf, exp=NOW + 300))
    assert make_verifier(leeway=leeway, clock=fixed_clock(nbf - leeway)).verify(token).sub == "user-42"
    with pytest.raises(TokenNotYetValidError):
        make_verifier(leeway=leeway, clock=fixed_clock(nbf - leeway - 0.5)).verify(token)


def test_verifier_uses_its_clock_not_the_wall_clock(
    rsa_ring: KeyRing, make_verifier: Callable[..., TokenVerifier]
) -> None:
    # Valid at NOW (2023), long expired by the wall clock: only the injected clock counts.
    token = make_token(rsa_ring)
    assert make_verifier(clock=fixed_clock(NOW)).verify(token).exp == NOW + 300
    with pytest.raises(TokenExpiredError):
        make_verifier(clock=fixed_clock(NOW + 10_000)).verify(token)


# --------------------------------------------------------------------------- claims


@pytest.mark.parametrize("name", ["sub", "jti", "exp", "iat"])
def test_missing_required_claim_is_refused(name: str, rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidClaimError, match=name):
        verifier.verify(make_token(rsa_ring, drop_claims=(name,)))


@pytest.mark.parametrize("name", ["sub", "jti"])
def test_empty_sub_or_jti_is_refused(name: str, rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidClaimError):
        verifier.verify(make_token(rsa_ring, base_claims(**{name: ""})))


@pytest.mark.parametrize("value", [42, ["user-42"], {"id": "user-42"}, True])
@pytest.mark.parametrize("name", ["sub", "jti"])
def test_non_string_sub_or_jti_is_refused(
    name: str, value: Any, rsa_ring: KeyRing, verifier: TokenVerifier
) -> None:
    with pytest.raises(TokenError):
        verifier.verify(make_token(rsa_ring, base_claims(**{name: value})))


@pytest.mark.parametrize("name", ["sub", "jti"])
def test_non_string_sub_or_jti_is_an_invalid_claim(
    name: str, rsa_ring: KeyRing, verifier: TokenVerifier
) -> None:
    with pytest.raises(InvalidClaimError):
        verifier.verify(make_token(rsa_ring, base_claims(**{name: 42})))


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", ["1700000300", None, True, [NOW], {"t": NOW}])
def test_non_numeric_dates_are_refused(
    name: str, value: Any, rsa_ring: KeyRing, verifier: TokenVerifier
) -> None:
    with pytest.raises(InvalidClaimError):
        verifier.verify(make_token(rsa_ring, base_claims(**{name: value})))


@pytest.mark.parametrize("name", ["scope", "sid", "client_id"])
def test_optional_text_claims_of_the_wrong_type_are_refused(
    name: str, rsa_ring: KeyRing, verifier: TokenVerifier
) -> None:
    with pytest.raises(InvalidClaimError):
        verifier.verify(make_token(rsa_ring, base_claims(**{name: ["admin"]})))


@pytest.mark.parametrize(
    ("name", "value"), [("exp", float("nan")), ("exp", float("inf")), ("iat", float("nan"))]
)
def test_non_finite_numeric_dates_are_a_token_error(
    name: str, value: float, rsa_ring: KeyRing, verifier: TokenVerifier
) -> None:
    with pytest.raises(TokenError):
        verifier.verify(make_token(rsa_ring, base_claims(**{name: value})))


def test_payload_that_is_not_a_json_object_is_refused(rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    hdr = {"alg": "RS256", "typ": "at+jwt", "kid": rsa_ring.current.kid}
    for body in (b"[1, 2]", b'"text"', b"not json"):
        signing_input = f"{b64url_json(hdr)}.{b64url(body)}"
        token = f"{signing_input}.{sign_raw(signing_input, 'RS256', rsa_ring.current.private_key)}"
        with pytest.raises(MalformedTokenError):
            verifier.verify(token)


# --------------------------------------------------------------------------- size and shape


def test_max_token_bytes_is_enforced_exactly(
    rsa_ring: KeyRing, make_verifier: Callable[..., TokenVerifier]
) -> None:
    token = make_token(rsa_ring)
    assert make_verifier(max_token_bytes=len(token)).verify(token).sub == "user-42"
    with pytest.raises(MalformedTokenError, match="longer"):
        make_verifier(max_token_bytes=len(token) - 1).verify(token)


def test_oversized_token_is_refused_by_default(rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    token = make_token(rsa_ring, base_claims(padding="x" * 9000))
    assert len(token) > 8192
    with pytest.raises(MalformedTokenError, match="longer"):
        verifier.verify(token)
    with pytest.raises(MalformedTokenError):
        verifier.verify("a" * 1_000_000)


NOT_JSON_HEADER = b64url(b"not json")
ARRAY_HEADER = b64url(b'["alg", "RS256"]')


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "..",
        "a..c",
        ".e30.c2ln",
        "eyJhbGciOiJSUzI1NiJ9.e30.",
        "eyJ!.e30.c2ln",
        "eyJhbGciOiJSUzI1NiJ9=.e30.c2ln",
        "eyJh bGciOiJSUzI1NiJ9.e30.c2ln",
        "eyJhbGciOiJSUzI1NiJ9.e30.c2ln\n",
        "eyJ+bGci/iJSUzI1NiJ9.e30.c2ln",
        "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
        f"{NOT_JSON_HEADER}.e30.c2ln",
        f"{ARRAY_HEADER}.e30.c2ln",
        f"{b64url(b'null')}.e30.c2ln",
        f"{b64url(b'123')}.e30.c2ln",
        b64url(b'"at+jwt"') + ".e30.c2ln",
        f"{b64url(bytes([0xFF, 0xFE, 0x7B, 0x7D]))}.e30.c2ln",
        "a.e30.c2ln",  # one base64url character cannot encode a byte
        "\u00e9yJ.e30.c2ln",
    ],
)
def test_garbage_strings_are_malformed(token: str, verifier: TokenVerifier) -> None:
    with pytest.raises(MalformedTokenError):
        verifier.verify(token)


@pytest.mark.parametrize("value", [None, b"a.b.c", 123, ["a", "b", "c"]])
def test_non_string_tokens_are_malformed(value: Any, verifier: TokenVerifier) -> None:
    with pytest.raises(MalformedTokenError):
        verifier.verify(value)


def test_decode_header_returns_only_the_header(rsa_ring: KeyRing) -> None:
    assert decode_header(make_token(rsa_ring)) == {
        "alg": "RS256",
        "typ": "at+jwt",
        "kid": rsa_ring.current.kid,
    }


def test_deeply_nested_header_is_malformed(verifier: TokenVerifier) -> None:
    token = b64url(b"[" * 1000 + b"]" * 1000) + ".e30.c2ln"
    assert len(token) < 8192
    with pytest.raises(MalformedTokenError):
        verifier.verify(token)


def test_every_refusal_is_a_token_error_subclass() -> None:
    for cls in (
        MalformedTokenError,
        AlgorithmNotAllowedError,
        KidNotFoundError,
        InvalidSignatureError,
        TokenTypeError,
        IssuerMismatchError,
        AudienceMismatchError,
        TokenExpiredError,
        TokenNotYetValidError,
        InvalidClaimError,
    ):
        assert issubclass(cls, TokenError)
        assert cls.error == "invalid_token"


def test_error_messages_never_contain_the_token(rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    tokens = [
        make_token(rsa_ring, base_claims(iss="https://evil.example")),
        make_token(rsa_ring, base_claims(exp=NOW - 3600)),
        make_token(rsa_ring, header={"kid": "unknown"}),
        make_token(rsa_ring, header={"jku": "https://evil.example"}),
    ]
    for token in tokens:
        with pytest.raises(TokenError) as info:
            verifier.verify(token)
        for part in token.split("."):
            assert part not in str(info.value)


# --------------------------------------------------------------------------- keys: thumbprints

# RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
RFC7638_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvzq"
        "Y368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_rfc7638_thumbprint_test_vector() -> None:
    assert jwk_thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT


def test_thumbprint_ignores_member_order_and_non_required_members() -> None:
    shuffled = {"kid": "other", "use": "sig", "e": "AQAB", "n": RFC7638_JWK["n"], "kty": "RSA"}
    assert jwk_thumbprint(shuffled) == RFC7638_THUMBPRINT
    changed = {**RFC7638_JWK, "e": "AQAC"}
    assert jwk_thumbprint(changed) != RFC7638_THUMBPRINT


def _expected_thumbprint(canonical: str) -> str:
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def test_ec_and_okp_thumbprints_follow_rfc7638_member_lists(rings: dict[str, KeyRing]) -> None:
    ec_jwk = rings["ES256"].current.public_jwk
    ec_canonical = '{"crv":"%s","kty":"EC","x":"%s","y":"%s"}' % (ec_jwk["crv"], ec_jwk["x"], ec_jwk["y"])  # noqa: UP031
    assert jwk_thumbprint(ec_jwk) == _expected_thumbprint(ec_canonical)
    okp_jwk = rings["EdDSA"].current.public_jwk
    okp_canonical = '{"crv":"Ed25519","kty":"OKP","x":"%s"}' % okp_jwk["x"]  # noqa: UP031
    assert jwk_thumbprint(okp_jwk) == _expected_thumbprint(okp_canonical)


def test_thumbprint_of_an_unknown_key_type_is_refused() -> None:
    with pytest.raises(ValueError, match="oct"):
        jwk_thumbprint({"kty": "oct", "k": "c2VjcmV0"})


# --------------------------------------------------------------------------- keys: algorithm pinning


@pytest.mark.parametrize("alg", ALGS)
def test_algorithm_for_jwk_follows_key_type_and_curve(alg: str, rings: dict[str, KeyRing]) -> None:
    jwk = {k: v for k, v in rings[alg].current.public_jwk.items() if k != "alg"}
    assert algorithm_for_jwk(jwk) == alg


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "EC", "crv": "P-384", "x": "a", "y": "b"},
        {"kty": "EC", "crv": "secp256k1", "x": "a", "y": "b"},
        {"kty": "OKP", "crv": "Ed448", "x": "a"},
        {"kty": "OKP", "crv": "X25519", "x": "a"},
        {"kty": "RSA", "n": "a", "e": "AQAB", "alg": "PS256"},
        {"kty": "RSA", "n": "a", "e": "AQAB", "alg": "HS256"},
        {"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "alg": "RS256"},
        {"kty": "OKP", "crv": "Ed25519", "x": "a", "alg": "ES256"},
        {"n": "a", "e": "AQAB"},
    ],
)
def test_algorithm_for_jwk_refuses_unsupported_or_contradictory_keys(jwk: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        algorithm_for_jwk(jwk)


# --------------------------------------------------------------------------- keys: KeySet.from_jwks


def test_key_set_from_jwks_pins_each_kid(rings: dict[str, KeyRing], key_set: KeySet) -> None:
    assert len(key_set) == 3
    assert set(key_set.kids) == {ring.current.kid for ring in rings.values()}
    assert key_set.algorithms == ("ES256", "EdDSA", "RS256")
    for alg, ring in rings.items():
        assert key_set.get(ring.current.kid).alg == alg
    with pytest.raises(KidNotFoundError):
        key_set.get("missing")


def test_key_set_accepts_jwks_without_alg_and_with_rfc7638_kid() -> None:
    key_set = KeySet.from_jwks(
        {"keys": [RFC7638_JWK, {k: v for k, v in RFC7638_JWK.items() if k != "alg"} | {"kid": "no-alg"}]}
    )
    assert key_set.get("2011-04-29").alg == "RS256"
    assert key_set.get("no-alg").alg == "RS256"


@pytest.fixture(scope="session")
def private_jwks() -> dict[str, dict[str, Any]]:
    rsa_private = crypto_rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_private = ec.generate_private_key(ec.SECP256R1())
    ed_private = ed25519.Ed25519PrivateKey.generate()
    return {
        "RS256": {**RSAAlgorithm.to_jwk(rsa_private, as_dict=True), "kid": "rsa-private"},
        "ES256": {**ECAlgorithm.to_jwk(ec_private, as_dict=True), "kid": "ec-private"},
        "EdDSA": {**OKPAlgorithm.to_jwk(ed_private, as_dict=True), "kid": "ed-private"},
    }


@pytest.mark.parametrize("alg", ALGS)
def test_key_set_refuses_private_key_material(alg: str, private_jwks: dict[str, dict[str, Any]]) -> None:
    assert "d" in private_jwks[alg]
    with pytest.raises(ConfigurationError, match="private"):
        KeySet.from_jwks({"keys": [private_jwks[alg]]})


@pytest.fixture(scope="session")
def weak_rsa_jwk() -> dict[str, Any]:
    weak = crypto_rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505
    return {**RSAAlgorithm.to_jwk(weak, as_dict=True), "kid": "weak", "alg": "RS256", "use": "sig"}


def test_key_set_refuses_rsa_below_2048_bits(weak_rsa_jwk: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="1024"):
        KeySet.from_jwks({"keys": [weak_rsa_jwk]})


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda jwk: {**jwk, "alg": "ES256"}, "does not fit"),
        (lambda jwk: {**jwk, "alg": "HS256"}, "does not fit"),
        (lambda jwk: {**jwk, "alg": "PS256"}, "does not fit"),
        (lambda jwk: {**jwk, "use": "enc"}, "use"),
        (lambda jwk: {k: v for k, v in jwk.items() if k != "kid"}, "kid"),
        (lambda jwk: {**jwk, "kid": ""}, "kid"),
        (lambda jwk: {**jwk, "kid": 7}, "kid"),
        (lambda jwk: {**jwk, "n": "!!!not base64!!!"}, "#0"),
        (lambda jwk: {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "kid": "hmac"}, "oct"),
        (lambda jwk: {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"}, "oct"),
        (lambda jwk: "not an object", "#0"),
    ],
)
def test_key_set_refuses_unusable_rsa_keys(
    mutate: Callable[[dict[str, Any]], Any], message: str, rsa_ring: KeyRing
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        KeySet.from_jwks({"keys": [mutate(dict(rsa_ring.current.public_jwk))]})


def test_key_set_refuses_alg_contradicting_an_ec_key(ec_ring: KeyRing) -> None:
    with pytest.raises(ConfigurationError, match="does not fit"):
        KeySet.from_jwks({"keys": [{**ec_ring.current.public_jwk, "alg": "RS256"}]})


def test_key_set_refuses_unsupported_curve() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    jwk = {**ECAlgorithm.to_jwk(p384, as_dict=True), "kid": "p384"}
    with pytest.raises(ConfigurationError, match="P-384"):
        KeySet.from_jwks({"keys": [jwk]})


def test_key_set_error_names_the_offending_key_index(rsa_ring: KeyRing, ec_ring: KeyRing) -> None:
    with pytest.raises(ConfigurationError, match="#1"):
        KeySet.from_jwks(
            {"keys": [rsa_ring.current.public_jwk, {**ec_ring.current.public_jwk, "alg": "EdDSA"}]}
        )


def test_key_set_refuses_duplicate_kid(rsa_ring: KeyRing, ec_ring: KeyRing) -> None:
    clash = {**ec_ring.current.public_jwk, "kid": rsa_ring.current.kid}
    with pytest.raises(ConfigurationError, match="same kid"):
        KeySet.from_jwks({"keys": [rsa_ring.current.public_jwk, clash]})
    with pytest.raises(ConfigurationError, match="same kid"):
        KeySet.from_jwks({"keys": [rsa_ring.current.public_jwk, dict(rsa_ring.current.public_jwk)]})


@pytest.mark.parametrize(
    "jwks", [{"keys": []}, {}, {"keys": {}}, {"keys": None}, [], None, "keys", {"keys": "x"}]
)
def test_key_set_refuses_empty_or_shapeless_jwks(jwks: Any) -> None:
    with pytest.raises(ConfigurationError):
        KeySet.from_jwks(jwks)


def test_key_set_built_from_a_key_ring_verifies_its_tokens(rsa_ring: KeyRing) -> None:
    verifier = TokenVerifier(
        rsa_ring.key_set(), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS, clock=fixed_clock(NOW)
    )
    assert verifier.verify(make_token(rsa_ring)).jti == "jti-0001"


# --------------------------------------------------------------------------- when the session began


@pytest.mark.parametrize(
    ("auth_time", "session_start"),
    [
        (NOW - 600, NOW - 600),  # the usual: the login, some time before this token was signed
        (NOW, NOW),
        (NOW + 600, NOW),  # the issuer's clock ahead at login: never later than `iat`
        (float(NOW - 600) + 0.5, NOW - 600),  # a NumericDate may have a fraction
        (-5, -5),
    ],
)
def test_the_session_start_is_auth_time_never_later_than_iat(
    rsa_ring: KeyRing, verifier: TokenVerifier, auth_time: Any, session_start: int
) -> None:
    claims = verifier.verify(make_token(rsa_ring, base_claims(auth_time=auth_time)))
    assert claims.session_start == session_start
    # The same for a token the verifier reads the long way (a non-ASCII claim).
    slow = verifier.verify(make_token(rsa_ring, base_claims(auth_time=auth_time, scope="é")))
    assert slow.session_start == session_start


@pytest.mark.parametrize("auth_time", [None, "1700000000", True, [NOW], float("nan")])
def test_our_tokens_without_a_usable_auth_time_are_refused(
    rsa_ring: KeyRing, verifier: TokenVerifier, auth_time: Any
) -> None:
    claims = base_claims() if auth_time is None else base_claims(auth_time=auth_time)
    token = make_token(rsa_ring, claims, drop_claims=("auth_time",) if auth_time is None else ())
    with pytest.raises(InvalidClaimError, match="auth_time"):
        verifier.verify(token)


@pytest.mark.parametrize("auth_time", [None, "1700000000", True])
def test_another_issuers_tokens_without_a_usable_auth_time_begin_at_iat(
    rsa_ring: KeyRing, make_verifier: Callable[..., TokenVerifier], auth_time: Any
) -> None:
    verifier = make_verifier(token_type=TokenType("OIDC access", "at+jwt"))
    claims = base_claims() if auth_time is None else base_claims(auth_time=auth_time)
    token = make_token(rsa_ring, claims, drop_claims=("auth_time",) if auth_time is None else ())
    assert verifier.verify(token).session_start == NOW


def test_a_limit_above_the_default_admits_a_longer_token(
    rsa_ring: KeyRing, make_verifier: Callable[..., TokenVerifier]
) -> None:
    # AUTH_MAX_TOKEN_BYTES may be raised to 65536 (large Cognito group lists): the raised limit
    # must hold for the whole verification, the parse included.
    token = make_token(rsa_ring, base_claims(padding="x" * 9000))
    assert len(token) > 8192
    assert make_verifier(max_token_bytes=16384).verify(token).sub == "user-42"


def test_a_verifier_built_without_a_leeway_allows_30_seconds(rsa_ring: KeyRing, key_set: KeySet) -> None:
    # The documented default (AUTH_LEEWAY_SECONDS), also for a verifier built by hand.
    exp = NOW + 300
    token = make_token(rsa_ring, base_claims(exp=exp))

    def built(now: float) -> TokenVerifier:
        clock = fixed_clock(now)
        return TokenVerifier(key_set, issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS, clock=clock)

    assert built(exp + 29.999).verify(token).exp == exp
    with pytest.raises(TokenExpiredError):
        built(exp + 30).verify(token)


@pytest.mark.parametrize(("sub", "jti"), [(42, "jti-1"), ("user-42", 7), (["user-42"], "jti-1")])
def test_a_sub_or_jti_that_is_no_string_is_refused_saying_so(
    sub: Any, jti: Any, rsa_ring: KeyRing, verifier: TokenVerifier
) -> None:
    with pytest.raises(InvalidClaimError) as refused:
        verifier.verify(make_token(rsa_ring, base_claims(sub=sub, jti=jti)))
    assert str(refused.value) == "token 'sub' and 'jti' must be strings"


def test_a_verifier_refuses_to_ignore_a_header_parameter_that_selects_keys(key_set: KeySet) -> None:
    with pytest.raises(ValueError) as refused:
        TokenVerifier(
            key_set,
            issuer=ISSUER,
            audience=AUDIENCE,
            token_type=ACCESS,
            ignored_header_parameters=["x5u", "jku"],
        )
    assert str(refused.value) == "header parameters that may never be ignored: jku, x5u"


def test_our_token_without_auth_time_is_refused_saying_so(rsa_ring: KeyRing, verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidClaimError) as refused:
        verifier.verify(make_token(rsa_ring, base_claims(), drop_claims=("auth_time",)))
    assert str(refused.value) == "token lacks the 'auth_time' claim"


@pytest.mark.parametrize("name", ["origin_jti", "cognito_origin_jti"])
def test_an_origin_that_is_no_string_is_refused_under_its_one_name(
    name: str, rsa_ring: KeyRing, verifier: TokenVerifier
) -> None:
    # Either spelling is the token's Cognito login (`origin_jti`), and is named so.
    with pytest.raises(InvalidClaimError) as refused:
        verifier.verify(make_token(rsa_ring, base_claims(**{name: 12})))
    assert str(refused.value) == "'origin_jti' must be a string of valid Unicode"


def test_a_token_parsed_under_a_larger_limit_is_still_held_to_the_verifiers(
    rsa_ring: KeyRing, make_verifier: Callable[..., TokenVerifier]
) -> None:
    # Issuer routing parses once, under the largest limit; each issuer's verifier has its own.
    from authorizer.tokens.jws import parse_token

    token = make_token(rsa_ring)
    parsed = parse_token(token, max_bytes=len(token))
    with pytest.raises(MalformedTokenError) as refused:
        make_verifier(max_token_bytes=len(token) - 1).verify_signed(parsed)
    assert str(refused.value) == f"token is longer than {len(token) - 1} bytes"


def test_the_algorithm_refusal_names_every_name_the_key_answers_to(
    ed_ring: KeyRing, ec_ring: KeyRing
) -> None:
    jwk = {name: value for name, value in ed_ring.jwks()["keys"][0].items() if name != "alg"}
    keys = KeySet.from_jwks({"keys": [jwk]})
    verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS)
    signer = ec_ring.current.private_key
    token = make_token(ed_ring, header={"alg": "ES256"}, sign_alg="ES256", sign_key=signer)
    with pytest.raises(AlgorithmNotAllowedError) as refused:
        verifier.verify(token)
    assert str(refused.value) == "algorithm must be EdDSA or Ed25519 for this key"


def test_a_verifier_without_an_audience_cannot_be_built(key_set: KeySet) -> None:
    with pytest.raises(ValueError) as refused:
        TokenVerifier(key_set, issuer=ISSUER, audience=[], token_type=ACCESS)
    assert str(refused.value) == "a verifier needs at least one accepted audience"
