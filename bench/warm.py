"""Warm costs per authorization, at the Lambda entry point, every call with a new token.

Rows, per algorithm, timed round-robin in one run (bench/timing.py: wall and CPU time, GC on):

* **raw cryptography verify** (the reference): `public_key.verify(...)` of a token's signature,
  decoded beforehand (DER for ES256), a token never verified before in each call: the floor of
  any verifier;
* **the JOSE libraries** (PyJWT, python-jose, joserfc, authlib when installed): `decode` with a
  prebuilt key, checking issuer, audience and times, on the same fresh tokens as the reference
  (they cache nothing, so no row sees a token twice);
* **ours**: `authorizer.handler.handler(event, context)`, the function Lambda calls, built from
  the default configuration at import (so the 5 s revocation cache), each call a new event from
  API Gateway's published samples (bench/events.py) carrying a token this container never saw;
  our tokens share one `jti`, so the denylist is really read, once per cache window, and those
  reads are counted and timed with the rows (they wait on moto over loopback);
* **the same token again**: our handler with a new event carrying a token it verified before (a
  client calling again), against the raw verify of a fresh token.

Logging is the Lambda runtime's (an INFO handler on the root logger, to /dev/null).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bench import events
from bench.counting_proxy import CountingProxy
from bench.report import Row, time_row
from bench.timing import Budget, Op, Times, median, paired_ratio, round_robin, split_fresh
from bench.world import ALGORITHMS, AUDIENCE, ISSUER, Keys, allowed

WARM = "warm, a never-seen token per call (Lambda entry point, published event shapes)"
REPEAT = "warm, the same token again (a new event per call)"
METRICS = "warm, with CloudWatch metrics on (serverless.yml's default: one EMF line per invocation)"
TYPICAL = "typical authorizer (PyJWT + PyJWKClient + boto3 Table.get_item), warm"
# Issue 15's targets: the whole handler on a never-seen token, CPU time, ÷ the raw verify of a
# fresh token in the same run.
HANDLER_TARGET = {"RS256": 1.8, "ES256": 1.3, "EdDSA": 1.2}
REPEAT_TARGET = 0.2  # the same token again, ÷ one raw RS256 verify


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


def metered(handler: Callable[..., Any]) -> Callable[..., Any]:
    """`handler` with the metrics emitter serverless.yml's default configuration builds, writing
    its line to /dev/null with one write(2) as it writes to Lambda's stdout."""
    import importlib

    from authorizer.metrics import Emitter

    entry: Any = importlib.import_module(handler.__module__)
    off = entry._metrics
    on = Emitter("LambdaJwtAuth", "lambda-jwt-auth-bench", write=functools.partial(os.write, _devnull()))

    def call(event: Any, context: Any) -> Any:
        entry._metrics = on
        try:
            return handler(event, context)
        finally:
            entry._metrics = off

    return call


def _devnull() -> int:
    return os.open(os.devnull, os.O_WRONLY)


def raw_inputs(alg: str, tokens: list[str]) -> list[tuple[Any, ...]]:
    """(signature, signing input) of each token, decoded beforehand: the reference's inputs."""
    out: list[tuple[Any, ...]] = []
    for token in tokens:
        header, payload, signature = token.split(".")
        sig = _b64(signature)
        if alg == "ES256":
            sig = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        out.append((sig, f"{header}.{payload}".encode("ascii")))
    return out


def raw_verify(keys: Keys, alg: str) -> Callable[..., object]:
    """The signature check alone."""
    public = keys.public_key(alg)
    if alg == "RS256":
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        return lambda sig, message: public.verify(sig, message, pkcs1, sha256)
    if alg == "ES256":
        ecdsa = ec.ECDSA(hashes.SHA256())
        return lambda sig, message: public.verify(sig, message, ecdsa)
    return lambda sig, message: public.verify(sig, message)


def pyjwt_decode(keys: Keys, alg: str) -> Callable[..., object]:
    public = keys.public_key(alg)
    return lambda token: jwt.decode(token, public, algorithms=[alg], issuer=ISSUER, audience=AUDIENCE)


def jose_decode(keys: Keys, alg: str) -> Callable[..., object] | None:
    from jose import jwk as jose_jwk
    from jose import jwt as jose_jwt

    if alg == "EdDSA":
        return None  # python-jose has no EdDSA
    key = jose_jwk.construct(keys.rings[alg].jwks()["keys"][0], alg)
    return lambda token: jose_jwt.decode(token, key, algorithms=[alg], issuer=ISSUER, audience=AUDIENCE)


def joserfc_decode(keys: Keys, alg: str) -> Callable[..., object]:
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


def authlib_decode(keys: Keys, alg: str) -> Callable[..., object] | None:
    """Only when authlib happens to be installed: it is no dependency of ours."""
    try:
        # authlib.jose warns that it is deprecated for joserfc, with a filter of its own that
        # shows the warning whatever ours say: it goes to a buffer instead of the report.
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
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


@dataclass(frozen=True)
class _Timed:
    """An op and how its row reads: its section, and the target its CPU-time ratio must meet."""

    op: Op
    section: str = WARM
    max_ratio: float | None = None


def _rows(timed: list[_Timed], reference: str, times: dict[str, Times], base: str) -> list[Row]:
    ref = times[base]
    return [
        time_row(
            t.section,
            t.op.name,
            median(times[t.op.name].cpu),
            wall=median(times[t.op.name].wall),
            ratio=paired_ratio(times[t.op.name].cpu, ref.cpu),
            wall_ratio=paired_ratio(times[t.op.name].wall, ref.wall),
            reference=reference,
            max_ratio=t.max_ratio,
        )
        for t in timed
    ]


def _op(
    name: str,
    call: Callable[..., object],
    inputs: list[tuple[Any, ...]],
    budget: Budget,
    *,
    slow: bool = False,
) -> Op:
    warmup, rounds = split_fresh(inputs, budget, slow=slow)
    answer = call(*warmup.pop())
    decision = isinstance(answer, dict) and ("isAuthorized" in answer or "principalId" in answer)
    if answer is False or (decision and not allowed(answer)):
        raise RuntimeError(f"{name}: a valid token was refused: {answer!r}")
    return Op(name, call, rounds, warmup)


def _handler_formats(alg: str) -> tuple[str, ...]:
    return events.FORMATS if alg == "RS256" else ("HTTP API 2.0",)


def measure_algorithm(keys: Keys, alg: str, handler: Callable[..., Any], budget: Budget) -> list[Row]:
    """The rows of one algorithm, timed round-robin: reference, libraries, our handler."""
    shared = keys.fresh_tokens(alg, budget.fresh_inputs())  # the stateless references share them
    reference = f"raw cryptography verify, fresh {alg} token each call (reference)"
    timed = [_Timed(_op(reference, raw_verify(keys, alg), raw_inputs(alg, shared), budget))]
    libraries: list[tuple[str, Callable[..., object] | None]] = [
        ("PyJWT jwt.decode", pyjwt_decode(keys, alg)),
        ("python-jose jwt.decode", jose_decode(keys, alg)),
        ("joserfc jwt.decode + claims", joserfc_decode(keys, alg)),
        ("authlib jwt.decode + validate", authlib_decode(keys, alg)),
    ]
    timed += [
        _Timed(_op(f"{name}, {alg}", call, [(t,) for t in shared], budget))
        for name, call in libraries
        if call is not None
    ]
    for format_ in _handler_formats(alg):
        inputs = events.invocations(format_, keys.fresh_tokens(alg, budget.fresh_inputs()))
        name = f"ours: handler, {format_}, never-seen {alg} token"
        target = HANDLER_TARGET[alg] if format_ == "HTTP API 2.0" else None
        timed.append(_Timed(_op(name, handler, list(inputs), budget), max_ratio=target))
    if alg == "RS256":
        token = keys.fresh_tokens(alg, 1)[0]
        for format_ in events.FORMATS:
            inputs = events.invocations(format_, [token] * budget.fresh_inputs())
            name = f"ours: handler, {format_}, same RS256 token again"
            target = REPEAT_TARGET if format_ == "HTTP API 2.0" else None
            timed.append(_Timed(_op(name, handler, list(inputs), budget), REPEAT, max_ratio=target))
        # What serverless.yml deploys by default: an EMF metrics line per invocation (here to
        # /dev/null through the same write(2) as Lambda's stdout pipe gets).
        for label, tokens in (("never-seen", keys.fresh_tokens(alg, budget.fresh_inputs())), ("same", None)):
            inputs = events.invocations("HTTP API 2.0", tokens or [token] * budget.fresh_inputs())
            name = f"ours: handler, HTTP API 2.0, {label} RS256 token, EMF metrics on"
            timed.append(_Timed(_op(name, metered(handler), list(inputs), budget), METRICS))
    times = round_robin([t.op for t in timed])
    return _rows(timed, f"raw {alg}", times, reference)


def measure_typical(keys: Keys, typical: Any, budget: Budget) -> list[Row]:
    """The typical authorizer, warm (a JWKS client lookup, jwt.decode, one GetItem a call)."""
    tokens = keys.fresh_tokens("RS256", budget.fresh_inputs(slow=True))
    reference = "raw RS256"
    raw = _op(reference, raw_verify(keys, "RS256"), raw_inputs("RS256", tokens), budget, slow=True)
    name = "typical authorizer, REST TOKEN, RS256 (one GetItem on local moto per call)"
    inputs = events.invocations("REST TOKEN", keys.fresh_tokens("RS256", budget.fresh_inputs(slow=True)))
    handle = _op(name, typical.handler, list(inputs), budget, slow=True)
    timed = [_Timed(raw), _Timed(handle, TYPICAL)]
    return _rows(timed, reference, round_robin([t.op for t in timed]), reference)[1:]


READS = "DynamoDB reads by our handler during the warm rows (default 5 s revocation cache)"


def revocation_reads(proxy: CountingProxy, seconds: float) -> list[Row]:
    """The denylist reads the warm rows made (counted where they arrive), and their window."""
    reads = proxy.total()
    return [
        Row(READS, f"BatchGetItem requests in {seconds:.0f} s of warm rows", reads, "requests"),
        Row(
            READS,
            "of which the one per 5 s cache window expected for their one shared jti (at most)",
            seconds / 5 + 1,
            "requests",
            target=f"≥ {reads}",
            passed=reads <= seconds / 5 + 1,
        ),
    ]


def measure_all(keys: Keys, handler: Callable[..., Any], typical: Any, budget: Budget) -> list[Row]:
    rows: list[Row] = []
    for alg in ALGORITHMS:
        rows += measure_algorithm(keys, alg, handler, budget)
    return rows + measure_typical(keys, typical, budget)
