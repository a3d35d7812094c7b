"""KMS signing, the key set's rotation cycle and revocation, and keys re-read as they age.

KMS and SSM are moto's (`mock_aws`); PyJWT is the independent verifier of what KMS signed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from moto import mock_aws

from auth_service import key_rotation, key_set, runtime
from auth_service.cli import main as cli
from auth_service.key_set import KeySetDocument, KeySetError, KeyState, NewKeys
from auth_service.keys import KeyRing, generate_private_key_pem, key_ring_from_document, load_key_ring
from auth_service.kms_signing import MAX_RAW_MESSAGE_BYTES, KmsKey, KmsSigningError, sign_jwt
from auth_service.tokens import TokenIssuer, UnpublishedKeyError
from authorizer.errors import ConfigurationError, KidNotFoundError
from authorizer.tokens.jwks_cache import JwksCache
from authorizer.tokens.keys import KeySet
from authorizer.tokens.token_cache import VerifiedTokenCache
from authorizer.tokens.verifier import ACCESS, TokenVerifier

ISSUER = "https://auth.example.com"
AUDIENCE = "orders-api"
SIGNING, JWKS = "/lambda-jwt-auth/ci/signing-key", "/lambda-jwt-auth/ci/jwks"
NOW = 1_800_000_000


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


def store() -> key_rotation.KeyStore:
    return key_rotation.KeyStore(
        boto3.client("ssm", region_name="us-east-1"),
        lambda: boto3.client("kms", region_name="us-east-1"),
        signing_parameter=SIGNING,
        jwks_parameter=JWKS,
    )


def kms_keys(alg: str = "RS256") -> NewKeys:
    return NewKeys(source="kms", alg=alg, alias_prefix="alias/lambda-jwt-auth/ci/")


def initialised(new_keys: NewKeys, propagation: int = 60, retire_after: int = 1000) -> key_rotation.KeyStore:
    keys = store()
    key_rotation.initialise(
        keys, new_keys, NOW, propagation_seconds=propagation, retire_after_seconds=retire_after
    )
    return keys


def published(keys: key_rotation.KeyStore) -> set[str]:
    import json

    value = boto3.client("ssm", region_name="us-east-1").get_parameter(Name=JWKS)["Parameter"]["Value"]
    return {key["kid"] for key in json.loads(value)["keys"]}


def read(keys: key_rotation.KeyStore) -> KeySetDocument:
    document = keys.read()
    assert document is not None
    return document


# --- KMS signing -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_kms_signed_tokens_verify_with_pyjwt_and_ours(aws: None, alg: str) -> None:
    keys = initialised(kms_keys(alg))
    ring = key_ring_from_document(read(keys), lambda: boto3.client("kms", region_name="us-east-1"))
    assert ring.current.private_key is None and ring.current.kms is not None
    issuer = TokenIssuer(
        ring, published=KeySet.from_jwks(ring.jwks()), issuer=ISSUER, audience=AUDIENCE,
        client_id="c", access_ttl=900, refresh_ttl=3600,
    )  # fmt: skip
    pair = issuer.issue("alice", "profile")
    header = jwt.get_unverified_header(pair.access_token)
    assert header == {"alg": alg, "kid": ring.current.kid, "typ": "at+jwt"}
    public = jwt.PyJWK(ring.current.public_jwk).key
    claims = jwt.decode(pair.access_token, public, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)
    assert claims["sub"] == "alice"
    ours = TokenVerifier(KeySet.from_jwks(ring.jwks()), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS)
    assert ours.verify(pair.access_token).sub == "alice"
    # The kid is the RFC 7638 thumbprint of the public key KMS holds.
    assert ring.current.kid == jwt.PyJWK(ring.current.public_jwk).key_id


def test_a_kms_key_that_signs_with_another_key_is_refused_before_a_token_leaves(aws: None) -> None:
    keys = initialised(kms_keys())
    ring = key_ring_from_document(read(keys), lambda: boto3.client("kms", region_name="us-east-1"))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    impostor = replace(ring.current.kms, public_key=other)  # type: ignore[type-var]
    with pytest.raises(KmsSigningError) as info:
        sign_jwt(impostor, {"sub": "x"}, {"typ": "at+jwt", "kid": ring.current.kid})
    assert "kid mismatch" in info.value.detail


class DocumentedKms:
    """KMS's Sign as its API reference describes it (RAW: the message; DIGEST: its SHA-256),
    for the long-input path moto gets wrong (it hashes a DIGEST again)."""

    def __init__(self, private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
        self.private, self.calls = private, []  # type: list[str]

    def sign(self, KeyId: str, Message: bytes, MessageType: str, SigningAlgorithm: str) -> dict[str, Any]:
        self.calls.append(MessageType)
        chosen: Any = Prehashed(hashes.SHA256()) if MessageType == "DIGEST" else hashes.SHA256()
        if isinstance(self.private, rsa.RSAPrivateKey):
            return {"Signature": self.private.sign(Message, padding.PKCS1v15(), chosen)}
        return {"Signature": self.private.sign(Message, ec.ECDSA(chosen))}


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_signing_input_over_4096_bytes_is_sent_as_its_digest(alg: str) -> None:
    private: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if alg == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    client = DocumentedKms(private)
    key = KmsKey(key_id="k", alg=alg, public_key=private.public_key(), client=client)
    short = sign_jwt(key, {"sub": "a"}, {"kid": "k"})
    long = sign_jwt(key, {"sub": "a", "pad": "x" * MAX_RAW_MESSAGE_BYTES}, {"kid": "k"})
    assert client.calls == ["RAW", "DIGEST"]
    for token in (short, long):
        assert jwt.decode(token, private.public_key(), algorithms=[alg])["sub"] == "a"


def test_a_pair_waits_for_one_kms_round_trip_not_two() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    both_in_flight = threading.Barrier(2, timeout=10)

    class SideBySideKms(DocumentedKms):
        """Each Sign waits until the other one is in flight too: signed one after the other, the
        barrier breaks and the pair fails."""

        def sign(self, **request: Any) -> dict[str, Any]:
            both_in_flight.wait()
            return super().sign(**request)

    from auth_service.keys import SigningKey

    public_jwk = load_key_ring(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    ).current.public_jwk
    kid = str(public_jwk["kid"])
    kms = KmsKey(key_id="k", alg="RS256", public_key=private.public_key(), client=SideBySideKms(private))
    key = SigningKey(kid=kid, alg="RS256", public_jwk=public_jwk, private_key=None, kms=kms, secret=b"s" * 32)
    ring = KeyRing(current=key, keys=(key,))
    issuer = TokenIssuer(
        ring, issuer=ISSUER, audience=AUDIENCE, client_id="c", access_ttl=900, refresh_ttl=3600
    )
    pair = issuer.issue("u", "p")  # both Sign calls in flight at once, or BrokenBarrierError
    verifier = TokenVerifier(
        KeySet.from_jwks(ring.jwks()), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS
    )
    assert verifier.verify(pair.access_token).sub == "u"
    assert (
        jwt.decode(pair.refresh_token, private.public_key(), algorithms=["RS256"], audience=ISSUER)["sub"]
        == "u"
    )


def test_a_kms_failure_is_a_503_not_a_token(aws: None) -> None:
    keys = initialised(kms_keys())
    ring = key_ring_from_document(read(keys), lambda: boto3.client("kms", region_name="us-east-1"))
    # (moto signs with a disabled key or one pending deletion, which KMS refuses: a key it lacks.)
    gone = replace(ring.current.kms, key_id="alias/lambda-jwt-auth/ci/gone")  # type: ignore[type-var]
    with pytest.raises(KmsSigningError) as info:
        sign_jwt(gone, {"sub": "a"}, {"typ": "at+jwt"})
    assert info.value.error == "temporarily_unavailable" and "retry" in str(info.value)
    assert "gone" not in str(info.value)  # what reaches the client names no key


# --- the cycle: next, current, retired, removed ------------------------------------------------


def test_a_whole_rotation_cycle(aws: None) -> None:
    keys = initialised(kms_keys(), propagation=60, retire_after=1000)
    a = read(keys).current.kid
    assert key_rotation.rotate(keys, NOW + 1).action == "added"
    b = read(keys).in_state(KeyState.NEXT)[0].kid
    assert published(keys) == {a, b}  # B is published before it can sign
    assert read(keys).current.kid == a
    waiting = key_rotation.rotate(keys, NOW + 30)
    assert waiting.action == "waiting" and "propagation_seconds" in waiting.lines[-1]
    assert read(keys).current.kid == a
    assert key_rotation.rotate(keys, NOW + 61).action == "promoted"
    document = read(keys)
    assert document.current.kid == b and [k.kid for k in document.in_state(KeyState.RETIRED)] == [a]
    assert published(keys) == {a, b}  # A verifies its tokens until they have expired
    # Before A's last token expires it stays; after, the next step removes it (and disables it in KMS).
    assert key_rotation.rotate(keys, NOW + 100).action == "added"
    assert a in published(keys)
    outcome = key_rotation.rotate(keys, NOW + 61 + 1000)
    assert f"removed retired key {a}" in outcome.lines[0] and "disabled" in outcome.lines[1]
    assert a not in published(keys) and read(keys).find(a) is None


def test_revoking_the_current_key_without_a_next_one_signs_with_a_new_key_at_once(aws: None) -> None:
    keys = initialised(kms_keys())
    a = read(keys).current.kid
    outcome = key_rotation.revoke(keys, a, NOW + 5)
    document = read(keys)
    assert document.current.kid != a and document.find(a) is None
    assert published(keys) == {document.current.kid}
    assert "disabled" in outcome.lines[-1]
    # Its alias is gone: the IAM condition (kms:ResourceAliases) no longer lets anything sign with it.
    aliases = boto3.client("kms", region_name="us-east-1").list_aliases()["Aliases"]
    assert not any(alias["AliasName"].endswith(a) for alias in aliases)


def test_revoking_the_current_key_promotes_the_next_one(aws: None) -> None:
    keys = initialised(kms_keys())
    a = read(keys).current.kid
    key_rotation.rotate(keys, NOW + 1)
    b = read(keys).in_state(KeyState.NEXT)[0].kid
    key_rotation.revoke(keys, a, NOW + 2)  # no wait: the compromised key must stop signing now
    assert read(keys).current.kid == b and published(keys) == {b}


def test_steps_that_would_break_valid_tokens_are_refused() -> None:
    entry = key_set.KeyEntry("k", "RS256", KeyState.CURRENT, 0, 0, {}, private_pem="x")
    with pytest.raises(KeySetError, match="no next key to promote"):
        key_set.promote(KeySetDocument(keys=(entry,)), NOW)
    with pytest.raises(KeySetError, match="needs a key to sign with"):
        key_set.revoke(KeySetDocument(keys=(entry,)), "k", NOW, None)
    with pytest.raises(KeySetError, match="not in the key set"):
        key_set.revoke(KeySetDocument(keys=(entry,)), "other", NOW, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: {**d, "format": "x"}, "format"),
        (lambda d: {**d, "keys": []}, "no keys"),
        (lambda d: {**d, "keys": [{**d["keys"][0], "state": "retired"}]}, "exactly one current"),
        (lambda d: {**d, "keys": [d["keys"][0], d["keys"][0]]}, "exactly one current"),
        (lambda d: {**d, "keys": [{**d["keys"][0], "kid": "other"}]}, "thumbprint"),
        (lambda d: {**d, "keys": [{**d["keys"][0], "secret": None}]}, "32-byte secret"),
        (lambda d: {**d, "keys": [{**d["keys"][0], "private_pem": "x"}]}, "not both"),
        (lambda d: {**d, "propagation_seconds": -1}, "propagation_seconds"),
    ],
)
def test_a_malformed_key_set_is_a_configuration_error(aws: None, change: Any, message: str) -> None:
    import json

    keys = initialised(kms_keys())
    raw = json.loads(read(keys).to_json())
    with pytest.raises(ConfigurationError, match=message):
        key_set.parse_key_set(json.dumps(change(raw)))


def test_a_pem_bundle_becomes_a_key_set(aws: None) -> None:
    first, second = generate_private_key_pem("ES256"), generate_private_key_pem("RS256")
    keys = store()
    key_rotation.initialise(
        keys, NewKeys(), NOW, propagation_seconds=60, retire_after_seconds=1000, from_pem=first + second
    )
    document = read(keys)
    assert document.current.kid == load_key_ring(first).current.kid
    assert [k.kid for k in document.in_state(KeyState.RETIRED)] == [load_key_ring(second).current.kid]
    assert key_rotation.rotate(keys, NOW + 1).action == "added"  # PEM keys made here
    with pytest.raises(KeySetError, match="holds a key set already"):
        key_rotation.initialise(keys, NewKeys(), NOW, propagation_seconds=60, retire_after_seconds=1)


# --- containers re-read the keys: AUTH_KEYS_MAX_AGE_SECONDS -----------------------------------


def _service_env(monkeypatch: pytest.MonkeyPatch, max_age: str) -> None:
    for name in [name for name in os.environ if name.startswith("AUTH_")]:
        monkeypatch.delenv(name)
    for name, value in {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_DENYLIST_TABLE": "denylist",
        "AUTH_SIGNING_KEY_SSM_PARAMETER": SIGNING,
        "AUTH_KEYS_MAX_AGE_SECONDS": max_age,
        "AUTH_JWKS_COOLDOWN_SECONDS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    for value in vars(runtime).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()


@pytest.mark.parametrize("max_age", [1, 3600])
def test_keys_max_age_is_when_the_issuing_side_signs_with_a_promoted_key(
    aws: None, monkeypatch: pytest.MonkeyPatch, max_age: int
) -> None:
    keys = initialised(kms_keys(), propagation=max_age, retire_after=2_592_030 + 900)
    _service_env(monkeypatch, str(max_age))
    a = read(keys).current.kid
    issuer = runtime.token_issuer()
    assert jwt.get_unverified_header(issuer.issue("u", "p").access_token)["kid"] == a
    key_rotation.rotate(keys, int(time.time()) - 2 * max_age)  # published long enough ago
    document = replace(read(keys), keys=tuple(replace(k, published_at=0) for k in read(keys).keys))
    keys.write(read(keys), document)
    key_rotation.rotate(keys, int(time.time()))
    b = read(keys).current.kid
    assert jwt.get_unverified_header(issuer.issue("u", "p").access_token)["kid"] == a  # not yet re-read
    time.sleep(1.1)
    kid = jwt.get_unverified_header(issuer.issue("u", "p").access_token)["kid"]
    assert kid == (b if max_age == 1 else a)


def test_a_key_set_that_does_not_fit_the_functions_settings_fails_the_cold_start(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    initialised(kms_keys(), propagation=60, retire_after=2_592_030 + 900)
    _service_env(monkeypatch, "300")
    with pytest.raises(
        ConfigurationError, match="propagation_seconds 60, less than AUTH_KEYS_MAX_AGE_SECONDS"
    ):
        runtime.token_issuer()


def test_a_signing_key_not_yet_published_never_signs(aws: None) -> None:
    keys = initialised(kms_keys())
    ring = key_ring_from_document(read(keys), lambda: boto3.client("kms", region_name="us-east-1"))
    other = load_key_ring(generate_private_key_pem()).jwks()
    issuer = TokenIssuer(
        ring, published=KeySet.from_jwks(other), issuer=ISSUER, audience=AUDIENCE,
        client_id="c", access_ttl=900, refresh_ttl=3600,
    )  # fmt: skip
    with pytest.raises(UnpublishedKeyError):
        issuer.issue("u", "p")


def test_aws_endpoint_url_kms_is_where_the_issuing_side_signs(monkeypatch: pytest.MonkeyPatch) -> None:
    from auth_service.key_source import kms_client

    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:4566")
    assert kms_client("us-east-1").meta.endpoint_url == "http://127.0.0.1:4566"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_authorizers_own_keys_are_re_read_after_max_age_and_on_an_unknown_kid() -> None:
    import json

    a, b = (load_key_ring(generate_private_key_pem()) for _ in range(2))
    stored = {"jwks": a.jwks()}
    clock, reads = Clock(), []

    def load() -> str:
        reads.append(clock.now)
        return json.dumps(stored["jwks"])

    keys = JwksCache.from_loader(
        load, "SSM parameter /x", max_age_seconds=300, cooldown_seconds=60, clock=clock
    )
    changes: list[float] = []
    keys.on_change(lambda: changes.append(clock.now))
    assert keys.get(a.current.kid).kid == a.current.kid
    stored["jwks"] = b.jwks()  # A revoked, B in its place
    clock.now = 299
    assert keys.get(a.current.kid).kid == a.current.kid and len(reads) == 1  # within max age
    clock.now = 300
    with pytest.raises(KidNotFoundError):
        keys.get(a.current.kid)
    assert len(reads) == 2 and changes == [300]
    c, d = (load_key_ring(generate_private_key_pem()) for _ in range(2))
    stored["jwks"] = {"keys": [*b.jwks()["keys"], *c.jwks()["keys"]]}
    clock.now = 301  # an unknown kid re-reads at once...
    assert keys.get(c.current.kid).kid == c.current.kid and len(reads) == 3
    stored["jwks"] = {"keys": [*b.jwks()["keys"], *d.jwks()["keys"]]}
    clock.now = 320  # ...then the cooldown spaces re-reads out, whatever kids tokens name
    with pytest.raises(KidNotFoundError):
        keys.get(d.current.kid)
    assert len(reads) == 3
    clock.now = 362
    assert keys.get(d.current.kid).kid == d.current.kid and len(reads) == 4


def test_a_token_seen_over_and_over_is_verified_again_once_the_keys_age() -> None:
    ring = load_key_ring(generate_private_key_pem())
    issuer = TokenIssuer(
        ring, issuer=ISSUER, audience=AUDIENCE, client_id="c", access_ttl=900, refresh_ttl=3600
    )
    token = issuer.issue("u", "p").access_token
    calls: list[str] = []
    verifier = TokenVerifier(
        KeySet.from_jwks(ring.jwks()), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS
    )

    class Counting:
        def verify(self, token: str) -> Any:
            calls.append(token)
            return verifier.verify(token)

    clock = Clock()
    clock.now = time.time()
    cache = VerifiedTokenCache(Counting(), leeway=30, max_age=300, clock=clock)
    cache.verify(token)
    clock.now += 299
    cache.verify(token)
    assert len(calls) == 1
    clock.now += 1
    cache.verify(token)
    assert len(calls) == 2


def test_keys_cli_refuses_an_early_promotion_and_says_when(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--stage", "ci"]
    assert cli.main(["keys", "init", "--source", "kms", "--propagation-seconds", "600", *common]) == 0
    assert cli.main(["keys", "rotate", *common]) == 0
    assert "published next key" in capsys.readouterr().out
    assert cli.main(["keys", "rotate", *common]) == 1
    err = capsys.readouterr().err
    assert "waiting" in err and "possible in" in err
    assert cli.main(["keys", "status", *common]) == 0
    out = capsys.readouterr().out
    assert "current" in out and "next" in out and "PRIVATE" not in out and "secret" not in out
    assert cli.main(["keys", "init", *common]) == 1
    assert "holds a key set already" in capsys.readouterr().err


def test_the_scheduled_rotation_runs_one_step_per_run(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    keys = initialised(kms_keys(), propagation=0, retire_after=2_592_030 + 900)
    _service_env(monkeypatch, "1")
    monkeypatch.setenv("AUTH_JWKS_SSM_PARAMETER", JWKS)
    sys.modules.pop("auth_service.handlers.rotate_keys", None)
    rotate_keys = importlib.import_module("auth_service.handlers.rotate_keys")
    a = read(keys).current.kid
    assert rotate_keys.handler({"source": "aws.events"}, None)["action"] == "added"
    assert rotate_keys.handler({"source": "aws.events"}, None)["action"] == "promoted"
    document = read(keys)
    assert document.current.kid != a and [k.kid for k in document.in_state(KeyState.RETIRED)] == [a]
    # The new KMS key carries the key set's tag, which the rotation's IAM policy is conditioned on.
    arn = str(document.current.kms_key_id)
    tags = boto3.client("kms", region_name="us-east-1").list_resource_tags(KeyId=arn.rsplit("/", 1)[-1])[
        "Tags"
    ]
    assert {"TagKey": key_rotation.KEY_SET_TAG, "TagValue": "alias/lambda-jwt-auth/ci/"} in tags


def test_the_scheduled_rotation_needs_both_parameters_in_ssm(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    _service_env(monkeypatch, "1")
    sys.modules.pop("auth_service.handlers.rotate_keys", None)
    with pytest.raises(ConfigurationError, match="AUTH_JWKS_SSM_PARAMETER"):
        importlib.import_module("auth_service.handlers.rotate_keys")
