"""The verifier library (`JwtVerifier.any_of`) and the authorizer give the same verdict for every
case of the catalogue.

The library is configured as the lab's authorizer is (tests/security/lab.py): our issuer with
the lab's JWKS, audience, the `profile` scope GET /me needs and the denylist (RevocationList
with the authorizer's default 5 s cache), and the trusted Cognito pool's access tokens with its
JWKS and app client. Each case's prelude goes through both first (it sets the stage for their
caches), then both judge the token. So the authorizer, the library and `inspect-token`
(test_inspect_token_agrees.py) are one set of rules.
"""

from __future__ import annotations

from typing import Any

import pytest

from authorizer import CognitoJwtVerifier, JwtError, JwtVerifier, MultiIssuerVerifier, RevocationList
from tests.security import test_authorizer_attacks as attacks
from tests.security.catalogue import Attack, just_over_limit
from tests.security.forging import KEY_TYPES
from tests.security.test_authorizer_attacks import AUDIENCE, DENYLIST, ISSUER, POOL_CLIENT, Lab
from tests.security.test_inspect_token_agrees import _cases, authorizer_allows

dynamodb, labs = attacks.dynamodb, attacks.labs

pytestmark = pytest.mark.security


@pytest.fixture(scope="module")
def libraries(labs: dict[str, Lab], dynamodb: Any) -> dict[str, MultiIssuerVerifier]:
    pool_jwks = labs["RS256"].material.pool.ring.jwks()
    return {
        alg: JwtVerifier.any_of(
            JwtVerifier(
                issuer=ISSUER,
                audience=AUDIENCE,
                jwks=lab.material.ring.jwks(),
                required_scopes=("profile",),
                revocation=RevocationList(dynamodb, DENYLIST),
            ),
            CognitoJwtVerifier(
                user_pool_id="us-east-1_AttackLab1",
                token_use="access",
                client_id=POOL_CLIENT,
                jwks=pool_jwks,
                required_scopes=("profile",),
                revocation=RevocationList(dynamodb, DENYLIST),
            ),
        )
        for alg, lab in labs.items()
    }


def library_allows(library: MultiIssuerVerifier, token: str) -> bool:
    try:
        library.verify(token)
    except JwtError:
        return False
    return True


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_control_both_accept_the_baselines(
    labs: dict[str, Lab], libraries: dict[str, MultiIssuerVerifier], key_type: str
) -> None:
    lab, library = labs[key_type], libraries[key_type]
    for token in (lab.material.baseline(), just_over_limit(lab.material, extra=0), lab.material.pool_token()):
        assert (authorizer_allows(lab, token), library_allows(library, token)) == (True, True)


@pytest.mark.parametrize(("key_type", "case"), _cases())
def test_same_verdict_as_the_authorizer(
    labs: dict[str, Lab], libraries: dict[str, MultiIssuerVerifier], key_type: str, case: Attack
) -> None:
    lab, library = labs[key_type], libraries[key_type]
    forged = case.build(lab.material)
    for token in forged.prelude:
        authorizer_allows(lab, token)
        library_allows(library, token)
    allowed = authorizer_allows(lab, forged.token)
    assert library_allows(library, forged.token) == allowed, f"authorizer allowed: {allowed}"
