"""inspect-token and the authorizer give the same verdict for every case of the catalogue.

Each case is forged once per key type with the same material as tests/security/
test_authorizer_attacks.py, judged by that module's authorizers (built by `build_authorizer`, on
the moto denylist, trusting our issuer and a Cognito pool), and by `inspect-token` (its `main()`)
with the keys, issuer, audience, type and denylist the authorizer is configured with: our JWKS
for our issuer's tokens, the pool's for the pool's (a token is routed by its unverified `iss`, as
the authorizer routes it). Valid means exit 0 (valid, revocation checked); the controls show both
accept the valid tokens, so an inspect-token that refused everything would fail here too.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from auth_service.cli.inspect_token import main
from authorizer.errors import MalformedTokenError
from authorizer.gateway.events import parse_event
from authorizer.tokens.verifier import decode_payload
from tests.security import test_authorizer_attacks as attacks
from tests.security.catalogue import Attack, applicable, just_over_limit
from tests.security.forging import KEY_TYPES
from tests.security.test_authorizer_attacks import (
    AUDIENCE,
    DENYLIST,
    ISSUER,
    POOL_CLIENT,
    POOL_ISSUER,
    Lab,
    make_event,
)

# The authorizers the catalogue is run against (tests/security/test_authorizer_attacks.py), reused.
dynamodb, labs = attacks.dynamodb, attacks.labs

pytestmark = pytest.mark.security


@pytest.fixture(scope="module")
def jwks_files(labs: dict[str, Lab], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each lab's JWKS (what its authorizer has as AUTH_JWKS) and the pool's, as files."""
    folder = tmp_path_factory.mktemp("jwks")
    documents = {alg: lab.material.ring.jwks() for alg, lab in labs.items()}
    documents["pool"] = labs["RS256"].material.pool.ring.jwks()
    files = {}
    for name, document in documents.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(document))
        files[name] = str(path)
    return files


def inspect_args(
    key_type: str, token: str, jwks_files: dict[str, str], *, denylist: bool = True
) -> list[str]:
    """The arguments that judge `token` as the lab's authorizer does, routed by its `iss`."""
    try:
        issuer = decode_payload(token).get("iss")
    except MalformedTokenError:
        issuer = None
    if issuer == POOL_ISSUER:
        args = ["--jwks", jwks_files["pool"], "--issuer", POOL_ISSUER, "--audience", POOL_CLIENT]
        args += ["--type", "cognito-access"]
    else:
        args = [
            "--jwks",
            jwks_files[key_type],
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            "--type",
            "access",
        ]
    if denylist:
        args += ["--denylist-table", DENYLIST, "--region", "us-east-1"]
    return args


# The usage errors (exit 2) a catalogue token may cause: input that is no signed JWT at all. Any
# other (a bad argument, an unreadable JWKS or denylist) would hide a verdict, and fails the test.
NOT_A_JWT = ("inspect-token: error: not a JWT", "inspect-token: error: no token given", "an encrypted JWE")


def inspect_token(argv: list[str]) -> int:
    """inspect-token's exit code, its output kept out of the test log."""
    errors = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
        code = main(argv)
    if code == 2:
        assert any(reason in errors.getvalue() for reason in NOT_A_JWT), errors.getvalue()
    return code


def authorizer_allows(lab: Lab, token: str) -> bool:
    return lab.simple.decide(parse_event(make_event("http-simple", token))).allowed


def both_verdicts(lab: Lab, key_type: str, token: str, jwks_files: dict[str, str]) -> tuple[bool, int]:
    code = inspect_token([token, *inspect_args(key_type, token, jwks_files)])
    assert code in (0, 1, 2), code  # with the denylist named, never "revocation not checked"
    return authorizer_allows(lab, token), code


# --------------------------------------------------------------------------- controls


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_control_both_accept_the_baseline(
    labs: dict[str, Lab], jwks_files: dict[str, str], key_type: str
) -> None:
    lab = labs[key_type]
    assert both_verdicts(lab, key_type, lab.material.baseline(), jwks_files) == (True, 0)


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_control_both_accept_a_token_exactly_at_the_size_limit(
    labs: dict[str, Lab], jwks_files: dict[str, str], key_type: str
) -> None:
    lab = labs[key_type]
    token = just_over_limit(lab.material, extra=0)
    assert both_verdicts(lab, key_type, token, jwks_files) == (True, 0)


def test_control_both_accept_the_trusted_pools_access_token(
    labs: dict[str, Lab], jwks_files: dict[str, str]
) -> None:
    lab = labs["RS256"]
    assert both_verdicts(lab, "RS256", lab.material.pool_token(), jwks_files) == (True, 0)


# --------------------------------------------------------------------------- the catalogue


def _cases() -> list[Any]:
    return [
        pytest.param(key_type, case, id=f"{key_type}-{case.id}")
        for key_type in KEY_TYPES
        for case in applicable(key_type)
    ]


@pytest.mark.parametrize(("key_type", "case"), _cases())
def test_same_verdict_as_the_authorizer(
    labs: dict[str, Lab], jwks_files: dict[str, str], key_type: str, case: Attack
) -> None:
    lab = labs[key_type]
    forged = case.build(lab.material)
    for token in forged.prelude:  # they set the stage for the authorizer's caches
        authorizer_allows(lab, token)
    allowed, code = both_verdicts(lab, key_type, forged.token, jwks_files)
    assert allowed == (code == 0), f"authorizer allowed: {allowed}; inspect-token exit code {code}"


@pytest.mark.parametrize(
    ("key_type", "case"),
    [param for param in _cases() if param.values[1].group == "revocation"],
)
def test_without_the_denylist_a_revoked_token_is_never_plain_valid(
    labs: dict[str, Lab], jwks_files: dict[str, str], key_type: str, case: Attack
) -> None:
    lab = labs[key_type]
    token = case.build(lab.material).token
    code = inspect_token([token, *inspect_args(key_type, token, jwks_files, denylist=False)])
    # Signature and claims are fine, and the exit code says revocation was not checked.
    assert code == 3
    assert inspect_token([token, *inspect_args(key_type, token, jwks_files)]) == 1
