"""Sessions, the denylist write side and the user table, on moto's DynamoDB.

`Sessions` is built from real parts (issuer, verifiers, denylist, revocation list) exactly as
`auth_service.runtime` builds them; nothing of ours is mocked.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import argon2
import boto3
import jwt
import pytest
import yaml
from botocore.config import Config
from moto import mock_aws

from auth_service.denylist import IN_FLIGHT_SECONDS, Denylist
from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from auth_service.sessions import (
    MissingTokenError,
    RefreshTokenReuseError,
    Sessions,
    SignedOutDuringSignInError,
)
from auth_service.side_by_side import SideBySide
from auth_service.tables import create_tables
from auth_service.tokens import TokenIssuer, TokenPair
from auth_service.users import DEFAULT_HASHER, User, UserError, UserTable
from authorizer.errors import (
    InsufficientScopeError,
    InvalidClaimError,
    RevocationUnavailableError,
    TokenRevokedError,
)
from authorizer.gateway.cookies import CSRF_HASH_CLAIM, CsrfError, check_csrf, csrf_hash
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.revocation import RevocationList
from authorizer.tokens.verifier import ACCESS, REFRESH, TokenVerifier

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
DENYLIST = "test-denylist"
USERS = "test-users"
ACCESS_TTL = 900
REFRESH_TTL = 3600
LEEWAY = 30
# A sign-out, session or login item outlives every token issued before it, and those a request
# still in flight then signs afterwards (auth_service.denylist.IN_FLIGHT_SECONDS).
HORIZON = REFRESH_TTL + LEEWAY + IN_FLIGHT_SECONDS


def build_sessions(
    client: Any,
    ring: KeyRing,
    *,
    clock: Callable[[], float] = time.time,
    table: str = DENYLIST,
    sleep: Callable[[float], None] = time.sleep,
    side_by_side: SideBySide | None = None,
) -> Sessions:
    keys = ring.key_set()
    return Sessions(
        access=TokenVerifier(
            keys, issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS, leeway=LEEWAY, clock=clock
        ),
        refresh_verifier=TokenVerifier(
            keys, issuer=ISSUER, audience=ISSUER, token_type=REFRESH, leeway=LEEWAY, clock=clock
        ),
        denylist=Denylist(
            client,
            table,
            max_token_lifetime=max(ACCESS_TTL, REFRESH_TTL),
            leeway=LEEWAY,
            clock=clock,
            sleep=sleep,
        ),
        revocations=RevocationList(client, table, cache_seconds=0, clock=clock),
        issuer=TokenIssuer(
            ring,
            issuer=ISSUER,
            audience=AUDIENCE,
            client_id="web",
            access_ttl=ACCESS_TTL,
            refresh_ttl=REFRESH_TTL,
            clock=clock,
        ),
        side_by_side=side_by_side,
    )


@pytest.fixture(scope="module")
def _moto_tables() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, denylist=DENYLIST, users=USERS)
        yield client


@pytest.fixture
def dynamodb(_moto_tables: Any) -> Any:
    """conftest's `dynamodb`, but one moto backend per module, emptied for each test.

    Creating a moto client and the tables costs about 0.15 s; per test that is most of the
    file's run time.
    """
    for table, key in ((DENYLIST, "pk"), (USERS, "username")):
        for found in _moto_tables.scan(TableName=table, ProjectionExpression=key)["Items"]:
            _moto_tables.delete_item(TableName=table, Key={key: found[key]})
    return _moto_tables


@pytest.fixture
def sessions(dynamodb: Any, ring: KeyRing) -> Sessions:
    return build_sessions(dynamodb, ring)


def item(client: Any, pk: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = client.get_item(
        TableName=DENYLIST, Key={"pk": {"S": pk}}, ConsistentRead=True
    ).get("Item")
    return found


def all_items(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.scan(TableName=DENYLIST)["Items"]
    return items


def access_claims(sessions: Sessions, pair: TokenPair) -> TokenClaims:
    return sessions.access.verify(pair.access_token)


def revoked(sessions: Sessions, pair: TokenPair) -> str | None:
    return sessions.revocations.lookup(access_claims(sessions, pair))


def login(sessions: Sessions, sub: str, scope: str) -> TokenPair:
    """A new session, its credentials checked just now."""
    return sessions.start(sub, scope, authenticated_at=time.time())


def admin(sessions: Sessions) -> TokenClaims:
    return access_claims(sessions, login(sessions, "admin-sub", "profile introspect"))


# --------------------------------------------------------------------------- start / refresh


def test_start_issues_a_verified_pair(sessions: Sessions, dynamodb: Any) -> None:
    pair = login(sessions, "user-1", "profile orders:read")
    claims = sessions.authenticate(pair.access_token)
    assert (claims.sub, claims.scope, claims.sid, claims.jti) == (
        "user-1",
        "profile orders:read",
        pair.sid,
        pair.access_jti,
    )
    refresh = sessions.refresh_verifier.verify(pair.refresh_token)
    assert (refresh.sid, refresh.jti) == (pair.sid, pair.refresh_jti)
    assert all_items(dynamodb) == []  # starting a session writes nothing


def test_refresh_rotates_within_the_session(sessions: Sessions, dynamodb: Any) -> None:
    first = login(sessions, "user-1", "profile")
    second = sessions.refresh(first.refresh_token)

    assert second.sid == first.sid
    assert second.access_jti != first.access_jti
    assert second.refresh_jti != first.refresh_jti
    assert second.scope == "profile"
    old = sessions.refresh_verifier.verify(first.refresh_token)
    new = sessions.refresh_verifier.verify(second.refresh_token)
    assert new.sub == "user-1"
    assert new.raw["auth_time"] == old.raw["auth_time"]  # still the time of the login
    # The old refresh token is retired (its jti is on the denylist until it would expire)...
    retired = item(dynamodb, f"jti#{first.refresh_jti}")
    assert retired is not None
    assert retired["reason"]["S"] == "rotated"
    assert int(retired["expires_at"]["N"]) == old.exp + LEEWAY
    # ...but the session's access tokens still work until then.
    assert sessions.authenticate(first.access_token).jti == first.access_jti
    assert sessions.authenticate(second.access_token).jti == second.access_jti
    # And the new refresh token rotates again.
    assert sessions.refresh(second.refresh_token).sid == first.sid


def test_reusing_a_retired_refresh_token_revokes_the_whole_session(sessions: Sessions, dynamodb: Any) -> None:
    first = login(sessions, "user-1", "profile")
    second = sessions.refresh(first.refresh_token)
    other = login(sessions, "user-1", "profile")  # another session of the same user

    with pytest.raises(RefreshTokenReuseError):
        sessions.refresh(first.refresh_token)

    assert issubclass(RefreshTokenReuseError, TokenRevokedError)
    assert revoked(sessions, first) == "session revoked"
    assert revoked(sessions, second) == "session revoked"  # even the newest pair
    with pytest.raises(TokenRevokedError):
        sessions.authenticate(second.access_token)
    with pytest.raises(TokenRevokedError):
        sessions.refresh(second.refresh_token)
    session_item = item(dynamodb, f"sid#{first.sid}")
    assert session_item is not None
    assert session_item["reason"]["S"] == "refresh token reuse"
    # Only that session: the user's other session is untouched.
    assert revoked(sessions, other) is None
    assert sessions.refresh(other.refresh_token).sid == other.sid


def test_concurrent_refresh_has_exactly_one_winner(sessions: Sessions) -> None:
    pair = login(sessions, "user-1", "profile")
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[TokenPair | BaseException] = []
    lock = threading.Lock()

    def use() -> None:
        barrier.wait()
        try:
            outcome: TokenPair | BaseException = sessions.refresh(pair.refresh_token)
        except BaseException as exc:
            outcome = exc
        with lock:
            results.append(outcome)

    workers = [threading.Thread(target=use) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert len(results) == threads
    winners = [r for r in results if isinstance(r, TokenPair)]
    losers = [r for r in results if not isinstance(r, TokenPair)]
    assert len(winners) == 1, results
    # The first loser revokes the session; later losers may see that instead. Both refuse.
    assert all(isinstance(r, TokenRevokedError) for r in losers), losers
    assert any(isinstance(r, RefreshTokenReuseError) for r in losers), losers
    # A lost race counts as reuse: the session is revoked, the winner's new pair included.
    assert revoked(sessions, winners[0]) == "session revoked"


APP = "https://app.example.test"


def csrf_guard(csrf_token: str, origin: str = APP) -> Callable[[TokenClaims], None]:
    """The cookie flow's check (auth_service.handlers.refresh), for a request from `origin` that
    sends `csrf_token` in its header and cookie."""

    def guard(claims: TokenClaims) -> None:
        check_csrf(
            origin=origin,
            fetch_site="same-site",
            header_token=csrf_token,
            cookie_token=csrf_token,
            claims=claims.raw,
            allowed_origins=frozenset({APP}),
        )

    return guard


def test_a_cookie_refresh_must_pass_the_csrf_check_and_rebinds_the_pair(
    sessions: Sessions, dynamodb: Any
) -> None:
    first_token, second_token = "csrf-one", "csrf-two"
    pair = sessions.start("user-1", "profile", authenticated_at=time.time(), csrf_hash=csrf_hash(first_token))
    # A cross-site request, or one with another session's CSRF token, is refused before the
    # token is used: nothing is retired, and no reuse is suspected.
    for refused in (csrf_guard(first_token, origin="https://evil.example.test"), csrf_guard(second_token)):
        with pytest.raises(CsrfError):
            sessions.refresh(pair.refresh_token, csrf_hash=csrf_hash(second_token), guard=refused)
    assert all_items(dynamodb) == []
    # The right one rotates, and binds both new tokens to the CSRF token sent out with them.
    renewed = sessions.refresh(
        pair.refresh_token, csrf_hash=csrf_hash(second_token), guard=csrf_guard(first_token)
    )
    for token in (renewed.access_token, renewed.refresh_token):
        assert jwt.decode(token, options={"verify_signature": False})[CSRF_HASH_CLAIM] == csrf_hash(
            second_token
        )
    with pytest.raises(CsrfError):
        sessions.refresh(renewed.refresh_token, guard=csrf_guard(first_token))  # the old one is spent
    assert sessions.refresh(renewed.refresh_token, guard=csrf_guard(second_token)).sid == pair.sid


# --------------------------------------------------------------------------- logout


def test_logout_revokes_session_token_and_refresh_token(sessions: Sessions, dynamodb: Any) -> None:
    now = int(time.time())
    pair = login(sessions, "user-1", "profile")
    claims = sessions.authenticate(pair.access_token)
    refresh_claims = sessions.refresh_verifier.verify(pair.refresh_token)

    sessions.logout(claims, pair.refresh_token)

    session_item = item(dynamodb, f"sid#{pair.sid}")
    access_item = item(dynamodb, f"jti#{pair.access_jti}")
    refresh_item = item(dynamodb, f"jti#{pair.refresh_jti}")
    assert session_item is not None and access_item is not None and refresh_item is not None
    assert {i["reason"]["S"] for i in (session_item, access_item)} == {"logout"}
    assert int(access_item["expires_at"]["N"]) == claims.exp + LEEWAY
    assert int(refresh_item["expires_at"]["N"]) == refresh_claims.exp + LEEWAY
    assert now + HORIZON <= int(session_item["expires_at"]["N"]) <= int(time.time()) + HORIZON
    assert refresh_item["reason"]["S"] == "logout"
    with pytest.raises(TokenRevokedError):
        sessions.authenticate(pair.access_token)
    with pytest.raises(TokenRevokedError):
        sessions.refresh(pair.refresh_token)


def test_refresh_after_logout_is_not_reported_as_reuse(
    sessions: Sessions, dynamodb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pair = login(sessions, "user-1", "profile")
    sessions.logout(sessions.authenticate(pair.access_token), pair.refresh_token)
    with pytest.raises(TokenRevokedError) as info:
        sessions.refresh(pair.refresh_token)
    assert not isinstance(info.value, RefreshTokenReuseError)
    assert "refresh_token_reuse" not in caplog.text
    session_item = item(dynamodb, f"sid#{pair.sid}")
    assert session_item is not None
    assert session_item["reason"]["S"] == "logout"


def test_logout_without_refresh_token_still_ends_the_session(sessions: Sessions) -> None:
    pair = login(sessions, "user-1", "profile")
    sessions.logout(sessions.authenticate(pair.access_token))
    assert revoked(sessions, pair) == "session revoked"
    with pytest.raises(TokenRevokedError):
        sessions.refresh(pair.refresh_token)  # its sid is revoked


def test_logout_with_another_users_refresh_token_leaves_it_alone(sessions: Sessions, dynamodb: Any) -> None:
    mine = login(sessions, "user-1", "profile")
    theirs = login(sessions, "user-2", "profile")

    sessions.logout(sessions.authenticate(mine.access_token), theirs.refresh_token)

    assert item(dynamodb, f"jti#{theirs.refresh_jti}") is None
    assert item(dynamodb, f"sid#{theirs.sid}") is None
    assert revoked(sessions, theirs) is None
    assert sessions.refresh(theirs.refresh_token).sid == theirs.sid


@pytest.mark.parametrize("bad", ["garbage", "a.b.c", ""])
def test_logout_ignores_an_unusable_refresh_token(sessions: Sessions, bad: str) -> None:
    pair = login(sessions, "user-1", "profile")
    sessions.logout(sessions.authenticate(pair.access_token), bad)
    assert revoked(sessions, pair) == "session revoked"


def test_logout_with_an_access_token_in_place_of_the_refresh_token(sessions: Sessions, dynamodb: Any) -> None:
    pair = login(sessions, "user-1", "profile")
    other = login(sessions, "user-1", "profile")
    sessions.logout(sessions.authenticate(pair.access_token), other.access_token)
    assert item(dynamodb, f"jti#{other.access_jti}") is None  # not a refresh token: ignored


# --------------------------------------------------------------------------- revoke (RFC 7009)


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token", "bogus"])
def test_revoke_access_token_keeps_the_session(sessions: Sessions, dynamodb: Any, hint: str | None) -> None:
    pair = login(sessions, "user-1", "profile")
    sessions.revoke(pair.access_token, hint)

    assert revoked(sessions, pair) == "token revoked"
    assert item(dynamodb, f"sid#{pair.sid}") is None
    assert sessions.refresh(pair.refresh_token).sid == pair.sid  # the grant lives on


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_revoke_refresh_token_ends_the_grant(sessions: Sessions, dynamodb: Any, hint: str | None) -> None:
    pair = login(sessions, "user-1", "profile")
    sessions.revoke(pair.refresh_token, hint)

    assert revoked(sessions, pair) == "session revoked"  # §2.1: its access tokens go too
    with pytest.raises(TokenRevokedError):
        sessions.refresh(pair.refresh_token)
    refresh_item = item(dynamodb, f"jti#{pair.refresh_jti}")
    assert refresh_item is not None
    assert refresh_item["reason"]["S"] == "revoked"


@pytest.mark.parametrize(
    "token",
    ["garbage", "", "a.b.c", "eyJhbGciOiJub25lIn0.e30."],
    ids=["garbage", "empty", "dots", "alg-none"],
)
def test_revoke_of_an_invalid_token_is_a_silent_no_op(sessions: Sessions, dynamodb: Any, token: str) -> None:
    sessions.revoke(token)
    sessions.revoke(token, "refresh_token")
    assert all_items(dynamodb) == []


def test_revoke_of_a_token_from_another_key_is_a_no_op(sessions: Sessions, dynamodb: Any) -> None:
    stranger = build_sessions(dynamodb, load_key_ring(generate_private_key_pem("ES256")))
    pair = stranger.issuer.issue("user-1", "profile")  # type: ignore[union-attr]
    sessions.revoke(pair.access_token)
    sessions.revoke(pair.refresh_token)
    assert all_items(dynamodb) == []


# --------------------------------------------------------------------------- introspect (RFC 7662)


def test_introspect_requires_the_scope(sessions: Sessions) -> None:
    caller = access_claims(sessions, login(sessions, "user-1", "profile introspection"))
    token = login(sessions, "user-2", "profile").access_token
    with pytest.raises(InsufficientScopeError) as info:
        sessions.introspect(caller, token)
    assert info.value.error == "insufficient_scope"
    # The caller is told which scope it lacks (the configured one), not just that one is missing.
    assert str(info.value) == "introspection requires the 'introspect' scope"


def test_introspect_access_token(sessions: Sessions) -> None:
    pair = login(sessions, "user-2", "profile orders:read")
    claims = access_claims(sessions, pair)
    assert sessions.introspect(admin(sessions), pair.access_token) == {
        "active": True,
        "token_type": "Bearer",
        "token_use": "access",
        "scope": "profile orders:read",
        "client_id": "web",
        "sub": "user-2",
        "sid": pair.sid,
        "jti": pair.access_jti,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": claims.exp,
        "iat": claims.iat,
    }


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_introspect_refresh_token(sessions: Sessions, hint: str | None) -> None:
    pair = login(sessions, "user-2", "profile")
    result = sessions.introspect(admin(sessions), pair.refresh_token, hint)
    assert result["active"] is True
    assert result["token_type"] is None and result["token_use"] == "refresh"
    assert result["aud"] == ISSUER
    assert result["jti"] == pair.refresh_jti


def test_introspect_revoked_tokens_are_inactive(sessions: Sessions) -> None:
    caller = admin(sessions)
    pair = login(sessions, "user-2", "profile")
    sessions.revoke(pair.refresh_token)
    assert sessions.introspect(caller, pair.access_token) == {"active": False}
    assert sessions.introspect(caller, pair.refresh_token) == {"active": False}


def test_introspect_expired_token_is_inactive(dynamodb: Any, ring: KeyRing, sessions: Sessions) -> None:
    long_ago = time.time() - ACCESS_TTL - LEEWAY - 5
    old = build_sessions(dynamodb, ring, clock=lambda: long_ago).issuer.issue("user-2", "profile")  # type: ignore[union-attr]
    caller = admin(sessions)
    assert sessions.introspect(caller, old.access_token) == {"active": False}
    # The refresh token of that pair (an hour long) is still active.
    assert sessions.introspect(caller, old.refresh_token)["active"] is True


@pytest.mark.parametrize("token", ["garbage", "", "x" * 10_000])
def test_introspect_garbage_is_inactive(sessions: Sessions, token: str) -> None:
    assert sessions.introspect(admin(sessions), token) == {"active": False}


def test_introspection_scope_is_configurable(dynamodb: Any, ring: KeyRing) -> None:
    sessions = build_sessions(dynamodb, ring)
    sessions.introspection_scope = "admin:introspect"
    pair = login(sessions, "user-2", "profile")
    with pytest.raises(InsufficientScopeError):
        sessions.introspect(admin(sessions), pair.access_token)  # has "introspect" only
    caller = access_claims(sessions, login(sessions, "svc", "admin:introspect"))
    assert sessions.introspect(caller, pair.access_token)["active"] is True


def session_log(caplog: pytest.LogCaptureFixture) -> list[tuple[int, dict[str, Any]]]:
    return [
        (record.levelno, json.loads(record.getMessage()))
        for record in caplog.records
        if record.name == "lambda_jwt_auth.sessions"
    ]


def test_each_step_of_a_session_logs_one_line_naming_it(
    sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    # Operators follow a session (sid) and its tokens (jti) through these lines, and alert on
    # reuse (a stolen refresh token): each says what happened, to whom, as identifiers only.
    caplog.set_level(logging.INFO, logger="lambda_jwt_auth")
    pair = login(sessions, "user-1", "profile")
    renewed = sessions.refresh(pair.refresh_token)
    with pytest.raises(RefreshTokenReuseError):
        sessions.refresh(pair.refresh_token)
    other = login(sessions, "user-2", "profile")
    sessions.logout(access_claims(sessions, other), other.refresh_token)
    third = login(sessions, "user-3", "profile")
    sessions.revoke(third.refresh_token)
    sessions.denylist.revoke_user("user-4", "operator")
    with pytest.raises(SignedOutDuringSignInError):
        sessions.start("user-4", "profile", authenticated_at=time.time() - 5)

    def started(p: TokenPair, sub: str) -> tuple[int, dict[str, Any]]:
        return logging.INFO, {"event": "session_started", "sub": sub, "sid": p.sid, "jti": p.access_jti}

    assert session_log(caplog) == [
        started(pair, "user-1"),
        (
            logging.INFO,
            {
                "event": "refreshed",
                "sub": "user-1",
                "sid": pair.sid,
                "jti": pair.refresh_jti,
                "new_jti": renewed.access_jti,
            },
        ),
        (
            logging.WARNING,
            {"event": "refresh_token_reuse", "sub": "user-1", "sid": pair.sid, "jti": pair.refresh_jti},
        ),
        started(other, "user-2"),
        (logging.INFO, {"event": "logout", "sub": "user-2", "sid": other.sid, "jti": other.access_jti}),
        started(third, "user-3"),
        (
            logging.INFO,
            {
                "event": "revoked",
                "sub": "user-3",
                "sid": third.sid,
                "jti": third.refresh_jti,
                "token_type": "refresh_token",
            },
        ),
        (logging.INFO, {"event": "session_refused", "sub": "user-4", "reason": "signed out during sign-in"}),
    ]


# --------------------------------------------------------------------------- revoke_user / not before


def test_revoke_user_then_a_new_login_works_at_once(sessions: Sessions) -> None:
    before = login(sessions, "user-1", "profile")
    other_user = login(sessions, "user-2", "profile")
    sign_out = sessions.denylist.revoke_user("user-1", "operator")

    assert revoked(sessions, before) == "user signed out everywhere"
    with pytest.raises(TokenRevokedError):
        sessions.refresh(before.refresh_token)
    assert revoked(sessions, other_user) is None

    started = time.monotonic()
    after = login(sessions, "user-1", "profile")
    assert time.monotonic() - started <= 1.5
    claims = access_claims(sessions, after)
    assert claims.session_start >= sign_out.not_before and claims.iat >= claims.session_start
    assert revoked(sessions, after) is None
    assert sessions.refresh(after.refresh_token).sid == after.sid


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_revoke_user_writes_the_not_before_and_the_instant(dynamodb: Any) -> None:
    clock = FakeClock(1_800_000_000.2504)
    denylist = Denylist(dynamodb, DENYLIST, max_token_lifetime=REFRESH_TTL, leeway=LEEWAY, clock=clock)
    sign_out = denylist.revoke_user("u1", "operator")
    assert (sign_out.not_before, sign_out.signed_out_at) == (1_800_000_001, 1_800_000_000.251)
    assert sign_out.expires_at == 1_800_000_000 + HORIZON
    stored = item(dynamodb, "user#u1")
    assert stored is not None
    assert (stored["not_before"]["N"], stored["signed_out_at"]["N"]) == ("1800000001", "1800000000.251")
    assert (stored["expires_at"]["N"], stored["revoked_at"]["N"]) == (str(sign_out.expires_at), "1800000000")
    assert denylist.user_sign_out("u1") == sign_out
    # The instant is never before the clock's reading, and never past the "not before".
    for fraction in (0.0, 0.0004, 0.999, 0.9999):
        clock.now = 1_800_000_100 + fraction
        written = denylist.revoke_user("u2", "operator")
        assert clock.now < written.signed_out_at <= written.not_before == 1_800_000_101


@pytest.mark.parametrize("side_by_side", [None, SideBySide()], ids=["read-then-sign", "side-by-side"])
def test_start_judges_the_moment_the_credentials_were_checked(
    dynamodb: Any, ring: KeyRing, side_by_side: SideBySide | None
) -> None:
    second = time.time() // 1 + 10
    clock = FakeClock(second + 0.25)
    sessions = build_sessions(dynamodb, ring, clock=clock, sleep=clock.sleep, side_by_side=side_by_side)
    sign_out = sessions.denylist.revoke_user("user-1", "operator")
    assert sign_out.not_before == second + 1

    # Checked before the sign-out, the session would start before it: refused, never re-signed.
    clock.now = second + 0.5
    with pytest.raises(SignedOutDuringSignInError) as refused:
        sessions.start("user-1", "profile", authenticated_at=second + 0.2)
    assert (refused.value.error, str(refused.value)) == (
        "invalid_grant",
        "the user was signed out while this sign-in was in progress; log in again",
    )
    assert clock.sleeps == []
    # Checked after it within its second: a new login. It waits for the "not before", begins there.
    after = sessions.start("user-1", "profile", authenticated_at=second + 0.3)
    assert clock.sleeps == [pytest.approx(0.5)]
    claims = access_claims(sessions, after)
    assert claims.raw["auth_time"] == claims.session_start == after.issued_at == second + 1
    assert revoked(sessions, after) is None
    # In a later second: at once, beginning in the second the credentials were checked.
    clock.now = second + 2.5
    later = sessions.start("user-1", "profile", authenticated_at=second + 2.1)
    assert len(clock.sleeps) == 1 and access_claims(sessions, later).raw["auth_time"] == second + 2
    assert revoked(sessions, later) is None
    # Another user is not concerned.
    other = sessions.start("user-2", "profile", authenticated_at=second + 2.1)
    assert len(clock.sleeps) == 1 and revoked(sessions, other) is None


@pytest.mark.parametrize("side_by_side", [None, SideBySide()], ids=["read-then-sign", "side-by-side"])
def test_a_session_begins_when_its_credentials_were_checked_not_when_it_is_signed(
    dynamodb: Any, ring: KeyRing, side_by_side: SideBySide | None
) -> None:
    # A token exchange starts a session from a Cognito login made long before: every token of it
    # says when that login was (`auth_time`), however late the pair is signed.
    sessions = build_sessions(dynamodb, ring, side_by_side=side_by_side)
    logged_in = time.time() - 3600.5
    pair = sessions.start("user-1", "profile", authenticated_at=logged_in)
    for token in (pair.access_token, pair.refresh_token):
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["auth_time"] == int(logged_in) < claims["iat"]


def test_a_sign_out_written_without_its_instant_refuses_every_login_of_its_second(
    dynamodb: Any, ring: KeyRing
) -> None:
    second = time.time() // 1 + 10
    clock = FakeClock(second + 0.9)
    sessions = build_sessions(dynamodb, ring, clock=clock, sleep=clock.sleep)
    dynamodb.put_item(  # as the sign-outs of earlier versions were written
        TableName=DENYLIST,
        Item={
            "pk": {"S": "user#user-1"},
            "expires_at": {"N": str(int(second) + HORIZON)},
            "not_before": {"N": str(int(second) + 1)},
            "reason": {"S": "operator"},
        },
    )
    with pytest.raises(SignedOutDuringSignInError):
        sessions.start("user-1", "profile", authenticated_at=second + 0.8)
    clock.now = second + 1.1
    assert revoked(sessions, sessions.start("user-1", "profile", authenticated_at=second + 1.0)) is None


def test_refresh_carries_the_session_start_and_never_waits(dynamodb: Any, ring: KeyRing) -> None:
    second = time.time() // 1 - 100
    clock = FakeClock(second + 0.5)
    sessions = build_sessions(dynamodb, ring, clock=clock, sleep=clock.sleep)
    pair = sessions.start("user-1", "profile", authenticated_at=second + 0.4)
    clock.now += 60
    renewed = sessions.refresh(pair.refresh_token)
    for token in (renewed.access_token, renewed.refresh_token):
        claims = jwt.decode(token, options={"verify_signature": False})
        assert (claims["auth_time"], claims["iat"]) == (second, second + 60)
    assert clock.sleeps == []


def test_a_refresh_token_of_ours_without_auth_time_is_refused(sessions: Sessions, ring: KeyRing) -> None:
    # Every refresh token we issue says when its session began; one without cannot be judged by it.
    now, key = int(time.time()), ring.current
    claims = {"iss": ISSUER, "aud": ISSUER, "sub": "user-1", "iat": now, "exp": now + 600, "scope": "profile"}
    claims.update(jti=str(uuid.uuid4()), sid=str(uuid.uuid4()), token_use="refresh")
    token = jwt.encode(claims, key.private_key, key.alg, {"typ": "rt+jwt", "kid": key.kid})
    with pytest.raises(InvalidClaimError, match="auth_time"):
        sessions.refresh(token)
    assert sessions.refresh(
        jwt.encode({**claims, "auth_time": now}, key.private_key, key.alg, {"typ": "rt+jwt", "kid": key.kid})
    )


def test_start_is_a_503_when_not_before_cannot_be_read(dynamodb: Any, ring: KeyRing) -> None:
    sessions = build_sessions(dynamodb, ring, table="no-such-table", side_by_side=SideBySide())
    with pytest.raises(RevocationUnavailableError):
        login(sessions, "user-1", "profile")


def test_user_sign_out_ignores_an_expired_item(dynamodb: Any, ring: KeyRing) -> None:
    clock = FakeClock(time.time())
    sessions = build_sessions(dynamodb, ring, clock=clock)
    sign_out = sessions.denylist.revoke_user("user-1", "operator")
    assert sessions.denylist.user_sign_out("user-1") == sign_out
    assert sessions.denylist.user_sign_out("user-2") is None
    clock.now += HORIZON + 1
    assert sessions.denylist.user_sign_out("user-1") is None


# --------------------------------------------------------------------------- denylist items


def test_items_outlive_a_request_of_any_function_in_flight() -> None:
    class TemplateLoader(yaml.SafeLoader):
        """serverless.yml carries CloudFormation tags (!Sub, !Ref ...): read them as plain nodes."""

    TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)
    text = (Path(__file__).resolve().parents[2] / "serverless.yml").read_text()
    definition = yaml.load(text, Loader=TemplateLoader)  # noqa: S506 - a SafeLoader, tags dropped
    timeouts = [definition["provider"]["timeout"]]
    timeouts += [function.get("timeout", 0) for function in definition["functions"].values()]
    # API Gateway hands a client no answer after 30 s (HTTP API); Lambda ends a function at its timeout.
    assert max(*timeouts, 30) <= IN_FLIGHT_SECONDS


def test_denylist_items_and_ttls(dynamodb: Any) -> None:
    clock = FakeClock(1_800_000_000.6)
    denylist = Denylist(dynamodb, DENYLIST, max_token_lifetime=REFRESH_TTL, leeway=LEEWAY, clock=clock)
    denylist.revoke_token("j1", 1_800_000_900, "revoked")
    denylist.revoke_jti("j2", "operator")
    denylist.revoke_session("s1", "logout")
    assert denylist.revoke_user("u1", "operator").not_before == 1_800_000_001
    assert denylist.claim_refresh_token("r1", 1_800_003_600) is True
    assert denylist.claim_refresh_token("r1", 1_800_003_600) is False

    expected = {
        "jti#j1": (1_800_000_900 + LEEWAY, "revoked"),
        "jti#j2": (1_800_000_000 + HORIZON, "operator"),
        "sid#s1": (1_800_000_000 + HORIZON, "logout"),
        "user#u1": (1_800_000_000 + HORIZON, "operator"),
        "jti#r1": (1_800_003_600 + LEEWAY, "rotated"),
    }
    items = {i["pk"]["S"]: i for i in all_items(dynamodb)}
    assert set(items) == set(expected)
    for pk, (expires_at, reason) in expected.items():
        assert int(items[pk]["expires_at"]["N"]) == expires_at, pk
        assert items[pk]["reason"]["S"] == reason, pk
        assert items[pk]["revoked_at"]["N"] == "1800000000", pk
    assert items["user#u1"]["not_before"]["N"] == "1800000001"
    ttl = dynamodb.describe_time_to_live(TableName=DENYLIST)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"


def test_a_claimed_refresh_token_cannot_be_claimed_even_after_another_revocation(dynamodb: Any) -> None:
    denylist = Denylist(dynamodb, DENYLIST, max_token_lifetime=REFRESH_TTL, leeway=LEEWAY)
    denylist.revoke_token("r2", int(time.time()) + 60, "logout")
    assert denylist.claim_refresh_token("r2", int(time.time()) + 60) is False


def test_expired_denylist_items_no_longer_revoke(dynamodb: Any) -> None:
    now = time.time()
    denylist = Denylist(dynamodb, DENYLIST, max_token_lifetime=REFRESH_TTL, leeway=LEEWAY)
    denylist.revoke_token("old", int(now) - LEEWAY - 10, "revoked")  # DynamoDB has not swept it yet
    denylist.revoke_token("live", int(now) + 60, "revoked")
    revocations = RevocationList(dynamodb, DENYLIST, cache_seconds=0)
    claims = {jti: TokenClaims(sub="u", jti=jti, iat=int(now), exp=int(now) + 60) for jti in ("old", "live")}
    assert revocations.lookup(claims["old"]) is None
    assert revocations.lookup(claims["live"]) == "token revoked"


def test_denylist_failures_are_revocation_unavailable(
    dynamodb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    denylist = Denylist(dynamodb, "no-such-table", max_token_lifetime=REFRESH_TTL, leeway=LEEWAY)
    for call in (
        lambda: denylist.revoke_session("s", "logout"),
        lambda: denylist.revoke_token("j", 1, "logout"),
        lambda: denylist.claim_refresh_token("j", 1),
        lambda: denylist.user_sign_out("u"),
        lambda: denylist.revoke_user("u", "operator"),
    ):
        with pytest.raises(RevocationUnavailableError):
            call()
    assert "ResourceNotFoundException" in caplog.text


def denylist_errors(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "lambda_jwt_auth.denylist" and record.levelno == logging.ERROR
    ]


def test_denylist_failures_log_what_failed_and_why(dynamodb: Any, caplog: pytest.LogCaptureFixture) -> None:
    # Operators alert on these lines: the event says which side failed, the fields what DynamoDB said.
    missing = Denylist(dynamodb, "no-such-table", max_token_lifetime=REFRESH_TTL, leeway=LEEWAY)
    with pytest.raises(RevocationUnavailableError) as unavailable:
        missing.revoke_session("s", "logout")
    # What the client is told (the 503's error_description): what happened, and what to do.
    assert str(unavailable.value) == "the denylist is unavailable; retry later"
    with pytest.raises(RevocationUnavailableError):
        missing.user_sign_out("u")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    unreachable = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(connect_timeout=0.5, read_timeout=0.5, retries={"total_max_attempts": 1}),
    )
    with pytest.raises(RevocationUnavailableError):
        Denylist(unreachable, DENYLIST, max_token_lifetime=REFRESH_TTL, leeway=LEEWAY).claim_refresh_token(
            "j", 1
        )
    assert denylist_errors(caplog) == [
        {
            "event": "denylist_write_failed",
            "message": "denylist write failed; answering 503",
            "error": "ResourceNotFoundException",
            "error_code": "ResourceNotFoundException",
        },
        {
            "event": "denylist_read_failed",
            "message": "denylist read failed; answering 503",
            "error": "ResourceNotFoundException",
            "error_code": "ResourceNotFoundException",
        },
        # No answer at all: no error code to report.
        {
            "event": "denylist_write_failed",
            "message": "denylist write failed; answering 503",
            "error": "EndpointConnectionError",
        },
    ]


def test_the_sign_out_is_read_strongly_consistent(dynamodb: Any) -> None:
    # An eventually consistent read may miss a sign-out written a moment ago: a login or an
    # exchange checked before it would then start a session that outlives it.
    requests: list[dict[str, Any]] = []

    def capture(**kwargs: Any) -> None:
        requests.append(kwargs["params"])

    dynamodb.meta.events.register("before-parameter-build.dynamodb.GetItem", capture)
    try:
        Denylist(dynamodb, DENYLIST, max_token_lifetime=REFRESH_TTL, leeway=LEEWAY).user_sign_out("u1")
    finally:
        dynamodb.meta.events.unregister("before-parameter-build.dynamodb.GetItem", capture)
    assert requests == [{"TableName": DENYLIST, "Key": {"pk": {"S": "user#u1"}}, "ConsistentRead": True}]


def test_refresh_fails_closed_when_the_denylist_is_unavailable(dynamodb: Any, ring: KeyRing) -> None:
    sessions = build_sessions(dynamodb, ring)
    pair = login(sessions, "user-1", "profile")
    broken = build_sessions(dynamodb, ring, table="no-such-table")
    with pytest.raises(RevocationUnavailableError):
        broken.refresh(pair.refresh_token)
    with pytest.raises(RevocationUnavailableError):
        broken.authenticate(pair.access_token)
    # Nothing was retired by the failed attempt: the token still works where the table exists.
    assert sessions.refresh(pair.refresh_token).sid == pair.sid


def test_sessions_without_an_issuer_cannot_start_or_refresh(dynamodb: Any, ring: KeyRing) -> None:
    full = build_sessions(dynamodb, ring)
    pair = login(full, "user-1", "profile")
    verify_only = build_sessions(dynamodb, ring)
    verify_only.issuer = None
    with pytest.raises(RuntimeError, match="signing key"):
        login(verify_only, "user-1", "profile")
    assert verify_only.authenticate(pair.access_token).sub == "user-1"


# --------------------------------------------------------------------------- users

CHEAP = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def users(dynamodb: Any) -> UserTable:
    return UserTable(dynamodb, USERS)


def stored_hash(client: Any, username: str) -> str:
    found = client.get_item(TableName=USERS, Key={"username": {"S": username}})["Item"]
    return str(found["password_hash"]["S"])


def test_add_and_authenticate(users: UserTable, dynamodb: Any) -> None:
    sub = users.add("alice", "correct horse", scope="  profile   orders:read ")
    assert uuid.UUID(sub)
    assert users.authenticate("alice", "correct horse") == User("alice", sub, "profile orders:read")
    stored = dynamodb.get_item(TableName=USERS, Key={"username": {"S": "alice"}})["Item"]
    assert stored["sub"]["S"] == sub
    assert "correct horse" not in str(stored)


def test_usernames_are_case_and_width_insensitive(users: UserTable) -> None:
    sub = users.add("Alice", "correct horse")
    for spelling in ("alice", "ALICE", "  Alice ", "\uff21\uff4c\uff49\uff43\uff45"):  # full-width
        user = users.authenticate(spelling, "correct horse")
        assert user is not None, spelling
        assert (user.sub, user.username) == (sub, "alice")
    with pytest.raises(UserError, match="exists already"):
        users.add("ALICE", "another password")
    # The refused duplicate did not replace the original's password.
    assert users.authenticate("alice", "correct horse") is not None


def test_wrong_password_and_unknown_user_are_both_none(users: UserTable) -> None:
    users.add("alice", "correct horse")
    assert users.authenticate("alice", "wrong horse") is None
    assert users.authenticate("alice", "Correct horse") is None
    assert users.authenticate("bob", "correct horse") is None
    assert users.authenticate("", "correct horse") is None
    assert users.authenticate("alice", "") is None
    assert users.authenticate("alice", "correct horse" + "x" * 2000) is None
    assert users.authenticate("a" * 500, "correct horse") is None


def test_unknown_user_costs_an_argon2_verification(users: UserTable) -> None:
    assert users.authenticate("nobody", "whatever pw") is None
    dummy = users._dummy_hash  # white-box: the timing equaliser must be a real hash of the same cost
    assert dummy is not None
    assert dummy.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.mark.parametrize("password", ["", "short", "7chars!", "x" * 1025])
def test_password_length_is_enforced(users: UserTable, password: str) -> None:
    with pytest.raises(UserError, match="password"):
        users.add("alice", password)
    assert users.authenticate("alice", password) is None


def test_password_length_bounds_are_inclusive(users: UserTable) -> None:
    users.add("eight", "8chars!!")
    users.add("long", "y" * 1024)
    assert users.authenticate("eight", "8chars!!") is not None
    assert users.authenticate("long", "y" * 1024) is not None


@pytest.mark.parametrize("username", ["", "   ", "a" * 129, "bad\x00name", "tab\there"])
def test_bad_usernames_are_refused(users: UserTable, username: str) -> None:
    with pytest.raises(UserError, match="username"):
        users.add(username, "correct horse")


def test_stored_hash_is_argon2id_with_owasp_parameters(users: UserTable, dynamodb: Any) -> None:
    users.add("alice", "correct horse")
    assert stored_hash(dynamodb, "alice").startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (DEFAULT_HASHER.time_cost, DEFAULT_HASHER.memory_cost, DEFAULT_HASHER.parallelism) == (
        2,
        19_456,
        1,
    )


def test_hash_is_upgraded_when_parameters_change(dynamodb: Any) -> None:
    UserTable(dynamodb, USERS, hasher=CHEAP).add("alice", "correct horse")
    old = stored_hash(dynamodb, "alice")
    assert old.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    users = UserTable(dynamodb, USERS)

    assert users.authenticate("alice", "wrong horse") is None
    assert stored_hash(dynamodb, "alice") == old  # a wrong password upgrades nothing

    assert users.authenticate("alice", "correct horse") is not None
    upgraded = stored_hash(dynamodb, "alice")
    assert upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert users.authenticate("alice", "correct horse") is not None
    assert stored_hash(dynamodb, "alice") == upgraded  # no rehash once current


def test_a_corrupt_stored_hash_refuses_login(users: UserTable, dynamodb: Any) -> None:
    users.add("alice", "correct horse")
    dynamodb.update_item(
        TableName=USERS,
        Key={"username": {"S": "alice"}},
        UpdateExpression="SET password_hash = :h",
        ExpressionAttributeValues={":h": {"S": "not-a-hash"}},
    )
    assert users.authenticate("alice", "correct horse") is None


def test_authenticate_without_a_token_says_what_is_missing(sessions: Sessions) -> None:
    with pytest.raises(MissingTokenError, match=r"^a Bearer access token is required$") as info:
        sessions.authenticate(None)
    assert info.value.error == "invalid_request"
