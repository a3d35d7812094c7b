"""What a key must be to verify anything: `key_ops`, the ROCA fingerprint, the names of Ed25519.

A key set we are configured with refuses an unusable key as a whole (a configuration error at
cold start); one we fetch skips it and uses the rest (tests/unit/test_jwks_cache.py), as for a
`use: enc` key. Keys are generated at run time; the ROCA samples are the detector authors' test
data (tests/unit/jose_vectors/README.md).
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from authorizer.errors import AlgorithmNotAllowedError, ConfigurationError
from authorizer.tokens.issuers import parse_trusted_issuers
from authorizer.tokens.jws import parse_token
from authorizer.tokens.keys import KeySet, VerificationKey, algorithms_for_jwk, verification_key
from authorizer.tokens.roca import has_roca_fingerprint
from authorizer.tokens.verifier import TokenType, TokenVerifier

ROCA = Path(__file__).parent / "jose_vectors" / "roca"
# The samples the authors' own tests call fingerprinted (roca/tests/test_fingerprint.py).
ROCA_POSITIVE = {"mod01", "mod02", "mod03", "mod08", "mod09", "cert04", "cert05", "pubkey03"}
ROCA_SAMPLES = sorted(
    path.stem for path in ROCA.iterdir() if path.stem.startswith(("mod", "pubkey", "cert"))
)
# How many ordinary keys to generate per size (RSA generation is slow: 4096 bits take seconds);
# ROCA_GENERATED_KEYS_SCALE=10 makes ten times as many.
GENERATED_KEYS = {2048: 8, 3072: 2, 4096: 1}
GENERATED_KEYS_SCALE = int(os.environ.get("ROCA_GENERATED_KEYS_SCALE", "1"))

ISSUER = "https://idp.example.test"
AUDIENCE = "api"
OIDC = TokenType("OIDC access", None)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def rsa_jwk(public: rsa.RSAPublicKey, kid: str = "k") -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(public, as_dict=True), "kid": kid}


def compact(header: dict[str, Any], payload: bytes, sign: Any) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(payload)}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


# --------------------------------------------------------------------------- key_ops


@pytest.fixture(scope="module")
def ec_private() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ec_jwk(private: ec.EllipticCurvePrivateKey, **members: Any) -> dict[str, Any]:
    return {**ECAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "ec", **members}


@pytest.mark.parametrize("key_ops", [["verify"], ["sign", "verify"], ["verify", "encrypt"]])
def test_a_jwk_whose_key_ops_include_verify_is_used(key_ops: list[str], ec_private: Any) -> None:
    assert KeySet.from_jwks({"keys": [ec_jwk(ec_private, key_ops=key_ops)]}).kids == ("ec",)


@pytest.mark.parametrize(
    ("key_ops", "message"),
    [
        (["encrypt"], "does not include 'verify'"),
        (["sign"], "does not include 'verify'"),
        ([], "does not include 'verify'"),
        (["verify", "verify"], "distinct strings"),
        ("verify", "distinct strings"),
        (None, "distinct strings"),
        ([["verify"]], "distinct strings"),
    ],
)
def test_a_configured_jwks_with_a_key_not_for_verify_is_refused(
    key_ops: Any, message: str, ec_private: Any
) -> None:
    # As for `use: enc`: our own configuration is wrong, so the key set fails at cold start.
    with pytest.raises(ConfigurationError, match=f"key #0: key_ops.*{message}"):
        KeySet.from_jwks({"keys": [ec_jwk(ec_private, key_ops=key_ops)]})


def test_a_key_marked_for_encryption_verifies_no_token(ec_private: ec.EllipticCurvePrivateKey) -> None:
    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(ec_private.sign(data, ec.ECDSA(SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    token = compact({"alg": "ES256", "kid": "ec"}, b'{"iss":"x"}', sign)
    good = TokenVerifier(
        KeySet.from_jwks({"keys": [ec_jwk(ec_private)]}), issuer=ISSUER, audience=AUDIENCE, token_type=OIDC
    )
    assert good.verify_signed(parse_token(token)).kid == "ec"  # the same key without key_ops verifies
    with pytest.raises(ConfigurationError, match="key_ops"):
        KeySet.from_jwks({"keys": [ec_jwk(ec_private, key_ops=["encrypt"])]})


# --------------------------------------------------------------------------- ROCA (CVE-2017-15361)


def roca_sample_modulus(name: str) -> int:
    suffix = {"mod": ".txt", "cert": ".crt", "pubkey": ".pub"}[name.rstrip("0123456789")]
    data = (ROCA / (name + suffix)).read_bytes()
    if name.startswith("mod"):
        return int(data.split()[0], 16)
    public: Any = (
        x509.load_pem_x509_certificate(data).public_key()
        if name.startswith("cert")
        else load_pem_public_key(data)
    )
    return int(public.public_numbers().n)


def test_the_roca_samples_are_all_here() -> None:
    assert len(ROCA_SAMPLES) == 18
    assert set(ROCA_SAMPLES) >= ROCA_POSITIVE
    # mod06 and mod07 are near misses of mod03, which the authors keep as negatives.
    assert abs(roca_sample_modulus("mod03") - roca_sample_modulus("mod06")).bit_length() < 2048


@pytest.mark.parametrize("name", ROCA_SAMPLES)
def test_the_roca_fingerprint_matches_its_authors_verdict(name: str) -> None:
    assert has_roca_fingerprint(roca_sample_modulus(name)) is (name in ROCA_POSITIVE)


def per_prime_only_moduli() -> list[int]:
    lines = (ROCA / "per_prime_only_moduli.txt").read_text("ascii").splitlines()
    return [int(line) for line in lines if line and not line.startswith("#")]


def test_moduli_that_only_each_prime_would_flag_are_not_fingerprinted() -> None:
    # The authors' examples against which a per-prime residue test alone is wrong.
    moduli = per_prime_only_moduli()
    assert len(moduli) == 10
    assert [n for n in moduli if has_roca_fingerprint(n)] == []


# The construction, written out here from the paper: M' is the product of the primes to 167.
PRIMES = [p for p in range(2, 168) if all(p % d for d in range(2, p))]
PRIMORIAL = math.prod(PRIMES)


def test_every_number_congruent_to_a_power_of_65537_is_fingerprinted() -> None:
    rng = random.Random(2017_15361)  # noqa: S311 - reproducible test data, not keys
    for _ in range(200):
        residue = pow(65537, rng.randrange(1, 2**64), PRIMORIAL)
        assert has_roca_fingerprint(residue + rng.randrange(2**1800) * PRIMORIAL)


def test_powers_of_65537_prime_by_prime_but_not_together_are_not_fingerprinted() -> None:
    # Modulo each prime a power of 65537, with a different exponent for each: only the exact
    # (discrete logarithm) test tells these from the construction.
    rng = random.Random(15361)  # noqa: S311 - reproducible test data, not keys
    for _ in range(200):
        residues = {p: pow(65537, rng.randrange(1, 10**6), p) for p in PRIMES}
        # The Chinese remainder theorem: the number modulo M' with those residues.
        number = sum(r * (PRIMORIAL // p) * pow(PRIMORIAL // p, -1, p) for p, r in residues.items())
        assert not has_roca_fingerprint(number % PRIMORIAL + PRIMORIAL * 2**1800)


@pytest.mark.parametrize("name", [n for n in ROCA_SAMPLES if roca_sample_modulus(n).bit_length() >= 2048])
def test_roca_keys_are_refused_when_a_key_set_is_built(name: str) -> None:
    modulus = roca_sample_modulus(name)
    jwk = rsa_jwk(rsa.RSAPublicNumbers(65537, modulus).public_key())
    if name in ROCA_POSITIVE:
        with pytest.raises(ConfigurationError) as refused:
            KeySet.from_jwks({"keys": [jwk]})
        assert str(refused.value) == (
            "JWKS key #0: RSA key has the ROCA weakness (CVE-2017-15361): it can be factored"
        )
    else:
        assert KeySet.from_jwks({"keys": [jwk]}).get("k").alg == "RS256"


@pytest.fixture(scope="module")
def generated_moduli() -> list[int]:
    return [
        rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key().public_numbers().n
        for bits, count in GENERATED_KEYS.items()
        for _ in range(count * GENERATED_KEYS_SCALE)
    ]


def test_ordinary_generated_keys_are_not_fingerprinted(generated_moduli: list[int]) -> None:
    assert {modulus.bit_length() for modulus in generated_moduli} == set(GENERATED_KEYS)
    assert [modulus for modulus in generated_moduli if has_roca_fingerprint(modulus)] == []
    keys = [rsa.RSAPublicNumbers(65537, n).public_key() for n in generated_moduli]
    jwks = {"keys": [rsa_jwk(key, f"k{index}") for index, key in enumerate(keys)]}
    assert len(KeySet.from_jwks(jwks)) == len(generated_moduli)


# --------------------------------------------------------------------------- Ed25519, by either name


@pytest.fixture(scope="module")
def ed_private() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def ed_jwk(private: ed25519.Ed25519PrivateKey, **members: Any) -> dict[str, Any]:
    return {**OKPAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "ed", **members}


def ed_verifier(jwk: dict[str, Any], algorithms: list[str] | None = None) -> TokenVerifier:
    keys = KeySet.from_jwks({"keys": [jwk]})
    return TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, token_type=OIDC, algorithms=algorithms)


def ed_token(private: ed25519.Ed25519PrivateKey, alg: str) -> str:
    return compact({"alg": alg, "kid": "ed"}, b'{"iss":"x"}', private.sign)


@pytest.mark.parametrize(
    ("jwk_alg", "accepted"),
    [(None, {"EdDSA", "Ed25519"}), ("EdDSA", {"EdDSA"}), ("Ed25519", {"Ed25519"})],
)
def test_an_ed25519_key_accepts_the_names_its_jwk_allows(
    jwk_alg: str | None, accepted: set[str], ed_private: Any
) -> None:
    jwk = ed_jwk(ed_private) if jwk_alg is None else ed_jwk(ed_private, alg=jwk_alg)
    assert set(algorithms_for_jwk(jwk)) == accepted
    verifier = ed_verifier(jwk)
    for alg in ("EdDSA", "Ed25519", "ED25519", "eddsa", "RS256", "ES256", "none"):
        token = parse_token(ed_token(ed_private, alg))
        if alg in accepted:
            assert verifier.verify_signed(token).kid == "ed"
        else:
            with pytest.raises(AlgorithmNotAllowedError):
                verifier.verify_signed(token)


@pytest.mark.parametrize("alg", ["Ed25519", "EdDSA"])
def test_rsa_and_ec_keys_never_take_an_ed25519_name(alg: str, ec_private: Any) -> None:
    rsa_key = rsa_jwk(rsa.generate_private_key(65537, 2048).public_key())
    with pytest.raises(ValueError, match="does not fit"):
        verification_key({**rsa_key, "alg": alg})
    with pytest.raises(ValueError, match="does not fit"):
        verification_key(ec_jwk(ec_private, alg=alg))


def test_an_issuers_algorithms_name_the_header_values_it_may_use(ed_private: Any) -> None:
    (trusted,) = parse_trusted_issuers(
        [{"issuer": ISSUER, "audiences": [AUDIENCE], "jwks": {"keys": []}, "algorithms": ["Ed25519"]}]
    )
    assert trusted.algorithms == ("Ed25519",)
    only_new = ed_verifier(ed_jwk(ed_private), algorithms=["Ed25519"])
    only_old = ed_verifier(ed_jwk(ed_private), algorithms=["EdDSA"])
    assert only_new.verify_signed(parse_token(ed_token(ed_private, "Ed25519"))).kid == "ed"
    assert only_old.verify_signed(parse_token(ed_token(ed_private, "EdDSA"))).kid == "ed"
    with pytest.raises(AlgorithmNotAllowedError, match="not an allowed algorithm for this issuer"):
        only_new.verify_signed(parse_token(ed_token(ed_private, "EdDSA")))
    with pytest.raises(AlgorithmNotAllowedError, match="not an allowed algorithm for this issuer"):
        only_old.verify_signed(parse_token(ed_token(ed_private, "Ed25519")))


def test_a_token_joserfc_signs_as_ed25519_verifies_with_our_code(ed_private: Any) -> None:
    # joserfc implements RFC 9864: an independent signer of the fully specified name.
    from joserfc import jws
    from joserfc.jwk import OKPKey

    private = OKPKey.import_key(OKPAlgorithm.to_jwk(ed_private, as_dict=True))
    header = {"alg": "Ed25519", "kid": "ed"}
    token = jws.serialize_compact(header, b'{"iss":"x"}', private, algorithms=["Ed25519"])
    assert ed_verifier(ed_jwk(ed_private, alg="Ed25519")).verify_signed(parse_token(token)).alg == "Ed25519"


# --------------------------------------------------------------------------- a key pinned to its algorithm


@pytest.fixture(scope="module")
def public_keys() -> dict[str, Any]:
    return {
        "RSA": rsa.generate_private_key(65537, 2048).public_key(),
        "P-256": ec.generate_private_key(ec.SECP256R1()).public_key(),
        "P-384": ec.generate_private_key(ec.SECP384R1()).public_key(),
        "Ed25519": ed25519.Ed25519PrivateKey.generate().public_key(),
    }


FITS = {("RS256", "RSA"), ("ES256", "P-256"), ("EdDSA", "Ed25519"), ("Ed25519", "Ed25519")}
MISFITS = [
    (alg, key)
    for alg in ("RS256", "ES256", "EdDSA", "Ed25519", "PS256", "ES384")
    for key in ("RSA", "P-256", "P-384", "Ed25519")
    if (alg, key) not in FITS
]


@pytest.mark.parametrize(("alg", "key"), MISFITS)
def test_a_key_never_verifies_an_algorithm_it_is_not_for(
    alg: str, key: str, public_keys: dict[str, Any]
) -> None:
    # However a VerificationKey is made (a JWK, our own key ring), its key material decides
    # which algorithm it verifies: an RSA key labelled ES256, or a P-384 key labelled ES256, is
    # refused when it is built, never bound to another algorithm's check.
    named = type(public_keys[key]).__name__
    with pytest.raises(ValueError, match=rf"^a {named} cannot verify {alg}$"):
        VerificationKey(kid="k", alg=alg, key=public_keys[key], algorithms=(alg,))


@pytest.mark.parametrize(("alg", "key"), sorted(FITS))
def test_a_key_verifies_the_algorithm_it_is_for(alg: str, key: str, public_keys: dict[str, Any]) -> None:
    assert VerificationKey(kid="k", alg=alg, key=public_keys[key], algorithms=(alg,)).alg == alg


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        ([], 'JWKS must be a JSON object with a "keys" list'),
        ({"keys": {}}, 'JWKS must be a JSON object with a "keys" list'),
        ({"key": []}, 'JWKS must be a JSON object with a "keys" list'),
        ({"keys": []}, "JWKS holds no keys"),
        ({"keys": ["ec"]}, "JWKS key #0: not a JSON object"),
    ],
    ids=["a list", "keys an object", "no keys member", "empty", "a key not an object"],
)
def test_an_unusable_jwks_says_what_is_wrong(jwks: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        KeySet.from_jwks(jwks)
    assert str(raised.value) == message


def test_a_jwks_with_one_kid_twice_is_refused_saying_so(ec_private: Any) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ConfigurationError) as raised:
        KeySet.from_jwks({"keys": [ec_jwk(ec_private), ec_jwk(other)]})
    assert str(raised.value) == "JWKS holds two keys with the same kid"


# --------------------------------------------------------------------------- a JWK's members


def test_a_jwk_for_another_use_is_refused_naming_it(ec_private: Any) -> None:
    with pytest.raises(ValueError) as refused:
        verification_key(ec_jwk(ec_private, use="enc"))
    assert str(refused.value) == "use is 'enc', not 'sig'"


@pytest.mark.parametrize(
    ("x", "message"),
    [
        ("", "'x' is missing or not base64url"),
        (b64url(b"\xfb" * 32).replace("-", "+"), "'x' is missing or not base64url"),  # base64, not url
        (b64url(b"\xff" * 32).replace("_", "/"), "'x' is missing or not base64url"),
        (b64url(b"\x01" * 32) + ".", "'x' is missing or not base64url"),
        ("AAAAA", "'x' is not base64url"),  # 5 characters: no whole byte in the last
        (b64url(b"\x01" * 31), "'x' must be 32 bytes, not 31"),
        (b64url(b"\x01" * 33), "'x' must be 32 bytes, not 33"),
    ],
    ids=["empty", "plus", "slash", "dot", "a stray character", "31 bytes", "33 bytes"],
)
def test_an_ed25519_jwk_whose_x_is_not_32_base64url_bytes_is_refused(
    x: str, message: str, ed_private: Any
) -> None:
    with pytest.raises(ValueError) as refused:
        verification_key(ed_jwk(ed_private, x=x))
    assert str(refused.value) == message


@pytest.mark.parametrize("size", range(1, 10))
def test_a_jwk_member_of_any_length_decodes(size: int, public_keys: dict[str, Any]) -> None:
    # RFC 7515 §2: base64url without padding, whatever the length; each length modulo 4 and
    # each padding a decoder could get wrong (an exponent of 1 to 9 bytes: odd, at least 3).
    exponent = (1 << (8 * size - 1)) | 3
    public = public_keys["RSA"]
    jwk = {**rsa_jwk(public), "e": b64url(exponent.to_bytes(size, "big"))}
    n = public.public_numbers().n
    built = verification_key(jwk).key
    assert (built.public_numbers().e, built.public_numbers().n) == (exponent, n)
    padded = {**jwk, "e": jwk["e"] + "=" * (-len(jwk["e"]) % 4)}
    assert verification_key(padded).key.public_numbers().e == exponent


def test_a_jwk_member_ending_in_any_character_decodes(public_keys: dict[str, Any]) -> None:
    # Only padding is stripped before decoding: "AQAX" (65559) ends in a letter that a sloppier
    # strip could also take.
    jwk = {**rsa_jwk(public_keys["RSA"]), "e": "AQAX"}
    assert verification_key(jwk).key.public_numbers().e == 0x010017


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi"])
def test_a_jwk_holding_any_private_member_is_refused(member: str, ec_private: Any) -> None:
    # Any one of them, alone: a published key with any part of its private half is a leak.
    with pytest.raises(ValueError) as refused:
        verification_key(ec_jwk(ec_private, **{member: "AQAB"}))
    assert str(refused.value) == "holds private key material; publish public keys only"


@pytest.mark.parametrize("kid", [None, "", 7])
def test_a_jwk_without_a_kid_is_refused_saying_so(kid: Any, ec_private: Any) -> None:
    jwk = {name: value for name, value in ec_jwk(ec_private, kid=kid).items() if value is not None}
    with pytest.raises(ValueError) as refused:
        verification_key(jwk)
    assert str(refused.value) == "kid is missing"


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"kty": "EC", "crv": "P-384"}, "unsupported key type 'EC' on curve 'P-384'"),
        ({"kty": "oct"}, "unsupported key type 'oct'"),
        ({"kty": "RSA", "alg": "PS256"}, "JWK alg 'PS256' does not fit a RSA key (expected RS256)"),
        (
            {"kty": "OKP", "crv": "Ed25519", "alg": "ES256"},
            "JWK alg 'ES256' does not fit a OKP key (expected EdDSA or Ed25519)",
        ),
    ],
)
def test_an_unsupported_key_type_or_algorithm_is_named(members: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as refused:
        algorithms_for_jwk(members)
    assert str(refused.value) == message
