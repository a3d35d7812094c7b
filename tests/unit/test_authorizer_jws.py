"""authorizer.tokens.jws (one strict parse per token) and authorizer.tokens.keys (JWK to `cryptography` keys).

Tokens and keys are built by hand here (base64url, JSON, `cryptography`), never by the code
under test.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from authorizer.errors import ConfigurationError, MalformedTokenError, TokenNotYetValidError
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.issuers import ScopedVerifier, TrustedIssuers
from authorizer.tokens.jws import ParsedToken, parse_token
from authorizer.tokens.keys import KeySet, verification_key
from authorizer.tokens.verifier import ACCESS, TokenVerifier, decode_header, decode_payload

ISSUER = "https://auth.example.test"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def part(value: Any) -> str:
    return b64(json.dumps(value).encode())


HEADER = part({"alg": "ES256", "typ": "at+jwt", "kid": "k1"})
PAYLOAD = part({"iss": ISSUER, "sub": "alice"})
SIGNATURE = b64(bytes(range(64)))
TOKEN = f"{HEADER}.{PAYLOAD}.{SIGNATURE}"
UTF16_HEADER = b64(json.dumps({"alg": "ES256"}).encode("utf-16"))
BOM_HEADER = b64(b"\xef\xbb\xbf" + json.dumps({"alg": "ES256"}).encode())
SPACED_HEADER = b64(b' {"alg": "ES256"} ')
SPACED_PAYLOAD = b64(b'\n{"iss": "x"}')


# --------------------------------------------------------------------------- parsing


def test_a_token_is_split_and_decoded_once() -> None:
    parsed = parse_token(TOKEN)
    assert parsed.token == TOKEN
    assert parsed.header == {"alg": "ES256", "typ": "at+jwt", "kid": "k1"}
    assert parsed.payload == {"iss": ISSUER, "sub": "alice"}
    assert parsed.signing_input == f"{HEADER}.{PAYLOAD}".encode()
    assert parsed.signature == bytes(range(64))


def _last_changed(text: str, step: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return text[:-1] + alphabet[(alphabet.index(text[-1]) + step) % 64]


@pytest.mark.parametrize(
    "token",
    [
        f"{HEADER}.{PAYLOAD}.{SIGNATURE}==",  # padding (86 characters: two `=`)
        f"{base64.urlsafe_b64encode(json.dumps({'alg': 'ES256'}).encode()).decode()}.{PAYLOAD}.{SIGNATURE}",
        f"{HEADER}.{PAYLOAD}.{_last_changed(SIGNATURE, 1)}",  # non-zero unused bits
        f"{HEADER}.{PAYLOAD}.{SIGNATURE[:40]}+{SIGNATURE[41:]}",
        f"{HEADER}.{PAYLOAD}.{SIGNATURE[:40]}/{SIGNATURE[41:]}",
        f"{HEADER}.{PAYLOAD}.{SIGNATURE[:40]} {SIGNATURE[40:]}",
        f"{HEADER}.{PAYLOAD}.{SIGNATURE}\n",
        f"{HEADER}.{PAYLOAD}.{SIGNATURE[:-1]}\u00e9",
        f"{HEADER}.{PAYLOAD}.{_last_changed(SIGNATURE, 4)}",  # unused bits again, another step
        f"{HEADER}.{PAYLOAD}.{SIGNATURE}AAA",  # 89 characters: 1 (mod 4) encodes no byte
        f"{HEADER}.{PAYLOAD}.",
        f".{PAYLOAD}.{SIGNATURE}",
        f"{HEADER}..{SIGNATURE}",
        f"{HEADER}.{PAYLOAD}",
        f"{HEADER}.{PAYLOAD}.{SIGNATURE}.{SIGNATURE}",
        f"{UTF16_HEADER}.{PAYLOAD}.{SIGNATURE}",
        f"{BOM_HEADER}.{PAYLOAD}.{SIGNATURE}",
        f"{HEADER}.{b64(b'[1]')}.{SIGNATURE}",
        f"{HEADER}.{b64(b'{} x')}.{SIGNATURE}",
    ],
)
def test_anything_but_canonical_base64url_json_objects_is_malformed(token: str) -> None:
    with pytest.raises(MalformedTokenError):
        parse_token(token)


def test_json_whitespace_around_a_part_is_read_as_json_loads_reads_it() -> None:
    token = f"{SPACED_HEADER}.{SPACED_PAYLOAD}.{SIGNATURE}"
    parsed = parse_token(token)
    assert parsed.header == {"alg": "ES256"} and parsed.payload == {"iss": "x"}
    # Whitespace after the object only (the fast scanner reads the object, json.loads the rest).
    header, payload = b64(b'{"alg": "ES256"} \r\n'), b64(b'{"iss": "x"}\t')
    parsed = parse_token(f"{header}.{payload}.{SIGNATURE}")
    assert parsed.header == {"alg": "ES256"} and parsed.payload == {"iss": "x"}


@pytest.mark.parametrize(
    "token",
    [
        f"{HEADER}.{PAYLOAD}.{SIGNATURE[:40]}!{SIGNATURE[41:]}",
        f"{HEADER}.{PAYLOAD}.{SIGNATURE[:40]}!{SIGNATURE[40:]}",  # a lenient decoder skips it
        f"{HEADER}.{PAYLOAD}.{SIGNATURE[:40]}!!!!{SIGNATURE[40:]}",
        f"{HEADER}.{PAYLOAD}é.{SIGNATURE}",
        f"{HEADER}..{SIGNATURE}",
        f".{PAYLOAD}.{SIGNATURE}",
        f"{HEADER}.{PAYLOAD}.",
    ],
)
def test_a_part_outside_the_base64url_alphabet_is_named_as_such(token: str) -> None:
    # The reason is what the authorizer logs and introspection explains: it must say what is wrong.
    for read in (parse_token, decode_payload):
        with pytest.raises(MalformedTokenError) as raised:
            read(token)
        assert str(raised.value) == "token parts are not base64url"


def test_duplicate_members_last_one_wins_as_everywhere() -> None:
    header = b64(b'{"alg": "ES256", "alg": "none"}')
    assert parse_token(f"{header}.{PAYLOAD}.{SIGNATURE}").header == {"alg": "none"}


def test_the_size_limit_is_checked_before_anything_is_decoded() -> None:
    with pytest.raises(MalformedTokenError, match="longer"):
        parse_token(TOKEN, max_bytes=len(TOKEN) - 1)
    assert parse_token(TOKEN, max_bytes=len(TOKEN)).payload["sub"] == "alice"


def test_decode_header_and_payload_still_check_the_whole_token() -> None:
    assert decode_payload(TOKEN) == {"iss": ISSUER, "sub": "alice"}
    assert decode_header(TOKEN)["kid"] == "k1"
    with pytest.raises(MalformedTokenError):
        decode_payload(f"{HEADER}.{PAYLOAD}.{SIGNATURE[:40]}!{SIGNATURE[41:]}")
    with pytest.raises(MalformedTokenError, match="jku"):
        decode_header(f"{part({'alg': 'ES256', 'jku': 'https://evil.example'})}.{PAYLOAD}.{SIGNATURE}")


class Recording:
    """A verifier that records what it is handed."""

    def __init__(self) -> None:
        self.parsed: list[ParsedToken] = []

    def verify(self, token: str) -> TokenClaims:
        raise AssertionError("a parsed token must not be parsed again")

    def verify_parsed(self, parsed: ParsedToken) -> TokenClaims:
        self.parsed.append(parsed)
        return TokenClaims(sub="alice", jti="j", iat=0, exp=1, scope="a", raw=parsed.payload)


def test_trusted_issuers_route_and_verify_on_one_parse() -> None:
    recording = Recording()
    scoped = ScopedVerifier(recording, default_scope="b", group_scopes={})
    claims = TrustedIssuers({ISSUER: scoped}).verify(TOKEN)
    assert claims.scope == "a b"
    assert [parsed.token for parsed in recording.parsed] == [TOKEN]


def test_a_verifier_without_verify_parsed_still_gets_the_token_text() -> None:
    class TextOnly:
        def verify(self, token: str) -> TokenClaims:
            return TokenClaims(sub=token[:3], jti="j", iat=0, exp=1)

    assert TrustedIssuers({ISSUER: TextOnly()}).verify(TOKEN).sub == TOKEN[:3]


# --------------------------------------------------------------------------- keys from JWK


def _rsa_jwk() -> dict[str, Any]:
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "kid": "r", "n": b64(n), "e": b64(numbers.e.to_bytes(3, "big"))}


def _ec_jwk() -> tuple[dict[str, Any], Any]:
    private = ec.generate_private_key(ec.SECP256R1())
    numbers = private.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "kid": "e", "x": b64(numbers.x.to_bytes(32, "big")),
           "y": b64(numbers.y.to_bytes(32, "big"))}  # fmt: skip
    return jwk, private


def test_an_rsa_jwk_becomes_a_key_that_checks_rs256_signatures() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.public_key().public_numbers()
    jwk = {"kty": "RSA", "kid": "r", "n": b64(numbers.n.to_bytes(256, "big")), "e": "AQAB"}
    key = verification_key(jwk)
    assert key.alg == "RS256" and key.key.public_numbers() == numbers
    signature = private.sign(b"data", padding.PKCS1v15(), hashes.SHA256())
    assert key.verify_signature(b"data", signature)
    assert not key.verify_signature(b"other", signature)
    assert not key.verify_signature(b"data", b"\0" + signature)
    assert not key.verify_signature(b"data", signature[1:])


def test_an_ec_jwk_becomes_a_key_that_checks_raw_es256_signatures() -> None:
    jwk, private = _ec_jwk()
    key = verification_key(jwk)
    r, s = decode_dss_signature(private.sign(b"data", ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert key.verify_signature(b"data", raw)
    assert not key.verify_signature(b"data", raw[:63])
    assert not key.verify_signature(b"data", bytes(64))
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    assert not key.verify_signature(b"data", raw[:32] + (s + order).to_bytes(33, "big")[1:])
    assert key.verify_signature(b"data", raw[:32] + (order - s).to_bytes(32, "big"))  # malleable, valid


def test_an_okp_jwk_becomes_an_ed25519_key() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = verification_key({"kty": "OKP", "crv": "Ed25519", "kid": "o", "x": b64(raw)})
    assert key.alg == "EdDSA"
    assert key.verify_signature(b"data", private.sign(b"data"))
    assert not key.verify_signature(b"data", private.sign(b"data")[:63])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda jwk: {**jwk, "x": jwk["y"]}, "#0"),  # not a point of the curve
        (lambda jwk: {**jwk, "x": b64(b"\1" * 31)}, "32 bytes"),
        (lambda jwk: {**jwk, "y": b64(b"\1" * 33)}, "32 bytes"),
        (lambda jwk: {k: v for k, v in jwk.items() if k != "y"}, "'y'"),
        (lambda jwk: {**jwk, "x": 7}, "'x'"),
        (lambda jwk: {**jwk, "x": "not base64!"}, "'x'"),
        (lambda jwk: {**jwk, "d": jwk["x"]}, "private"),
    ],
)
def test_unusable_ec_jwks_are_configuration_errors(mutate: Any, message: str) -> None:
    jwk, _ = _ec_jwk()
    with pytest.raises(ConfigurationError, match=message):
        KeySet.from_jwks({"keys": [mutate(jwk)]})


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda jwk: {**jwk, "e": b64(b"\x01\x00\x00")}, "#0"),  # even exponent
        (lambda jwk: {**jwk, "e": b64(b"\x00")}, "positive"),
        (lambda jwk: {**jwk, "n": ""}, "'n'"),
        (lambda jwk: {k: v for k, v in jwk.items() if k != "e"}, "'e'"),
    ],
)
def test_unusable_rsa_jwks_are_configuration_errors(mutate: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        KeySet.from_jwks({"keys": [mutate(_rsa_jwk())]})


def test_padded_jwk_members_are_read() -> None:
    jwk = _rsa_jwk()
    padded = {**jwk, "n": jwk["n"] + "=" * (-len(jwk["n"]) % 4), "e": "AQAB"}
    assert KeySet.from_jwks({"keys": [padded]}).get("r").alg == "RS256"


def test_an_ed25519_jwk_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="32 bytes"):
        KeySet.from_jwks({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "o", "x": b64(bytes(31))}]})


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
def test_a_date_of_hundreds_of_digits_is_an_answer_not_a_crash(name: str) -> None:
    # It once raised OverflowError (math.isfinite of a huge int): a 500 instead of an answer.
    now = 1_800_000_000
    jwk, private = _ec_jwk()
    keys = KeySet.from_jwks({"keys": [jwk]})
    verifier = TokenVerifier(keys, issuer=ISSUER, audience="api", token_type=ACCESS, clock=lambda: now)
    claims = {"iss": ISSUER, "aud": "api", "sub": "alice", "jti": "j", "iat": now, "exp": now + 300}
    claims["auth_time"] = now
    text = json.dumps({**claims, name: "@"}).replace('"@"', "9" * 400)
    signing_input = f"{part({'alg': 'ES256', 'typ': 'at+jwt', 'kid': 'e'})}.{b64(text.encode())}"
    r, s = decode_dss_signature(private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    token = f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    if name == "exp":  # a far future, as PyJWT reads it too
        assert verifier.verify(token).exp == int("9" * 400)
    else:
        with pytest.raises(TokenNotYetValidError):
            verifier.verify(token)


@pytest.mark.parametrize("token", ["", None])
def test_an_empty_token_is_refused_as_empty(token: Any) -> None:
    for read in (parse_token, decode_payload):
        with pytest.raises(MalformedTokenError) as raised:
            read(token)
        assert str(raised.value) == "token is empty"


def test_decode_header_and_payload_name_the_part_and_honour_a_raised_limit() -> None:
    with pytest.raises(MalformedTokenError) as payload:
        decode_payload(f"{HEADER}.{part([1])}.{SIGNATURE}")
    assert str(payload.value) == "token payload is not a JSON object"
    with pytest.raises(MalformedTokenError) as header:
        decode_header(f"{part('ES256')}.{PAYLOAD}.{SIGNATURE}")
    assert str(header.value) == "token header is not a JSON object"
    with pytest.raises(MalformedTokenError) as both:
        decode_header(f"{part({'alg': 'ES256', 'x5u': 'u', 'jku': 'u'})}.{PAYLOAD}.{SIGNATURE}")
    assert str(both.value) == "header parameter(s) not accepted: jku, x5u"
    long = f"{HEADER}.{part({'iss': ISSUER, 'sub': 'alice', 'pad': 'x' * 9000})}.{SIGNATURE}"
    with pytest.raises(MalformedTokenError, match="longer than 8192 bytes"):
        decode_payload(long)
    assert decode_payload(long, max_bytes=16384)["sub"] == "alice"
    assert decode_header(long, max_bytes=16384)["kid"] == "k1"
