"""Every attack of the catalogue over HTTP, against the real `auth-service serve` (RS256).

The forged tokens claim the session of a real, logged-in user (alice): her `sub`, `sid` and the
`jti` of her access token, and every scope the server knows (`introspect` included). Each one is
put through every endpoint that reads a token, and must be refused there for the right reason:

- `GET /me` (behind the authorizer): 401 or 403, and the authorizer's `authorize` line in the
  server's log gives the reason (the line never holds the token);
- `POST /auth/logout` as the Bearer token, `POST /auth/refresh` as the refresh token,
  `POST /auth/introspect` as the caller's Bearer token: a 4xx with an OAuth `error`, and the
  `error_description` names the check that refused;
- `POST /auth/introspect` as the `token` (asked by a legitimate introspector): `active: false`;
- `POST /auth/revoke` as the `token`: 200 is the RFC 7009 answer for anything, but alice's real
  session must still be active afterwards (checked with introspection, which reads the denylist
  with strongly consistent reads, unlike the authorizer's 5-second cache).

"The right reason" is checked twice (tests/security/expectations.py): the refusal's class belongs
to the case's family, and the check that refused is one the token fails in the contract model's
judgement, for that endpoint's configuration (tests/fuzz/contract.py).

Almost every access-shaped forgery stops at /auth/refresh's `typ` check, so each case is also
forged as a refresh token (`typ: rt+jwt`, `aud` = the issuer, `token_use: refresh`), claiming a
second real session of alice, and sent to refresh (and introspection) to meet refresh's own
checks, and to the OAuth token endpoint's refresh_token grant (400 there, RFC 6749 §5.2).
Positive controls run with every test of this module (the `lab` fixture): each endpoint must
accept the valid baseline first, so an endpoint that refused everything fails the suite.

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
from tests.e2e.server_log import ServerLog
from tests.fuzz import contract, refusals
from tests.security.catalogue import (
    BODY_ATTACKS,
    ENDPOINTS,
    GATEWAY_LIMIT,
    Attack,
    BodyAttack,
    Forged,
    applicable,
    has_refresh_twin,
    just_over_limit,
)
from tests.security.conftest import Attackers, Service
from tests.security.expectations import right_reasons, table_denylist, targets_of
from tests.security.forging import Material, Victim, new_pool, unb64

pytestmark = [pytest.mark.security, pytest.mark.e2e]

SCOPE = "profile introspect orders:read"  # everything the server grants anyone
MAX_BODY_BYTES = 16384  # AUTH_MAX_BODY_BYTES, default
TIMEOUT = 10
ME_SCOPES = frozenset({"profile"})  # serverless.yml's AUTH_ROUTE_SCOPES for GET /me
INTROSPECTION_SCOPES = frozenset({"introspect"})  # AUTH_INTROSPECTION_SCOPE, default

REUSE_SECONDS = 2  # a forged token is reused across event formats / checks for at most this long


@dataclass
class HttpLab:
    service: Service
    material: Material  # access tokens of alice's first session
    refresh_material: Material  # refresh tokens of alice's second session
    access_token: str  # alice's real sessions
    refresh_token: str
    second_refresh_token: str
    introspector: str  # carol's real access token (scope `introspect`)
    targets: dict[str, contract.Target]  # the server's configuration, as the model sees it
    denylist: contract.DenylistLookup
    log: ServerLog
    forged: dict[tuple[str, str], tuple[float, Forged]] = field(default_factory=dict)

    def forge(self, case: Attack, kind: str = "access") -> Forged:
        """The case's token, reused for a moment only: time-relative cases must stay what they say."""
        made = self.forged.get((case.id, kind))
        if made is None or time.monotonic() - made[0] > REUSE_SECONDS:
            material = self.material if kind == "access" else self.refresh_material
            made = self.forged[(case.id, kind)] = (time.monotonic(), case.build(material))
        return made[1]

    def url(self, path: str) -> str:
        return f"{self.service.url}{path}"

    def me(self, token: str) -> requests.Response:
        return requests.get(self.url("/me"), headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)

    def logout(self, token: str) -> requests.Response:
        return requests.post(
            self.url("/auth/logout"), headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
        )

    def refresh(self, token: str) -> requests.Response:
        return requests.post(self.url("/auth/refresh"), json={"refresh_token": token}, timeout=TIMEOUT)

    def token_refresh(self, token: str) -> requests.Response:
        """The OAuth way to refresh: POST /auth/token, form-encoded, grant_type=refresh_token."""
        data = {"grant_type": "refresh_token", "refresh_token": token}
        return requests.post(self.url("/auth/token"), data=data, timeout=TIMEOUT)

    def introspect(self, token: str, caller: str | None = None, **extra: str) -> requests.Response:
        return requests.post(
            self.url("/auth/introspect"),
            headers={"Authorization": f"Bearer {self.introspector if caller is None else caller}"},
            data={"token": token, **extra},
            timeout=TIMEOUT,
        )

    def revoke(self, token: str, hint: str | None = None) -> requests.Response:
        data = {"token": token, **({"token_type_hint": hint} if hint else {})}
        return requests.post(self.url("/auth/revoke"), data=data, timeout=TIMEOUT)

    def verdict(
        self, token: str, target: str, *, bearer: bool, needed: frozenset[str] = frozenset()
    ) -> contract.Verdict:
        judge = contract.judge_bearer if bearer else contract.judge_field
        return judge(
            token, self.targets[target], now=time.time(), denylist=self.denylist, needed_scopes=needed
        )


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(unb64(token.split(".")[1]))
    return claims


@pytest.fixture(scope="module")
def lab(service: Service, attackers: Attackers) -> HttpLab:
    alice, second = service.login("alice"), service.login("alice")
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
    session = _claims(second["refresh_token"])
    lab = HttpLab(
        service,
        material,
        material.as_refresh_tokens(Victim(sub=session["sub"], sid=session["sid"], jti=session["jti"])),
        alice["access_token"],
        alice["refresh_token"],
        second["refresh_token"],
        carol["access_token"],
        targets_of(material, trusted_pool=False),
        table_denylist(dynamodb, LOCAL_DENYLIST_TABLE),
        ServerLog(service.output),
    )
    check_every_endpoint_accepts_the_baseline(lab)
    return lab


def assert_clean(response: requests.Response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    assert "Traceback" not in response.text and 'File "' not in response.text, (
        f"{what}: {response.text[:300]}"
    )


# --------------------------------------------------------------------------- controls


def check_every_endpoint_accepts_the_baseline(lab: HttpLab) -> None:
    """Positive controls: each endpoint the catalogue is sent to accepts a valid token, now."""
    m, r = lab.material, lab.refresh_material
    me = lab.me(m.baseline())
    assert me.status_code == 200 and me.json()["sub"] == m.victim.sub, me.text
    caller = lab.introspect(lab.access_token, caller=m.baseline())
    assert caller.status_code == 200 and caller.json()["active"] is True, caller.text
    for token in (m.baseline(), r.baseline()):
        assert lab.introspect(token).json()["active"] is True, token
    # Tokens of sessions of their own: logging out, refreshing or revoking them ends nothing real.
    ended = m.sign(m.fresh_claims())
    logout = lab.logout(ended)
    assert logout.status_code == 204, logout.text
    assert lab.introspect(ended).json() == {"active": False}
    refreshed = lab.refresh(r.sign(r.fresh_claims()))
    assert refreshed.status_code == 200 and "access_token" in refreshed.json(), refreshed.text
    revoked = m.sign(m.fresh_claims())
    assert lab.revoke(revoked).status_code == 200
    assert lab.introspect(revoked).json() == {"active": False}


def test_control_every_endpoint_accepts_the_valid_baseline(lab: HttpLab) -> None:
    check_every_endpoint_accepts_the_baseline(lab)
    assert lab.me(lab.access_token).status_code == 200
    assert lab.introspect(lab.access_token).json()["active"] is True


def test_control_a_token_exactly_at_the_size_limit_is_allowed(lab: HttpLab) -> None:
    token = just_over_limit(lab.material, extra=0)
    assert len(token) == lab.material.max_token_bytes
    assert lab.me(token).status_code == 200


def test_control_the_model_accepts_the_baselines(lab: HttpLab) -> None:
    assert lab.verdict(lab.material.baseline(), "me", bearer=True, needed=ME_SCOPES).valid
    assert lab.verdict(lab.material.baseline(), "access", bearer=True, needed=INTROSPECTION_SCOPES).valid
    assert lab.verdict(lab.refresh_material.baseline(), "refresh", bearer=False).valid


# --------------------------------------------------------------------------- the catalogue


def _params(check: str, *, twins: bool = False) -> list[Any]:
    params = []
    for case in applicable("RS256"):
        if check in case.legitimate_at or (twins and not has_refresh_twin(case)):
            continue
        reason = case.vulns.get(f"{check}-refresh-shaped" if twins else check)
        marks = [pytest.mark.xfail(strict=True, reason=f"VULN: {reason}")] if reason else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def _forged(lab: HttpLab, case: Attack, kind: str = "access") -> str:
    forged = lab.forge(case, kind)
    for token in forged.prelude:
        mark = lab.log.mark()
        lab.me(token)
        lab.log.decision(mark)  # so its line is not taken for the forged token's
    return forged.token


def assert_right_reason(
    case: Attack, target: str, name: str, check: str, verdict: contract.Verdict, *, shaped: bool = True
) -> None:
    expected = right_reasons(case, "RS256", target, shaped=shaped)
    assert name in expected, f"refused by {name}, not by {sorted(expected)}"
    assert check in verdict.defects, f"refused for {check}, which the token passes: {sorted(verdict.defects)}"


def issuing_refusal(response: requests.Response, what: str, *, error: str) -> tuple[str, str]:
    """(exception class, model check) of an issuing endpoint's 4xx, from its OAuth error body."""
    assert_clean(response, what)
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    body = response.json()
    description = body["error_description"]
    name = refusals.class_of_message(description)
    expected_error = "invalid_request" if name in ("MissingTokenError", "BodyTooLarge") else error
    if name == "InsufficientScopeError":
        expected_error = "insufficient_scope"
    assert body["error"] == expected_error, f"{what}: {body}"
    return name, refusals.check_of(name, description)


@pytest.mark.parametrize("case", _params("me"))
def test_me_refuses(lab: HttpLab, case: Attack) -> None:
    token = _forged(lab, case)
    mark = lab.log.mark()
    response = lab.me(token)
    assert_clean(response, "GET /me")
    assert response.status_code in (401, 403), f"{response.status_code} {response.text[:300]}"
    reason = lab.log.refusal(mark)
    verdict = lab.verdict(token, "me", bearer=True, needed=ME_SCOPES)
    assert_right_reason(case, "me", reason.split(":")[0], refusals.check_of_reason(reason), verdict)


@pytest.mark.parametrize("case", _params("logout"))
def test_logout_refuses(lab: HttpLab, case: Attack) -> None:
    token = _forged(lab, case)
    name, check = issuing_refusal(lab.logout(token), "POST /auth/logout", error="invalid_token")
    assert_right_reason(case, "access", name, check, lab.verdict(token, "access", bearer=True))


@pytest.mark.parametrize("case", _params("refresh"))
def test_refresh_refuses(lab: HttpLab, case: Attack) -> None:
    token = _forged(lab, case)
    response = lab.refresh(token)
    name, check = issuing_refusal(response, "POST /auth/refresh", error="invalid_grant")
    assert "access_token" not in response.text
    verdict = lab.verdict(token, "refresh", bearer=False)
    assert_right_reason(case, "refresh", name, check, verdict, shaped=False)


@pytest.mark.parametrize("case", _params("refresh", twins=True))
def test_refresh_refuses_the_refresh_shaped_forgery(lab: HttpLab, case: Attack) -> None:
    """The same attack on a refresh token: refused by refresh's own check for it."""
    token = _forged(lab, case, "refresh")
    response = lab.refresh(token)
    name, check = issuing_refusal(response, "POST /auth/refresh", error="invalid_grant")
    assert "access_token" not in response.text
    assert_right_reason(case, "refresh", name, check, lab.verdict(token, "refresh", bearer=False))


@pytest.mark.parametrize("case", _params("refresh", twins=True))
def test_the_token_endpoint_refuses_the_refresh_shaped_forgery(lab: HttpLab, case: Attack) -> None:
    """The same forgeries through the OAuth token endpoint's refresh_token grant: 400
    invalid_grant (RFC 6749 §5.2), for the same reason as at /auth/refresh."""
    token = _forged(lab, case, "refresh")
    response = lab.token_refresh(token)
    name, check = issuing_refusal(response, "POST /auth/token (refresh_token)", error="invalid_grant")
    # 400 (413 for a body over the limit, which is refused before it is read): never 401 here.
    assert response.status_code == (413 if name == "BodyTooLarge" else 400), response.text[:300]
    assert "access_token" not in response.text
    assert_right_reason(case, "refresh", name, check, lab.verdict(token, "refresh", bearer=False))


@pytest.mark.parametrize("case", _params("introspect-caller"))
def test_introspect_refuses_the_caller(lab: HttpLab, case: Attack) -> None:
    token = _forged(lab, case)
    response = lab.introspect(lab.access_token, caller=token)
    name, check = issuing_refusal(response, "POST /auth/introspect (caller)", error="invalid_token")
    verdict = lab.verdict(token, "access", bearer=True, needed=INTROSPECTION_SCOPES)
    assert_right_reason(case, "access", name, check, verdict)


def _assert_inactive(lab: HttpLab, token: str, hints: tuple[str, ...]) -> None:
    for hint in hints:
        response = lab.introspect(token, token_type_hint=hint)
        assert_clean(response, "POST /auth/introspect (token)")
        if 200 <= response.status_code < 300:
            assert response.json() == {"active": False}, response.text[:300]
        else:
            assert 400 <= response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    for target in ("access", "refresh"):  # and the model agrees that it is no valid token of ours
        assert not lab.verdict(token, target, bearer=False).valid, target


@pytest.mark.parametrize("case", _params("introspect-token"))
def test_introspect_finds_the_token_inactive(lab: HttpLab, case: Attack) -> None:
    _assert_inactive(lab, _forged(lab, case), ("access_token", "refresh_token"))


@pytest.mark.parametrize("case", _params("introspect-token", twins=True))
def test_introspect_finds_the_refresh_shaped_forgery_inactive(lab: HttpLab, case: Attack) -> None:
    _assert_inactive(lab, _forged(lab, case, "refresh"), ("refresh_token",))


@pytest.mark.parametrize("case", _params("revoke"))
def test_revoke_leaves_the_real_session_alone(lab: HttpLab, case: Attack) -> None:
    token = _forged(lab, case)
    for hint in (None, "refresh_token"):  # no hint tries it as an access token first
        response = lab.revoke(token, hint)
        assert_clean(response, "POST /auth/revoke")
        # RFC 7009: 200 for any token; 400 for an empty one, 413 for one longer than a body may be.
        assert response.status_code in (200, 400, 413), f"{response.status_code} {response.text[:300]}"
    for real in (lab.access_token, lab.refresh_token):
        state = lab.introspect(real)
        assert state.status_code == 200 and state.json()["active"] is True, f"real session hit: {state.text}"


def test_the_real_session_survived_everything(lab: HttpLab) -> None:
    """After all of the above (run last in this module): alice's tokens still work."""
    assert lab.me(lab.access_token).status_code == 200
    for token in (lab.refresh_token, lab.second_refresh_token):
        refreshed = lab.refresh(token)
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
