"""Standard test vectors through our own key and signature code (sources: jose_vectors/README.md).

Project Wycheproof's signature vectors (RSASSA-PKCS1-v1_5 with SHA-256 at 2048 and 3072 bits,
ECDSA P-256 with IEEE P1363 signatures, Ed25519) go to the signature check of the key that
`authorizer.tokens.keys.verification_key` builds from the vector's public key.

Wycheproof's JWS, JWK and JOSE-library files and the signed examples of RFC 7515, RFC 8037 and
RFC 7520 go through the authorizer's whole signature stage: the key set built from the vector's
keys (`KeySet.from_jwks`, as for a JWKS we are configured with, and `lenient_key_set`, as for one
we fetch: both must agree), our compact JWS parser, and `TokenVerifier.verify_signed` (header
parameters, `kid`, the algorithm the key pins, the signature). Their payloads are not JWT claims,
so the claim checks do not run.

The rule for every vector:

* `invalid`: refused.
* `acceptable` (a legacy form a library may take; here only PKCS#1 v1.5 signatures whose
  DigestInfo lacks the NULL parameter): refused.
* `valid`: accepted, unless the vector is outside what we accept by design. `outside_our_profile`
  decides that from the vector alone, never by asking our code, and the vector must then be
  refused at the stage that rule names. Where the reason is not the key or the algorithm, the
  signature must still verify with the vector's key, so that the refusal is the rule's:
  - `compact`: not a compact JWS (the JSON serializations, a JWE): we take compact JWS only;
  - `algorithm`: an `alg` that is not RS256, ES256, EdDSA or Ed25519 (HMAC, RSASSA-PSS, ES512,
    key wrapping...): the key set refuses the key, or the key's pinned algorithm the header;
  - `no public key`: the vector gives a symmetric key only (not in our copy): nothing to trust;
  - `kid`: the header names no `kid`, and we find keys by `kid` only;
  - `empty payload`: detached or empty content; a JWT always has a payload.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from authorizer.errors import ConfigurationError, TokenError
from authorizer.tokens.jwks_cache import InvalidJwksError, lenient_key_set
from authorizer.tokens.jws import ParsedToken, json_object, token_part
from authorizer.tokens.keys import KeySet, verification_key
from authorizer.tokens.verifier import TokenType, TokenVerifier

VECTORS = Path(__file__).parent / "jose_vectors"
# Written out here, not imported: the rule is stated by the test, not read from the code under test.
OUR_ALGORITHMS = ("RS256", "ES256", "EdDSA", "Ed25519")
# What these vectors are signed as: a JWS with no `typ` (or "JWT"), for no particular audience.
JWS = TokenType("JWS", None)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@cache
def wycheproof(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / "wycheproof" / f"{name}.json").read_text("utf-8"))
    return document


# --------------------------------------------------------------------------- signature primitives

PRIMITIVE_FILES = (
    "rsa_signature_2048_sha256_test",
    "rsa_signature_3072_sha256_test",
    "ecdsa_secp256r1_sha256_p1363_test",
    "ed25519_test",
)


def group_jwk(group: dict[str, Any]) -> dict[str, Any]:
    """The group's public key as a JWK: as given, or (some ECDSA groups) from its point."""
    jwk = group.get("keyJwk") or group.get("publicKeyJwk")
    if jwk is None:
        point = group["publicKey"]
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(int(point["wx"], 16).to_bytes(32, "big")),
            "y": b64url(int(point["wy"], 16).to_bytes(32, "big")),
        }
    return {"kid": "vector", **jwk}


@pytest.mark.parametrize("name", PRIMITIVE_FILES)
def test_wycheproof_signatures_verify_exactly_when_valid(name: str) -> None:
    document = wycheproof(name)
    expected = {"valid": True, "invalid": False, "acceptable": False}
    judged, disagreements = 0, []
    for group in document["testGroups"]:
        key = verification_key(group_jwk(group))
        for case in group["tests"]:
            verified = key.verify_signature(bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"]))
            judged += 1
            if verified is not expected[case["result"]]:
                disagreements.append((case["tcId"], case["result"], case["flags"], verified))
    assert judged == document["numberOfTests"]
    assert disagreements == []


def test_the_acceptable_pkcs1_vectors_are_the_legacy_digest_info_without_null() -> None:
    # The rule "acceptable: refused" covers exactly this legacy form, nothing else.
    flags = {
        tuple(case["flags"])
        for name in PRIMITIVE_FILES
        for group in wycheproof(name)["testGroups"]
        for case in group["tests"]
        if case["result"] == "acceptable"
    }
    assert flags == {("MissingNull",)}


# --------------------------------------------------------------------------- the signature stage


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    stage: str = ""  # "key set", "parse" or "verify" when refused
    error: str = ""
    message: str = ""


def parse_jws(jws: Any) -> ParsedToken:
    """A compact JWS split and decoded by `authorizer.tokens.jws`, its payload left as bytes (no JWT)."""
    text = jws if isinstance(jws, str) else json.dumps(jws)  # a JSON serialization, sent as is
    header = json_object(token_part(text, 0), "header")
    token_part(text, 1)  # checked (canonical base64url), not read
    signature = token_part(text, 2)
    head, body, _ = text.split(".")
    return ParsedToken(text, header, {}, f"{head}.{body}".encode("ascii"), signature)


def judge(jws: Any, jwks: dict[str, Any], policy: str) -> Verdict:
    """What the authorizer's code decides about `jws` with a key set built from `jwks`."""
    try:
        keys = KeySet.from_jwks(jwks) if policy == "configured" else lenient_key_set(jwks)[0]
    except (ConfigurationError, InvalidJwksError) as exc:
        return Verdict(False, "key set", type(exc).__name__, str(exc))
    verifier = TokenVerifier(keys, issuer="https://vectors.example", audience="vectors", token_type=JWS)
    try:
        parsed = parse_jws(jws if jws is not None else "")
    except TokenError as exc:
        return Verdict(False, "parse", type(exc).__name__, str(exc))
    try:
        verifier.verify_signed(parsed)
    except TokenError as exc:
        return Verdict(False, "verify", type(exc).__name__, str(exc))
    return Verdict(True)


def outside_our_profile(jws: Any, jwks: dict[str, Any]) -> set[str]:
    """Why a JWS that the standard calls valid is no token we accept, from the vector alone.

    Every reason that applies: the token is refused at the first stage that meets one of them.
    """
    reasons = set()
    if not isinstance(jws, str) or jws.count(".") != 2:
        reasons.add("compact")
    if any(alg not in OUR_ALGORITHMS for alg in named_algorithms(jws)):
        reasons.add("algorithm")
    if not jwks["keys"]:
        reasons.add("no public key")
    if "compact" not in reasons:
        head, body, _ = jws.split(".")
        if "kid" not in json.loads(b64url_decode(head)):
            reasons.add("kid")
        if not body:
            reasons.add("empty payload")
    return reasons


def named_algorithms(jws: Any) -> list[Any]:
    """The `alg` of each signature: of the compact header, or of a JSON serialization's headers."""
    if isinstance(jws, str) and jws.count(".") == 2:
        return [json.loads(b64url_decode(jws.split(".")[0])).get("alg")]
    document = json.loads(jws) if isinstance(jws, str) and jws.startswith("{") else jws
    if not isinstance(document, dict):
        return [None]
    signatures = document.get("signatures", [document])
    algorithms = []
    for signature in signatures:
        protected = json.loads(b64url_decode(signature["protected"])) if "protected" in signature else {}
        algorithms.append({**signature.get("header", {}), **protected}.get("alg"))
    return algorithms


def refused_as_the_rule_says(reasons: set[str], verdict: Verdict) -> bool:
    """Is the refusal one that a reason of `reasons` makes?"""
    made = set()
    if verdict.stage == "parse" and verdict.error == "MalformedTokenError":
        made |= {"compact", "empty payload"}
    if verdict.stage == "key set":
        made |= {"algorithm", "no public key"}
    if verdict.error == "AlgorithmNotAllowedError":
        made.add("algorithm")
    if verdict.error == "MalformedTokenError" and "kid" in verdict.message:
        made.add("kid")
    return bool(reasons & made)


def signature_verifies_with_the_vectors_key(jws: str, jwks: dict[str, Any]) -> bool:
    """The vector's own key (its one usable JWK), checking the signature as keys.py does."""
    head, body, signature = jws.split(".")
    header = json.loads(b64url_decode(head))
    (jwk,) = jwks["keys"]
    key = verification_key({"kid": "vector", **jwk})
    return header["alg"] in key.algorithms and key.verify_signature(
        f"{head}.{body}".encode("ascii"), b64url_decode(signature)
    )


def check_vector(case_id: Any, jws: Any, jwks: dict[str, Any], result: str) -> list[Any]:
    """Disagreements of one vector with the rule of the module docstring (empty if none)."""
    verdicts = {policy: judge(jws, jwks, policy) for policy in ("configured", "fetched")}
    if verdicts["configured"].accepted != verdicts["fetched"].accepted:
        return [(case_id, "the configured and the fetched key set disagree", verdicts)]
    verdict = verdicts["configured"]
    if result != "valid":
        return [] if not verdict.accepted else [(case_id, result, "accepted")]
    reasons = outside_our_profile(jws, jwks)
    if not reasons:
        return [] if verdict.accepted else [(case_id, "valid", verdict)]
    if verdict.accepted or not refused_as_the_rule_says(reasons, verdict):
        return [(case_id, f"outside our profile ({', '.join(sorted(reasons))})", verdict)]
    if reasons <= {"kid", "empty payload"} and not signature_verifies_with_the_vectors_key(jws, jwks):
        return [(case_id, f"refused for {reasons}, but its signature does not verify either")]
    return []


def group_jwks(group: dict[str, Any]) -> dict[str, Any]:
    public = group.get("public")
    if public is None:  # a symmetric key, whose secret our copy leaves out
        return {"keys": []}
    return public if "keys" in public else {"keys": [public]}


JOSE_FILES = ("json_web_signature_test", "json_web_key_test", "json_web_crypto_test")


@pytest.mark.parametrize("name", JOSE_FILES)
def test_wycheproof_jose_vectors_follow_the_rule(name: str) -> None:
    document = wycheproof(name)
    judged, disagreements = 0, []
    for group in document["testGroups"]:
        for case in group["tests"]:
            judged += 1
            jws = case.get("jws", case.get("jwe"))
            disagreements += check_vector(case["tcId"], jws, group_jwks(group), case["result"])
    assert judged == document["numberOfTests"]
    assert disagreements == []


def test_the_rule_accepts_wycheproofs_valid_signatures_of_our_algorithms() -> None:
    # Not a vacuous rule: the valid vectors of our algorithms, with a key and a kid, are accepted.
    accepted = [
        (name, case["tcId"])
        for name in JOSE_FILES
        for group in wycheproof(name)["testGroups"]
        for case in group["tests"]
        if case["result"] == "valid"
        and not outside_our_profile(case.get("jws"), group_jwks(group))
        and judge(case["jws"], group_jwks(group), "configured").accepted
    ]
    assert len(accepted) >= 8  # ES256, RS256 and the RFC 7520 RS256 figure, in each file they appear


@pytest.mark.parametrize(
    ("name", "comment", "reason"),
    [
        ("json_web_key_test", "rejectsKeyWithRocaVulnerability", "ROCA"),
        ("json_web_crypto_test", "rejectsKeyWithRocaVulnerability", "ROCA"),
        ("json_web_signature_test", "rejectWrongKeyOps", "key_ops"),
        ("json_web_signature_test", "rejectWrongUse", "use"),
    ],
)
def test_keys_wycheproof_refuses_are_refused_when_the_key_set_is_built(
    name: str, comment: str, reason: str
) -> None:
    cases = [
        (group, case)
        for group in wycheproof(name)["testGroups"]
        for case in group["tests"]
        if case["comment"] == comment
    ]
    assert cases
    for group, case in cases:
        jwks = group_jwks(group)
        # The signature itself is good: only the key makes these tokens invalid.
        (jwk,) = jwks["keys"]
        assert bare_signature_verifies(case["jws"], jwk)
        verdict = judge(case["jws"], jwks, "configured")
        assert (verdict.accepted, verdict.stage, verdict.error) == (False, "key set", "ConfigurationError")
        assert reason in verdict.message
        # Fetched beside a good key: that key is skipped, saying why, and the others still serve.
        keys, skipped = lenient_key_set({"keys": [jwk, GOOD_JWK]})
        assert keys.kids == (GOOD_JWK["kid"],)
        assert len(skipped) == 1 and reason in skipped[0]


GOOD_JWK = {
    **ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), as_dict=True),
    "kid": "good",
}


def bare_signature_verifies(jws: str, jwk: dict[str, Any]) -> bool:
    """Does the JWS verify under `jwk` with the bare primitive, none of our key checks applied?"""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.hazmat.primitives.hashes import SHA256

    head, body, signature = jws.split(".")
    data, raw = f"{head}.{body}".encode("ascii"), b64url_decode(signature)
    try:
        if jwk["kty"] == "RSA":
            numbers = rsa.RSAPublicNumbers(
                int.from_bytes(b64url_decode(jwk["e"]), "big"), int.from_bytes(b64url_decode(jwk["n"]), "big")
            )
            numbers.public_key().verify(raw, data, padding.PKCS1v15(), SHA256())
        else:
            point = ec.EllipticCurvePublicNumbers(
                int.from_bytes(b64url_decode(jwk["x"]), "big"),
                int.from_bytes(b64url_decode(jwk["y"]), "big"),
                ec.SECP256R1(),
            )
            r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            point.public_key().verify(encode_dss_signature(r, s), data, ec.ECDSA(SHA256()))
    except InvalidSignature:
        return False
    return True


# --------------------------------------------------------------------------- RFC examples


def rfc_examples() -> list[dict[str, Any]]:
    document = json.loads((VECTORS / "rfc" / "signed_examples.json").read_text("utf-8"))
    vectors: list[dict[str, Any]] = document["vectors"]
    return vectors


def example_jwks(vector: dict[str, Any]) -> dict[str, Any]:
    if "jwks" in vector:
        jwks: dict[str, Any] = vector["jwks"]
        return jwks
    return {"keys": [{"kid": vector["id"], **vector["jwk"]}]}


@pytest.mark.parametrize("vector", rfc_examples(), ids=lambda vector: vector["id"])
def test_rfc_signed_examples_follow_the_rule(vector: dict[str, Any]) -> None:
    assert check_vector(vector["id"], vector["jws"], example_jwks(vector), vector["result"]) == []


@pytest.mark.parametrize("vector_id", ["rfc7515-a2", "rfc7515-a3", "rfc8037-a4", "rfc7520-4.1-compact"])
def test_rfc_examples_of_our_algorithms_verify_and_their_tampered_forms_do_not(vector_id: str) -> None:
    (vector,) = [vector for vector in rfc_examples() if vector["id"] == vector_id]
    head, body, signature = vector["jws"].split(".")
    (jwk,) = example_jwks(vector)["keys"]
    key = verification_key(jwk)
    raw = b64url_decode(signature)
    assert key.verify_signature(f"{head}.{body}".encode(), raw)
    tampered_body = b64url(b64url_decode(body) + b" ")
    assert not key.verify_signature(f"{head}.{tampered_body}".encode(), raw)
    assert not key.verify_signature(f"{head}.{body}".encode(), raw[:-1] + bytes([raw[-1] ^ 1]))
    if "kid" in json.loads(b64url_decode(head)):  # RFC 7520: the whole signature stage accepts it
        assert judge(vector["jws"], example_jwks(vector), "configured").accepted
