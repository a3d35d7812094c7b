"""A Cognito-backed login's DynamoDB requests, stage by stage (tests/unit/dynamodb_stages.py).

No user table is read: the attempt is admitted (address, then username), Cognito checks the
password, then the counters are settled while the tokens are issued (the user's not-before read).
"""

from __future__ import annotations

from auth_service import runtime
from tests.unit import test_login_throttle_cognito as cognito
from tests.unit.cognito_support import PASSWORD, USERS, Pool
from tests.unit.dynamodb_stages import StageGate
from tests.unit.test_login_round_trips import ADMIT_USER, SETTLE_AND_ISSUE

endpoint = cognito.endpoint
pool = cognito.pool
modules = cognito.modules
login = cognito.login


def test_a_cognito_login_waits_for_three_stages(login: cognito.CognitoLogins, pool: Pool) -> None:
    dana = cognito.unique("dana")
    pool.add_user(dana)
    stages = StageGate([["UpdateItem throttle#ip"], ADMIT_USER, SETTLE_AND_ISSUE], USERS)
    with stages.watching(runtime.dynamodb()):
        response = login(dana, PASSWORD)
    assert response["statusCode"] == 200, response
    assert stages.stages == stages.expected
    assert login.initiate_auth_calls == 1


def test_a_wrong_cognito_password_reads_no_not_before(login: cognito.CognitoLogins, pool: Pool) -> None:
    eve = cognito.unique("eve")
    pool.add_user(eve)
    stages = StageGate([["UpdateItem throttle#ip"], ADMIT_USER], USERS)
    with stages.watching(runtime.dynamodb()):
        assert login(eve, "Wrong-" + PASSWORD)["statusCode"] == 401
    assert stages.stages == stages.expected
