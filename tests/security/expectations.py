"""Why each case must be refused, at each target: the intended reason, and the contract model's.

Two checks for every refusal, at every target (the authorizer, `GET /me` behind it, and the
issuing endpoints' own verifiers of access and refresh tokens):

* **the intended reason** (`right_reasons`): the refusal's exception class belongs to the
  case's family. A token meant to be "signed by our key, wrong issuer" that fails on its
  signature proves nothing about the issuer check, so it fails the suite;
* **a real defect** (`verdict`): the check that refused is one the token fails according to the
  contract model (tests/fuzz/contract.py), judged for that target's configuration and the
  denylist's state. A refusal for a reason the token does not have means the check that should
  have refused it did not run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from tests.fuzz import contract
from tests.security.catalogue import Attack
from tests.security.forging import FAMILY_OF_KEY_TYPE, Material

# Targets: "authorizer" routes tokens to their issuer by `iss` (ours and, in the authorizer lab,
# a trusted Cognito pool); "access" and "refresh" are the issuing endpoints' verifiers (logout and
# introspection read access tokens, refresh reads refresh tokens), which trust our issuer only.
ROUTING_TARGETS = frozenset({"authorizer", "me"})

# The authorizer's refusal reason (the class name of the `AuthError`) for each family of attack.
RIGHT_REASONS: dict[str, set[str]] = {
    "alg none": {"AlgorithmNotAllowedError", "MalformedTokenError"},
    "HMAC key confusion": {"AlgorithmNotAllowedError"},
    "algorithm switching": {"AlgorithmNotAllowedError", "InvalidSignatureError", "KidNotFoundError"},
    "tampering": {
        "InvalidSignatureError", "MalformedTokenError", "KidNotFoundError", "AlgorithmNotAllowedError",
    },
    "token shape": {"MalformedTokenError", "no bearer token", "MissingTokenError"},
    "key-carrying headers": {"MalformedTokenError"},
    "kid injection": {"KidNotFoundError", "MalformedTokenError"},
    "crit and b64": {"MalformedTokenError"},
    "nested and encrypted": {"MalformedTokenError"},
    "duplicate members": {"AlgorithmNotAllowedError", "InvalidSignatureError"},
    # Issuer routing finds no trusted issuer of that name (the verifier's own exact-`iss` check,
    # IssuerMismatchError, is what the issuing endpoints use: see `right_reasons`).
    "issuer": {"UntrustedIssuerError"},
    "audience": {"AudienceMismatchError", "InvalidClaimError"},
    "times": {"TokenExpiredError", "TokenNotYetValidError", "InvalidClaimError"},
    "claim types": {"InvalidClaimError"},
    "token-type confusion": {"TokenTypeError", "InvalidClaimError", "AudienceMismatchError"},
    "revocation": {"TokenRevokedError"},
    "size and parsing": {"MalformedTokenError", "InvalidClaimError"},
}  # fmt: skip
CASE_REASONS: dict[str, set[str]] = {
    "iss-null": {"InvalidClaimError"},  # no `iss` at all: a required claim is missing
    "iss-missing": {"InvalidClaimError"},
    # Routed to the issuer the token names, whose keys do not hold the other issuer's `kid`.
    "iss-trusted-pool-our-key": {"KidNotFoundError"},
    "iss-ours-pool-key": {"KidNotFoundError"},
    # The letter flipped is the `i` of `"iss"`: the token names no issuer (routing needs one).
    "tamper-payload-bit-first": {"InvalidClaimError", "InvalidSignatureError"},
}
SIGNATURE_FAMILY = {"ecdsa": "EC", "eddsa": "OKP", "rsa": "RSA"}
# Cases whose token claims the Cognito pool's `iss` (trusted by the authorizer lab only).
POOL_CASES = frozenset(
    {
        "type-cognito-id-token", "type-cognito-id-token-with-client-id", "type-cognito-wrong-client",
        "type-cognito-token-use-refresh", "type-cognito-at-jwt", "revoked-pool-origin", "revoked-pool-user",
        "iss-trusted-pool-our-key",
    }
)  # fmt: skip


def right_reasons(
    case: Attack, key_type: str, target: str = "authorizer", *, shaped: bool = True
) -> set[str]:
    """The exception classes `case` may rightly be refused with at `target`.

    `shaped`: the token has the shape of the target's kind (an access token at "access", a
    refresh-shaped twin at "refresh"); an access token at "refresh" may also fail its `typ`,
    which the refresh verifier checks before anything else about the token.
    """
    reasons = _intended(case, key_type, target)
    if target not in ROUTING_TARGETS and "UntrustedIssuerError" in reasons:
        reasons = (reasons - {"UntrustedIssuerError"}) | {"IssuerMismatchError"}
    if target == "refresh":
        if case.group == "revocation":
            reasons.add("RefreshTokenReuseError")  # a refresh token already used: reuse
        if case.group == "size and parsing":
            reasons.add("BodyTooLarge")  # sent in a request body: over AUTH_MAX_BODY_BYTES first
        if not shaped:
            reasons.add("TokenTypeError")
    return reasons


def _intended(case: Attack, key_type: str, target: str) -> set[str]:
    if case.group == "malformed signatures":
        # Against a key of the signature's own type the signature itself fails; else the alg pin.
        native = SIGNATURE_FAMILY[case.id.split("-")[0]] == FAMILY_OF_KEY_TYPE[key_type]
        return {"InvalidSignatureError"} if native else {"AlgorithmNotAllowedError"}
    if case.id in POOL_CASES and target != "authorizer":  # only the lab trusts the pool
        if target == "me":
            return {"UntrustedIssuerError"}
        # Not routed: refused by the first check that sees another issuer's token (Cognito sets
        # no `typ`; its `kid` is not ours; its `iss` is not ours).
        return {"TokenTypeError", "KidNotFoundError", "IssuerMismatchError"}
    return set(CASE_REASONS.get(case.id) or RIGHT_REASONS[case.group])


# --------------------------------------------------------------------------- the model's view


def issuer_of(material: Material, kind: str = "access") -> contract.Issuer:
    """Our issuer as the model sees it: its JWKS, audience and token kind."""
    keys = contract.keys_from_jwks(material.ring.jwks())
    if kind == "refresh":
        audiences, typ, use = frozenset({material.issuer}), "rt+jwt", "refresh"
        return contract.Issuer(
            material.issuer, keys, audiences, typ=typ, token_use=use, requires_auth_time=True
        )
    return contract.Issuer(material.issuer, keys, frozenset({material.audience}), requires_auth_time=True)


def pool_issuer_of(material: Material) -> contract.Issuer:
    """A trusted Cognito pool of access tokens (AUTH_TRUSTED_ISSUERS, `type: cognito`)."""
    return contract.Issuer(
        material.pool.issuer,
        contract.keys_from_jwks(material.pool.ring.jwks()),
        frozenset({material.pool.client_id}),
        audience_claim="client_id",
        typ=None,
        token_use="access",
        algorithms=frozenset({"RS256"}),
    )


def targets_of(material: Material, *, trusted_pool: bool) -> dict[str, contract.Target]:
    ours = issuer_of(material)
    routed = (ours, pool_issuer_of(material)) if trusted_pool else (ours,)
    leeway, size = material.leeway, material.max_token_bytes
    return {
        "authorizer": contract.Target("authorizer", routed, routed=True, leeway=leeway, max_token_bytes=size),
        "me": contract.Target("me", routed, routed=True, leeway=leeway, max_token_bytes=size),
        "access": contract.Target("access", (ours,), routed=False, leeway=leeway, max_token_bytes=size),
        "refresh": contract.Target(
            "refresh", (issuer_of(material, "refresh"),), routed=False, leeway=leeway, max_token_bytes=size
        ),
    }


def table_denylist(client: Any, table: str) -> contract.DenylistLookup:
    """What the denylist table holds for a token's claims (live items only, read consistently)."""

    def lookup(claims: Mapping[str, Any]) -> contract.Denylist:
        now = time.time()

        def live(key: str) -> Mapping[str, Any] | None:
            item = client.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
            if item is None or float(item.get("expires_at", {}).get("N", "inf")) <= now:
                return None
            return item  # type: ignore[no-any-return]

        sid, origin = claims.get("sid"), claims.get(contract.ORIGIN_CLAIM)
        user = live(f"user#{claims['sub']}")
        return contract.Denylist(
            jtis=frozenset({claims["jti"]} if live(f"jti#{claims['jti']}") else ()),
            sids=frozenset({sid} if isinstance(sid, str) and sid and live(f"sid#{sid}") else ()),
            origins=frozenset(
                {origin} if isinstance(origin, str) and origin and live(f"origin#{origin}") else ()
            ),
            not_before={claims["sub"]: float(user["not_before"]["N"])}
            if user and "not_before" in user
            else {},
        )

    return lookup
