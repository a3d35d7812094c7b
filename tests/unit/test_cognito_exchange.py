"""POST /auth/token: RFC 8693 exchange of a Cognito ID or access token for a pair of ours.

The handlers run against a moto server: the subject token is verified with the pool's JWKS,
fetched over HTTP by our `JwksCache`, and checked against the denylist on the same server.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest

from auth_service import runtime
from auth_service.cognito.token_exchange import ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
from auth_service.denylist import Denylist
from auth_service.keys import load_key_ring
from auth_service.sealing import COGNITO_REFRESH_TOKEN_CLAIM
from authorizer.gateway.authorization import Authorizer
from authorizer.tokens.claims import ORIGIN_CLAIM, TokenClaims
from authorizer.tokens.revocation import LOGIN_REVOKED, RevocationList, origin_key
from tests.unit import cognito_support as support
from tests.unit.cognito_support import DENYLIST, Pool, create_pool
from tests.unit.test_service_handlers import http_event, payload

FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with support.moto_server() as url:
        support.prepare_tables(url)
        yield url


@pytest.fixture(scope="module")
def pool(endpoint: str) -> Pool:
    return create_pool(support.aws_client("cognito-idp", endpoint), endpoint=endpoint)


@pytest.fixture(scope="module")
def service(endpoint: str, pool: Pool, rsa_pem: str) -> Iterator[dict[str, Any]]:
    with support.handlers(support.service_environment(endpoint, pool, rsa_pem)) as modules:
        yield modules


@pytest.fixture
def user(pool: Pool) -> tuple[str, str]:
    """A new user of the pool, in the `orders` group: (username, sub)."""
    name = f"user-{secrets.token_hex(4)}"
    return name, pool.add_user(name, groups=["orders"])


def exchange(service: dict[str, Any], *, as_json: bool = False, **params: str) -> dict[str, Any]:
    body = json.dumps(params) if as_json else urlencode(params)
    event = http_event("POST", "/auth/token", body, content_type="application/json" if as_json else FORM)
    response: dict[str, Any] = service["token"].handler(event, None)
    return response


def exchange_token(service: dict[str, Any], token: str, token_type: str = ID_TOKEN_TYPE, **extra: str) -> Any:
    return exchange(
        service, grant_type=TOKEN_EXCHANGE_GRANT, subject_token=token, subject_token_type=token_type, **extra
    )


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_exchange_of_an_id_token(service: dict[str, Any], pool: Pool, user: tuple[str, str]) -> None:
    cognito = pool.tokens(user[0])
    response = exchange_token(service, cognito["IdToken"])
    assert response["statusCode"] == 200, response
    assert response["headers"]["Cache-Control"] == "no-store"
    body = payload(response)
    assert set(body) == {
        "access_token",
        "issued_token_type",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
    }
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["scope"] == "profile orders:read orders:write"
    access, refresh = claims(body["access_token"]), claims(body["refresh_token"])
    assert access["sub"] == user[1] and access["iss"] == support.ISSUER
    origin = claims(cognito["IdToken"])["origin_jti"]
    assert access[ORIGIN_CLAIM] == refresh[ORIGIN_CLAIM] == origin
    assert COGNITO_REFRESH_TOKEN_CLAIM not in refresh  # we never held the Cognito refresh token
    # An ordinary session of ours: it refreshes.
    refreshed = service["refresh"].handler(
        http_event("POST", "/auth/refresh", {"refresh_token": body["refresh_token"]}), None
    )
    assert refreshed["statusCode"] == 200


def test_exchange_of_an_access_token_as_json(
    service: dict[str, Any], pool: Pool, user: tuple[str, str]
) -> None:
    access_token = pool.tokens(user[0])["AccessToken"]
    response = exchange(
        service,
        as_json=True,
        grant_type=TOKEN_EXCHANGE_GRANT,
        subject_token=access_token,
        subject_token_type=ACCESS_TOKEN_TYPE,
        requested_token_type=ACCESS_TOKEN_TYPE,
        audience=support.AUDIENCE,
    )
    assert response["statusCode"] == 200, response
    assert claims(payload(response)["access_token"])["sub"] == user[1]


def test_a_narrower_scope_can_be_asked_for(
    service: dict[str, Any], pool: Pool, user: tuple[str, str]
) -> None:
    token = pool.tokens(user[0])["IdToken"]
    narrow = exchange_token(service, token, scope="orders:read profile")
    assert payload(narrow)["scope"] == "orders:read profile"
    wider = exchange_token(service, token, scope="profile admin")
    assert wider["statusCode"] == 400 and payload(wider)["error"] == "invalid_scope"


def test_token_of_another_pool_is_refused(service: dict[str, Any], endpoint: str, pool: Pool) -> None:
    other = create_pool(pool.client, endpoint=endpoint)
    other.add_user("mallory")
    # moto signs every pool's tokens with the same key: only the issuer tells them apart.
    response = exchange_token(service, other.tokens("mallory")["IdToken"])
    assert response["statusCode"] == 400
    assert payload(response)["error"] == "invalid_request"
    assert "issuer" in payload(response)["error_description"]


def test_token_of_another_app_client_is_refused(
    service: dict[str, Any], pool: Pool, user: tuple[str, str]
) -> None:
    other_client, _ = pool.new_client()
    tokens = pool.tokens(user[0], client_id=other_client)
    for token, token_type in ((tokens["IdToken"], ID_TOKEN_TYPE), (tokens["AccessToken"], ACCESS_TOKEN_TYPE)):
        response = exchange_token(service, token, token_type)
        assert response["statusCode"] == 400, response
        assert payload(response)["error"] == "invalid_request"


def test_wrong_token_use_is_refused(service: dict[str, Any], pool: Pool, user: tuple[str, str]) -> None:
    tokens = pool.tokens(user[0])
    for token, declared in ((tokens["IdToken"], ACCESS_TOKEN_TYPE), (tokens["AccessToken"], ID_TOKEN_TYPE)):
        response = exchange_token(service, token, declared)
        assert response["statusCode"] == 400
        # Refused for its claims: an ID token lacks `client_id`, an access token has the wrong `token_use`.
        assert payload(response)["error"] == "invalid_request"


def test_our_own_tokens_and_garbage_are_refused(
    service: dict[str, Any], pool: Pool, user: tuple[str, str]
) -> None:
    ours = payload(exchange_token(service, pool.tokens(user[0])["IdToken"]))
    for token in (ours["access_token"], ours["refresh_token"], "not.a.token", "x" * 9000):
        response = exchange_token(service, token, ACCESS_TOKEN_TYPE)
        assert response["statusCode"] == 400, response


def test_logout_of_an_exchanged_session_refuses_the_cognito_login(
    service: dict[str, Any], endpoint: str, pool: Pool, user: tuple[str, str]
) -> None:
    cognito = pool.tokens(user[0])
    ours = payload(exchange_token(service, cognito["IdToken"]))
    logout = service["logout"].handler(
        http_event("POST", "/auth/logout", None, content_type=None, token=ours["access_token"]), None
    )
    assert logout["statusCode"] == 204
    origin = claims(cognito["AccessToken"])["origin_jti"]
    dynamodb = support.aws_client("dynamodb", endpoint)
    assert "Item" in dynamodb.get_item(TableName=DENYLIST, Key={"pk": {"S": origin_key(origin)}})
    # Neither of that login's Cognito tokens can be exchanged again...
    for token, token_type in (
        (cognito["IdToken"], ID_TOKEN_TYPE),
        (cognito["AccessToken"], ACCESS_TOKEN_TYPE),
    ):
        refused = exchange_token(service, token, token_type)
        assert refused["statusCode"] == 400
        assert payload(refused)["error_description"] == LOGIN_REVOKED
    # ...and the authorizer's read of the denylist refuses them too.
    access = claims(cognito["AccessToken"])
    lookup = RevocationList(dynamodb, DENYLIST, cache_seconds=0).lookup(
        TokenClaims(
            sub=access["sub"], jti=access["jti"], iat=access["iat"], exp=access["exp"], origin_jti=origin
        )
    )
    assert lookup == LOGIN_REVOKED
    # A new Cognito login of the same user is another origin: it exchanges fine.
    assert exchange_token(service, pool.tokens(user[0])["IdToken"])["statusCode"] == 200


def test_a_user_signed_out_everywhere_is_refused(
    service: dict[str, Any], endpoint: str, pool: Pool, user: tuple[str, str]
) -> None:
    token = pool.tokens(user[0])["IdToken"]
    time.sleep(0.01)
    denylist = Denylist(
        support.aws_client("dynamodb", endpoint), DENYLIST, max_token_lifetime=3600, leeway=30
    )
    denylist.revoke_user(user[1], "operator")
    refused = exchange_token(service, token)
    assert refused["statusCode"] == 400
    assert payload(refused)["error_description"] == "user signed out everywhere"


# --------------------------------------------------------------------------- one Cognito login, many sessions


@pytest.fixture(scope="module")
def authorizer(endpoint: str, rsa_pem: str) -> Authorizer:
    authorizer: Authorizer = support.our_authorizer(endpoint, load_key_ring(rsa_pem).jwks())
    return authorizer


def call(service: dict[str, Any], name: str, body: Any, **options: Any) -> dict[str, Any]:
    path = {"refresh": "/auth/refresh", "logout": "/auth/logout", "revoke": "/auth/revoke"}.get(name)
    path = path or f"/auth/{name}"
    response: dict[str, Any] = service[name].handler(http_event("POST", path, body, **options), None)
    return response


def active(service: dict[str, Any], token: str) -> bool:
    caller = runtime.token_issuer().issue("auditor", "introspect").access_token
    answer = call(service, "introspect", urlencode({"token": token}), content_type=FORM, token=caller)
    assert answer["statusCode"] == 200, answer
    return bool(payload(answer)["active"])


@pytest.mark.parametrize("ending", ["logout", "refresh token reuse", "RFC 7009 revocation"])
def test_ending_one_session_of_a_cognito_login_ends_every_session_of_it(
    service: dict[str, Any], pool: Pool, user: tuple[str, str], authorizer: Authorizer, ending: str
) -> None:
    cognito = pool.tokens(user[0])
    a = payload(exchange_token(service, cognito["IdToken"]))
    b = payload(exchange_token(service, cognito["AccessToken"], ACCESS_TOKEN_TYPE))
    assert support.authorizes(authorizer, b["access_token"]) and active(service, b["refresh_token"])
    if ending == "logout":
        ended = call(service, "logout", {"refresh_token": a["refresh_token"]}, token=a["access_token"])
        assert ended["statusCode"] == 204
    elif ending == "refresh token reuse":
        assert call(service, "refresh", {"refresh_token": a["refresh_token"]})["statusCode"] == 200
        assert call(service, "refresh", {"refresh_token": a["refresh_token"]})["statusCode"] == 401
    else:
        body = urlencode({"token": a["refresh_token"], "token_type_hint": "refresh_token"})
        assert call(service, "revoke", body, content_type=FORM)["statusCode"] == 200
    # Session B of the same Cognito login: refused by the authorizer, by refresh, by introspection.
    assert not support.authorizes(authorizer, b["access_token"])
    assert not active(service, b["access_token"]) and not active(service, b["refresh_token"])
    refused = call(service, "refresh", {"refresh_token": b["refresh_token"]})
    assert refused["statusCode"] == 401 and payload(refused)["error_description"] == LOGIN_REVOKED
    # And that login's Cognito tokens are exchanged no more.
    for token, token_type in (
        (cognito["IdToken"], ID_TOKEN_TYPE),
        (cognito["AccessToken"], ACCESS_TOKEN_TYPE),
    ):
        again = exchange_token(service, token, token_type)
        assert again["statusCode"] == 400 and payload(again)["error_description"] == LOGIN_REVOKED


# --------------------------------------------------------------------------- a sign-out in flight


def test_an_exchange_racing_a_sign_out_is_refused_and_never_again_possible(
    service: dict[str, Any], endpoint: str, pool: Pool, user: tuple[str, str], authorizer: Authorizer
) -> None:
    """The sign-out is written after the exchange checked the Cognito token, before its session
    starts (whose read of the user's item sees it): refused, no pair; and that Cognito token
    (minted before the sign-out) is refused from then on."""
    name, sub = user
    cognito = pool.tokens(name)
    denylist = Denylist(
        support.aws_client("dynamodb", endpoint), DENYLIST, max_token_lifetime=3600, leeway=30
    )
    with support.signing_out_as_the_session_starts(denylist, sub) as done:
        raced = exchange_token(service, cognito["IdToken"])
    assert done
    assert raced["statusCode"] == 400, raced
    assert payload(raced) == {
        "error": "invalid_request",
        "error_description": "the user was signed out while this sign-in was in progress; log in again",
    }
    time.sleep(1.1)  # past the "not before": still refused, by the Cognito login's auth_time
    for token, token_type in (
        (cognito["IdToken"], ID_TOKEN_TYPE),
        (cognito["AccessToken"], ACCESS_TOKEN_TYPE),
    ):
        again = exchange_token(service, token, token_type)
        assert (
            again["statusCode"] == 400 and payload(again)["error_description"] == "user signed out everywhere"
        )
    # A new Cognito login is a new session: it exchanges.
    fresh = payload(exchange_token(service, pool.tokens(name)["IdToken"]))
    assert support.authorizes(authorizer, fresh["access_token"])


def test_exchanges_while_a_sign_out_is_being_written_leave_no_session_alive(
    service: dict[str, Any], endpoint: str, pool: Pool, user: tuple[str, str], authorizer: Authorizer
) -> None:
    """The sign-out's PutItem is held back 1.3 s (a botocore hook in the revoker's client, as an
    SDK retry would delay it); exchanges of a Cognito token minted before it go on meanwhile.
    Once `revoke_user` has returned, none of the sessions they started works anywhere."""
    name, sub = user
    cognito = pool.tokens(name)
    client = support.aws_client("dynamodb", endpoint)
    client.meta.events.register("before-send.dynamodb.PutItem", lambda **_: time.sleep(1.3))
    denylist = Denylist(client, DENYLIST, max_token_lifetime=3600, leeway=30)
    signing_out = threading.Thread(target=denylist.revoke_user, args=(sub, "operator"))
    started = time.time()
    signing_out.start()
    pairs = []
    while signing_out.is_alive():
        answer = exchange_token(service, cognito["IdToken"])
        if answer["statusCode"] != 200:
            break
        pairs.append(payload(answer))
        time.sleep(0.1)
    signing_out.join()
    assert any(claims(pair["access_token"])["iat"] >= math.floor(started) + 1 for pair in pairs), (
        "no exchange signed a pair from the not-before on: the race did not happen"
    )
    for pair in pairs:
        assert not support.authorizes(authorizer, pair["access_token"])
        assert not active(service, pair["access_token"]) and not active(service, pair["refresh_token"])
    for pair in pairs:
        refused = call(service, "refresh", {"refresh_token": pair["refresh_token"]})
        assert (
            refused["statusCode"] == 401
            and payload(refused)["error_description"] == "user signed out everywhere"
        )
    again = exchange_token(service, cognito["IdToken"])
    assert again["statusCode"] == 400 and payload(again)["error_description"] == "user signed out everywhere"


def test_a_cognito_login_in_the_second_of_a_sign_out_counts_as_before_it(
    service: dict[str, Any], endpoint: str, pool: Pool, user: tuple[str, str]
) -> None:
    name, sub = user
    denylist = Denylist(
        support.aws_client("dynamodb", endpoint), DENYLIST, max_token_lifetime=3600, leeway=30
    )
    while time.time() % 1 > 0.5:  # leave the second room for a Cognito login after the sign-out
        time.sleep(0.05)
    sign_out = denylist.revoke_user(sub, "operator")
    cognito = pool.tokens(name)  # Cognito's auth_time has whole seconds: the sign-out's second
    assert claims(cognito["IdToken"])["auth_time"] == sign_out.not_before - 1
    refused = exchange_token(service, cognito["IdToken"])
    assert (
        refused["statusCode"] == 400 and payload(refused)["error_description"] == "user signed out everywhere"
    )


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
        ({"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token_type": ID_TOKEN_TYPE}, "invalid_request"),
        ({"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": "t"}, "invalid_request"),
        (
            {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": "t", "subject_token_type": "urn:x:saml2"},
            "invalid_request",
        ),
        (
            {
                "grant_type": TOKEN_EXCHANGE_GRANT,
                "subject_token": "t",
                "subject_token_type": ID_TOKEN_TYPE,
                "actor_token": "a",
                "actor_token_type": ACCESS_TOKEN_TYPE,
            },
            "invalid_request",
        ),
        (
            {
                "grant_type": TOKEN_EXCHANGE_GRANT,
                "subject_token": "t",
                "subject_token_type": ID_TOKEN_TYPE,
                "requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token",
            },
            "invalid_request",
        ),
        (
            {
                "grant_type": TOKEN_EXCHANGE_GRANT,
                "subject_token": "t",
                "subject_token_type": ID_TOKEN_TYPE,
                "audience": "someone-else",
            },
            "invalid_target",
        ),
    ],
)
def test_bad_requests_are_400(service: dict[str, Any], params: dict[str, str], error: str) -> None:
    response = exchange(service, **params)
    assert response["statusCode"] == 400, response
    assert payload(response)["error"] == error


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("grant_type=a&grant_type=b", FORM, 400),
        ('{"grant_type": 5}', "application/json", 400),
        ("[]", "application/json", 400),
        ("grant_type=x", "text/plain", 415),
    ],
)
def test_malformed_bodies_are_4xx(service: dict[str, Any], body: str, content_type: str, status: int) -> None:
    response = service["token"].handler(
        http_event("POST", "/auth/token", body, content_type=content_type), None
    )
    assert response["statusCode"] == status, response


def test_without_a_user_pool_no_grant_is_supported(endpoint: str, rsa_pem: str) -> None:
    env = {
        "AUTH_ISSUER": support.ISSUER,
        "AUTH_AUDIENCE": support.AUDIENCE,
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AUTH_USERS_TABLE": support.USERS,
        "AUTH_SIGNING_KEY": rsa_pem,
        "AUTH_DYNAMODB_ENDPOINT": endpoint,
    }
    with support.handlers(env) as modules:
        response = modules["token"].handler(
            http_event(
                "POST",
                "/auth/token",
                urlencode({"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": "t"}),
                content_type=FORM,
            ),
            None,
        )
    assert response["statusCode"] == 400
    assert payload(response)["error"] == "unsupported_grant_type"
