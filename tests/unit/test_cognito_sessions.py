"""Cognito-backed sessions: the sealed Cognito refresh token, and what ending a session revokes.

Sessions are built from real parts on moto's DynamoDB. moto has no RevokeToken, so the Cognito
client of the revoker is a botocore `Stubber`: it stands in for AWS, and asserts the exact
parameters our code sends (the decrypted Cognito refresh token among them).
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import jwt
import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from moto import mock_aws

from auth_service.cognito.revoke import CognitoRefreshTokenRevoker
from auth_service.denylist import Denylist
from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from auth_service.sealing import (
    COGNITO_REFRESH_TOKEN_CLAIM,
    HKDF_INFO,
    SealError,
    open_sealed,
    seal,
    unseal,
)
from auth_service.sessions import RefreshTokenReuseError, Sessions
from auth_service.tables import create_tables
from auth_service.tokens import CognitoLink, TokenIssuer, TokenPair
from authorizer.errors import TokenRevokedError
from authorizer.tokens.claims import ORIGIN_CLAIM, TokenClaims
from authorizer.tokens.revocation import LOGIN_REVOKED, RevocationList, origin_key
from authorizer.tokens.verifier import ACCESS, REFRESH, TokenVerifier

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
DENYLIST = "test-denylist"
CLIENT_ID = "cognito-app-client"
CLIENT_SECRET = "appSecret0123456789abcdefgh"  # RevokeToken wants 24 to 64 word characters
COGNITO_RT = "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ." + "x" * 1500


# --------------------------------------------------------------------------- sealing


def test_seal_round_trip_and_format(ring: KeyRing) -> None:
    key = ring.current.private_key
    assert key is not None
    sealed = seal(key, COGNITO_RT, "sid-1")
    assert "=" not in sealed and "+" not in sealed and "/" not in sealed
    raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    assert len(raw) == 12 + len(COGNITO_RT) + 16  # nonce, ciphertext, GCM tag
    assert unseal(key, sealed, "sid-1") == COGNITO_RT
    assert seal(key, COGNITO_RT, "sid-1") != sealed  # a fresh nonce every time


def test_sealing_key_is_hkdf_of_the_pkcs8_der(ring: KeyRing) -> None:
    # An independent decryption following the documented scheme.
    key = ring.current.private_key
    assert key is not None
    sealed = seal(key, "cognito refresh token", "the-sid")
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    aes_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(der)
    raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    assert AESGCM(aes_key).decrypt(raw[:12], raw[12:], b"the-sid") == b"cognito refresh token"
    assert HKDF_INFO == b"lambda-jwt-auth cognito refresh token"


def _flip(sealed: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4)))
    raw[index] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("index", [0, 11, 12, 40, -1])
def test_tampered_sealed_value_is_refused(ring: KeyRing, index: int) -> None:
    key = ring.current.private_key
    assert key is not None
    sealed = seal(key, COGNITO_RT, "sid-1")
    with pytest.raises(SealError):
        unseal(key, _flip(sealed, index), "sid-1")


@pytest.mark.parametrize("sealed", ["", "***", "AAAA", base64.urlsafe_b64encode(b"x" * 27).decode()])
def test_malformed_sealed_value_is_refused(ring: KeyRing, sealed: str) -> None:
    key = ring.current.private_key
    assert key is not None
    with pytest.raises(SealError):
        unseal(key, sealed, "sid-1")


def test_another_session_or_key_does_not_open_it(ring: KeyRing) -> None:
    key = ring.current.private_key
    assert key is not None
    sealed = seal(key, COGNITO_RT, "sid-1")
    with pytest.raises(SealError):
        unseal(key, sealed, "sid-2")
    other = load_key_ring(generate_private_key_pem("ES256")).current.private_key
    assert other is not None
    with pytest.raises(SealError):
        unseal(other, sealed, "sid-1")


def test_open_sealed_with_a_ring(rsa_pem: str) -> None:
    old_pem = generate_private_key_pem("EdDSA")
    old = load_key_ring(old_pem).current
    assert old.private_key is not None
    sealed = seal(old.private_key, COGNITO_RT, "sid-1")
    # The old key retired but still private in the bundle: it opens what it sealed.
    both = load_key_ring(rsa_pem + old_pem)
    assert open_sealed(both, old.kid, sealed, "sid-1") == COGNITO_RT
    # Retired public-only, or not in the ring at all: nothing to open it with.
    public_pem = (
        old.private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert open_sealed(load_key_ring(rsa_pem + public_pem), old.kid, sealed, "sid-1") is None
    assert open_sealed(load_key_ring(rsa_pem), old.kid, sealed, "sid-1") is None


# --------------------------------------------------------------------------- sessions


@dataclass
class World:
    dynamodb: Any
    sessions: Sessions
    stub: Stubber
    ring: KeyRing

    def denylisted(self, key: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.dynamodb.get_item(
            TableName=DENYLIST, Key={"pk": {"S": key}}, ConsistentRead=True
        ).get("Item")
        return item

    def login(self, origin: str | None = None, rt: str | None = COGNITO_RT) -> TokenPair:
        return self.sessions.start(
            "cognito-sub",
            "profile",
            authenticated_at=time.time(),
            cognito=CognitoLink(origin or str(uuid.uuid4()), rt),
        )

    def expect_revoke(self, token: str = COGNITO_RT, secret: str | None = None) -> None:
        params = {"Token": token, "ClientId": CLIENT_ID}
        if secret:
            params["ClientSecret"] = secret
        self.stub.add_response("revoke_token", {}, params)


def build(dynamodb: Any, ring: KeyRing, cognito_client: Any, *, secret: str | None = None) -> Sessions:
    keys = ring.key_set()
    return Sessions(
        access=TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS),
        refresh_verifier=TokenVerifier(keys, issuer=ISSUER, audience=ISSUER, token_type=REFRESH),
        denylist=Denylist(dynamodb, DENYLIST, max_token_lifetime=3600, leeway=30),
        revocations=RevocationList(dynamodb, DENYLIST, cache_seconds=0),
        issuer=TokenIssuer(
            ring, issuer=ISSUER, audience=AUDIENCE, client_id="ours", access_ttl=900, refresh_ttl=3600
        ),
        keys=ring,
        cognito_revoker=CognitoRefreshTokenRevoker(cognito_client, client_id=CLIENT_ID, client_secret=secret),
    )


@pytest.fixture
def world(ring: KeyRing) -> Iterator[World]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(dynamodb, denylist=DENYLIST, users="unused-users")
        cognito = boto3.client("cognito-idp", region_name="us-east-1")
        with Stubber(cognito) as stub:
            yield World(dynamodb, build(dynamodb, ring, cognito), stub, ring)
            stub.assert_no_pending_responses()


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_cognito_login_tokens_name_the_login_and_seal_its_refresh_token(world: World) -> None:
    pair = world.login("origin-1")
    access, refresh = claims_of(pair.access_token), claims_of(pair.refresh_token)
    assert access[ORIGIN_CLAIM] == refresh[ORIGIN_CLAIM] == "origin-1"
    assert COGNITO_REFRESH_TOKEN_CLAIM not in access
    sealed = refresh[COGNITO_REFRESH_TOKEN_CLAIM]
    assert COGNITO_RT not in pair.refresh_token and COGNITO_RT[:40] not in json.dumps(refresh)
    assert open_sealed(world.ring, world.ring.current.kid, sealed, pair.sid) == COGNITO_RT


def test_table_sessions_carry_no_cognito_claims(world: World) -> None:
    pair = world.sessions.start("table-sub", "profile", authenticated_at=time.time())
    assert ORIGIN_CLAIM not in claims_of(pair.access_token)
    assert COGNITO_REFRESH_TOKEN_CLAIM not in claims_of(pair.refresh_token)
    world.sessions.logout(world.sessions.authenticate(pair.access_token), pair.refresh_token)
    assert (
        world.dynamodb.scan(
            TableName=DENYLIST,
            FilterExpression="begins_with(pk, :o)",
            ExpressionAttributeValues={":o": {"S": "origin#"}},
        )["Items"]
        == []
    )


def test_logout_writes_origin_and_revokes_the_cognito_refresh_token(world: World) -> None:
    pair = world.login("origin-2")
    world.expect_revoke()
    world.sessions.logout(world.sessions.authenticate(pair.access_token), pair.refresh_token)
    item = world.denylisted(origin_key("origin-2"))
    assert item is not None and item["reason"]["S"] == "logout"
    assert int(item["expires_at"]["N"]) >= time.time() + 3600
    # The authorizer's read side now refuses the Cognito tokens of that login.
    cognito_claims = TokenClaims(
        sub="cognito-sub", jti="j", iat=int(time.time()), exp=int(time.time()) + 60, origin_jti="origin-2"
    )
    assert world.sessions.revocations.lookup(cognito_claims) == LOGIN_REVOKED


def test_logout_without_the_refresh_token_still_revokes_the_login(world: World) -> None:
    pair = world.login("origin-3")
    world.sessions.logout(world.sessions.authenticate(pair.access_token))  # no RevokeToken: not held
    assert world.denylisted(origin_key("origin-3")) is not None


def test_logout_with_a_client_secret_sends_it(ring: KeyRing) -> None:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(dynamodb, denylist=DENYLIST, users="unused-users")
        cognito = boto3.client("cognito-idp", region_name="us-east-1")
        with Stubber(cognito) as stub:
            world = World(dynamodb, build(dynamodb, ring, cognito, secret=CLIENT_SECRET), stub, ring)
            pair = world.login("origin-s")
            world.expect_revoke(secret=CLIENT_SECRET)
            world.sessions.logout(world.sessions.authenticate(pair.access_token), pair.refresh_token)
            stub.assert_no_pending_responses()


def test_revoke_token_failure_does_not_fail_logout_and_logs_no_token(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    pair = world.login("origin-4")
    world.stub.add_client_error("revoke_token", "UnsupportedOperationException", "no revocation", 400)
    with caplog.at_level(logging.INFO):
        world.sessions.logout(world.sessions.authenticate(pair.access_token), pair.refresh_token)
    assert world.denylisted(origin_key("origin-4")) is not None
    failed = [json.loads(r.getMessage()) for r in caplog.records if "cognito_revoke_failed" in r.getMessage()]
    assert failed == [
        {
            "event": "cognito_revoke_failed",
            "sub": "cognito-sub",
            "origin_jti": "origin-4",
            "cognito_error": "UnsupportedOperationException",
        }
    ]
    logged = caplog.text
    assert (
        COGNITO_RT[:60] not in logged and pair.refresh_token not in logged and pair.access_token not in logged
    )


def test_rfc7009_revoke_of_the_refresh_token_revokes_the_login(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    pair = world.login("origin-5")
    world.expect_revoke()
    with caplog.at_level(logging.INFO):
        world.sessions.revoke(pair.refresh_token, "refresh_token")
    item = world.denylisted(origin_key("origin-5"))
    # The item and the log line say why the login ended, for whom: what an operator looks up.
    assert item is not None and item["reason"]["S"] == "refresh token revoked"
    assert world.denylisted(f"sid#{pair.sid}") is not None
    ended = [json.loads(r.getMessage()) for r in caplog.records if "cognito_login_revoked" in r.getMessage()]
    assert ended == [
        {
            "event": "cognito_login_revoked",
            "sub": "cognito-sub",
            "origin_jti": "origin-5",
            "reason": "refresh token revoked",
        }
    ]


def test_rfc7009_revoke_of_an_access_token_revokes_only_it(world: World) -> None:
    pair = world.login("origin-6")
    world.sessions.revoke(pair.access_token, "access_token")
    assert world.denylisted(origin_key("origin-6")) is None
    assert world.denylisted(f"jti#{pair.access_jti}") is not None


def test_rotation_carries_the_login_and_reuse_revokes_it(world: World) -> None:
    first = world.login("origin-7")
    second = world.sessions.refresh(first.refresh_token)
    refresh = claims_of(second.refresh_token)
    assert claims_of(second.access_token)[ORIGIN_CLAIM] == refresh[ORIGIN_CLAIM] == "origin-7"
    assert refresh[COGNITO_REFRESH_TOKEN_CLAIM] != claims_of(first.refresh_token)[COGNITO_REFRESH_TOKEN_CLAIM]
    assert (
        open_sealed(world.ring, world.ring.current.kid, refresh[COGNITO_REFRESH_TOKEN_CLAIM], second.sid)
        == COGNITO_RT
    )
    # The retired refresh token comes back: theft. The session, the login and the Cognito token go.
    world.expect_revoke()
    with pytest.raises(RefreshTokenReuseError):
        world.sessions.refresh(first.refresh_token)
    item = world.denylisted(origin_key("origin-7"))
    assert item is not None and item["reason"]["S"] == "refresh token reuse"
    with pytest.raises(TokenRevokedError):
        world.sessions.authenticate(second.access_token)


def test_rotation_after_a_key_rotation_reseals_under_the_new_key(world: World, rsa_pem: str) -> None:
    pair = world.login("origin-8")
    new_pem = generate_private_key_pem("ES256")
    rotated = load_key_ring(new_pem + rsa_pem)  # new key first, the old one retired but private
    sessions = build(world.dynamodb, rotated, world.stub.client)
    second = sessions.refresh(pair.refresh_token)
    sealed = claims_of(second.refresh_token)[COGNITO_REFRESH_TOKEN_CLAIM]
    assert jwt.get_unverified_header(second.refresh_token)["kid"] == rotated.current.kid
    assert open_sealed(rotated, rotated.current.kid, sealed, second.sid) == COGNITO_RT


def test_a_public_only_signing_key_skips_revoke_token(world: World, rsa_pem: str) -> None:
    pair = world.login("origin-9")
    old = world.ring.current
    assert old.private_key is not None
    public_pem = (
        old.private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    rotated = load_key_ring(generate_private_key_pem("RS256") + public_pem)
    sessions = build(world.dynamodb, rotated, world.stub.client)
    sessions.logout(sessions.authenticate(pair.access_token), pair.refresh_token)  # no RevokeToken call
    assert world.denylisted(origin_key("origin-9")) is not None


def logged(caplog: pytest.LogCaptureFixture, event: str) -> list[tuple[int, dict[str, Any]]]:
    return [
        (record.levelno, json.loads(record.getMessage()))
        for record in caplog.records
        if f'"{event}"' in record.getMessage()
    ]


def test_a_retired_key_is_logged_with_the_session_it_concerns(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Operators learn why a Cognito refresh token could not be revoked (and of which session)."""
    pair = world.login("origin-11")
    old = world.ring.current
    assert old.private_key is not None
    public_pem = (
        old.private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    sessions = build(
        world.dynamodb, load_key_ring(generate_private_key_pem("RS256") + public_pem), world.stub.client
    )
    refresh = claims_of(pair.refresh_token)
    with caplog.at_level(logging.INFO):
        sessions.logout(sessions.authenticate(pair.access_token), pair.refresh_token)
    [(level, line)] = logged(caplog, "cognito_refresh_token_key_retired")
    assert level == logging.WARNING
    assert {k: line[k] for k in ("sid", "jti", "origin_jti")} == {
        "sid": pair.sid,
        "jti": refresh["jti"],
        "origin_jti": "origin-11",
    }
    assert not logged(caplog, "cognito_refresh_token_unreadable")
    assert COGNITO_RT[:40] not in caplog.text


def test_a_sealed_value_of_another_session_is_logged_as_unreadable(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    pair = world.login("origin-12")
    key = world.ring.current
    assert key.private_key is not None
    # A refresh token of ours whose sealed value was made for another session: it cannot be opened.
    claims = {
        **claims_of(pair.refresh_token),
        COGNITO_REFRESH_TOKEN_CLAIM: seal(key.private_key, COGNITO_RT, "other"),
    }
    forged = jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"typ": "rt+jwt", "kid": key.kid})
    with caplog.at_level(logging.INFO):
        world.sessions.logout(world.sessions.authenticate(pair.access_token), forged)  # no RevokeToken
    [(level, line)] = logged(caplog, "cognito_refresh_token_unreadable")
    assert level == logging.WARNING
    assert {k: line[k] for k in ("sid", "jti", "origin_jti")} == {
        "sid": pair.sid,
        "jti": claims["jti"],
        "origin_jti": "origin-12",
    }
    assert line["reason"] == "the sealed value does not open with this key and session"
    assert COGNITO_RT[:40] not in caplog.text
    assert not logged(caplog, "cognito_refresh_token_key_retired")
    assert world.denylisted(origin_key("origin-12")) is not None  # the login is revoked all the same


def test_reuse_says_what_happened(world: World) -> None:
    pair = world.login("origin-13")
    world.sessions.refresh(pair.refresh_token)
    world.expect_revoke()
    with pytest.raises(
        RefreshTokenReuseError, match=r"^refresh token was already used; the session is revoked$"
    ):
        world.sessions.refresh(pair.refresh_token)


def test_a_session_without_the_cognito_refresh_token_revokes_the_login_only(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    pair = world.login("origin-10", rt=None)  # a token exchange: we never held it
    assert COGNITO_REFRESH_TOKEN_CLAIM not in claims_of(pair.refresh_token)
    with caplog.at_level(logging.INFO):
        world.sessions.revoke(pair.refresh_token, "refresh_token")
    assert world.denylisted(origin_key("origin-10")) is not None
    # Nothing to revoke at Cognito, so nothing is sent there (the stub would answer no call).
    assert not logged(caplog, "cognito_revoke_failed")


def test_tokens_naming_the_login_by_its_old_claim_name_are_judged_and_renamed(world: World) -> None:
    # Our tokens named the Cognito login `cognito_origin_jti` before they took Cognito's own name
    # for it; such tokens are still about (refresh tokens live 30 days).
    now, sid, key = int(time.time()), str(uuid.uuid4()), world.ring.current
    common = {"iss": ISSUER, "sub": "cognito-sub", "iat": now, "auth_time": now - 60, "scope": "profile"}
    common.update(sid=sid, client_id="ours", cognito_origin_jti="origin-legacy")

    def sign(typ: str, **claims: Any) -> str:
        headers = {"typ": typ, "kid": key.kid}
        return jwt.encode({**common, "jti": str(uuid.uuid4()), **claims}, key.private_key, key.alg, headers)

    access = sign("at+jwt", aud=AUDIENCE, exp=now + 900)
    refresh = sign("rt+jwt", aud=ISSUER, exp=now + 3600, token_use="refresh")
    assert world.sessions.authenticate(access).origin_jti == "origin-legacy"
    renewed = world.sessions.refresh(refresh)
    for token in (renewed.access_token, renewed.refresh_token):
        assert claims_of(token)[ORIGIN_CLAIM] == "origin-legacy" and "cognito_origin_jti" not in claims_of(
            token
        )
        assert claims_of(token)["auth_time"] == now - 60
    # Ending the login (here: another session of it) reaches the old tokens and the renamed ones.
    world.sessions.denylist.revoke_origin("origin-legacy", "logout")
    for token in (access, renewed.access_token):
        with pytest.raises(TokenRevokedError, match=LOGIN_REVOKED):
            world.sessions.authenticate(token)
    with pytest.raises(TokenRevokedError, match=LOGIN_REVOKED):
        world.sessions.refresh(renewed.refresh_token)
