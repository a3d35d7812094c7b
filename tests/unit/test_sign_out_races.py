"""Signing a user out everywhere against work already in flight: refreshes and logins racing it.

What "signed out" means (README, "The revocation delay"): a session that began before the user's
"not before" is dead, whatever the `iat` of the token presenting it. So once `revoke_user` has
returned, no token of a session that began before it passes the authorizer, refresh or
introspection, and no rotation revives one, even when a refresh that passed its checks before
the sign-out was written signs its pair after it, in the next second.

Everything runs against one moto server: our boto3 clients, the authorizer's own client and the
handlers. The races are made with botocore's event hooks in the clients of the refresher or of
the revoker (running the sign-out at an exact moment, or holding its write back), never by
patching our code. Victim sessions are started with `TokenIssuer.issue`, whose interface is the
same before and after sign-outs were judged by the session's start, so these tests also run
(and fail) against the code before.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from auth_service.denylist import Denylist
from auth_service.keys import KeyRing
from auth_service.sessions import Sessions
from auth_service.tokens import TokenPair
from auth_service.users import UserTable
from authorizer.errors import TokenRevokedError
from authorizer.gateway.authorization import Authorizer
from tests.unit import cognito_support as support
from tests.unit.test_service_handlers import http_event, payload
from tests.unit.test_service_sessions import (
    ACCESS_TTL,
    AUDIENCE,
    DENYLIST,
    ISSUER,
    LEEWAY,
    REFRESH_TTL,
    USERS,
    FakeClock,
    build_sessions,
)

PASSWORD = "racing-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with support.moto_server() as url:
        support.prepare_tables(url)
        yield url


def new_client(endpoint: str) -> Any:
    """A DynamoDB client of its own: event hooks registered on it concern no other client."""
    return boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)


def revoker(endpoint: str, clock: Any = time.time) -> tuple[Denylist, Any]:
    """The operator's side (`auth-service revoke`), with its own client."""
    client = new_client(endpoint)
    denylist = Denylist(
        client, DENYLIST, max_token_lifetime=max(ACCESS_TTL, REFRESH_TTL), leeway=LEEWAY, clock=clock
    )
    return denylist, client


@pytest.fixture(scope="module")
def authorizer(endpoint: str, ring: KeyRing) -> Authorizer:
    authorizer: Authorizer = support.our_authorizer(endpoint, ring.jwks())
    return authorizer


@dataclass
class Judges:
    """Everything that decides whether a token still works: the API's authorizer, introspection,
    and refresh."""

    sessions: Sessions
    authorizer: Authorizer

    def __post_init__(self) -> None:
        issuer = self.sessions.issuer
        assert issuer is not None
        auditor = issuer.issue(f"auditor-{uuid.uuid4()}", "profile introspect")
        self.caller = self.sessions.access.verify(auditor.access_token)

    def survivors(self, pairs: list[TokenPair]) -> list[str]:
        """What still accepts a token of `pairs`: each finding names the judge and the pair."""
        found = []
        for index, pair in enumerate(pairs):
            if support.authorizes(self.authorizer, pair.access_token):
                found.append(f"authorizer accepts the access token of pair {index}")
            for kind, token in (("access", pair.access_token), ("refresh", pair.refresh_token)):
                if self.sessions.introspect(self.caller, token)["active"]:
                    found.append(f"introspection: the {kind} token of pair {index} is active")
        # Refresh last: on the code before, a refresh that succeeds rotates the session on.
        for index, pair in enumerate(pairs):
            try:
                renewed = self.sessions.refresh(pair.refresh_token)
            except TokenRevokedError:
                continue
            found.append(f"refresh of pair {index} gives a new pair (iat {renewed.issued_at})")
        return found


# --------------------------------------------------------------------------- controlled clocks

TRIALS = 50


def test_a_refresh_across_the_second_boundary_signs_only_dead_tokens(
    endpoint: str, ring: KeyRing, authorizer: Authorizer
) -> None:
    """The refresh passed its checks just before the sign-out was written, within t's second,
    and signs its pair at or after the "not before": that pair is dead everywhere at once."""
    base = math.floor(time.time()) - 4 * TRIALS  # in the past: the authorizer's clock is the real one
    clock = FakeClock(base)
    refresher = new_client(endpoint)
    sessions = build_sessions(refresher, ring, clock=clock, sleep=clock.sleep)
    denylist, _ = revoker(endpoint, clock)
    judges = Judges(sessions, authorizer)
    plan: dict[str, Any] = {}

    def sign_out_at_the_rotation_write(params: dict[str, Any], **_: Any) -> None:
        # The refresh has verified its token and read the denylist: the sign-out lands now.
        if plan and params["Item"].get("reason", {}).get("S") == "rotated":
            clock.now = plan["t"]
            denylist.revoke_user(plan["sub"], "operator")
            clock.now = plan["signing"]  # the pair is signed in the next second
            plan.clear()

    refresher.meta.events.register("provide-client-params.dynamodb.PutItem", sign_out_at_the_rotation_write)
    failures: dict[int, list[str]] = {}
    for trial in range(TRIALS):
        second = base + 2 * trial
        sub = f"racer-{trial}-{uuid.uuid4()}"
        clock.now = second - 3
        assert sessions.issuer is not None
        first = sessions.issuer.issue(sub, "profile", auth_time=second - 3)
        t = second + 0.95 + trial * 0.001  # 50 instants from .950 to .999 of the second
        clock.now = t - 0.003
        plan.update(sub=sub, t=t, signing=second + 1 + (trial % 5) * 0.2)
        renewed = sessions.refresh(first.refresh_token)
        assert not plan, "the sign-out did not run inside the refresh"
        assert renewed.issued_at == second + 1  # signed at the "not before" or after it
        if found := judges.survivors([first, renewed]):
            failures[trial] = found
    assert not failures, f"{len(failures)} of {TRIALS} trials left tokens working: {failures}"


# --------------------------------------------------------------------------- the wall clock


class Client(threading.Thread):
    """Refreshes on and on, as a busy client would, until refused; records every pair issued."""

    def __init__(self, sessions: Sessions, first: TokenPair, pause: float) -> None:
        super().__init__(daemon=True)
        self.sessions, self.pause = sessions, pause
        self.issued = [first]
        self.refused = threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.issued.append(self.sessions.refresh(self.issued[-1].refresh_token))
            except TokenRevokedError:
                self.refused.set()
                return
            time.sleep(self.pause)

    def stop(self) -> list[TokenPair]:
        """Once the sign-out has returned: the next refresh must be refused; stop in any case."""
        self.refused.wait(timeout=2)
        self._halt.set()
        self.join(timeout=10)
        return self.issued


WALL_CLOCK_TRIALS = 4


def test_refreshes_racing_a_sign_out_near_a_second_boundary(
    endpoint: str, ring: KeyRing, authorizer: Authorizer
) -> None:
    """Real clocks and threads: the sign-out is timed a few milliseconds before a whole second,
    while a client refreshes as fast as it can."""
    sessions = build_sessions(new_client(endpoint), ring)
    denylist, _ = revoker(endpoint)
    judges = Judges(sessions, authorizer)
    assert sessions.issuer is not None
    failures: dict[int, list[str]] = {}
    for trial in range(WALL_CLOCK_TRIALS):
        sub = f"wall-{trial}-{uuid.uuid4()}"
        first = sessions.issuer.issue(sub, "profile")
        now = time.time()
        target = math.floor(now) + 1 - 0.004 * (trial + 1)  # .996, .992, ... of the second
        if target - now < 0.15:
            target += 1
        time.sleep(max(0.0, target - now - 0.12))  # the client starts refreshing shortly before
        client = Client(sessions, first, pause=0.0)
        client.start()
        time.sleep(max(0.0, target - time.time()))
        denylist.revoke_user(sub, "operator")
        issued = client.stop()
        if found := judges.survivors(issued):
            failures[trial] = found
    assert not failures, f"{len(failures)} of {WALL_CLOCK_TRIALS} trials left tokens working: {failures}"


def test_a_delayed_sign_out_write_leaves_no_token_of_the_session_working(
    endpoint: str, ring: KeyRing, authorizer: Authorizer
) -> None:
    """The revoker's PutItem is held back 1.3 s (as an SDK retry would): the refreshes meanwhile
    sign pairs well past the "not before"; none of them works once `revoke_user` returns."""
    sessions = build_sessions(new_client(endpoint), ring)
    denylist, revoker_client = revoker(endpoint)
    revoker_client.meta.events.register("before-send.dynamodb.PutItem", lambda **_: time.sleep(1.3))
    judges = Judges(sessions, authorizer)
    assert sessions.issuer is not None
    sub = f"delayed-{uuid.uuid4()}"
    first = sessions.issuer.issue(sub, "profile")
    client = Client(sessions, first, pause=0.05)
    client.start()
    started = time.time()
    denylist.revoke_user(sub, "operator")
    assert time.time() - started >= 1.3
    issued = client.stop()
    late = [pair for pair in issued if pair.issued_at >= math.floor(started) + 1]  # from the "not before"
    assert late, "no refresh signed a pair after the not-before: the race did not happen"
    assert judges.survivors(issued) == []


# --------------------------------------------------------------------------- logins (the handler)


@pytest.fixture(scope="module")
def service(endpoint: str, rsa_pem: str) -> Iterator[dict[str, Any]]:
    env = {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AUTH_USERS_TABLE": USERS,
        "AUTH_SIGNING_KEY": rsa_pem,
        "AUTH_DYNAMODB_ENDPOINT": endpoint,
    }
    with support.handlers(env) as modules:
        yield modules


def new_user(endpoint: str) -> tuple[str, str]:
    name = f"user-{uuid.uuid4().hex[:12]}"
    return name, UserTable(new_client(endpoint), USERS).add(name, PASSWORD, "profile")


def log_in(service: dict[str, Any], username: str) -> dict[str, Any]:
    response: dict[str, Any] = service["login"].handler(
        http_event("POST", "/auth/login", {"username": username, "password": PASSWORD}), None
    )
    return response


def test_a_login_checked_before_a_sign_out_is_refused(
    endpoint: str, service: dict[str, Any], authorizer: Authorizer
) -> None:
    """The sign-out is written while the password is being checked (after the user's item was
    read, before the session starts): the login is refused, and nothing it could have issued
    lives."""
    username, sub = new_user(endpoint)
    denylist, _ = revoker(endpoint)
    with support.signing_out_as_the_session_starts(denylist, sub) as done:
        response = log_in(service, username)
    assert done
    assert response["statusCode"] == 401, response
    assert payload(response) == {
        "error": "invalid_grant",
        "error_description": "the user was signed out while this sign-in was in progress; log in again",
    }
    # Logging in again works at once.
    again = log_in(service, username)
    assert again["statusCode"] == 200
    assert support.authorizes(authorizer, payload(again)["access_token"])


def test_a_new_login_right_after_a_sign_out_works_at_once(
    endpoint: str, service: dict[str, Any], authorizer: Authorizer
) -> None:
    username, sub = new_user(endpoint)
    before = payload(log_in(service, username))
    denylist, _ = revoker(endpoint)
    denylist.revoke_user(sub, "operator")
    started = time.monotonic()
    response = log_in(service, username)
    assert time.monotonic() - started < 1.5  # at most the rest of the sign-out's second
    assert response["statusCode"] == 200, response
    tokens = payload(response)
    assert support.authorizes(authorizer, tokens["access_token"])
    refreshed = service["refresh"].handler(
        http_event("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]}), None
    )
    assert refreshed["statusCode"] == 200 and support.authorizes(
        authorizer, payload(refreshed)["access_token"]
    )
    assert not support.authorizes(authorizer, before["access_token"])
