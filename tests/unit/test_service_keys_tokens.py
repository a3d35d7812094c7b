"""Signing keys, token issuing, the issuing configuration and where the signing key is read from.

Keys are generated at run time; SSM and Secrets Manager are moto's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwt as jose_jwt
from jose.exceptions import JWTError
from moto import mock_aws

from auth_service import runtime
from auth_service.config import ServiceConfig, SigningKeyKind, SigningKeySource
from auth_service.key_source import read_signing_pem
from auth_service.keys import generate_private_key_pem, load_key_ring
from auth_service.tokens import TokenIssuer
from authorizer.errors import (
    AudienceMismatchError,
    ConfigurationError,
    KidNotFoundError,
    TokenError,
    TokenExpiredError,
    TokenTypeError,
)
from authorizer.tokens.verifier import ACCESS, REFRESH, TokenVerifier

# Built from parts so that secret scanners do not take this test for a committed key.
BEGIN_PRIVATE = "-----BEGIN " + "PRIVATE KEY-----"

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
ALGS = ("RS256", "ES256", "EdDSA")
NOW = 1_700_000_000
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
EXPECTED_KTY = {"RS256": ("RSA", None), "ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519")}
THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


# --------------------------------------------------------------------------- helpers


def rfc7638(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint, written out independently of the code under test."""
    members = THUMBPRINT_MEMBERS[jwk["kty"]]
    body = "{" + ",".join(f'"{m}":"{jwk[m]}"' for m in members) + "}"
    digest = hashlib.sha256(body.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_pem(private_pem: str) -> str:
    key: Any = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def pem_of(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def b64json(segment: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def split(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return b64json(header), b64json(payload)


def make_issuer(
    pem: str, *, clock: Any = None, access_ttl: int = 900, refresh_ttl: int = 7200
) -> TokenIssuer:
    kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
    return TokenIssuer(
        load_key_ring(pem),
        issuer=ISSUER,
        audience=AUDIENCE,
        client_id="web-app",
        access_ttl=access_ttl,
        refresh_ttl=refresh_ttl,
        **kwargs,
    )


def verifier(pem: str, token_type: Any, *, clock: Any = None, leeway: int = 30) -> TokenVerifier:
    kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
    return TokenVerifier(
        load_key_ring(pem).key_set(),
        issuer=ISSUER,
        audience=AUDIENCE if token_type is ACCESS else ISSUER,
        token_type=token_type,
        leeway=leeway,
        **kwargs,
    )


@pytest.fixture(scope="module")
def pems() -> dict[str, str]:
    return {alg: generate_private_key_pem(alg) for alg in ALGS}


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize("alg", ALGS)
def test_generate_and_load_each_algorithm(alg: str) -> None:
    pem = generate_private_key_pem(alg)
    assert pem.startswith(BEGIN_PRIVATE)  # PKCS#8, unencrypted
    ring = load_key_ring(pem)

    assert ring.current.alg == alg
    assert ring.current.private_key is not None
    assert ring.keys == (ring.current,)
    jwks = ring.jwks()
    assert len(jwks["keys"]) == 1
    jwk = jwks["keys"][0]
    kty, crv = EXPECTED_KTY[alg]
    assert jwk["kty"] == kty
    assert jwk.get("crv") == crv
    assert jwk["alg"] == alg
    assert jwk["use"] == "sig"
    assert jwk["kid"] == ring.current.kid == rfc7638(jwk)
    assert not set(PRIVATE_MEMBERS) & set(jwk)
    if alg == "RS256":
        assert ring.current.private_key.key_size == 2048  # type: ignore[union-attr]
    # The published key is the one that matches the private key.
    assert ring.key_set().kids == (ring.current.kid,)
    assert ring.key_set().algorithms == (alg,)


def test_each_generated_key_is_new() -> None:
    assert (
        load_key_ring(generate_private_key_pem("ES256")).current.kid
        != load_key_ring(generate_private_key_pem("ES256")).current.kid
    )


@pytest.mark.parametrize("alg", ["HS256", "RS512", "ES384", "none", ""])
def test_generate_refuses_other_algorithms(alg: str) -> None:
    with pytest.raises(ValueError, match="unsupported algorithm"):
        generate_private_key_pem(alg)


def test_bundle_current_retired_private_and_retired_public(pems: dict[str, str]) -> None:
    bundle = "\n".join([pems["RS256"], pems["ES256"], public_pem(pems["EdDSA"])])
    ring = load_key_ring(bundle)

    assert [key.alg for key in ring.keys] == ["RS256", "ES256", "EdDSA"]
    assert ring.current is ring.keys[0]
    assert ring.keys[1].private_key is not None
    assert ring.keys[2].private_key is None  # retired, verify-only
    jwks = ring.jwks()["keys"]
    assert [jwk["kid"] for jwk in jwks] == [key.kid for key in ring.keys]
    for jwk in jwks:
        assert jwk["kid"] == rfc7638(jwk)
        assert not set(PRIVATE_MEMBERS) & set(jwk)
    # Each kid is the thumbprint of that block's own key, not of the bundle's first key.
    assert [k["kid"] for k in jwks] == [load_key_ring(pems[a]).current.kid for a in ALGS]
    assert set(ring.key_set().kids) == {k["kid"] for k in jwks}
    assert ring.key_set().algorithms == ("ES256", "EdDSA", "RS256")


def test_tokens_of_a_retired_key_still_verify_after_rotation(pems: dict[str, str]) -> None:
    old_token = make_issuer(pems["ES256"]).issue("user-1", "profile").access_token
    rotated = load_key_ring(pems["RS256"] + public_pem(pems["ES256"]))
    new_issuer = TokenIssuer(
        rotated, issuer=ISSUER, audience=AUDIENCE, client_id="c", access_ttl=900, refresh_ttl=3600
    )
    new_token = new_issuer.issue("user-1", "profile").access_token
    check = TokenVerifier(rotated.key_set(), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS)

    assert check.verify(old_token).sub == "user-1"
    assert check.verify(new_token).sub == "user-1"
    assert split(new_token)[0]["kid"] == rotated.current.kid != split(old_token)[0]["kid"]
    # Without the retired key in the bundle, the old token is refused.
    only_new = load_key_ring(pems["RS256"]).key_set()
    with pytest.raises(KidNotFoundError):
        TokenVerifier(only_new, issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS).verify(old_token)


def test_first_block_must_be_private(pems: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="first PEM block"):
        load_key_ring(public_pem(pems["RS256"]) + pems["ES256"])


@pytest.mark.parametrize(
    "bundle",
    [
        pytest.param(lambda p: p["ES256"] + p["ES256"], id="same-private-twice"),
        pytest.param(lambda p: p["ES256"] + public_pem(p["ES256"]), id="private-and-its-public"),
        pytest.param(
            lambda p: p["RS256"] + public_pem(p["EdDSA"]) + public_pem(p["EdDSA"]), id="retired-twice"
        ),
    ],
)
def test_duplicate_keys_are_refused(pems: dict[str, str], bundle: Any) -> None:
    with pytest.raises(ConfigurationError, match="same key twice"):
        load_key_ring(bundle(pems))


def test_rsa_1024_is_refused_as_current_and_as_retired(pems: dict[str, str]) -> None:
    weak = pem_of(rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505 - must be refused
    with pytest.raises(ConfigurationError, match="2048"):
        load_key_ring(weak)
    with pytest.raises(ConfigurationError, match="#1"):
        load_key_ring(pems["RS256"] + public_pem(weak))


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1(), ec.SECP256K1()], ids=lambda c: c.name)
def test_ec_curves_other_than_p256_are_refused(curve: Any) -> None:
    with pytest.raises(ConfigurationError, match="P-256"):
        load_key_ring(pem_of(ec.generate_private_key(curve)))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a pem at all",
        BEGIN_PRIVATE + "\nAAAA\n-----END " + "PRIVATE KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        BEGIN_PRIVATE + "\nAAAA\n-----END PUBLIC KEY-----\n",  # mismatched armour
    ],
    ids=["empty", "no-block", "bad-private", "bad-public", "mismatched-armour"],
)
def test_unusable_pem_is_a_configuration_error(text: str) -> None:
    with pytest.raises(ConfigurationError):
        load_key_ring(text)


def test_encrypted_private_key_is_a_configuration_error() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    with pytest.raises(ConfigurationError, match="cannot be loaded"):
        load_key_ring(encrypted)


@pytest.mark.parametrize("alg", ALGS)
def test_literal_backslash_n_in_env_pem(pems: dict[str, str], alg: str) -> None:
    one_line = pems[alg].replace("\n", "\\n")
    assert "\n" not in one_line
    assert load_key_ring(one_line).current.kid == load_key_ring(pems[alg]).current.kid


def test_literal_backslash_n_bundle_keeps_every_key(pems: dict[str, str]) -> None:
    bundle = (pems["EdDSA"] + public_pem(pems["RS256"])).replace("\n", "\\n")
    assert len(load_key_ring(bundle).keys) == 2


def test_crlf_pem_loads(pems: dict[str, str]) -> None:
    assert load_key_ring(pems["ES256"].replace("\n", "\r\n")).current.alg == "ES256"


def test_traditional_rsa_and_ec_private_key_formats_load() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sec1 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert sec1.startswith("-----BEGIN EC " + "PRIVATE KEY-----")
    assert load_key_ring(sec1).current.alg == "ES256"


# --------------------------------------------------------------------------- TokenIssuer


def test_access_token_header_and_claims(pems: dict[str, str]) -> None:
    issuer = make_issuer(pems["RS256"], clock=lambda: NOW + 0.9)
    pair = issuer.issue("user-1", "profile orders:read")
    header, claims = split(pair.access_token)

    assert header == {"typ": "at+jwt", "kid": issuer.keys.current.kid, "alg": "RS256"}
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "user-1"
    assert claims["aud"] == AUDIENCE
    assert claims["iat"] == NOW
    assert claims["exp"] == NOW + 900
    assert claims["auth_time"] == NOW
    assert claims["jti"] == pair.access_jti
    assert uuid.UUID(claims["jti"])
    assert claims["scope"] == "profile orders:read"
    assert claims["sid"] == pair.sid
    assert uuid.UUID(claims["sid"])
    assert claims["client_id"] == "web-app"
    assert "token_use" not in claims


def test_refresh_token_header_and_claims(pems: dict[str, str]) -> None:
    issuer = make_issuer(pems["ES256"], clock=lambda: NOW, refresh_ttl=86_400)
    pair = issuer.issue("user-1", "profile")
    header, claims = split(pair.refresh_token)
    _, access = split(pair.access_token)

    assert header == {"typ": "rt+jwt", "kid": issuer.keys.current.kid, "alg": "ES256"}
    assert claims["aud"] == ISSUER
    assert claims["iss"] == ISSUER
    assert claims["token_use"] == "refresh"
    assert claims["sid"] == access["sid"] == pair.sid
    assert claims["jti"] == pair.refresh_jti != pair.access_jti
    assert claims["exp"] == NOW + 86_400
    assert claims["iat"] == NOW
    assert claims["sub"] == "user-1"
    assert claims["scope"] == "profile"


def test_pair_fields_and_response_body(pems: dict[str, str]) -> None:
    pair = make_issuer(pems["EdDSA"], access_ttl=600).issue("u", "a b")
    assert pair.expires_in == 600
    assert pair.response_body() == {
        "access_token": pair.access_token,
        "token_type": "Bearer",
        "expires_in": 600,
        "refresh_token": pair.refresh_token,
        "scope": "a b",
    }


def test_session_continues_and_auth_time_is_kept(pems: dict[str, str]) -> None:
    pair = make_issuer(pems["RS256"], clock=lambda: NOW).issue("u", "s", sid="sid-1", auth_time=NOW - 500)
    for token in (pair.access_token, pair.refresh_token):
        claims = split(token)[1]
        assert claims["sid"] == "sid-1"
        assert claims["auth_time"] == NOW - 500
        assert claims["iat"] == NOW


def test_every_issue_has_new_ids(pems: dict[str, str]) -> None:
    issuer = make_issuer(pems["ES256"])
    pairs = [issuer.issue("u", "s") for _ in range(5)]
    ids = [p.access_jti for p in pairs] + [p.refresh_jti for p in pairs]
    assert len(set(ids)) == 10
    assert len({p.sid for p in pairs}) == 5


@pytest.mark.parametrize("alg", ALGS)
def test_tokens_verify_with_the_authorizer_verifier(pems: dict[str, str], alg: str) -> None:
    pair = make_issuer(pems[alg]).issue("user-1", "profile")
    access = verifier(pems[alg], ACCESS).verify(pair.access_token)
    refresh = verifier(pems[alg], REFRESH).verify(pair.refresh_token)

    assert (access.sub, access.jti, access.sid) == ("user-1", pair.access_jti, pair.sid)
    assert access.scope == "profile"
    assert access.client_id == "web-app"
    assert (refresh.sub, refresh.jti, refresh.sid) == ("user-1", pair.refresh_jti, pair.sid)
    # Each token is refused where the other kind is expected.
    with pytest.raises(TokenTypeError):
        verifier(pems[alg], ACCESS).verify(pair.refresh_token)
    with pytest.raises(TokenTypeError):
        verifier(pems[alg], REFRESH).verify(pair.access_token)


def test_refresh_token_is_refused_by_an_access_verifier_even_with_the_issuer_audience(
    pems: dict[str, str],
) -> None:
    # An API that (wrongly) also accepts the issuer as audience still refuses refresh tokens.
    lax = TokenVerifier(
        load_key_ring(pems["RS256"]).key_set(), issuer=ISSUER, audience=[AUDIENCE, ISSUER], token_type=ACCESS
    )
    with pytest.raises(TokenTypeError):
        lax.verify(make_issuer(pems["RS256"]).issue("u", "s").refresh_token)


def test_access_token_of_another_key_is_refused(pems: dict[str, str]) -> None:
    token = make_issuer(pems["ES256"]).issue("u", "s").access_token
    with pytest.raises(KidNotFoundError):
        verifier(pems["RS256"], ACCESS).verify(token)


@pytest.mark.parametrize(("ttl_name", "ttl"), [("access", 600), ("refresh", 3600)])
def test_lifetimes(pems: dict[str, str], ttl_name: str, ttl: int) -> None:
    issuer = make_issuer(pems["ES256"], clock=lambda: NOW, access_ttl=600, refresh_ttl=3600)
    pair = issuer.issue("u", "s")
    token = pair.access_token if ttl_name == "access" else pair.refresh_token
    kind = ACCESS if ttl_name == "access" else REFRESH
    leeway = 30

    assert verifier(pems["ES256"], kind, clock=lambda: NOW + ttl + leeway - 1, leeway=leeway).verify(token)
    with pytest.raises(TokenExpiredError):
        verifier(pems["ES256"], kind, clock=lambda: NOW + ttl + leeway, leeway=leeway).verify(token)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])  # python-jose has no EdDSA
def test_access_token_verifies_with_python_jose(pems: dict[str, str], alg: str) -> None:
    issuer = make_issuer(pems[alg])
    token = issuer.issue("user-1", "profile").access_token
    public_jwk = issuer.keys.jwks()["keys"][0]

    claims = jose_jwt.decode(token, public_jwk, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)
    assert claims["sub"] == "user-1"
    assert jose_jwt.get_unverified_header(token)["typ"] == "at+jwt"
    # Not a tautology: another key's JWK does not verify it.
    other = load_key_ring(generate_private_key_pem(alg)).jwks()["keys"][0]
    with pytest.raises(JWTError):
        jose_jwt.decode(token, other, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)


@pytest.mark.parametrize("alg", ALGS)
def test_tokens_verify_with_pyjwt_pyjwk(pems: dict[str, str], alg: str) -> None:
    issuer = make_issuer(pems[alg])
    pair = issuer.issue("user-1", "profile")
    jwk = jwt.PyJWK(issuer.keys.jwks()["keys"][0])

    assert jwk.key_id == issuer.keys.current.kid
    claims = jwt.decode(pair.access_token, jwk.key, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)
    assert claims["jti"] == pair.access_jti
    refresh = jwt.decode(pair.refresh_token, jwk.key, algorithms=[alg], audience=ISSUER, issuer=ISSUER)
    assert refresh["token_use"] == "refresh"
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(pair.refresh_token, jwk.key, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)


def test_audience_of_refresh_token_never_matches_the_api(pems: dict[str, str]) -> None:
    pair = make_issuer(pems["EdDSA"]).issue("u", "s")
    wrong = TokenVerifier(
        load_key_ring(pems["EdDSA"]).key_set(), issuer=ISSUER, audience=AUDIENCE, token_type=REFRESH
    )
    with pytest.raises(AudienceMismatchError):
        wrong.verify(pair.refresh_token)


# --------------------------------------------------------------------------- ServiceConfig


def base_env(pem: str) -> dict[str, str]:
    return {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_DENYLIST_TABLE": "denylist",
        "AUTH_SIGNING_KEY": pem,
    }


def config_error(env: dict[str, str]) -> str:
    with pytest.raises(ConfigurationError) as info:
        ServiceConfig.from_env(env)
    return str(info.value)


def test_config_defaults(pems: dict[str, str]) -> None:
    config = ServiceConfig.from_env({**base_env(pems["RS256"]), "AUTH_AUDIENCE": "orders-api, billing-api"})
    assert config.issuer == ISSUER
    assert config.audience == "orders-api"
    assert config.common.audiences == ("orders-api", "billing-api")
    assert config.signing_key == SigningKeySource(SigningKeyKind.INLINE, pems["RS256"].strip())
    assert config.users_table is None
    assert config.client_id == "lambda-jwt-auth"
    assert config.access_token_ttl == 900
    assert config.refresh_token_ttl == 2_592_000
    assert config.introspection_scope == "introspect"
    assert config.max_body_bytes == 16_384


def test_config_reads_every_setting(pems: dict[str, str]) -> None:
    config = ServiceConfig.from_env(
        {
            **base_env(pems["RS256"]),
            "AUTH_USERS_TABLE": "users",
            "AUTH_CLIENT_ID": "mobile",
            "AUTH_ACCESS_TOKEN_TTL": "60",
            "AUTH_REFRESH_TOKEN_TTL": "31536000",
            "AUTH_INTROSPECTION_SCOPE": "admin:introspect",
            "AUTH_MAX_BODY_BYTES": "1024",
        }
    )
    assert (config.users_table, config.client_id) == ("users", "mobile")
    assert (config.access_token_ttl, config.refresh_token_ttl) == (60, 31_536_000)
    assert (config.introspection_scope, config.max_body_bytes) == ("admin:introspect", 1024)


def test_config_accepts_public_keys_without_a_signing_key() -> None:
    jwks = json.dumps(load_key_ring(generate_private_key_pem("ES256")).jwks())
    env = {**base_env(""), "AUTH_JWKS": jwks}
    del env["AUTH_SIGNING_KEY"]
    config = ServiceConfig.from_env(env)
    assert config.signing_key is None
    assert config.common.jwks is not None


def test_config_lists_every_missing_setting_together() -> None:
    message = config_error({})
    for expected in ("AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_DENYLIST_TABLE", "AUTH_SIGNING_KEY_SECRET_ID"):
        assert expected in message
    assert message.count("\n  - ") >= 4
    assert message.startswith("invalid auth service configuration")


def test_config_refuses_audience_equal_to_issuer(pems: dict[str, str]) -> None:
    for audience in (ISSUER, f"orders-api,{ISSUER}"):
        message = config_error({**base_env(pems["RS256"]), "AUTH_AUDIENCE": audience})
        assert "AUTH_AUDIENCE must differ from AUTH_ISSUER" in message


def test_config_refuses_two_key_sources(pems: dict[str, str]) -> None:
    message = config_error(
        {
            **base_env(pems["RS256"]),
            "AUTH_SIGNING_KEY_SSM_PARAMETER": "/auth/key",
            "AUTH_ACCESS_TOKEN_TTL": "5",
        }
    )
    assert "set only one of" in message
    assert "AUTH_SIGNING_KEY, AUTH_SIGNING_KEY_SSM_PARAMETER" in message
    assert "AUTH_ACCESS_TOKEN_TTL" in message  # listed together with the other problem
    assert pems["RS256"].strip() not in message  # never echo the key itself


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTH_ACCESS_TOKEN_TTL", "59"),
        ("AUTH_ACCESS_TOKEN_TTL", "86401"),
        ("AUTH_ACCESS_TOKEN_TTL", "15m"),
        ("AUTH_REFRESH_TOKEN_TTL", "299"),
        ("AUTH_REFRESH_TOKEN_TTL", "31536001"),
        ("AUTH_MAX_BODY_BYTES", "1023"),
        ("AUTH_MAX_BODY_BYTES", "1048577"),
    ],
)
def test_config_refuses_out_of_range_numbers(pems: dict[str, str], name: str, value: str) -> None:
    assert name in config_error({**base_env(pems["RS256"]), name: value})


def test_config_lists_all_range_problems_together(pems: dict[str, str]) -> None:
    message = config_error(
        {**base_env(pems["RS256"]), "AUTH_ACCESS_TOKEN_TTL": "0", "AUTH_REFRESH_TOKEN_TTL": "-1"}
    )
    assert "AUTH_ACCESS_TOKEN_TTL must be at least 60" in message
    assert "AUTH_REFRESH_TOKEN_TTL must be at least 300" in message


def test_config_refuses_a_plain_http_issuer(pems: dict[str, str]) -> None:
    assert "https://" in config_error({**base_env(pems["RS256"]), "AUTH_ISSUER": "http://auth.example.test"})


def test_config_refuses_an_audience_list_with_no_audience(pems: dict[str, str]) -> None:
    assert "AUTH_AUDIENCE" in config_error({**base_env(pems["RS256"]), "AUTH_AUDIENCE": " , "})


# --------------------------------------------------------------------------- key_source


def test_inline_and_file_sources(tmp_path: Any, pems: dict[str, str]) -> None:
    inline = SigningKeySource(SigningKeyKind.INLINE, pems["ES256"])
    assert read_signing_pem(inline, "us-east-1") == pems["ES256"]
    path = tmp_path / "key.pem"
    path.write_text(pems["EdDSA"], encoding="utf-8")
    assert read_signing_pem(SigningKeySource(SigningKeyKind.FILE, str(path)), "us-east-1") == pems["EdDSA"]
    with pytest.raises(ConfigurationError, match="AUTH_SIGNING_KEY_FILE"):
        read_signing_pem(SigningKeySource(SigningKeyKind.FILE, str(tmp_path / "missing.pem")), "us-east-1")


def test_ssm_secure_string_source(pems: dict[str, str]) -> None:
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1")
        ssm.put_parameter(Name="/auth/signing-key", Value=pems["RS256"], Type="SecureString")
        source = SigningKeySource(SigningKeyKind.SSM, "/auth/signing-key")
        text = read_signing_pem(source, "eu-west-1")
        assert load_key_ring(text).current.kid == load_key_ring(pems["RS256"]).current.kid
        # The region is honoured: the parameter does not exist elsewhere.
        with pytest.raises(ConfigurationError, match=r"AUTH_SIGNING_KEY_SSM_PARAMETER.*ParameterNotFound"):
            read_signing_pem(source, "us-east-1")


def test_secrets_manager_source(pems: dict[str, str]) -> None:
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        bundle = pems["ES256"] + public_pem(pems["RS256"])
        sm.create_secret(Name="auth/signing-key", SecretString=bundle)
        source = SigningKeySource(SigningKeyKind.SECRETS_MANAGER, "auth/signing-key")
        ring = load_key_ring(read_signing_pem(source, "us-east-1"))
        assert [key.alg for key in ring.keys] == ["ES256", "RS256"]
        with pytest.raises(ConfigurationError, match="AUTH_SIGNING_KEY_SECRET_ID") as info:
            read_signing_pem(SigningKeySource(SigningKeyKind.SECRETS_MANAGER, "nope"), "us-east-1")
        assert "ResourceNotFoundException" in str(info.value)


def _clear_runtime() -> None:
    for value in vars(runtime).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()


@pytest.mark.parametrize("kind", ["ssm", "secretsmanager"])
def test_runtime_builds_the_key_ring_from_aws(
    monkeypatch: pytest.MonkeyPatch, pems: dict[str, str], kind: str
) -> None:
    env = base_env("")
    del env["AUTH_SIGNING_KEY"]
    for name in [name for name in os.environ if name.startswith("AUTH_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        if kind == "ssm":
            boto3.client("ssm").put_parameter(
                Name="/k", Value=pems["EdDSA"].replace("\n", "\\n"), Type="SecureString"
            )
            monkeypatch.setenv("AUTH_SIGNING_KEY_SSM_PARAMETER", "/k")
        else:
            boto3.client("secretsmanager").create_secret(Name="k", SecretString=pems["EdDSA"])
            monkeypatch.setenv("AUTH_SIGNING_KEY_SECRET_ID", "k")
        _clear_runtime()
        try:
            assert runtime.key_ring().current.kid == load_key_ring(pems["EdDSA"]).current.kid
            assert runtime.key_set().algorithms == ("EdDSA",)
            token = runtime.token_issuer().issue("u", "s").access_token
            assert runtime.access_verifier().verify(token).sub == "u"
        finally:
            _clear_runtime()


def test_runtime_without_a_signing_key_refuses_to_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    env = base_env("")
    del env["AUTH_SIGNING_KEY"]
    for name in [name for name in os.environ if name.startswith("AUTH_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AUTH_JWKS", json.dumps(load_key_ring(generate_private_key_pem("ES256")).jwks()))
    _clear_runtime()
    try:
        assert runtime.key_set().algorithms == ("ES256",)  # verifying works
        with pytest.raises(ConfigurationError, match="signs tokens"):
            runtime.token_issuer()
    finally:
        _clear_runtime()


def test_tampered_access_token_is_refused(pems: dict[str, str]) -> None:
    token = make_issuer(pems["RS256"]).issue("u", "s").access_token
    header, payload, signature = token.split(".")
    forged_payload = (
        base64.urlsafe_b64encode(json.dumps({**b64json(payload), "scope": "admin"}).encode())
        .rstrip(b"=")
        .decode()
    )
    with pytest.raises(TokenError):
        verifier(pems["RS256"], ACCESS).verify(f"{header}.{forged_payload}.{signature}")


def _configure_signing_and_jwks(
    monkeypatch: pytest.MonkeyPatch, signing_pem: str, jwks: dict[str, Any]
) -> None:
    for name in [name for name in os.environ if name.startswith("AUTH_")]:
        monkeypatch.delenv(name)
    for name, value in base_env(signing_pem).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AUTH_JWKS", json.dumps(jwks))


def test_runtime_publishes_a_configured_jwks_that_holds_the_signing_key(
    monkeypatch: pytest.MonkeyPatch, pems: dict[str, str]
) -> None:
    # Staged rotation: the next key is published before it signs.
    published = load_key_ring(pems["ES256"] + public_pem(pems["EdDSA"])).jwks()
    _configure_signing_and_jwks(monkeypatch, pems["ES256"], published)
    _clear_runtime()
    try:
        assert runtime.jwks() == published
        token = runtime.token_issuer().issue("u", "s").access_token
        assert runtime.access_verifier().verify(token).sub == "u"
    finally:
        _clear_runtime()


def test_runtime_refuses_a_signing_key_missing_from_the_configured_jwks(
    monkeypatch: pytest.MonkeyPatch, pems: dict[str, str]
) -> None:
    _configure_signing_and_jwks(monkeypatch, pems["ES256"], load_key_ring(pems["EdDSA"]).jwks())
    _clear_runtime()
    try:
        with pytest.raises(ConfigurationError):
            runtime.token_issuer()
            runtime.key_set()
            runtime.access_verifier()
    finally:
        _clear_runtime()
