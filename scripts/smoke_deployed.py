#!/usr/bin/env python3
"""Smoke test of a deployed (or local) lambda-jwt-auth API: what to run after `deploy`.

    SMOKE_PASSWORD=... python scripts/smoke_deployed.py https://abc123.execute-api.eu-west-1.amazonaws.com \\
        --username smoke-user

Against the API at URL, as any client would (HTTP only, no AWS credentials), one line per step:

1. discovery (`/.well-known/openid-configuration`): the issuer, and the JWKS it points at;
2. login; the access token verified by PyJWT against that JWKS (an independent verifier: issuer,
   audience, expiry, the algorithm the key names);
3. `/me` through the authorizer: 200 with the token, 401 without, 403 with a tampered one;
4. refresh: a new pair; the retired refresh token used again is refused (reuse detection);
5. a second session: logout, then `/me` polled until refused, within the revocation delay
   (`--revocation-delay`, serverless.yml's default 5 s: revocationCacheSeconds +
   authorizerResultTtl) plus a margin for polling.

The user must exist (`auth-service users add`); its password comes from $SMOKE_PASSWORD or a
prompt, never from the command line. Nothing secret is printed: tokens and the password are
scrubbed from every message. Exit status 0 only if every step passed; CI runs it against
serverless-offline (scripts/offline_smoke.py) and `auth-service serve` (tests/e2e).
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests

HTTP_TIMEOUT_SECONDS = 20  # one request; a cold start (python3 + imports + argon2) fits easily
DEFAULT_AUDIENCE = "lambda-jwt-auth-api"  # serverless.yml's `audience` param
DEFAULT_REVOCATION_DELAY = 5.0  # serverless.yml: revocationCacheSeconds 5 + authorizerResultTtl 0
DEFAULT_MARGIN = 2.0
POLL_SECONDS = 0.25
_JWT_LIKE = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")


class SmokeFailure(Exception):
    """A step did not give the expected answer; the message says which and what came instead."""


@dataclass
class Secrets:
    """Everything that must never be printed; scrubbed from any output we echo."""

    values: set[str] = field(default_factory=set)

    def add(self, *values: str) -> None:
        self.values.update(v for v in values if v)

    def scrub(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, "[redacted]")
        # Belt and braces: anything shaped like a JWT, whether or not we know it.
        return _JWT_LIKE.sub("[jwt redacted]", text)


def report(step: str, status: int | str, started: float, note: str = "") -> None:
    elapsed_ms = (time.monotonic() - started) * 1000
    suffix = f"  ({note})" if note else ""
    print(f"ok   {step:<44} {status!s:>4} {elapsed_ms:8.0f} ms{suffix}", flush=True)


def expect_status(step: str, response: requests.Response, expected: int) -> None:
    if response.status_code != expected:
        # Error bodies are OAuth-style {"error", ...}: no token in them, but scrub anyway upstream.
        raise SmokeFailure(f"{step}: expected {expected}, got {response.status_code}: {response.text[:300]}")


def _decode_segment(segment: str) -> dict[str, Any]:
    padded = segment + "=" * (-len(segment) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return claims


def _encode_segment(claims: dict[str, Any]) -> str:
    raw = json.dumps(claims, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def tampered(token: str) -> str:
    """The same token with a changed claim and the original signature: must fail verification."""
    header, payload, signature = token.split(".")
    claims = _decode_segment(payload)
    claims["scope"] = f"{claims.get('scope', '')} admin".strip()
    return f"{header}.{_encode_segment(claims)}.{signature}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Target:
    """The API under test and what its tokens must say."""

    url: str  # the API's base URL, no trailing slash
    username: str
    password: str = field(repr=False)
    issuer: str  # the exact `iss` (default: the URL)
    audience: str = DEFAULT_AUDIENCE
    revocation_delay: float = DEFAULT_REVOCATION_DELAY
    margin: float = DEFAULT_MARGIN


class Api:
    """Calls to the API; every request has a timeout and records the secrets it receives."""

    def __init__(self, target: Target, hidden: Secrets) -> None:
        self.target = target
        self.hidden = hidden
        hidden.add(target.password)

    def get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.get(f"{self.target.url}{path}", headers=headers or {}, timeout=HTTP_TIMEOUT_SECONDS)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(f"{self.target.url}{path}", timeout=HTTP_TIMEOUT_SECONDS, **kwargs)

    def login(self) -> requests.Response:
        credentials = {"username": self.target.username, "password": self.target.password}
        return self.post("/auth/login", json=credentials)

    def me(self, headers: dict[str, str]) -> requests.Response:
        return self.get("/me", headers)

    def token_pair(self, step: str, response: requests.Response) -> tuple[str, str]:
        expect_status(step, response, 200)
        body = response.json()
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise SmokeFailure(f"{step}: no access_token/refresh_token in the answer")
        self.hidden.add(access, refresh)
        return access, refresh


def step_discovery(api: Api) -> dict[str, Any]:
    """The discovery document and the JWKS it names; returns the JWKS."""
    step = "GET /.well-known/openid-configuration"
    started = time.monotonic()
    response = api.get("/.well-known/openid-configuration")
    expect_status(step, response, 200)
    document = response.json()
    if document.get("issuer") != api.target.issuer:
        raise SmokeFailure(f"{step}: issuer is {document.get('issuer')!r}, expected {api.target.issuer!r}")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri.startswith(api.target.issuer):
        raise SmokeFailure(f"{step}: jwks_uri {jwks_uri!r} is not under the issuer")
    report(step, 200, started)
    step = "GET /.well-known/jwks.json (its jwks_uri)"
    started = time.monotonic()
    # Fetched from the URL under test: the issuer may name a custom domain not reachable here.
    response = api.get(jwks_uri.removeprefix(api.target.issuer) or "/.well-known/jwks.json")
    expect_status(step, response, 200)
    jwks: dict[str, Any] = response.json()
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys or any("d" in key for key in keys):
        raise SmokeFailure(f"{step}: no public keys (or a private one) in the JWKS")
    report(step, 200, started, f"{len(keys)} key(s)")
    return jwks


def step_login(api: Api, step: str, jwks: dict[str, Any] | None = None) -> tuple[str, str]:
    started = time.monotonic()
    response = api.login()
    access, refresh = api.token_pair(step, response)
    note = ""
    if jwks is not None:  # PyJWT, an independent verifier, checks the token against the JWKS
        kid = jwt.get_unverified_header(access).get("kid")
        found = [key for key in jwks["keys"] if key.get("kid") == kid]
        if len(found) != 1:
            raise SmokeFailure(f"{step}: the token's kid {kid!r} names {len(found)} keys of the JWKS")
        key = jwt.PyJWK(found[0])
        try:
            issuer, audience = api.target.issuer, api.target.audience
            jwt.decode(access, key, algorithms=[key.algorithm_name], issuer=issuer, audience=audience)
        except jwt.PyJWTError as exc:
            raise SmokeFailure(f"{step}: PyJWT refuses the access token: {exc}") from None
        note = f"PyJWT verified it ({key.algorithm_name}, iss, aud, exp)"
    report(step, response.status_code, started, note)
    return access, refresh


def step_me(api: Api, step: str, headers: dict[str, str], expected: int) -> None:
    started = time.monotonic()
    response = api.me(headers)
    expect_status(step, response, expected)
    report(step, response.status_code, started)


def step_refresh(api: Api, old_access: str, old_refresh: str) -> tuple[str, str]:
    step = "POST /auth/refresh -> new pair"
    started = time.monotonic()
    response = api.post("/auth/refresh", json={"refresh_token": old_refresh})
    access, refresh = api.token_pair(step, response)
    if access == old_access or refresh == old_refresh:
        raise SmokeFailure(f"{step}: the pair was not renewed")
    report(step, response.status_code, started)
    return access, refresh


def step_refresh_reuse(api: Api, retired_refresh: str) -> None:
    step = "POST /auth/refresh (reused token) -> 401"
    started = time.monotonic()
    response = api.post("/auth/refresh", json={"refresh_token": retired_refresh})
    expect_status(step, response, 401)
    report(step, response.status_code, started)


def step_logout(api: Api, access: str) -> float:
    """Logout; returns when it was sent, the start of the revocation delay."""
    step = "POST /auth/logout -> 204"
    started = time.monotonic()
    response = api.post("/auth/logout", headers=bearer(access))
    expect_status(step, response, 204)
    report(step, response.status_code, started)
    return started


def step_refused_after_logout(api: Api, access: str, logout_started: float) -> None:
    """Poll /me until refused; it must happen within the documented revocation delay.

    The true delay lies between the last accepted and the first refused answer, so both are
    reported: the refusal itself may land up to one poll interval after the bound.
    """
    step = "GET /me after logout -> 403"
    bound, margin = api.target.revocation_delay, api.target.margin
    started = time.monotonic()
    deadline = logout_started + bound + margin
    last_accepted = 0.0
    while True:
        response = api.me(bearer(access))
        delay = time.monotonic() - logout_started
        if response.status_code == 403:
            window = f"accepted until {last_accepted:.1f} s, refused at {delay:.1f} s after logout"
            report(step, 403, started, f"{window}; bound {bound:g} s")
            return
        if response.status_code != 200 or time.monotonic() > deadline:
            raise SmokeFailure(
                f"{step}: still {response.status_code} {delay:.1f} s after logout "
                f"(bound {bound:g} s + {margin:g} s margin)"
            )
        last_accepted = delay
        time.sleep(POLL_SECONDS)


def run_steps(api: Api) -> None:
    jwks = step_discovery(api)
    # Session 1: use, refuse tampering and anonymity, refresh, then reuse the retired refresh token
    # (which revokes session 1 as theft, so logout is checked on a session of its own).
    access, refresh = step_login(api, "POST /auth/login -> 200", jwks)
    step_me(api, "GET /me with the access token -> 200", bearer(access), 200)
    step_me(api, "GET /me without a token -> 401", {}, 401)
    step_me(api, "GET /me with a tampered token -> 403", bearer(tampered(access)), 403)
    new_access, _ = step_refresh(api, access, refresh)
    step_me(api, "GET /me with the refreshed token -> 200", bearer(new_access), 200)
    step_refresh_reuse(api, refresh)
    # Session 2: logout, and the access token stops working within the revocation delay. The /me
    # before logout makes the authorizer cache "not revoked", so the poll measures that cache.
    access, _ = step_login(api, "POST /auth/login (second session) -> 200")
    step_me(api, "GET /me (second session) -> 200", bearer(access), 200)
    logout_started = step_logout(api, access)
    step_refused_after_logout(api, access, logout_started)


# What a failed run may raise; anything else is a bug in this script and keeps its traceback.
EXPECTED_FAILURES: tuple[type[BaseException], ...] = (SmokeFailure, requests.RequestException, ValueError)


def smoke(target: Target, hidden: Secrets | None = None, what: str = "smoke test") -> int:
    """Run every step against `target`; 0 if all passed, 1 (and why, scrubbed) if not."""
    hidden = hidden or Secrets()
    started = time.monotonic()
    try:
        run_steps(Api(target, hidden))
    except EXPECTED_FAILURES as exc:
        print(f"FAIL {what}: {hidden.scrub(str(exc))}", file=sys.stderr)
        return 1
    print(f"PASS {what} in {time.monotonic() - started:.1f} s", flush=True)
    return 0


def main(argv: list[str] | None = None, read_password: Callable[[str], str] = getpass.getpass) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url", help="the API's base URL (the stack's ApiUrl output)")
    parser.add_argument("--username", required=True, help="an existing user (auth-service users add)")
    parser.add_argument("--issuer", help="the tokens' exact iss (default: URL; set it for a custom domain)")
    parser.add_argument("--audience", default=DEFAULT_AUDIENCE, help="the tokens' aud (default: %(default)s)")
    parser.add_argument(
        "--revocation-delay",
        type=float,
        default=DEFAULT_REVOCATION_DELAY,
        metavar="SECONDS",
        help="revocationCacheSeconds + authorizerResultTtl of the stack (default: 5)",
    )
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    if not re.match(r"https?://[^/\s]+", url):
        parser.error(f"URL must be http(s)://host[/path], got {args.url!r}")
    password = os.environ.get("SMOKE_PASSWORD") or read_password(f"password of {args.username}: ")
    target = Target(
        url=url,
        username=args.username,
        password=password,
        issuer=args.issuer or url,
        audience=args.audience,
        revocation_delay=args.revocation_delay,
    )
    return smoke(target)


if __name__ == "__main__":
    sys.exit(main())
