"""The whole token lifecycle over HTTP against `auth-service serve`."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests

from tests.e2e.conftest import Service, cli, log_out
from tests.e2e.container_log import labelled_records

pytestmark = pytest.mark.e2e

# README: not-revoked answers are cached by the authorizer for AUTH_REVOCATION_CACHE_SECONDS (5),
# and serverless.yml leaves API Gateway's own result cache off (0).
REVOCATION_DELAY_BOUND = 5


def wait_until_refused(service: Service, token: str) -> float:
    """Seconds until /me refuses `token`; fails past the documented bound (plus a margin)."""
    start = time.monotonic()
    while time.monotonic() - start < REVOCATION_DELAY_BOUND + 2:
        status = service.me(token).status_code
        assert status in (200, 403), status
        if status == 403:
            return time.monotonic() - start
        time.sleep(0.2)
    pytest.fail(f"token still accepted {REVOCATION_DELAY_BOUND + 2} s after revocation")


def test_discovery_and_jwks(service: Service) -> None:
    config = requests.get(f"{service.url}/.well-known/openid-configuration", timeout=10).json()
    assert config["issuer"] == service.url
    assert config["jwks_uri"] == f"{service.url}/.well-known/jwks.json"
    assert config["revocation_endpoint"] == f"{service.url}/auth/revoke"
    jwks = requests.get(config["jwks_uri"], timeout=10).json()
    assert [key["kid"] for key in jwks["keys"]] == [service.ring.current.kid]
    assert all("d" not in key for key in jwks["keys"])


def test_login_me_refresh_logout(service: Service) -> None:
    tokens = service.login()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    me = service.me(tokens["access_token"])
    assert me.status_code == 200
    assert me.json()["scope"] == "profile orders:read"
    assert me.json()["sid"]

    refreshed = requests.post(
        f"{service.url}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, timeout=10
    )
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert service.me(new["access_token"]).status_code == 200

    log_out(service.url, new)
    wait_until_refused(service, new["access_token"])
    # The first access token belongs to the same session: it is gone too.
    wait_until_refused(service, tokens["access_token"])
    again = requests.post(
        f"{service.url}/auth/refresh", json={"refresh_token": new["refresh_token"]}, timeout=10
    )
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_grant"


def test_refresh_token_reuse_revokes_the_session(service: Service) -> None:
    tokens = service.login("bob")
    first = requests.post(
        f"{service.url}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, timeout=10
    )
    assert first.status_code == 200
    stolen = requests.post(
        f"{service.url}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, timeout=10
    )
    assert stolen.status_code == 401
    # The legitimate holder's newest tokens die with the session.
    assert service.me(first.json()["access_token"]).status_code == 403
    rotated = requests.post(
        f"{service.url}/auth/refresh", json={"refresh_token": first.json()["refresh_token"]}, timeout=10
    )
    assert rotated.status_code == 401


def test_concurrent_refresh_has_one_winner(service: Service) -> None:
    refresh = f"{service.url}/auth/refresh"
    # Warm refresh containers first (serve runs several per function), so the uses below run
    # at the same moment in different processes, not one after another behind a cold start.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: requests.post(refresh, json={"refresh_token": "x"}, timeout=30), range(8)))
    tokens = service.login("bob")
    jti = jwt.decode(tokens["refresh_token"], options={"verify_signature": False})["jti"]
    barrier = threading.Barrier(6)

    def use(_: int) -> int:
        barrier.wait()
        return requests.post(refresh, json={"refresh_token": tokens["refresh_token"]}, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(use, range(6)))
    assert sorted(statuses) == [200] + [401] * 5
    # They really raced: the token was judged in more than one container.
    time.sleep(0.5)  # let the drain thread catch up with the server's output
    records = labelled_records(service.output, "refresh")
    judged_in = {line.container for line in records if line.record.get("jti") == jti}
    assert len(judged_in) > 1, judged_in


def test_bad_credentials_answer_alike(service: Service) -> None:
    wrong = requests.post(
        f"{service.url}/auth/login", json={"username": "alice", "password": "nope nope"}, timeout=10
    )
    unknown = requests.post(
        f"{service.url}/auth/login", json={"username": "mallory", "password": "nope nope"}, timeout=10
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {
            "error": "invalid_grant",
            "error_description": "invalid username or password",
        }
    )


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Content-Type": "application/json"}, b"{not json", 400),
        ({"Content-Type": "application/json"}, b"[1, 2]", 400),
        ({"Content-Type": "application/json"}, b'{"username": "alice"}', 400),
        ({"Content-Type": "application/json"}, b'{"username": 1, "password": 2}', 400),
        ({"Content-Type": "text/plain"}, b'{"username": "a", "password": "b"}', 415),
        ({"Content-Type": "application/json"}, b'{"username": "' + b"a" * 20000 + b'"}', 413),
        ({"Content-Type": "application/json"}, b"\xff\xfe", 400),
    ],
)
def test_bad_input_is_a_clear_4xx(
    service: Service, headers: dict[str, str], body: bytes, status: int
) -> None:
    for path in ("/auth/login", "/auth/refresh"):
        response = requests.post(f"{service.url}{path}", headers=headers, data=body, timeout=10)
        assert response.status_code == status, (path, response.text)
        assert response.json()["error"] == "invalid_request"


def test_revoke_and_introspect(service: Service) -> None:
    admin = service.login("carol")["access_token"]
    tokens = service.login("alice")

    def introspect(token: str, caller: str | None = admin) -> requests.Response:
        headers = {"Authorization": f"Bearer {caller}"} if caller else {}
        return requests.post(
            f"{service.url}/auth/introspect", data={"token": token}, headers=headers, timeout=10
        )

    assert introspect(tokens["access_token"], caller=None).status_code == 401
    assert introspect(tokens["access_token"], caller=tokens["access_token"]).status_code == 403
    active = introspect(tokens["access_token"]).json()
    assert active["active"] is True and active["token_type"] == "Bearer" and active["token_use"] == "access"
    assert introspect(tokens["refresh_token"]).json()["token_use"] == "refresh"

    revoked = requests.post(
        f"{service.url}/auth/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        timeout=10,
    )
    assert revoked.status_code == 200
    assert introspect(tokens["refresh_token"]).json() == {"active": False}
    # RFC 7009 §2.1: revoking the refresh token ends the access tokens of its grant.
    assert introspect(tokens["access_token"]).json() == {"active": False}
    assert service.me(tokens["access_token"]).status_code == 403
    garbage = requests.post(f"{service.url}/auth/revoke", data={"token": "garbage"}, timeout=10)
    assert garbage.status_code == 200


def test_operator_signs_a_user_out_everywhere(service: Service) -> None:
    tokens = service.login("alice")
    other_session = service.login("alice")
    assert service.me(tokens["access_token"]).status_code == 200
    result = cli("revoke", "--user", "alice", "--dynamodb-endpoint", service.dynamodb_endpoint)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["revoked"] == "user"
    delay = wait_until_refused(service, tokens["access_token"])
    assert delay <= REVOCATION_DELAY_BOUND + 1
    assert service.me(other_session["access_token"]).status_code == 403
    refresh = requests.post(
        f"{service.url}/auth/refresh", json={"refresh_token": other_session["refresh_token"]}, timeout=10
    )
    assert refresh.status_code == 401
    # Signing out everywhere does not lock the user out: a new login works at once.
    fresh = service.login("alice")
    assert service.me(fresh["access_token"]).status_code == 200


def test_route_scope_is_enforced(service: Service) -> None:
    # dave has a valid token but not the `profile` scope GET /me requires.
    token = service.login("dave")["access_token"]
    assert service.me(token).status_code == 403


def test_missing_credentials_is_401(service: Service) -> None:
    assert requests.get(f"{service.url}/me", timeout=10).status_code == 401
    logout = requests.post(f"{service.url}/auth/logout", timeout=10)
    assert logout.status_code == 401


def test_logs_hold_no_secrets(service: Service) -> None:
    tokens = service.login("bob")
    service.me(tokens["access_token"])
    requests.post(f"{service.url}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, timeout=10)
    requests.post(
        f"{service.url}/auth/logout",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    # A refresh token is no access token: the authorizer logs this refusal (and allowed requests
    # only with AUTH_LOG_ALLOWED).
    assert service.me(tokens["refresh_token"]).status_code == 403
    time.sleep(0.5)  # let the drain thread catch up with the server's output
    log = "".join(service.output)
    assert '"event": "authorize"' in log and '"event": "logout"' in log  # the log is really captured
    secrets = [tokens["access_token"], tokens["refresh_token"], "tr0ub4dor&3 staple", "PRIVATE KEY"]
    # Any third of a token is enough to be a leak.
    secrets += [tokens["access_token"].split(".")[i] for i in (1, 2)]
    for secret in secrets:
        assert secret not in log
