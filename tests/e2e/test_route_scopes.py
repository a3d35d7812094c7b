"""A route that needs two scopes, over HTTP: `auth-service serve` with `GET /me` needing both
`profile` and `orders:read`, and users holding both, one, or the other.

serverless.yml sets the authorizer's AUTH_ROUTE_SCOPES literally (a one-scope route), and a
function's literal environment wins over the shell's, as on Lambda. So this server reads a copy
of serverless.yml in which that one line names two scopes: everything else is the real file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import ROOT, USERS
from tests.e2e.serve_process import ServeProcess, running_serve
from tests.e2e.server_log import ServerLog

pytestmark = pytest.mark.e2e

DEPLOYED = """AUTH_ROUTE_SCOPES: '{"GET /me": ["profile"]}'"""
TWO_SCOPES = """AUTH_ROUTE_SCOPES: '{"GET /me": ["profile", "orders:read"]}'"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    workdir: Path = tmp_path_factory.mktemp("serve-two-scopes")
    definition = (ROOT / "serverless.yml").read_text(encoding="utf-8")
    assert definition.count(DEPLOYED) == 1, "serverless.yml's AUTH_ROUTE_SCOPES line changed"
    config = workdir / "serverless.yml"
    config.write_text(definition.replace(DEPLOYED, TWO_SCOPES), encoding="utf-8")
    users = workdir / "users.json"
    users.write_text(json.dumps({"users": USERS}))
    with running_serve(["--config", str(config), "--users", str(users)], {}) as served:
        yield served


def login(server: ServeProcess, username: str) -> str:
    password = next(user["password"] for user in USERS if user["username"] == username)
    response = requests.post(
        f"{server.url}/auth/login", json={"username": username, "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.mark.parametrize(
    ("username", "missing"),
    [("alice", None), ("bob", "orders:read"), ("dave", "profile")],
    ids=["both-scopes", "profile-only", "orders-read-only"],
)
def test_me_needs_both_scopes(server: ServeProcess, username: str, missing: str | None) -> None:
    token = login(server, username)
    log = ServerLog(server.output)
    mark = log.mark()
    response = requests.get(f"{server.url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    if missing is None:
        assert response.status_code == 200, response.text
        assert response.json()["scope"] == "profile orders:read"
        return
    assert response.status_code == 403, response.text
    assert log.refusal(mark) == f"missing scope: {missing}"
