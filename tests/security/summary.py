"""`python -m tests.security.catalogue --summary`: the catalogue, counted honestly.

A parametrized test count says little by itself: 66 cases of HMAC key confusion are one idea,
and 900 refusals may all come from one line of our code. So this counts, beside each other:

* **ideas**: distinct attacks (`catalogue.IDEAS`), and the cases that vary them, per key type;
* **refusal branches**: the places in our code that refuse the cases, found by running every
  case through the authorizer lab (tests/security/lab.py: `TrustedIssuers`, the verifiers, the
  revocation check, the scope check) and every refresh-shaped twin through the refresh logic
  (`Sessions.refresh`, as the refresh endpoint calls it): the exception class and the line that
  raised it (a traceback's last frame), grouped by class and function;
* **parametrized tests**: what pytest collects in tests/security.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from auth_service.sessions import Sessions
from authorizer.errors import AuthError
from authorizer.gateway.events import parse_event
from authorizer.tokens.keys import KeySet
from authorizer.tokens.revocation import RevocationList
from authorizer.tokens.verifier import ACCESS, REFRESH, TokenVerifier
from tests.security.catalogue import (
    BODY_ATTACKS,
    BODY_IDEAS,
    CATALOGUE,
    ENDPOINTS,
    IDEAS,
    applicable,
    has_refresh_twin,
    ideas_of,
)
from tests.security.forging import KEY_TYPES, Victim, attacker_rings, k1_key
from tests.security.lab import DENYLIST, Lab, build_labs, denylist_table, make_event

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Site:
    """Where a refusal was raised: the exception class, and the function and line of the raise."""

    error: str
    where: str  # path:function
    line: int


def _site(exc: BaseException) -> Site:
    tb: TracebackType | None = exc.__traceback__
    assert tb is not None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    path = Path(code.co_filename).resolve()
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return Site(type(exc).__name__, f"{where}:{code.co_name}", tb.tb_lineno)


_DECIDE = "authorizer/gateway/authorization.py:decide"


def authorizer_site(lab: Lab, token: str, prelude: Iterable[str] = ()) -> Site | None:
    """Which branch of the authorizer refuses `token` at `GET /me` (None: it is allowed)."""
    authorizer = lab.simple
    for earlier in prelude:
        authorizer.decide(parse_event(make_event("http-simple", earlier)))
    request = parse_event(make_event("http-simple", token))
    if request.token is None:
        return Site("no bearer token", _DECIDE, 0)
    try:
        claims = authorizer.verifier.verify(request.token)
        authorizer.revocations.check(claims)
    except AuthError as exc:
        return _site(exc)
    if not authorizer.required_scopes(request) <= claims.scopes:
        return Site("missing scope", _DECIDE, 0)
    return None


def refresh_sessions(lab: Lab, client: Any) -> Sessions:
    """The refresh endpoint's logic for the lab's keys, on the lab's denylist."""
    m = lab.material
    own_keys = KeySet.from_jwks(m.ring.jwks())  # as the issuing functions derive it from the signing key
    return Sessions(
        access=TokenVerifier(own_keys, issuer=m.issuer, audience=m.audience, token_type=ACCESS),
        refresh_verifier=TokenVerifier(own_keys, issuer=m.issuer, audience=m.issuer, token_type=REFRESH),
        denylist=m.denylist,
        revocations=RevocationList(client, DENYLIST, cache_seconds=0),
        issuer=m.token_issuer(),
    )


def refresh_site(sessions: Sessions, token: str) -> Site | None:
    try:
        sessions.refresh(token)
    except AuthError as exc:
        return _site(exc)
    return None


def collected_tests() -> int:
    """What pytest collects in tests/security (every parametrized case is one)."""
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "--collect-only", "-q"),
            *("-n", "0", "-p", "no:cacheprovider", "tests/security"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    last = [line for line in result.stdout.splitlines() if "collected" in line or "tests" in line][-1]
    return int(last.split()[0])


def _branch_table(title: str, sites: Counter[Site]) -> list[str]:
    by_function: dict[tuple[str, str], set[int]] = defaultdict(set)
    cases: Counter[tuple[str, str]] = Counter()
    for site, count in sites.items():
        by_function[(site.error, site.where)].add(site.line)
        cases[(site.error, site.where)] += count
    lines = [
        f"{title}: {len(sites)} distinct branches ({len({s.error for s in sites})} refusal classes, "
        f"{len({s.where for s in sites})} functions)",
        "",
        "| refused with | raised in | branches | cases |",
        "|---|---|---|---|",
    ]
    for error, where in sorted(by_function):
        lines.append(
            f"| `{error}` | `{where}` | {len(by_function[(error, where)])} | {cases[(error, where)]} |"
        )
    return lines


def counts() -> list[str]:
    """The static counts: ideas, cases, twins (no lab needed)."""
    ideas = ideas_of(case.id for case in CATALOGUE)
    body_ideas = ideas_of((body.id for body in BODY_ATTACKS), BODY_IDEAS)
    per_key = ", ".join(f"{len(applicable(key_type))} for {key_type}" for key_type in KEY_TYPES)
    twins = sum(has_refresh_twin(case) for case in applicable("RS256"))
    return [
        f"Ideas: {len(ideas)} attack ideas in {len(CATALOGUE)} cases ({per_key} keys); "
        f"{len(body_ideas)} request-body ideas in {len(BODY_ATTACKS)} cases, "
        f"sent to {len(ENDPOINTS)} endpoints.",
        f"Refresh-shaped twins: {twins} of the RS256 cases, sent to the refresh endpoint, "
        "the token endpoint and introspection.",
    ]


def ideas_table() -> list[str]:
    ideas = ideas_of(case.id for case in CATALOGUE)
    body_ideas = ideas_of((body.id for body in BODY_ATTACKS), BODY_IDEAS)
    lines = ["| idea | what it tries | cases |", "|---|---|---|"]
    lines += [f"| `{idea}` | {what} | {len(ideas[idea])} |" for idea, what, _ in IDEAS]
    lines += [f"| `{idea}` | {what} | {len(body_ideas[idea])} |" for idea, what, _ in BODY_IDEAS]
    return lines


def branches() -> list[str]:
    """Run every case through the authorizer lab and every twin through `Sessions.refresh`."""
    authorizer_sites: Counter[Site] = Counter()
    refresh_sites: Counter[Site] = Counter()
    allowed: list[str] = []
    with denylist_table() as client:
        labs = build_labs(client, attacker_rings(), k1_key())
        for key_type, lab in labs.items():
            for case in applicable(key_type):
                forged = case.build(lab.material)
                site = authorizer_site(lab, forged.token, forged.prelude)
                if site is None:
                    allowed.append(f"{key_type} {case.id} (authorizer)")
                else:
                    authorizer_sites[site] += 1
        rs256 = labs["RS256"]
        sessions = refresh_sessions(rs256, client)
        victim = rs256.material.fresh_claims()
        refresh_material = rs256.material.as_refresh_tokens(
            Victim(victim["sub"], victim["sid"], victim["jti"])
        )
        for case in (case for case in applicable("RS256") if has_refresh_twin(case)):
            forged = case.build(refresh_material)
            for earlier in forged.prelude:
                authorizer_site(rs256, earlier)
            site = refresh_site(sessions, forged.token)
            if site is None:
                allowed.append(f"RS256 {case.id} (refresh-shaped, refresh)")
            else:
                refresh_sites[site] += 1
    lines = [*_branch_table("Authorizer (every case, every key type)", authorizer_sites), ""]
    lines += _branch_table("Refresh endpoint (the refresh-shaped twins)", refresh_sites)
    total = {(s.error, s.where, s.line) for s in [*authorizer_sites, *refresh_sites]}
    lines += ["", f"Together: {len(total)} distinct refusal branches."]
    if allowed:
        lines += ["", f"NOT REFUSED ({len(allowed)}): " + ", ".join(allowed)]
    return lines


def summary(*, collect: bool = True) -> str:
    lines = counts()
    if collect:
        lines.append(f"Parametrized tests: {collected_tests()} collected in tests/security.")
    return "\n".join([*lines, "", *branches(), "", *ideas_table()]) + "\n"


def main() -> None:
    print(summary(), end="")
