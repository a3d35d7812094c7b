"""`CognitoLogin`: every way a password login through a user pool is refused.

Refusals never reach the ID token, so they run on `mock_aws` (one pool for the module, a user of
its own per test); the Cognito errors moto cannot produce (password reset, throttling, ...) come
from botocore's `Stubber` standing in for AWS. Successful logins, which verify the pool's ID
token against a JWKS fetched over HTTP, are in test_cognito_login_served.py.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.cognitoidp.utils import check_secret_hash

from auth_service.cognito.client import cognito_client, secret_hash
from auth_service.cognito.login import (
    CognitoLogin,
    CognitoLoginError,
    CognitoMisconfiguredError,
    InvalidCredentialsError,
    InvalidLoginRequestError,
    LoginDeniedError,
    MfaRequiredError,
    NewPasswordRequiredError,
    PasswordResetRequiredError,
    SlowDownError,
    UnsupportedChallengeError,
    UserNotConfirmedError,
)
from auth_service.cognito.scopes import GroupScopes
from authorizer.errors import UnavailableError
from authorizer.tokens.cognito import cognito_verifier
from authorizer.tokens.keys import KeySet
from tests.unit import cognito_support as support
from tests.unit.cognito_support import GROUP_SCOPES, PASSWORD, Pool, create_pool

ROOT = Path(__file__).resolve().parents[2]


def _moto_public_jwks() -> dict[str, Any]:
    from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

    document: dict[str, Any] = json.loads(CognitoIdpJsonWebKeyResponse.json_web_key)
    return document


def unique(name: str) -> str:
    return f"{name}-{secrets.token_hex(4)}"


def login_for(pool: Pool, keys: Any, client: Any = None, client_id: str | None = None) -> CognitoLogin:
    client_id = client_id or pool.client_id
    return CognitoLogin(
        client or pool.client,
        user_pool_id=pool.pool_id,
        client_id=client_id,
        client_secret=pool.client_secret,
        verifier=cognito_verifier(keys, issuer=pool.issuer, token_use="id", client_ids=[client_id]),
        group_scopes=GroupScopes(GROUP_SCOPES, "profile"),
    )


# --------------------------------------------------------------------------- refusals on mock_aws


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for name, value in support.DUMMY_AWS_ENV.items():
            mp.setenv(name, value)
        yield create_pool(boto3.client("cognito-idp", region_name="us-east-1"))


@pytest.fixture
def login(pool: Pool) -> CognitoLogin:
    # Refusals never reach the ID token; moto's public key stands in for the fetched JWKS.
    return login_for(pool, KeySet.from_jwks(_moto_public_jwks()))


def refused(login: CognitoLogin, username: str, password: str = PASSWORD) -> CognitoLoginError:
    with pytest.raises(CognitoLoginError) as caught:
        login.authenticate(username, password)
    return caught.value


def test_wrong_password_and_unknown_user_are_the_same_401(pool: Pool, login: CognitoLogin) -> None:
    pool.add_user("alice")
    wrong = refused(login, "alice", "not the password")
    unknown = refused(login, "nobody")
    for error in (wrong, unknown):
        assert type(error) is InvalidCredentialsError
        assert (error.error, error.status, error.headers) == ("invalid_grant", 401, {})
    assert str(wrong) == str(unknown)


def test_disabled_user_is_invalid_grant(pool: Pool, login: CognitoLogin) -> None:
    pool.add_user("dora")
    pool.client.admin_disable_user(UserPoolId=pool.pool_id, Username="dora")
    assert type(refused(login, "dora")) is InvalidCredentialsError


def test_unconfirmed_user(pool: Pool, login: CognitoLogin) -> None:
    pool.client.sign_up(ClientId=pool.client_id, Username="una", Password=PASSWORD)
    error = refused(login, "una")
    assert isinstance(error, UserNotConfirmedError)
    assert (error.error, error.status) == ("user_not_confirmed", 403)


def test_new_password_required(pool: Pool, login: CognitoLogin) -> None:
    pool.client.admin_create_user(
        UserPoolId=pool.pool_id, Username="newbie", TemporaryPassword=PASSWORD, MessageAction="SUPPRESS"
    )
    error = refused(login, "newbie")
    assert isinstance(error, NewPasswordRequiredError)
    assert (error.error, error.status) == ("new_password_required", 403)


def test_sms_mfa_challenge(pool: Pool, login: CognitoLogin) -> None:
    pool.add_user("sam")
    pool.client.admin_set_user_mfa_preference(
        UserPoolId=pool.pool_id, Username="sam", SMSMfaSettings={"Enabled": True, "PreferredMfa": True}
    )
    error = refused(login, "sam")
    assert isinstance(error, MfaRequiredError)
    assert (error.error, error.status) == ("mfa_required", 403)
    assert "SMS_MFA" in str(error)


def test_software_token_mfa_challenge(pool: Pool, login: CognitoLogin) -> None:
    pool.add_user("tom")
    access = pool.tokens("tom")["AccessToken"]
    pool.client.associate_software_token(AccessToken=access)
    pool.client.verify_software_token(AccessToken=access, UserCode="123456")
    pool.client.admin_set_user_mfa_preference(
        UserPoolId=pool.pool_id,
        Username="tom",
        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
    )
    error = refused(login, "tom")
    assert isinstance(error, MfaRequiredError) and "SOFTWARE_TOKEN_MFA" in str(error)


@pytest.mark.parametrize(
    ("username", "password"),
    [("has space", PASSWORD), ("ctl\x00", PASSWORD), ("a" * 129, PASSWORD), ("alice", "p" * 257)],
    ids=["space-in-name", "control-in-name", "long-name", "long-password"],  # PASSWORD is random
)
def test_input_cognito_would_refuse_is_invalid_grant_without_a_call(
    pool: Pool, username: str, password: str
) -> None:
    with Stubber(pool.client):  # no responses queued: any call would fail the test
        login = login_for(pool, KeySet.from_jwks(_moto_public_jwks()))
        assert type(refused(login, username, password)) is InvalidCredentialsError


@pytest.mark.parametrize(
    ("code", "status", "kind", "error"),
    [
        ("PasswordResetRequiredException", 400, PasswordResetRequiredError, "password_reset_required"),
        ("TooManyRequestsException", 400, SlowDownError, "slow_down"),
        ("TooManyFailedAttemptsException", 400, SlowDownError, "slow_down"),
        ("UserLambdaValidationException", 400, LoginDeniedError, "access_denied"),
        ("ForbiddenException", 403, LoginDeniedError, "access_denied"),
        ("InvalidParameterException", 400, InvalidLoginRequestError, "invalid_request"),
        ("ResourceNotFoundException", 400, CognitoMisconfiguredError, "server_error"),
    ],
)
def test_cognito_errors_moto_cannot_produce(
    pool: Pool, login: CognitoLogin, code: str, status: int, kind: type[CognitoLoginError], error: str
) -> None:
    with Stubber(pool.client) as stub:
        stub.add_client_error("initiate_auth", code, "whatever Cognito says", status)
        found = refused(login, "alice")
    assert type(found) is kind and found.error == error
    if kind is SlowDownError:
        assert (found.status, found.headers) == (429, {"Retry-After": "1"})


def test_a_wrong_client_secret_is_misconfiguration_not_a_bad_password(
    pool: Pool, login: CognitoLogin
) -> None:
    with Stubber(pool.client) as stub:
        stub.add_client_error(
            "initiate_auth", "NotAuthorizedException", "Unable to verify secret hash for client abc", 400
        )
        error = refused(login, "alice")
    assert type(error) is CognitoMisconfiguredError and error.status == 500


@pytest.mark.parametrize("code", ["InternalErrorException", "UnexpectedLambdaException", "SomethingNew"])
def test_cognito_failures_are_unavailable(pool: Pool, login: CognitoLogin, code: str) -> None:
    with Stubber(pool.client) as stub:
        stub.add_client_error("initiate_auth", code, "boom", 500)
        with pytest.raises(UnavailableError):
            login.authenticate("alice", PASSWORD)


def test_unsupported_challenge(pool: Pool, login: CognitoLogin) -> None:
    with Stubber(pool.client) as stub:
        stub.add_response("initiate_auth", {"ChallengeName": "CUSTOM_CHALLENGE", "Session": "s" * 20})
        error = refused(login, "alice")
    assert isinstance(error, UnsupportedChallengeError) and error.status == 403


def test_unreachable_pool_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = cognito_client("us-east-1", f"http://127.0.0.1:{port}")  # nothing listens there
    pool = Pool(client, "us-east-1_Closed", "app")
    login = login_for(pool, KeySet.from_jwks(_moto_public_jwks()))
    with pytest.raises(UnavailableError, match="cannot be reached"):
        login.authenticate("alice", PASSWORD)


def test_secret_hash() -> None:
    # base64(HMAC-SHA256(secret, username + client id)), checked with moto's own implementation.
    value = secret_hash("client-secret", "alice", "client-id")
    assert check_secret_hash("client-secret", "client-id", "alice", value)
    assert not check_secret_hash("client-secret", "client-id", "bob", value)
