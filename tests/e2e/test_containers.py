"""Several containers per function under `auth-service serve`: each has its own caches.

The authorizer caches "not revoked" for AUTH_REVOCATION_CACHE_SECONDS (5) per container, as in
Lambda. After a logout, a container that had the token cached may still allow it within that
bound, while a container that never saw the token refuses it at once; past the bound, every
container refuses. Which container answered is read from serve's output: with AUTH_LOG_ALLOWED
the authorizer logs every decision, labelled with its container.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest

from auth_service.local.container_limits import DEFAULT_MAX_CONTAINERS
from tests.e2e.conftest import USERS, get_me, log_in, log_out
from tests.e2e.container_log import LogRecord, labelled_records
from tests.e2e.serve_process import ServeProcess, running_serve
from tests.e2e.test_lifecycle import REVOCATION_DELAY_BOUND

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    users = tmp_path_factory.mktemp("serve-containers") / "users.json"
    users.write_text(json.dumps({"users": USERS}))
    with running_serve(["--users", str(users)], {"AUTH_LOG_ALLOWED": "true"}) as served:
        yield served


def login(serving: ServeProcess, username: str) -> dict[str, str]:
    return log_in(serving.url, username)


def me(serving: ServeProcess, token: str) -> int:
    return get_me(serving.url, token).status_code


def decisions(serving: ServeProcess, jti: str) -> list[LogRecord]:
    """The authorizer's decisions on the token `jti`, in order, each with its container."""
    return [
        line
        for line in labelled_records(serving.output, "authorizer")
        if line.record.get("event") == "authorize" and line.record.get("jti") == jti
    ]


def next_decision(serving: ServeProcess, jti: str, seen: int) -> LogRecord:
    """The decision after the first `seen` ones (serve prints it before it answers)."""
    deadline = time.monotonic() + 5
    while len(found := decisions(serving, jti)) <= seen:
        assert time.monotonic() < deadline, f"no authorizer decision logged for request {seen + 1}"
        time.sleep(0.02)
    return found[seen]


def warm_authorizer_containers(serving: ServeProcess, token: str, wanted: int) -> set[str]:
    """Bursts of concurrent requests until `wanted` authorizer containers have answered."""
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    for _ in range(5):
        barrier = threading.Barrier(2 * wanted)

        def request(_: int, barrier: threading.Barrier = barrier) -> int:
            barrier.wait()
            return me(serving, token)

        with ThreadPoolExecutor(max_workers=2 * wanted) as threads:
            assert set(threads.map(request, range(2 * wanted))) == {200}
        containers = {line.container for line in decisions(serving, jti)}
        if len(containers) >= wanted:
            return containers
    pytest.fail(f"concurrent requests never used {wanted} authorizer containers: {containers}")


def test_a_logout_is_refused_at_once_by_a_container_that_never_cached_the_token(
    serving: ServeProcess,
) -> None:
    warm = warm_authorizer_containers(serving, login(serving, "bob")["access_token"], 2)
    tokens = login(serving, "alice")
    jti = jwt.decode(tokens["access_token"], options={"verify_signature": False})["jti"]
    assert me(serving, tokens["access_token"]) == 200
    cached = next_decision(serving, jti, 0).container  # this container now has "not revoked" cached

    log_out(serving.url, tokens)
    logged_out = time.monotonic()

    # Sequential requests: the pool gives each to the container idle longest, so they visit
    # every warm container. Go on until the caching container has refused too.
    answers: list[tuple[float, str, int]] = []  # (seconds since logout, container, status)
    while not any(container == cached and status == 403 for _, container, status in answers):
        elapsed = time.monotonic() - logged_out
        assert elapsed < REVOCATION_DELAY_BOUND + 2, f"still allowed past the bound: {answers}"
        status = me(serving, tokens["access_token"])
        decision = next_decision(serving, jti, len(answers) + 1)
        assert (decision.record["outcome"] == "allow") == (status == 200), decision
        answers.append((elapsed, decision.container, status))
        time.sleep(0.1)

    others = [(elapsed, status) for elapsed, container, status in answers if container != cached]
    assert others, f"no request after the logout landed in a second container ({warm}): {answers}"
    # A container that never saw the token checks the denylist: refused from its first request.
    assert all(status == 403 for _, status in others), answers
    assert others[0][0] < REVOCATION_DELAY_BOUND, answers
    # The caching container may allow it within the bound, from its own cache, and then refuses.
    from_cache = [elapsed for elapsed, container, status in answers if container == cached and status == 200]
    assert from_cache, f"the container that cached the token never allowed it after the logout: {answers}"
    assert max(from_cache) <= REVOCATION_DELAY_BOUND, answers


def test_serve_says_how_many_containers_each_function_may_use(serving: ServeProcess) -> None:
    banner = next(line for line in serving.output if "containers per function" in line)
    for function in ("authorizer", "login", "refresh", "logout"):
        assert f" {function} {DEFAULT_MAX_CONTAINERS}," in banner
    assert "rotateKeys" not in banner  # no HTTP route reaches it: an EventBridge schedule runs it


def test_containers_log_to_serve_output_labelled(serving: ServeProcess) -> None:
    login(serving, "bob")
    logins = [line for line in labelled_records(serving.output, "login") if line.record.get("event")]
    assert logins and all(line.container.startswith("login#") for line in logins)
