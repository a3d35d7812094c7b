"""`auth-service serve --cognito` over HTTP: logins through a user pool, token exchange, logout.

The pool lives in the server's embedded moto; the test talks to it with boto3 as a client app
would talk to Cognito (to get Cognito tokens of its own, or to sign a user up).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt
import pytest
import requests
from botocore.exceptions import ClientError

from auth_service.cognito.token_exchange import ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
from auth_service.sealing import COGNITO_REFRESH_TOKEN_CLAIM, open_sealed
from authorizer.tokens.claims import ORIGIN_CLAIM
from tests.e2e.conftest import CognitoService

pytestmark = pytest.mark.e2e

# README: the authorizer reuses a "not revoked" answer for AUTH_REVOCATION_CACHE_SECONDS (5).
REVOCATION_DELAY_BOUND = 5


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def cognito_tokens(service: CognitoService, username: str = "alice") -> dict[str, Any]:
    """Tokens straight from the user pool (InitiateAuth on the moto endpoint), not through us."""
    result: dict[str, Any] = service.cognito().initiate_auth(
        ClientId=service.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": service.password(username)},
    )["AuthenticationResult"]
    return result


def exchange(service: CognitoService, id_token: str) -> requests.Response:
    return requests.post(
        f"{service.url}/auth/token",
        data={
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": id_token,
            "subject_token_type": ID_TOKEN_TYPE,
        },
        timeout=10,
    )


def logout(service: CognitoService, access: str, refresh: str | None = None) -> requests.Response:
    return requests.post(
        f"{service.url}/auth/logout",
        headers={"Authorization": f"Bearer {access}"},
        json={"refresh_token": refresh} if refresh else None,
        timeout=10,
    )


def wait_until_all_refused(service: CognitoService, *tokens: str) -> None:
    """Every token refused at /me within the documented bound (plus a margin)."""
    deadline = time.monotonic() + REVOCATION_DELAY_BOUND + 2
    pending = list(tokens)
    while pending and time.monotonic() < deadline:
        statuses = {token: service.me(token).status_code for token in pending}
        assert set(statuses.values()) <= {200, 403}, statuses
        pending = [token for token, status in statuses.items() if status == 200]
        if pending:
            time.sleep(0.2)
    assert not pending, f"{len(pending)} token(s) still accepted after revocation"


def test_login_through_the_pool_and_logout(cognito_service: CognitoService) -> None:
    service = cognito_service
    response = service.login("alice")
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["scope"] == "profile orders:read"
    me = service.me(tokens["access_token"])
    assert me.status_code == 200
    pool_user = service.cognito().admin_get_user(UserPoolId=service.user_pool_id, Username="alice")
    sub = next(a["Value"] for a in pool_user["UserAttributes"] if a["Name"] == "sub")
    assert me.json()["sub"] == sub and me.json()["scope"] == "profile orders:read"

    # The Cognito refresh token of that login rides sealed in our refresh token.
    refresh = claims(tokens["refresh_token"])
    kid = jwt.get_unverified_header(tokens["refresh_token"])["kid"]
    cognito_refresh = open_sealed(service.ring, kid, refresh[COGNITO_REFRESH_TOKEN_CLAIM], refresh["sid"])
    assert cognito_refresh

    assert logout(service, tokens["access_token"], tokens["refresh_token"]).status_code == 204
    wait_until_all_refused(service, tokens["access_token"])
    again = requests.post(
        f"{service.url}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, timeout=10
    )
    assert again.status_code == 401
    # Logout revoked it at Cognito too (RevokeToken).
    with pytest.raises(ClientError, match="revoked"):
        service.cognito().initiate_auth(
            ClientId=service.client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": cognito_refresh},
        )


def test_exchange_of_a_cognito_id_token(cognito_service: CognitoService) -> None:
    service = cognito_service
    cognito = cognito_tokens(service, "bob")
    response = exchange(service, cognito["IdToken"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["scope"] == "profile"
    assert claims(body["access_token"])[ORIGIN_CLAIM] == claims(cognito["IdToken"])["origin_jti"]
    me = service.me(body["access_token"])
    assert me.status_code == 200 and me.json()["sub"] == claims(cognito["IdToken"])["sub"]


def test_me_accepts_a_cognito_access_token(cognito_service: CognitoService) -> None:
    service = cognito_service
    access = cognito_tokens(service, "alice")["AccessToken"]
    me = service.me(access)
    assert me.status_code == 200, me.text
    assert me.json()["sub"] == claims(access)["sub"]
    assert set(me.json()["scope"].split()) >= {"profile", "orders:read"}


def test_logout_of_an_exchanged_session_refuses_that_cognito_login(cognito_service: CognitoService) -> None:
    service = cognito_service
    cognito = cognito_tokens(service, "alice")
    ours = exchange(service, cognito["IdToken"]).json()
    assert service.me(cognito["AccessToken"]).status_code == 200
    assert logout(service, ours["access_token"]).status_code == 204
    # Our tokens and the Cognito access token of that login are refused from now on...
    wait_until_all_refused(service, ours["access_token"], cognito["AccessToken"])
    refused = exchange(service, cognito["IdToken"])
    # RFC 8693 §2.2.2: a subject token that is invalid for any reason is 400 invalid_request.
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
    # ...while another Cognito login of the same user is not.
    fresh = cognito_tokens(service, "alice")
    assert exchange(service, fresh["IdToken"]).status_code == 200


def test_wrong_password_and_unknown_user_are_401(cognito_service: CognitoService) -> None:
    for username, password in (("alice", "not the password"), ("nobody", "whatever it is")):
        response = cognito_service.login(username, password)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_grant"


def test_unconfirmed_user_is_403(cognito_service: CognitoService) -> None:
    username = f"new-{secrets.token_hex(4)}"
    password = "a long enough password"
    cognito_service.cognito().sign_up(
        ClientId=cognito_service.client_id, Username=username, Password=password
    )
    response = cognito_service.login(username, password)
    assert response.status_code == 403
    assert response.json()["error"] == "user_not_confirmed"
