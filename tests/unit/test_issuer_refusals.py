"""Issuer routing and the verifier refuse a wrong `iss` with distinct errors.

`TrustedIssuers` picks the verifier by the token's `iss`; a token naming no trusted issuer is
refused there (`UntrustedIssuerError`). A `TokenVerifier` asked directly (the issuing endpoints'
verifiers have no routing) checks `iss` exactly itself (`IssuerMismatchError`). Logs and HTTP
answers must tell the two apart, so that "refused for the right reason" can (tests/security).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest

from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from authorizer.errors import InvalidClaimError, IssuerMismatchError, UntrustedIssuerError
from authorizer.tokens.issuers import TrustedIssuers
from authorizer.tokens.keys import KeySet
from authorizer.tokens.verifier import ACCESS, TokenVerifier

ISSUER = "https://auth.example.test"


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return load_key_ring(generate_private_key_pem("RS256"))


@pytest.fixture(scope="module")
def verifier(ring: KeyRing) -> TokenVerifier:
    return TokenVerifier(
        KeySet.from_jwks(ring.jwks()), issuer=ISSUER, audience="orders-api", token_type=ACCESS
    )


def token(ring: KeyRing, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": "orders-api",
        "iat": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
    }
    claims.update(changes)
    key = ring.current
    headers = {"typ": "at+jwt", "kid": key.kid}
    payload = json.dumps({k: v for k, v in claims.items() if v is not None}).encode()
    # The JWS layer signs any payload (`jwt.encode` would refuse an `iss` that is not a string).
    return jwt.api_jws.encode(payload, key.private_key, algorithm="RS256", headers=headers)


@pytest.mark.parametrize("iss", ["https://evil.example", ISSUER + "/", [ISSUER], 1])
def test_routing_and_the_verifier_say_different_things(
    ring: KeyRing, verifier: TokenVerifier, iss: Any
) -> None:
    forged = token(ring, iss=iss)
    with pytest.raises(UntrustedIssuerError) as routed:
        TrustedIssuers({ISSUER: verifier}).verify(forged)
    with pytest.raises(IssuerMismatchError) as checked:
        verifier.verify(forged)
    assert type(checked.value) is IssuerMismatchError  # not the routing error
    assert str(routed.value) != str(checked.value)


def test_a_token_without_iss_lacks_a_required_claim_wherever_it_is_refused(
    ring: KeyRing, verifier: TokenVerifier
) -> None:
    forged = token(ring, iss=None)
    for verify in (TrustedIssuers({ISSUER: verifier}).verify, verifier.verify):
        with pytest.raises(InvalidClaimError, match="lacks the 'iss' claim"):
            verify(forged)
