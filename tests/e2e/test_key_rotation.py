"""Signing in KMS, a whole rotation cycle and a key revocation, against `auth-service serve
--signing-key kms`: real functions in their containers, the key set in the embedded moto server's
SSM and KMS, changed with the real `auth-service keys` commands while the service runs. Nothing
is redeployed or restarted: every container picks the change up within AUTH_KEYS_MAX_AGE_SECONDS.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
import requests

from tests.e2e.conftest import ROOT, cli
from tests.e2e.serve_process import ServeProcess, running_serve

MAX_AGE = 2  # AUTH_KEYS_MAX_AGE_SECONDS for this run (deployed default: 300)
PROPAGATION = MAX_AGE + 5  # what serve writes into the local key set
# The bound is the max age; the slack is for the requests that observe it (container start-up,
# the SSM read itself, the polling step).
SLACK = 2.5


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ServeProcess, str]]:
    arguments = ["--users", str(ROOT / "examples" / "users.json"), "--signing-key", "kms"]
    with running_serve(arguments, {"AUTH_KEYS_MAX_AGE_SECONDS": str(MAX_AGE)}) as serve:
        banner = "".join(serve.output)
        match = re.search(r"keys rotate --stage local --endpoint-url (\S+)", banner)
        assert match, banner
        yield serve, match.group(1)


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def keys(endpoint: str, *arguments: str) -> Any:
    return cli("keys", *arguments, "--stage", "local", "--endpoint-url", endpoint)


def login(url: str, username: str = "alice") -> dict[str, Any]:
    password = {"alice": "correct horse battery", "ops": "introspection only"}[username]
    answer = requests.post(f"{url}/auth/login", json={"username": username, "password": password}, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def me(url: str, token: str) -> int:
    return requests.get(f"{url}/me", headers={"authorization": f"Bearer {token}"}, timeout=30).status_code


def refresh(url: str, token: str) -> requests.Response:
    return requests.post(f"{url}/auth/refresh", json={"refresh_token": token}, timeout=30)


def wait_for(condition: Callable[[], bool], within: float) -> float:
    """Seconds until `condition()` held; fails the test past `within`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < within, f"not within {within} s"
        time.sleep(0.2)
    return time.monotonic() - start


def test_kms_signed_tokens_work_everywhere_and_verify_independently(served: tuple[ServeProcess, str]) -> None:
    serve, _ = served
    tokens = login(serve.url)
    assert me(serve.url, tokens["access_token"]) == 200
    jwks = requests.get(f"{serve.url}/.well-known/jwks.json", timeout=30).json()
    assert kid_of(tokens["access_token"]) in {key["kid"] for key in jwks["keys"]}
    # PyJWT, an independent verifier, accepts the KMS signature with the published key.
    key = jwt.PyJWKClient(f"{serve.url}/.well-known/jwks.json").get_signing_key_from_jwt(
        tokens["access_token"]
    )
    claims = jwt.decode(
        tokens["access_token"],
        key.key,
        algorithms=["RS256"],
        audience="lambda-jwt-auth-api",
        issuer=serve.url,
    )
    assert claims["scope"] == "profile orders:read"
    judged = cli(
        "--issuer", serve.url, "--audience", "lambda-jwt-auth-api", "--json", tokens["access_token"],
        module="auth_service.cli.inspect_token",
    )  # fmt: skip
    assert json.loads(judged.stdout)["valid"] is True, judged.stdout + judged.stderr
    pair = refresh(serve.url, tokens["refresh_token"])
    assert pair.status_code == 200, pair.text


def test_a_rotation_then_a_key_revocation_logs_out_only_the_revoked_keys_tokens(
    served: tuple[ServeProcess, str],
) -> None:
    serve, endpoint = served
    status = keys(endpoint, "status")
    assert status.returncode == 0, status.stderr
    key_a = re.search(r"current\s+(\S+)", status.stdout).group(1)  # type: ignore[union-attr]
    before = login(serve.url, "ops")  # a session signed by A, which must survive the rotation
    assert kid_of(before["access_token"]) == key_a

    # Step 1: B is published, not yet signing; promoting it at once is refused.
    added = keys(endpoint, "rotate")
    assert added.returncode == 0, added.stderr
    key_b = re.search(r"published next key (\S+)", added.stdout).group(1)  # type: ignore[union-attr]
    early = keys(endpoint, "rotate")
    assert early.returncode == 1 and "waiting" in early.stderr, early.stdout + early.stderr
    wait_for(
        lambda: key_b in requests.get(f"{serve.url}/.well-known/jwks.json", timeout=30).text, MAX_AGE + SLACK
    )
    assert kid_of(login(serve.url)["access_token"]) == key_a  # still A: B only verifies so far

    # Step 2: once every verifier can have B, it signs; A stays published, its tokens still work.
    time.sleep(PROPAGATION)
    promoted = keys(endpoint, "rotate")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    wait_for(lambda: kid_of(login(serve.url)["access_token"]) == key_b, MAX_AGE + SLACK)
    assert me(serve.url, before["access_token"]) == 200
    renewed = refresh(serve.url, before["refresh_token"])  # an A refresh token, renewed with B
    assert renewed.status_code == 200, renewed.text
    after = renewed.json()
    assert kid_of(after["access_token"]) == key_b
    fresh = login(serve.url, "alice")
    assert kid_of(fresh["access_token"]) == key_b

    # Compromise of A: revoked now, refused everywhere within the bound; B's sessions stay in.
    revoked = keys(endpoint, "revoke", key_a)
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    took = wait_for(lambda: me(serve.url, before["access_token"]) in (401, 403), MAX_AGE + SLACK)
    print(f"A's access token refused {took:.1f} s after keys revoke (bound {MAX_AGE} s)")
    assert refresh(serve.url, before["refresh_token"]).status_code in (400, 401)
    assert key_a not in requests.get(f"{serve.url}/.well-known/jwks.json", timeout=30).text
    # Nobody else is logged out: the B-signed sessions work, refresh included.
    assert me(serve.url, after["access_token"]) == 200
    assert me(serve.url, fresh["access_token"]) == 200
    again = refresh(serve.url, fresh["refresh_token"])
    assert again.status_code == 200, again.text
    assert kid_of(again.json()["access_token"]) == key_b
    status = keys(endpoint, "status")
    assert key_a not in status.stdout and re.search(rf"current\s+{re.escape(key_b)}", status.stdout)
