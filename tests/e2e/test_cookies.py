"""Browser sessions over HTTP: `auth-service serve --cookies`, spoken to with `requests`.

Cookies are handled by hand (Set-Cookie parsed here, Cookie sent explicitly), so every attribute
the server sets is asserted exactly and nothing depends on a client's cookie policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from auth_service.keys import generate_private_key_pem
from tests.e2e.conftest import USERS
from tests.e2e.serve_process import ServeProcess, running_serve

pytestmark = pytest.mark.e2e

ACCESS, REFRESH, CSRF = "__Host-access_token", "__Secure-refresh_token", "__Host-csrf_token"
ACCESS_TTL, REFRESH_TTL = 600, 3600
OTHER_SITE = "https://evil.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    workdir: Path = tmp_path_factory.mktemp("serve-cookies")
    users = workdir / "users.json"
    users.write_text(json.dumps({"users": USERS}))
    key = workdir / "signing-key.pem"
    key.write_text(generate_private_key_pem("RS256"))
    environment = {
        "AUTH_ACCESS_TOKEN_TTL": str(ACCESS_TTL),
        "AUTH_REFRESH_TOKEN_TTL": str(REFRESH_TTL),
        # The authorizer's not-revoked cache would keep a logged-out cookie working for 5 s.
        "AUTH_REVOCATION_CACHE_SECONDS": "0",
    }
    with running_serve(
        ["--cookies", "--users", str(users), "--signing-key", str(key)], environment
    ) as served:
        yield served


@dataclass
class Browser:
    """A cookie jar that keeps exactly what the server set (by name and path), as a browser would."""

    server: ServeProcess
    jar: dict[tuple[str, str], str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.server.port}"

    def cookie_header(self, path: str) -> str:
        return "; ".join(
            f"{name}={value}"
            for (name, cookie_path), value in self.jar.items()
            if path.startswith(cookie_path)
        )

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: object
    ) -> requests.Response:
        sent = {"Origin": self.origin, **(headers or {})}
        if cookie := self.cookie_header(path):
            sent["Cookie"] = cookie
        response = requests.request(method, f"{self.server.url}{path}", headers=sent, timeout=10, **kwargs)  # type: ignore[arg-type]
        self.set_cookies = set_cookie_headers(response)
        for line in self.set_cookies:
            name, value, attributes = parse_set_cookie(line)
            key = (name, attributes["path"])
            if attributes["max-age"] == "0":
                self.jar.pop(key, None)
            else:
                self.jar[key] = value
        return response

    def csrf(self) -> str:
        return self.jar[(CSRF, "/")]

    def login(self, username: str = "alice") -> requests.Response:
        password = next(u["password"] for u in USERS if u["username"] == username)
        body = {"username": username, "password": password}
        return self.request("POST", "/auth/login", {"X-Token-Delivery": "cookie"}, json=body)


def set_cookie_headers(response: requests.Response) -> list[str]:
    raw = response.raw._original_response  # http.client keeps each Set-Cookie header apart
    return list(raw.msg.get_all("Set-Cookie") or [])


def parse_set_cookie(line: str) -> tuple[str, str, dict[str, str]]:
    first, *rest = (part.strip() for part in line.split(";"))
    name, _, value = first.partition("=")
    attributes = {}
    for attribute in rest:
        key, _, attribute_value = attribute.partition("=")
        attributes[key.lower()] = attribute_value
    return name, value, attributes


@pytest.fixture
def browser(server: ServeProcess) -> Browser:
    return Browser(server)


def test_login_sets_exactly_the_session_cookies(browser: Browser) -> None:
    response = browser.login()
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "refresh_expires_in", "scope", "csrf_token"}
    assert body["token_type"] == "cookie"
    assert (body["expires_in"], body["refresh_expires_in"]) == (ACCESS_TTL, REFRESH_TTL)
    assert "access_token" not in response.text and "refresh_token" not in response.text
    parsed = [parse_set_cookie(line) for line in browser.set_cookies]
    assert [(name, attrs["path"]) for name, _, attrs in parsed] == [
        (ACCESS, "/"),
        (REFRESH, "/auth/refresh"),
        (REFRESH, "/auth/logout"),
        (CSRF, "/"),
    ]
    token = browser.jar[(ACCESS, "/")]
    refresh = browser.jar[(REFRESH, "/auth/refresh")]
    strict = "Secure; HttpOnly; SameSite=Strict"
    assert browser.set_cookies == [
        f"{ACCESS}={token}; Path=/; Max-Age={ACCESS_TTL}; {strict}",
        f"{REFRESH}={refresh}; Path=/auth/refresh; Max-Age={REFRESH_TTL}; {strict}",
        f"{REFRESH}={refresh}; Path=/auth/logout; Max-Age={REFRESH_TTL}; {strict}",
        # The csrf cookie is the one the page's script reads: not HttpOnly, same value as the body.
        f"{CSRF}={body['csrf_token']}; Path=/; Max-Age={REFRESH_TTL}; Secure; SameSite=Strict",
    ]
    assert not any("Domain" in line for line in browser.set_cookies)


def test_me_with_the_cookie(browser: Browser) -> None:
    assert browser.login().status_code == 200
    me = browser.request("GET", "/me")
    assert me.status_code == 200, me.text
    assert me.json()["scope"] == "profile orders:read"


def test_refresh_with_csrf_rotates_every_cookie(browser: Browser) -> None:
    browser.login()
    before = dict(browser.jar)
    response = browser.request("POST", "/auth/refresh", {"X-CSRF-Token": browser.csrf()})
    assert response.status_code == 200, response.text
    assert response.json()["csrf_token"] == browser.csrf()
    assert len(browser.set_cookies) == 4
    assert all(browser.jar[key] != value for key, value in before.items())
    assert browser.request("GET", "/me").status_code == 200
    # The retired refresh cookie is refused, and its reuse ends the session.
    stale = requests.post(
        f"{browser.server.url}/auth/refresh",
        headers={
            "Origin": browser.origin,
            "Cookie": f"{REFRESH}={before[(REFRESH, '/auth/refresh')]}; {CSRF}={before[(CSRF, '/')]}",
            "X-CSRF-Token": before[(CSRF, "/")],
        },
        timeout=10,
    )
    assert stale.status_code == 401 and stale.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-csrf-header"),
        pytest.param({"X-CSRF-Token": "not-the-cookie"}, id="wrong-csrf-header"),
        pytest.param({"X-CSRF-Token": "{csrf}", "Origin": OTHER_SITE}, id="other-origin"),
        pytest.param({"X-CSRF-Token": "{csrf}", "Origin": "null"}, id="null-origin"),
    ],
)
@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
def test_csrf_failures_are_403_and_leave_the_session_intact(
    browser: Browser, path: str, headers: dict[str, str]
) -> None:
    browser.login()
    before = dict(browser.jar)
    sent = {k: v.format(csrf=browser.csrf()) for k, v in headers.items()}
    response = browser.request("POST", path, sent)
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "csrf"
    assert browser.set_cookies == [] and browser.jar == before
    assert browser.request("GET", "/me").status_code == 200
    assert browser.request("POST", "/auth/refresh", {"X-CSRF-Token": browser.csrf()}).status_code == 200


def test_a_planted_csrf_cookie_does_not_pair_with_the_session(browser: Browser) -> None:
    browser.login()
    # Cookie tossing: header and csrf cookie agree, but they are not the session's CSRF token.
    browser.jar[(CSRF, "/")] = "attacker-chosen-value"
    refused = browser.request("POST", "/auth/refresh", {"X-CSRF-Token": "attacker-chosen-value"})
    assert refused.status_code == 403 and refused.json()["error"] == "csrf"


def test_cross_site_form_post_is_refused(browser: Browser) -> None:
    browser.login()
    form = browser.request(
        "POST",
        "/auth/logout",
        {
            "Origin": OTHER_SITE,
            "Content-Type": "application/x-www-form-urlencoded",
            "Sec-Fetch-Site": "cross-site",
        },
        data="x=1",
    )
    assert form.status_code == 403 and form.json()["error"] == "csrf"
    assert browser.request("GET", "/me").status_code == 200


def test_logout_clears_the_cookies_and_ends_the_session(browser: Browser) -> None:
    browser.login()
    session = dict(browser.jar)
    response = browser.request("POST", "/auth/logout", {"X-CSRF-Token": browser.csrf()})
    assert response.status_code == 204, response.text
    assert [parse_set_cookie(line)[:2] for line in browser.set_cookies] == [
        (ACCESS, ""),
        (REFRESH, ""),
        (REFRESH, ""),
        (CSRF, ""),
    ]
    assert all("Max-Age=0" in line for line in browser.set_cookies)
    assert browser.jar == {}
    assert browser.request("GET", "/me").status_code == 403
    # The cookies' old values are dead too, not merely forgotten by this client.
    browser.jar.update(session)
    assert browser.request("GET", "/me").status_code == 403
    again = browser.request("POST", "/auth/refresh", {"X-CSRF-Token": browser.csrf()})
    assert again.status_code == 401


def test_logout_after_the_access_cookie_expired(browser: Browser) -> None:
    browser.login()
    del browser.jar[(ACCESS, "/")]  # what a browser does once its Max-Age has passed
    remaining = dict(browser.jar)
    assert browser.request("POST", "/auth/logout", {"Origin": OTHER_SITE}).status_code == 403
    response = browser.request("POST", "/auth/logout", {"X-CSRF-Token": browser.csrf()})
    assert response.status_code == 204, response.text
    assert browser.jar == {}
    browser.jar.update(remaining)  # the refresh token is revoked, not merely forgotten
    assert browser.request("POST", "/auth/refresh", {"X-CSRF-Token": browser.csrf()}).status_code == 401


def test_cookie_login_from_another_origin_is_refused(browser: Browser) -> None:
    password = USERS[0]["password"]
    response = browser.request(
        "POST",
        "/auth/login",
        {"X-Token-Delivery": "cookie", "Origin": OTHER_SITE},
        json={"username": "alice", "password": password},
    )
    assert response.status_code == 403 and response.json()["error"] == "csrf"
    assert browser.set_cookies == []


def test_header_flow_is_unchanged_in_cookie_mode(server: ServeProcess) -> None:
    password = USERS[0]["password"]
    login = requests.post(
        f"{server.url}/auth/login", json={"username": "alice", "password": password}, timeout=10
    )
    assert login.status_code == 200
    assert "Set-Cookie" not in login.headers
    tokens = login.json()
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert requests.get(f"{server.url}/me", headers=bearer, timeout=10).status_code == 200
    # No CSRF header, other Origin: the Bearer flow is not a cookie flow and is not CSRF-checked.
    refreshed = requests.post(
        f"{server.url}/auth/refresh",
        json={"refresh_token": tokens["refresh_token"]},
        headers={"Origin": OTHER_SITE},
        timeout=10,
    )
    assert refreshed.status_code == 200 and "Set-Cookie" not in refreshed.headers
    new = refreshed.json()
    logout = requests.post(
        f"{server.url}/auth/logout", headers={"Authorization": f"Bearer {new['access_token']}"}, timeout=10
    )
    assert logout.status_code == 204 and "Set-Cookie" not in logout.headers
    assert requests.get(f"{server.url}/me", timeout=10).status_code == 403  # no identity source now


def test_no_token_or_csrf_value_is_logged(browser: Browser) -> None:
    browser.login()
    browser.request("POST", "/auth/refresh", {"X-CSRF-Token": browser.csrf()})
    browser.request("POST", "/auth/refresh", {"X-CSRF-Token": "wrong"})
    browser.request("GET", "/me")
    secrets = set(browser.jar.values())
    log = "".join(browser.server.output)
    assert secrets and not any(secret in log for secret in secrets)
    assert not re.search(r"eyJ[\w-]+\.eyJ[\w-]+\.", log)


def test_refresh_without_a_refresh_cookie_is_no_session(browser: Browser) -> None:
    """Logged out in another tab: the page's refresh carries no cookie and no body. That is no
    session (401), not a 400 about a `refresh_token` a cookie client never sends."""
    browser.login()
    browser.request("POST", "/auth/logout", {"X-CSRF-Token": browser.csrf()})
    assert browser.jar == {}
    response = browser.request("POST", "/auth/refresh", {"X-CSRF-Token": "anything"})
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "invalid_grant" and body["error_description"].startswith("no session")
