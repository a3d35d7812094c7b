"""The catalogue itself: well-formed, covering what issue #5 asks for, and in step with README.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.security import summary
from tests.security.catalogue import BODY_ATTACKS, BODY_IDEAS, CATALOGUE, ideas_of, render_table

pytestmark = pytest.mark.security

HERE = Path(__file__).parent
IDS = {case.id for case in CATALOGUE}

# What issue #5 requires the catalogue to hold, at least.
REQUIRED = {
    "alg none, every spelling, with and without a signature": [
        f"alg-{spelling}-{sig}"
        for spelling in ("none", "None", "NONE", "nOnE")
        for sig in ("empty-sig", "real-sig")
    ],
    "HMAC with our public key in every byte form, HS256/384/512": [
        f"hmac-{hs}-{form}"
        for hs in ("hs256", "hs384", "hs512")
        for form in (
            "pem-spki",
            "pem-spki-nonl",
            "pem-pkcs1",
            "pem-pkcs1-nonl",
            "der-spki",
            "jwk-json",
            "raw-n",
            "raw-e",
            "raw-x",
            "raw-y",
            "raw-ed25519",
        )
    ],
    "algorithm switching": ["alg-switch-rs256", "alg-switch-es256", "alg-switch-eddsa", "alg-switch-ps256"],
    "tampering at several positions": [
        f"tamper-{where}-bit-{position}"
        for where in ("header", "payload", "signature")
        for position in ("first", "middle", "last")
    ],
    "ECDSA zero and malformed signatures": [
        "ecdsa-r0-s0",
        "ecdsa-r-s-order",
        "ecdsa-der",
        "ecdsa-length-63",
        "ecdsa-length-65",
    ],
    "jku/x5u/x5c/jwk": [
        "jku-our-key",
        "x5u-our-key",
        "x5c-attacker-self-signed",
        "jwk-attacker-key-matching-kid",
    ],
    "kid injection": [
        "kid-path-traversal-hmac",
        "kid-sql-or-true-hmac",
        "kid-very-long",
        "kid-int",
        "kid-empty",
    ],
    "crit": ["crit-unknown-extension", "crit-listed-absent", "crit-empty-list"],
    "b64=false, nested JWT, JWE": ["b64-false-crit", "cty-jwt-nested", "jwe-to-our-public-key"],
    "duplicate members": ["dup-header-alg-none-last", "dup-payload-appended"],
    "times": ["time-expired", "time-nbf-future", "time-iat-far-future"],
    "issuer near-misses": [
        "iss-prefix",
        "iss-suffix-path",
        "iss-substring",
        "iss-upper-case",
        "iss-trailing-slash",
        "iss-homoglyph",
        "iss-leading-space",
        "iss-trailing-space",
    ],
    "audience lists": ["aud-list-without-ours", "aud-empty-list", "aud-nested-list"],
    "sub type confusion": ["sub-int", "sub-list", "sub-object"],
    "token-type confusion": ["type-refresh-token", "type-cognito-id-token"],
    "revocation": ["revoked-jti", "revoked-sid", "revoked-user"],
    "size and nesting": ["size-just-over-limit", "nest-header-array", "nest-payload-array"],
}


@pytest.mark.parametrize("topic", sorted(REQUIRED))
def test_the_catalogue_covers(topic: str) -> None:
    missing = [case_id for case_id in REQUIRED[topic] if case_id not in IDS]
    assert not missing


def test_ids_are_unique_and_readable() -> None:
    ids = [case.id for case in CATALOGUE] + [body.id for body in BODY_ATTACKS]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", case_id) for case_id in ids)


def test_every_case_names_a_source_and_a_defence() -> None:
    for case in [*CATALOGUE, *BODY_ATTACKS]:
        assert re.search(r"RFC \d+|CVE-\d{4}-\d+|CWE-\d+|Tervoort|malleability", case.reference), case.id
        assert case.defence and case.title, case.id


def test_the_readme_table_is_the_catalogue() -> None:
    """README.md holds `python -m tests.security.catalogue` between its markers, verbatim."""
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- catalogue:start -->\n", "<!-- catalogue:end -->"
    table = readme[readme.index(start) + len(start) : readme.index(end)]
    assert table == render_table(), "regenerate: python -m tests.security.catalogue"


def test_no_key_material_is_committed_here() -> None:
    armour = "-----" + "BEGIN "  # built from parts, so that this file does not match itself
    for path in HERE.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".md", ".json", ".pem"):
            assert armour not in path.read_text(encoding="utf-8", errors="replace"), path


def test_every_case_belongs_to_exactly_one_idea() -> None:
    """The idea table (`catalogue.IDEAS`) covers every case once, and names no idea without one."""
    for ideas in (
        ideas_of(case.id for case in CATALOGUE),
        ideas_of((b.id for b in BODY_ATTACKS), BODY_IDEAS),
    ):
        assert all(ideas.values()), [idea for idea, cases in ideas.items() if not cases]


def test_the_readme_summary_is_current() -> None:
    """README.md holds `python -m tests.security.catalogue --summary`; its counts and idea table
    must be current (the refusal branches it lists are regenerated with the same command)."""
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- summary:start -->\n", "<!-- summary:end -->"
    block = readme[readme.index(start) + len(start) : readme.index(end)]
    for line in [*summary.counts(), *summary.ideas_table()]:
        assert line in block, f"regenerate: python -m tests.security.catalogue --summary ({line})"
