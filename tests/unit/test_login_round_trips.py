"""A login's DynamoDB requests, stage by stage: which overlap, and that overlapping changes no outcome.

The real login handler (table backend) on moto, its clients watched by `StageGate`
(tests/unit/dynamodb_stages.py): each stage's requests are held until all of them are made, so a
login that made them one after the other would not get through. The counters are the handler's
own (test_login_throttle_handler's fixture: an injected clock, a hasher counting argon2 runs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from auth_service import runtime
from auth_service.login_throttle import IP_PREFIX
from tests.unit import test_login_throttle_handler as throttled
from tests.unit.dynamodb_stages import StageGate
from tests.unit.test_login_throttle_handler import HOME, Login, assert_slow_down, settings
from tests.unit.test_service_handlers import ALICE_PASSWORD, USERS, payload

_service = throttled._service
service = throttled.service
attempt = throttled.attempt

ADMIT_AND_READ = ["UpdateItem throttle#ip", "GetItem users"]  # stage 1: the address, the user's item
ADMIT_USER = ["UpdateItem throttle#user"]  # stage 2: the username (after the address: see login_throttle)
SETTLE_AND_ISSUE = ["UpdateItem throttle#user", "UpdateItem throttle#ip", "GetItem user#"]  # stage 3


def gate(*expected: Sequence[str]) -> StageGate:
    return StageGate(expected, USERS)


def test_a_login_waits_for_three_stages_not_six_requests(attempt: Callable[..., Login]) -> None:
    login = attempt()
    stages = gate(ADMIT_AND_READ, ADMIT_USER, SETTLE_AND_ISSUE)
    with stages.watching(login.service.client, runtime.dynamodb()):
        response = login(password=ALICE_PASSWORD)
    assert response["statusCode"] == 200, response
    assert stages.stages == stages.expected
    assert sum(sum(stage.values()) for stage in stages.stages) == 6
    assert login.hasher.verifications == 1


def test_a_wrong_password_reads_no_not_before(attempt: Callable[..., Login]) -> None:
    login = attempt()
    stages = gate(ADMIT_AND_READ, ADMIT_USER)
    with stages.watching(login.service.client, runtime.dynamodb()):
        assert login()["statusCode"] == 401
    assert stages.stages == stages.expected


def test_an_unknown_user_makes_the_same_requests_before_the_hash(attempt: Callable[..., Login]) -> None:
    login = attempt()
    stages = gate(ADMIT_AND_READ, ADMIT_USER)
    with stages.watching(login.service.client, runtime.dynamodb()):
        assert login("mallory")["statusCode"] == 401
    assert stages.stages == stages.expected
    assert login.hasher.verifications == 1  # the dummy hash


def test_a_refused_attempt_waits_for_its_read_and_runs_no_argon2(attempt: Callable[..., Login]) -> None:
    login = attempt(settings(user=5, ip=1))
    assert login()["statusCode"] == 401  # the address's one failure: locked
    verifications = login.hasher.verifications
    # A locked counter takes the throttle two conditional writes to find out (login_throttle).
    stages = gate(ADMIT_AND_READ, ["UpdateItem throttle#ip"])
    with stages.watching(login.service.client, runtime.dynamodb()):
        assert_slow_down(login(password=ALICE_PASSWORD), 900)
    assert stages.stages == stages.expected  # the read was made, and answered before the 429
    assert login.hasher.verifications == verifications


def test_a_failed_user_read_is_a_503_that_counts_nothing(attempt: Callable[..., Login]) -> None:
    login = attempt(settings(user=1, ip=1))
    refunds = ["UpdateItem throttle#ip", "UpdateItem throttle#user"]
    stages = gate(ADMIT_AND_READ, ADMIT_USER, refunds)
    stages.fail("GetItem users")
    with stages.watching(login.service.client, runtime.dynamodb()):
        response = login(password=ALICE_PASSWORD)
    assert response["statusCode"] == 503, response
    assert payload(response)["error"] == "temporarily_unavailable"
    assert stages.stages == stages.expected
    assert login.hasher.verifications == 0
    counter = login.counter(IP_PREFIX + HOME)
    assert counter is not None and counter["failures"] == {"N": "0"}
    assert login(password=ALICE_PASSWORD)["statusCode"] == 200  # neither limit of one was spent


def test_a_failed_not_before_read_is_a_503_after_the_counters_settle(attempt: Callable[..., Login]) -> None:
    login = attempt(settings(user=2, ip=2))
    assert login()["statusCode"] == 401  # one failure on each counter
    stages = gate(ADMIT_AND_READ, ADMIT_USER, SETTLE_AND_ISSUE)
    stages.fail("GetItem user#")
    with stages.watching(login.service.client, runtime.dynamodb()):
        response = login(password=ALICE_PASSWORD)
    assert response["statusCode"] == 503, response
    assert stages.stages == stages.expected
    # As before the overlap: the password was right, so the username's counter starts over and
    # the address's attempt is refunded, although no tokens could be issued.
    user = login.counter(login.module._throttle.user_key("alice"))
    assert user is not None and "failures" not in user
    address = login.counter(IP_PREFIX + HOME)
    assert address is not None and address["failures"] == {"N": "1"}
