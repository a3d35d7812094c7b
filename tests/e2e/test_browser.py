"""The demo page in headless Chromium against a real `auth-service serve` in cookie mode.

A user logs in through the form, the tokens stay out of the page's reach (`document.cookie`),
"Who am I", refresh and logout work, and the protected call is refused after logout. A page on
another site (127.0.0.1 is not the same site as localhost) posts forms to logout and refresh: the
server refuses them and the session survives. Each step leaves a screenshot in
test-artifacts/browser/.

Chromium is Debian's (`apt-get install chromium`), driven by Playwright over CDP; Playwright's own
browser downloads are never used. Without /usr/bin/chromium these tests skip, unless
REQUIRE_BROWSER=1 (as in CI), which turns the skip into a failure.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from tests.e2e.conftest import ROOT, USERS
from tests.e2e.serve_process import ServeProcess, running_serve

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# The network is closed: without these Chromium keeps trying to reach Google's services.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
ACCESS_COOKIE = "__Host-access_token"
REFRESH_COOKIE = "__Secure-refresh_token"
CSRF_COOKIE = "__Host-csrf_token"
ALICE = next(user for user in USERS if user["username"] == "alice")
# How long to wait for the page to show an answer: generous, for busy CI machines (argon2 logins).
WAIT_MS = 20_000


# --------------------------------------------------------------------------- the pieces


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """`serve --cookies`: SameSite=Strict, prefixed cookies, its own origins allowed (the default)."""
    users_file = tmp_path_factory.mktemp("browser") / "users.json"
    users_file.write_text(json.dumps({"users": USERS}))
    environment = {
        "AUTH_COOKIE_SAMESITE": "Strict",
        # Revocation takes effect at once, so a replayed cookie is refused right after logout.
        "AUTH_REVOCATION_CACHE_SECONDS": "0",
    }
    with running_serve(["--cookies", "--users", str(users_file)], environment) as serving:
        yield serving


def origin(serving: ServeProcess) -> str:
    # localhost is a secure context in Chromium, so Secure and __Host- cookies work over http.
    return f"http://localhost:{serving.port}"


@pytest.fixture(scope="module")
def screenshots(request: pytest.FixtureRequest) -> Iterator[Path]:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    yield ARTIFACTS
    saved = sorted(path.name for path in ARTIFACTS.glob("*.png"))
    message = f"browser screenshots ({len(saved)}) in {ARTIFACTS}: {', '.join(saved)}"
    # Past output capture, so the path shows in every run, passing or not.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(message)
    else:
        print(message)


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield context
        finally:
            context.close()


class _AttackerPage(BaseHTTPRequestHandler):
    """GET /?target=URL: a page that auto-submits a form to URL, showing the answer in a frame."""

    def do_GET(self) -> None:
        target = html.escape(self.path.partition("?target=")[2])
        body = f"""<!doctype html><title>another site</title>
<h1>A page on another site</h1>
<p>Served from http://{self.headers["Host"]}; it posts a form to <code>{target}</code> at once.
The answer:</p>
<iframe name="answer" style="width: 95%; height: 8em"></iframe>
<form method="POST" action="{target}" target="answer"><input type="hidden" name="x" value="1"></form>
<script>document.forms[0].submit()</script>
""".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def attacker() -> Iterator[str]:
    """Another site: http://127.0.0.1:<other port>, while the demo is on http://localhost:<port>."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AttackerPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class DemoPage:
    """The demo page in one browser tab, by its element ids."""

    def __init__(self, context: Any, serving: ServeProcess, screenshots: Path) -> None:
        self.context = context
        self.url = origin(serving)
        self.page = context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self._on_console)
        self._screenshots = screenshots

    def _on_console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.errors.append(message.text)

    def open(self) -> None:
        self.page.goto(f"{self.url}/demo/")
        expect(self.page.locator("body")).to_have_attribute("data-ready", "true", timeout=WAIT_MS)

    def log_in(
        self, username: str, password: str, expected: str = "Log in: POST /auth/login -> HTTP 200"
    ) -> None:
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("#login-button")
        self.expect_result(expected)

    def press(self, button: str, expected_result: str) -> None:
        self.page.click(button)
        self.expect_result(expected_result)

    def expect_result(self, text: str) -> None:
        self.expect_text("#last-result", text)

    def expect_text(self, selector: str, text: str | re.Pattern[str]) -> None:
        expect(self.page.locator(selector)).to_have_text(text, timeout=WAIT_MS)

    def expect_text_in_frame(self, frame: str, text: str) -> None:
        expect(self.page.frame_locator(frame).locator("body")).to_contain_text(text, timeout=WAIT_MS)

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))

    def cookies(self) -> dict[str, list[dict[str, Any]]]:
        """The browser's cookies for the demo's host, on every path, HttpOnly included, by name."""
        jar: dict[str, list[dict[str, Any]]] = {}
        for cookie in self.context.cookies():  # cookies(url) would leave out Path=/auth/... cookies
            if cookie["domain"] == "localhost":
                jar.setdefault(cookie["name"], []).append(dict(cookie))
        return jar

    def cookie_value(self, name: str) -> str:
        values = {cookie["value"] for cookie in self.cookies().get(name, [])}
        assert len(values) == 1, f"{name}: {values}"
        return values.pop()

    def script_cookies(self) -> str:
        return str(self.page.evaluate("document.cookie"))

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=str(self._screenshots / f"{name}.png"), full_page=True)


@pytest.fixture
def demo_page(browser_context: Any, demo: ServeProcess, screenshots: Path) -> Iterator[DemoPage]:
    browser_context.clear_cookies()
    page = DemoPage(browser_context, demo, screenshots)
    start = len(demo.output)
    yield page
    print("auth-service serve during this test:\n" + "".join(demo.output[start:]))  # shown on failure
    assert page.errors == [], "the page raised errors or broke its Content-Security-Policy"
    page.page.close()


def cookie_names(header: str) -> set[str]:
    return {pair.split("=", 1)[0].strip() for pair in header.split(";") if pair.strip()}


def cookie_header(page: DemoPage, *names: str) -> str:
    return "; ".join(f"{name}={page.cookie_value(name)}" for name in names)


# --------------------------------------------------------------------------- the tests


def test_serve_answers_the_demo_page_in_cookie_mode(demo: ServeProcess) -> None:
    # serve prints where the page is, right after its banner (the output is read on a thread).
    deadline = time.monotonic() + 10
    while f"  demo page: {origin(demo)}/demo/\n" not in demo.output:
        assert time.monotonic() < deadline, "serve did not print the demo page's address"
        time.sleep(0.1)
    page = requests.get(f"{origin(demo)}/demo/", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<form id="login-form"' in page.text
    assert requests.get(f"{origin(demo)}/demo/nothing.js", timeout=10).status_code == 404


def test_a_session_through_the_demo_page(demo_page: DemoPage) -> None:
    page = demo_page
    page.open()
    page.expect_text("#state-user", "nobody")
    page.screenshot("01-demo-page")

    page.log_in(ALICE["username"], "not the password", expected="Log in: POST /auth/login -> HTTP 401")
    page.expect_text("#error", re.compile(r"^Wrong username or password \(HTTP 401\)"))
    page.expect_text("#state-user", "nobody")
    assert not page.cookies(), "a failed login sets no cookie"
    page.screenshot("02-wrong-password")

    page.log_in(ALICE["username"], ALICE["password"])
    page.expect_text("#state-user", "alice")
    page.expect_text("#state-scopes", ALICE["scope"])
    assert page.text("#state-expiry").startswith("in ")
    assert page.page.is_hidden("#error")
    page.screenshot("03-logged-in")

    # The browser holds the tokens; the page's script cannot read them.
    jar = page.cookies()
    access, refresh, csrf = jar[ACCESS_COOKIE], jar[REFRESH_COOKIE], jar[CSRF_COOKIE]
    assert [c["path"] for c in access] == ["/"]
    assert {c["path"] for c in refresh} <= {"/auth/refresh", "/auth/logout"}
    assert "/auth/refresh" in {c["path"] for c in refresh}
    for cookie in access + refresh:
        assert cookie["httpOnly"] is True and cookie["secure"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["expires"] > 0, "a Max-Age, not a session cookie"
    assert csrf[0]["httpOnly"] is False and csrf[0]["secure"] is True and csrf[0]["path"] == "/"
    readable = page.script_cookies()
    access_token, refresh_token = page.cookie_value(ACCESS_COOKIE), page.cookie_value(REFRESH_COOKIE)
    assert access_token.count(".") == 2  # a JWT
    assert access_token not in readable and refresh_token not in readable
    assert ACCESS_COOKIE not in readable and REFRESH_COOKIE not in readable
    assert f"{CSRF_COOKIE}={page.cookie_value(CSRF_COOKIE)}" in readable  # double submit needs it
    assert access_token not in page.text("#response-body")  # no token in the login answer either

    page.press("#whoami-button", "Who am I: GET /me -> HTTP 200")
    subject = json.loads(page.text("#response-body"))["sub"]
    page.expect_text("#state-subject", subject)
    page.expect_text("#state-user", "alice")
    page.screenshot("04-who-am-i")

    page.press("#refresh-button", "Refresh: POST /auth/refresh -> HTTP 200")
    assert page.cookie_value(ACCESS_COOKIE) != access_token
    assert page.cookie_value(REFRESH_COOKIE) != refresh_token
    assert page.cookie_value(ACCESS_COOKIE) not in page.script_cookies()
    page.expect_text("#state-user", "alice")
    page.screenshot("05-refreshed")
    page.press("#whoami-button", "Who am I: GET /me -> HTTP 200")
    last_access_token = page.cookie_value(ACCESS_COOKIE)

    page.press("#logout-button", "Log out: POST /auth/logout -> HTTP 204")
    page.expect_text("#state-user", "nobody")
    assert not {ACCESS_COOKIE, REFRESH_COOKIE} & set(page.cookies()), "logout clears the cookies"
    page.screenshot("06-logged-out")

    # No cookie left: API Gateway answers 401 or the authorizer 403, depending on identity sources.
    page.page.click("#whoami-button")
    page.expect_text("#last-result", re.compile(r"Who am I: GET /me -> HTTP 40[13]"))
    assert page.page.is_visible("#error")
    assert re.search(r"not logged in|refused", page.text("#error"))
    page.screenshot("07-who-am-i-refused")
    # A copy of the last access cookie is refused too: logout revoked it on the server.
    replayed = requests.get(
        f"{page.url}/me", headers={"Cookie": f"{ACCESS_COOKIE}={last_access_token}"}, timeout=10
    )
    assert replayed.status_code in (401, 403), replayed.text


def test_a_cross_site_form_post_is_refused(demo_page: DemoPage, attacker: str) -> None:
    page = demo_page
    page.open()
    page.log_in(ALICE["username"], ALICE["password"])
    before = {name: page.cookie_value(name) for name in (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE)}

    # A page on another site submits forms to logout and refresh; the browser follows them, but
    # SameSite=Strict keeps the session cookies out of these cross-site requests.
    for number, action in (("08", "logout"), ("09", "refresh")):
        target = f"{page.url}/auth/{action}"
        with page.page.expect_response(target, timeout=WAIT_MS) as answer:
            page.page.goto(f"{attacker}/?target={target}")
        response = answer.value
        assert response.status == 403, f"cross-site POST /auth/{action}: {response.status}"
        sent = response.request.all_headers()
        assert sent["origin"] == attacker
        assert not {ACCESS_COOKIE, REFRESH_COOKIE} & cookie_names(sent.get("cookie", ""))
        page.expect_text_in_frame("iframe", '"error": "csrf"')
        page.screenshot(f"{number}-cross-site-{action}-refused")

    # The session is intact: the same cookies, and the protected call still works.
    assert {name: page.cookie_value(name) for name in before} == before
    page.open()
    page.expect_text("#state-user", "alice")  # the page remembers who logged in, across reloads
    page.press("#whoami-button", "Who am I: GET /me -> HTTP 200")
    page.screenshot("10-session-intact-after-cross-site-posts")

    # The server refuses by itself, whether or not the browser withheld the cookies (SameSite):
    # the same posts with every cookie but no X-CSRF-Token, from the other origin and from none.
    cookies = cookie_header(page, ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE)
    for action in ("logout", "refresh"):
        for headers in ({"Origin": attacker}, {}):
            forged = requests.post(
                f"{page.url}/auth/{action}",
                data={"x": "1"},
                headers={"Cookie": cookies, **headers},
                timeout=10,
            )
            assert forged.status_code == 403, (action, headers, forged.text)
            assert forged.json()["error"] == "csrf"
    # Neither forged post took effect: the refresh token was not used up (a refresh works) and the
    # session was not revoked (the new access cookie works).
    page.press("#refresh-button", "Refresh: POST /auth/refresh -> HTTP 200")
    page.press("#whoami-button", "Who am I: GET /me -> HTTP 200")
    page.press("#logout-button", "Log out: POST /auth/logout -> HTTP 204")


def test_the_page_follows_the_session(demo_page: DemoPage) -> None:
    """Buttons follow the state; a reload shows the session's scopes and expiry; a refused refresh
    ends the session in the page too; 390 px wide nothing overflows; no /favicon.ico is asked for."""
    page = demo_page
    asked: list[str] = []
    page.page.on("request", lambda request: asked.append(request.url))
    page.page.set_viewport_size({"width": 390, "height": 844})
    page.open()
    assert page.page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.page.is_visible("#login-form")
    assert page.page.is_hidden("#logout-button") and page.page.is_hidden("#refresh-button")
    page.screenshot("10-narrow-logged-out")

    page.log_in(ALICE["username"], ALICE["password"])
    page.expect_text("#state-user", "alice")
    assert page.page.is_hidden("#login-form")
    assert page.page.is_visible("#logout-button") and page.page.is_visible("#refresh-button")
    assert page.page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot("11-narrow-logged-in")

    page.open()  # a reload: the panel asks /me for what the session holds
    page.expect_text("#state-user", "alice")
    page.expect_text("#state-scopes", ALICE["scope"])
    expect(page.page.locator("#state-expiry")).to_have_text(re.compile(r"^in \d+:\d\d$"), timeout=WAIT_MS)

    # Logged out elsewhere (another tab): the refresh cookie is gone, and the refresh is refused.
    page.context.clear_cookies(name=REFRESH_COOKIE)
    page.press("#refresh-button", "Refresh: POST /auth/refresh -> HTTP 401")
    page.expect_text("#state-user", "nobody")
    assert page.page.is_visible("#login-form") and page.page.is_hidden("#logout-button")
    assert re.search(r"session has ended.*no session", page.text("#error"))
    page.screenshot("12-refresh-refused")
    assert not [url for url in asked if url.endswith("/favicon.ico")], asked
