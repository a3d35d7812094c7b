"""Warm, per-token costs: raw `cryptography`, the JOSE libraries, ours, and the typical authorizer.

Raw `cryptography` is the reference: the signature check alone, on bytes prepared in advance (a
DER signature for ES256), i.e. the physical limit of a verifier. The libraries verify the same
token with a prebuilt key object and check issuer, audience and times. Ours is measured through
its public entry points only: `build_authorizer(AuthorizerConfig.from_env())`, then its
`verifier.verify(token)` (plus the cached revocation check) and `handle(event)`.

Ours sees a token it has never seen in every call (a cache of verified tokens must miss): the
tokens are signed in advance, all distinct, sharing one `jti` whose denylist answer was read
once and is cached, as the targets ask ("the revocation answer cached").
"""

from __future__ import annotations

import base64
import logging
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bench.report import Row, time_row
from bench.timing import Budget, Op, median, paired_ratio, round_robin, same_input, split_fresh
from bench.world import ALGORITHMS, AUDIENCE, ISSUER, Keys, allowed, http_event, rest_event

WARM = "warm, per token"
REPEAT = "the same token again"
TYPICAL = "typical authorizer (PyJWT + PyJWKClient + boto3 Table.get_item), warm"
# The issue's targets for a never-seen token, all checks included, revocation answer cached.
AUTHORIZATION_TARGET = {"RS256": 2.0, "ES256": 1.4, "EdDSA": 1.25}
HANDLER_TARGET = 2.5  # the whole handler call, RS256
REPEAT_TARGET_US = 10.0


def lambda_like_logging() -> None:
    """What the Lambda Python runtime does: an INFO handler on the root logger, one line a write."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stream = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def raw_verify(keys: Keys, alg: str, token: str) -> Callable[[Any], object]:
    """The signature check alone, with everything it needs decoded beforehand."""
    header, payload, signature = token.split(".")
    message = f"{header}.{payload}".encode("ascii")
    sig = _b64(signature)
    public = keys.public_key(alg)
    if alg == "RS256":
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        return lambda _: public.verify(sig, message, pkcs1, sha256)
    if alg == "ES256":
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        ecdsa = ec.ECDSA(hashes.SHA256())
        return lambda _: public.verify(der, message, ecdsa)
    return lambda _: public.verify(sig, message)


def pyjwt_decode(keys: Keys, alg: str) -> Callable[[Any], object]:
    public = keys.public_key(alg)
    return lambda token: jwt.decode(token, public, algorithms=[alg], issuer=ISSUER, audience=AUDIENCE)


def jose_decode(keys: Keys, alg: str) -> Callable[[Any], object] | None:
    from jose import jwk as jose_jwk
    from jose import jwt as jose_jwt

    if alg == "EdDSA":
        return None  # python-jose has no EdDSA
    key = jose_jwk.construct(keys.rings[alg].jwks()["keys"][0], alg)
    return lambda token: jose_jwt.decode(token, key, algorithms=[alg], issuer=ISSUER, audience=AUDIENCE)


def joserfc_decode(keys: Keys, alg: str) -> Callable[[Any], object]:
    from joserfc import jwt as rfc_jwt
    from joserfc.jwk import ECKey, OKPKey, RSAKey

    kinds: dict[str, Any] = {"RS256": RSAKey, "ES256": ECKey, "EdDSA": OKPKey}
    key = kinds[alg].import_key(keys.rings[alg].jwks()["keys"][0])
    claims = rfc_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": AUDIENCE}
    )

    def decode(token: str) -> object:
        with warnings.catch_warnings():
            # joserfc 1.8 flags "EdDSA" as deprecated (RFC 9864 names Ed25519); our tokens use it.
            warnings.simplefilter("ignore")
            decoded = rfc_jwt.decode(token, key, algorithms=[alg])
        claims.validate(decoded.claims)
        return decoded

    return decode


def authlib_decode(keys: Keys, alg: str) -> Callable[[Any], object] | None:
    """Only when authlib happens to be installed: it is no dependency of ours."""
    try:
        from authlib.jose import JsonWebKey, JsonWebToken
    except ImportError:
        return None
    key = JsonWebKey.import_key(keys.rings[alg].jwks()["keys"][0])
    decoder = JsonWebToken([alg])
    options = {"iss": {"essential": True, "value": ISSUER}, "aud": {"essential": True, "value": AUDIENCE}}

    def decode(token: str) -> object:
        claims = decoder.decode(token, key, claims_options=options)
        claims.validate()
        return claims

    return decode


def ours_verify(authorizer: Any) -> Callable[[Any], object]:
    """verify + the revocation check (answer cached), through the authorizer's public parts."""
    verifier = authorizer.verifier
    revocations = getattr(authorizer, "revocations", None)
    check = getattr(revocations, "check", None)
    if check is None:
        print("[bench] WARNING: no authorizer.revocations.check: timing verify alone", file=sys.stderr)
        return lambda token: verifier.verify(token)

    def verify(token: str) -> object:
        check(verifier.verify(token))
        return True

    return verify


@dataclass(frozen=True)
class _Timed:
    """An op and how its row reads: its section, and the target it is checked against."""

    op: Op
    section: str = WARM
    max_ratio: float | None = None
    max_microseconds: float | None = None


def _rows(timed: list[_Timed], reference: str) -> list[Row]:
    """Time every op round-robin; the first is the reference the others' ratios are to."""
    times = round_robin([t.op for t in timed])
    base = times[timed[0].op.name]
    return [
        time_row(
            t.section,
            t.op.name,
            median(times[t.op.name]),
            ratio=paired_ratio(times[t.op.name], base) if t.section != REPEAT else None,
            reference=reference,
            max_ratio=t.max_ratio,
            max_microseconds=t.max_microseconds,
        )
        for t in timed
    ]


def _fresh(name: str, call: Callable[[Any], object], inputs: list[Any], budget: Budget) -> Op:
    warmup, repeats = split_fresh(inputs, budget)
    first = warmup.pop()
    answer = call(first)
    if answer is False or (isinstance(answer, dict) and not allowed(answer)):
        raise RuntimeError(f"{name}: a valid token was refused: {answer!r}")
    return Op(name, call, repeats, warmup)


def _same(name: str, call: Callable[[Any], object], item: Any, budget: Budget, *, slow: bool = False) -> Op:
    answer = call(item)
    if answer is False or (isinstance(answer, dict) and "principalId" in answer and not allowed(answer)):
        raise RuntimeError(f"{name}: a valid token was refused: {answer!r}")
    return Op(name, call, same_input(item, budget, slow=slow), [item] * 3)


def measure_algorithm(keys: Keys, alg: str, authorizer: Any, budget: Budget) -> list[Row]:
    """The rows of one algorithm, timed round-robin: reference, libraries, ours."""
    token = keys.fresh_tokens(alg, 1)[0]
    timed = [
        _Timed(
            _same(f"raw cryptography verify, {alg} (reference)", raw_verify(keys, alg, token), token, budget)
        )
    ]
    libraries: list[tuple[str, Callable[[Any], object] | None]] = [
        ("PyJWT jwt.decode", pyjwt_decode(keys, alg)),
        ("python-jose jwt.decode", jose_decode(keys, alg)),
        ("joserfc jwt.decode + claims", joserfc_decode(keys, alg)),
        ("authlib jwt.decode + validate", authlib_decode(keys, alg)),
    ]
    timed += [_Timed(_same(f"{name}, {alg}", op, token, budget)) for name, op in libraries if op is not None]
    # Ours: every call a token never seen before. The first (checked) call reads the shared
    # jti's denylist answer, so every measured call finds it cached.
    timed.append(
        _Timed(
            _fresh(
                f"ours: verify + cached revocation check, never-seen {alg} token",
                ours_verify(authorizer),
                keys.fresh_tokens(alg, budget.fresh_inputs()),
                budget,
            ),
            max_ratio=AUTHORIZATION_TARGET[alg],
        )
    )
    formats = [("HTTP API 2.0 simple", http_event)] + ([("REST TOKEN", rest_event)] if alg == "RS256" else [])
    for label, event in formats:
        events = [event(t) for t in keys.fresh_tokens(alg, budget.fresh_inputs())]
        name = f"ours: whole handler, {label}, never-seen {alg} token"
        target = HANDLER_TARGET if alg == "RS256" else None
        timed.append(_Timed(_fresh(name, authorizer.handle, events, budget), max_ratio=target))
    if alg == "RS256":
        timed += _repeats(keys, authorizer, budget)
    return _rows(timed, f"raw {alg}")


def _repeats(keys: Keys, authorizer: Any, budget: Budget) -> list[_Timed]:
    """The same token again: what a container pays for a token it has verified before."""
    token, other = keys.fresh_tokens("RS256", 2)
    verify = _same(
        "ours: verify + cached revocation check, same RS256 token again",
        ours_verify(authorizer),
        token,
        budget,
    )
    handle = _same(
        "ours: whole handler, HTTP API 2.0 simple, same RS256 token again",
        authorizer.handle,
        http_event(other),
        budget,
    )
    return [
        _Timed(verify, REPEAT, max_microseconds=REPEAT_TARGET_US),
        _Timed(handle, REPEAT, max_microseconds=REPEAT_TARGET_US),
    ]


def measure_typical(keys: Keys, typical: Any, budget: Budget) -> list[Row]:
    """The typical authorizer, warm (a JWKS client lookup, jwt.decode, one GetItem a call)."""
    token = keys.fresh_tokens("RS256", 1)[0]
    raw = _same("raw RS256", raw_verify(keys, "RS256", token), token, budget, slow=True)
    name = "typical authorizer, REST TOKEN, RS256 (one GetItem on local moto per call)"
    handle = _same(name, lambda e: typical.handler(e, None), rest_event(token), budget, slow=True)
    return _rows([_Timed(raw), _Timed(handle, TYPICAL)], "raw RS256")[1:]


def measure_all(keys: Keys, authorizer: Any, typical: Any, budget: Budget) -> list[Row]:
    rows: list[Row] = []
    for alg in ALGORITHMS:
        rows += measure_algorithm(keys, alg, authorizer, budget)
    return rows + measure_typical(keys, typical, budget)
