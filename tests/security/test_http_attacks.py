"""Every attack of the catalogue over HTTP, against the real `auth-service serve` (RS256).

The forged tokens claim the session of a real, logged-in user (alice): her `sub`, `sid` and the
`jti` of her access token, and every scope the server knows (`introspect` included). Each one is
put through every endpoint that reads a token:

- `GET /me` (behind the authorizer): 401 or 403, never 2xx or 5xx;
- `POST /auth/logout` as the Bearer token, `POST /auth/refresh` as the refresh token,
  `POST /auth/introspect` as the caller's Bearer token: a 4xx;
- `POST /auth/introspect` as the `token` (asked by a legitimate introspector): `active: false`;
- `POST /auth/revoke` as the `token`: 200 is the RFC 7009 answer for anything, but alice's real
  session must still be active afterwards (checked with introspection, which reads the denylist
  with strongly consistent reads, unlike the authorizer's 5-second cache).

No answer may be a 5xx or carry a stack trace. Then malicious request bodies go to every endpoint
that reads one: 413 or 400, never a 5xx. Requests open a new connection each: with keep-alive,
delayed ACKs cost ~40 ms a request and the suite must stay fast.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from auth_service.denylist import Denylist
from auth_service.local.serve import LOCAL_AUDIENCE, LOCAL_DENYLIST_TABLE
from tests.security.catalogue import (
    BODY_ATTACKS,
    ENDPOINTS,
    GATEWAY_LIMIT,
    Attack,
    BodyAttack,
    Forged,
    applicable,
    just_over_limit,
)
from tests.security.conftest import Attackers, Service
from tests.security.forging import Material, Victim, new_pool, unb64

pytestmark = [pytest.mark.security, pytest.mark.e2e]

SCOPE = "profile introspect orders:read"  # everything the server grants anyone
MAX_BODY_BYTES = 16384  # AUTH_MAX_BODY_BYTES, default
TIMEOUT = 10

REUSE_SECONDS = 2  # a forged token is reused across event formats / checks for at most this long


@dataclass
class HttpLab:
    service: Service
    material: Material
    access_token: str  # alice's real session
    refresh_token: str
    introspector: str  # carol's real access token (scope `introspect`)
    forged: dict[str, tuple[float, Forged]] = field(default_factory=dict)

    def forge(self, case: Attack) -> Forged:
        """The case's token, reused for a moment only: time-relative cases must stay what they say."""
        made = self.forged.get(case.id)
        if made is None or time.monotonic() - made[0] > REUSE_SECONDS:
            made = self.forged[case.id] = (time.monotonic(), case.build(self.material))
        return made[1]

    def url(self, path: str) -> str:
        return f"{self.service.url}{path}"

    def me(self, token: str) -> requests.Response:
        return requests.get(self.url("/me"), headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)

    def introspect(self, token: str, caller: str | None = None, **extra: str) -> requests.Response:
        return requests.post(
            self.url("/auth/introspect"),
            headers={"Authorization": f"Bearer {self.introspector if caller is None else caller}"},
            data={"token": token, **extra},
            timeout=TIMEOUT,
        )


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(unb64(token.split(".")[1]))
    return claims


@pytest.fixture(scope="module")
def lab(service: Service, attackers: Attackers) -> HttpLab:
    alice = service.login("alice")
    carol = service.login("carol")
    real = _claims(alice["access_token"])
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=service.dynamodb_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # the embedded moto server takes any credentials
    )
    material = Material(
        alg="RS256",
        ring=service.ring,
        issuer=service.url,
        audience=LOCAL_AUDIENCE,
        client_id=real["client_id"],
        scope=SCOPE,
        victim=Victim(sub=real["sub"], sid=real["sid"], jti=real["jti"]),
        attackers=attackers.rings,
        k1_key=attackers.k1,
        # Not trusted by `serve`: its tokens are just another unknown issuer's here.
        pool=new_pool("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Untrusted1", "untrusted-client"),
        denylist=Denylist(dynamodb, LOCAL_DENYLIST_TABLE, max_token_lifetime=2_592_000, leeway=30),
    )
    return HttpLab(service, material, alice["access_token"], alice["refresh_token"], carol["access_token"])


def assert_clean(response: requests.Response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    assert "Traceback" not in response.text and 'File "' not in response.text, (
        f"{what}: {response.text[:300]}"
    )


# --------------------------------------------------------------------------- controls


def test_control_the_baseline_and_the_real_session_are_allowed(lab: HttpLab) -> None:
    me = lab.me(lab.material.baseline())
    assert me.status_code == 200, me.text
    assert me.json()["sub"] == lab.material.victim.sub
    assert lab.me(lab.access_token).status_code == 200
    assert lab.introspect(lab.access_token).json()["active"] is True


def test_control_a_token_exactly_at_the_size_limit_is_allowed(lab: HttpLab) -> None:
    token = just_over_limit(lab.material, extra=0)
    assert len(token) == lab.material.max_token_bytes
    assert lab.me(token).status_code == 200


# --------------------------------------------------------------------------- the catalogue


def _params(check: str) -> list[Any]:
    params = []
    for case in applicable("RS256"):
        if check in case.legitimate_at:
            continue
        reason = case.vulns.get(check)
        marks = [pytest.mark.xfail(strict=True, reason=f"VULN: {reason}")] if reason else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def _forged(lab: HttpLab, case: Attack) -> str:
    forged = lab.forge(case)
    for token in forged.prelude:
        lab.me(token)
    return forged.token


@pytest.mark.parametrize("case", _params("me"))
def test_me_refuses(lab: HttpLab, case: Attack) -> None:
    response = lab.me(_forged(lab, case))
    assert_clean(response, "GET /me")
    assert response.status_code in (401, 403), f"{response.status_code} {response.text[:300]}"


@pytest.mark.parametrize("case", _params("logout"))
def test_logout_refuses(lab: HttpLab, case: Attack) -> None:
    token = _forged(lab, case)
    response = requests.post(
        lab.url("/auth/logout"), headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    assert_clean(response, "POST /auth/logout")
    assert 400 <= response.status_code < 500, f"{response.status_code} {response.text[:300]}"


@pytest.mark.parametrize("case", _params("refresh"))
def test_refresh_refuses(lab: HttpLab, case: Attack) -> None:
    token = _forged(lab, case)
    response = requests.post(lab.url("/auth/refresh"), json={"refresh_token": token}, timeout=TIMEOUT)
    assert_clean(response, "POST /auth/refresh")
    assert 400 <= response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    assert "access_token" not in response.text


@pytest.mark.parametrize("case", _params("introspect-caller"))
def test_introspect_refuses_the_caller(lab: HttpLab, case: Attack) -> None:
    response = lab.introspect(lab.access_token, caller=_forged(lab, case))
    assert_clean(response, "POST /auth/introspect (caller)")
    assert 400 <= response.status_code < 500, f"{response.status_code} {response.text[:300]}"


@pytest.mark.parametrize("case", _params("introspect-token"))
def test_introspect_finds_the_token_inactive(lab: HttpLab, case: Attack) -> None:
    for hint in ("access_token", "refresh_token"):
        response = lab.introspect(_forged(lab, case), token_type_hint=hint)
        assert_clean(response, "POST /auth/introspect (token)")
        if 200 <= response.status_code < 300:
            assert response.json() == {"active": False}, response.text[:300]
        else:
            assert 400 <= response.status_code < 500, f"{response.status_code} {response.text[:300]}"


@pytest.mark.parametrize("case", _params("revoke"))
def test_revoke_leaves_the_real_session_alone(lab: HttpLab, case: Attack) -> None:
    token = _forged(lab, case)
    for hint in (None, "refresh_token"):  # no hint tries it as an access token first
        data = {"token": token, **({"token_type_hint": hint} if hint else {})}
        response = requests.post(lab.url("/auth/revoke"), data=data, timeout=TIMEOUT)
        assert_clean(response, "POST /auth/revoke")
        # RFC 7009: 200 for any token; 400 for an empty one, 413 for one longer than a body may be.
        assert response.status_code in (200, 400, 413), f"{response.status_code} {response.text[:300]}"
    for real in (lab.access_token, lab.refresh_token):
        state = lab.introspect(real)
        assert state.status_code == 200 and state.json()["active"] is True, f"real session hit: {state.text}"


def test_the_real_session_survived_everything(lab: HttpLab) -> None:
    """After all of the above (run last in this module): alice's tokens still work."""
    assert lab.me(lab.access_token).status_code == 200
    refreshed = requests.post(
        lab.url("/auth/refresh"), json={"refresh_token": lab.refresh_token}, timeout=TIMEOUT
    )
    assert refreshed.status_code == 200, refreshed.text


# --------------------------------------------------------------------------- request bodies


def _bearer_for(lab: HttpLab, endpoint: str) -> dict[str, str]:
    """What lets a request reach the body parser: a valid caller for logout and introspect
    (a session of its own, so a logout that goes through ends nothing real)."""
    if endpoint in ("logout", "introspect"):
        return {"Authorization": f"Bearer {lab.material.sign(lab.material.fresh_claims())}"}
    return {}


def _body_params() -> list[Any]:
    params = []
    for body in BODY_ATTACKS:
        for endpoint in ENDPOINTS:
            reason = body.vulns.get(endpoint)
            marks = [pytest.mark.xfail(strict=True, reason=f"VULN: {reason}")] if reason else []
            params.append(pytest.param(body, endpoint, id=f"{body.id}-{endpoint}", marks=marks))
    return params


@pytest.mark.parametrize(("body", "endpoint"), _body_params())
def test_malicious_bodies_get_a_4xx(lab: HttpLab, body: BodyAttack, endpoint: str) -> None:
    headers = {"Content-Type": body.content_type, **_bearer_for(lab, endpoint)}
    response = requests.post(
        lab.url(f"/auth/{endpoint}"), data=body.body(MAX_BODY_BYTES), headers=headers, timeout=TIMEOUT
    )
    assert_clean(response, f"POST /auth/{endpoint}")
    assert response.status_code in body.expect, f"{response.status_code} {response.text[:300]}"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_bodies_over_the_gateway_quota_get_413_unread(lab: HttpLab, endpoint: str) -> None:
    """10 MiB + 1 announced: refused from the headers alone (the body is never sent)."""
    parts = urlsplit(lab.service.url)
    assert parts.hostname and parts.port
    request = (
        f"POST /auth/{endpoint} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {GATEWAY_LIMIT + 1}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as connection:
        connection.sendall(request)
        status_line = _read_line(connection.recv)
    assert status_line.split()[1] == "413", status_line


def _read_line(recv: Callable[[int], bytes]) -> str:
    data = b""
    while b"\r\n" not in data:
        chunk = recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode("latin-1")
