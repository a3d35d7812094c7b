"""Tests for authorizer.tokens.jwks_cache: each behaviour is checked by counting fetches at a real server.

The server is an http.server on 127.0.0.1 serving a JWKS of keys generated at run time.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest

from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from authorizer.errors import ConfigurationError, KidNotFoundError, TokenError
from authorizer.tokens.jwks_cache import (
    NO_KEYS_RETRY_SECONDS,
    JwksCache,
    JwksUnavailableError,
    lenient_key_set,
)
from authorizer.tokens.verifier import ACCESS, TokenVerifier

JWKS_PATH = "/.well-known/jwks.json"
LOGGER = "authorizer.tokens.jwks_cache"
COOLDOWN = 60.0
MAX_AGE = 3600.0
ISSUER = "https://idp.example.test"
ROCA_MODULUS = Path(__file__).parent / "jose_vectors" / "roca" / "mod03.txt"  # a fingerprinted key


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def rings() -> dict[str, KeyRing]:
    return {alg: load_key_ring(generate_private_key_pem(alg)) for alg in ("RS256", "ES256", "EdDSA")}


@pytest.fixture
def ring(rings: dict[str, KeyRing]) -> KeyRing:
    return rings["RS256"]


@pytest.fixture
def other(rings: dict[str, KeyRing]) -> KeyRing:
    return rings["ES256"]


def jwk_of(ring: KeyRing) -> dict[str, Any]:
    return dict(ring.jwks()["keys"][0])


def jwks_body(*rings: KeyRing) -> bytes:
    return json.dumps({"keys": [jwk_of(r) for r in rings]}).encode()


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    declare_length: bool = True
    trickle: bool = False  # send the body a byte at a time, slowly


class JwksServer:
    """Serves `routes`; counts requests and remembers their paths. `delay` holds answers back."""

    def __init__(self) -> None:
        self.routes: dict[str, Response] = {}
        self.paths: list[str] = []
        self.delay = 0.0
        self.release = threading.Event()  # set at teardown so no slow answer outlives its test
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{JWKS_PATH}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        self._running = True

    @property
    def requests(self) -> int:
        with self._lock:
            return len(self.paths)

    def publish(self, *rings: KeyRing) -> None:
        self.routes[JWKS_PATH] = Response(body=jwks_body(*rings))

    def answer(self, response: Response) -> None:
        self.routes[JWKS_PATH] = response

    def stop(self) -> None:
        if self._running:
            self._running = False
            self.release.set()
            self.server.shutdown()
            self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer._lock:
                    outer.paths.append(self.path)
                if outer.delay:
                    outer.release.wait(outer.delay)
                response = outer.routes.get(self.path, Response(404, b"{}"))
                self.send_response(response.status)
                self.send_header("Content-Type", "application/json")
                if response.declare_length:
                    self.send_header("Content-Length", str(len(response.body)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                # The client may have given up (timeout, size limit): expected in some tests.
                with contextlib.suppress(OSError):
                    if response.trickle:
                        self._trickle(response.body)
                    else:
                        self.wfile.write(response.body)

            def _trickle(self, body: bytes) -> None:
                for index in range(len(body)):
                    if outer.release.wait(0.02):
                        return
                    self.wfile.write(body[index : index + 1])
                    self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

        return Handler


@pytest.fixture
def server(ring: KeyRing) -> Iterator[JwksServer]:
    jwks_server = JwksServer()
    jwks_server.publish(ring)
    yield jwks_server
    jwks_server.stop()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(server: JwksServer, clock: FakeClock) -> JwksCache:
    return JwksCache(server.url, clock=clock, cooldown_seconds=COOLDOWN, max_age_seconds=MAX_AGE)


def random_kid() -> str:
    return secrets.token_urlsafe(16)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


# --------------------------------------------------------------------------- caching


def test_many_gets_cause_one_fetch(cache: JwksCache, server: JwksServer, ring: KeyRing) -> None:
    assert server.requests == 0  # lazy: constructing fetches nothing
    for _ in range(50):
        key = cache.get(ring.current.kid)
    assert (key.kid, key.alg) == (ring.current.kid, "RS256")
    assert server.requests == 1
    assert cache.fetch_count == 1
    assert server.paths == [JWKS_PATH]  # only ever the configured URL


def test_preload_fetches_at_once_and_get_reuses_it(
    cache: JwksCache, server: JwksServer, ring: KeyRing
) -> None:
    cache.preload()
    assert server.requests == 1
    cache.preload()  # already fresh: nothing to do
    for _ in range(10):
        cache.get(ring.current.kid)
    assert server.requests == 1
    assert cache.fetch_count == 1


def test_concurrent_gets_share_one_fetch(cache: JwksCache, server: JwksServer, ring: KeyRing) -> None:
    server.delay = 0.3  # hold the answer so every thread arrives while the fetch is in flight
    barrier = threading.Barrier(20)
    results: list[str] = []
    errors: list[BaseException] = []

    def lookup() -> None:
        barrier.wait()
        try:
            results.append(cache.get(ring.current.kid).kid)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=lookup) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert errors == []
    assert results == [ring.current.kid] * 20
    assert server.requests == 1
    assert cache.fetch_count == 1


def test_concurrent_unknown_kids_cause_one_refetch(
    cache: JwksCache, server: JwksServer, ring: KeyRing
) -> None:
    cache.preload()
    server.delay = 0.2
    barrier = threading.Barrier(20)
    refused: list[BaseException] = []

    def lookup() -> None:
        barrier.wait()
        try:
            cache.get(random_kid())
        except KidNotFoundError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=lookup) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(refused) == 20
    assert server.requests == 2


def test_threads_that_waited_reuse_the_fetch_even_for_unknown_kids(
    cache: JwksCache, server: JwksServer, ring: KeyRing
) -> None:
    # A cold cache: one thread fetches, the others (known and unknown kids alike) wait for it.
    # A thread whose kid is not in the result must not refetch: that fetch just happened.
    server.delay = 0.3
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def lookup(kid: str) -> None:
        barrier.wait()
        try:
            outcomes.append(cache.get(kid).kid)
        except KidNotFoundError:
            outcomes.append("refused")

    kids = [ring.current.kid if n % 2 else random_kid() for n in range(20)]
    threads = [threading.Thread(target=lookup, args=(kid,)) for kid in kids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sorted(outcomes) == sorted([ring.current.kid] * 10 + ["refused"] * 10)
    assert server.requests == 1


def test_old_keys_serve_while_one_thread_refreshes(
    cache: JwksCache, server: JwksServer, clock: FakeClock, ring: KeyRing
) -> None:
    cache.preload()
    clock.advance(MAX_AGE)
    server.delay = 5.0  # released below, once the second lookup has answered
    refresher = threading.Thread(target=cache.get, args=(ring.current.kid,))
    refresher.start()
    deadline = time.monotonic() + 2
    while server.requests < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert server.requests == 2  # the refresh is in flight

    started = time.monotonic()
    assert cache.get(ring.current.kid).kid == ring.current.kid
    assert time.monotonic() - started < 0.5  # did not wait for the slow refresh
    server.release.set()
    refresher.join(5)
    assert server.requests == 2


# --------------------------------------------------------------------------- unknown kids, cooldown


def test_unknown_kid_refetches_once_then_cooldown_holds(
    cache: JwksCache, server: JwksServer, clock: FakeClock, ring: KeyRing
) -> None:
    cache.get(ring.current.kid)
    with pytest.raises(KidNotFoundError):
        cache.get(random_kid())
    assert server.requests == 2  # one refetch, in case the issuer rotated its keys

    for _ in range(100):
        with pytest.raises(KidNotFoundError):
            cache.get(random_kid())
    clock.advance(COOLDOWN - 1)
    with pytest.raises(KidNotFoundError):
        cache.get(random_kid())
    assert server.requests == 2  # the flood was refused from the cache
    assert cache.get(ring.current.kid).kid == ring.current.kid  # known kids still work

    clock.advance(1)  # cooldown over
    with pytest.raises(KidNotFoundError):
        cache.get(random_kid())
    assert server.requests == 3
    assert cache.fetch_count == 3


def test_key_rotation_is_picked_up_by_unknown_kid(
    cache: JwksCache, server: JwksServer, ring: KeyRing, other: KeyRing
) -> None:
    assert cache.get(ring.current.kid).alg == "RS256"
    server.publish(other)  # the issuer rotated: old key gone, new key in

    key = cache.get(other.current.kid)
    assert (key.kid, key.alg) == (other.current.kid, "ES256")
    assert server.requests == 2
    with pytest.raises(KidNotFoundError):
        cache.get(ring.current.kid)  # a key the issuer removed is no longer trusted
    assert server.requests == 2


def test_keys_past_max_age_are_refetched(
    cache: JwksCache, server: JwksServer, clock: FakeClock, ring: KeyRing, other: KeyRing
) -> None:
    cache.get(ring.current.kid)
    clock.advance(MAX_AGE - 1)
    cache.get(ring.current.kid)
    assert server.requests == 1

    server.publish(ring, other)
    clock.advance(1)
    cache.get(ring.current.kid)
    assert server.requests == 2
    assert cache.get(other.current.kid).kid == other.current.kid  # the refetched set is in use
    assert server.requests == 2


# --------------------------------------------------------------------------- failures


def test_server_down_keeps_last_good_keys(
    cache: JwksCache,
    server: JwksServer,
    clock: FakeClock,
    ring: KeyRing,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache.preload()
    server.stop()
    clock.advance(MAX_AGE)
    with caplog.at_level(logging.WARNING, LOGGER):
        assert cache.get(ring.current.kid).kid == ring.current.kid
    assert cache.fetch_count == 2
    [warning] = warnings_of(caplog)
    assert "127.0.0.1" in warning
    assert "ConnectionRefusedError" in warning
    assert "keeping the 1 key(s)" in warning
    assert server.url not in warning  # the host, not the whole URL

    for _ in range(10):  # the failure started the cooldown: no retry storm
        cache.get(ring.current.kid)
    assert cache.fetch_count == 2
    clock.advance(COOLDOWN)
    cache.get(ring.current.kid)
    assert cache.fetch_count == 3


def test_slow_server_times_out_and_keeps_last_good_keys(
    server: JwksServer, clock: FakeClock, ring: KeyRing, caplog: pytest.LogCaptureFixture
) -> None:
    cache = JwksCache(server.url, clock=clock, timeout_seconds=0.2)
    cache.preload()
    server.delay = 5.0
    clock.advance(MAX_AGE)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, LOGGER):
        assert cache.get(ring.current.kid).kid == ring.current.kid
    assert time.monotonic() - started < 1.5
    assert server.requests == 2
    [warning] = warnings_of(caplog)
    assert "timed out" in warning or "Timeout" in warning


def test_trickling_server_is_cut_off_at_the_timeout(
    server: JwksServer, clock: FakeClock, ring: KeyRing, caplog: pytest.LogCaptureFixture
) -> None:
    # Each byte arrives well within the socket timeout; only the overall deadline stops this.
    cache = JwksCache(server.url, clock=clock, timeout_seconds=0.2)
    cache.preload()
    server.answer(Response(body=jwks_body(ring), trickle=True))
    clock.advance(MAX_AGE)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, LOGGER):
        assert cache.get(ring.current.kid).kid == ring.current.kid
    assert time.monotonic() - started < 1.0
    [warning] = warnings_of(caplog)
    assert "TimeoutError" in warning


BAD_RESPONSES = {
    "garbage body": (Response(body=b"<html>not json</html>"), "not JSON"),
    "binary body": (Response(body=b"\xff\xfe\x00garbage"), "not JSON"),
    "empty key set": (Response(body=b'{"keys": []}'), "no usable key"),
    "JSON without keys": (Response(body=b'{"issuer": "x"}'), '"keys" list'),
    "JSON array": (Response(body=b"[1, 2]"), '"keys" list'),
    "only unusable keys": (
        Response(body=json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}).encode()),
        "no usable key",
    ),
    "HTTP 500": (Response(status=500, body=b"{}"), "status is 500"),
    "HTTP 404": (Response(status=404, body=b"{}"), "status is 404"),
    "HTTP 204": (Response(status=204), "status is 204"),
    "oversized, declared": (Response(body=b" " * 2000 + b'{"keys": []}'), "larger than 1000 bytes"),
    "oversized, undeclared": (
        Response(body=b" " * 200_000 + b'{"keys": []}', declare_length=False),
        "larger than 1000 bytes",
    ),
}


@pytest.mark.parametrize("case", BAD_RESPONSES, ids=list(BAD_RESPONSES))
def test_bad_response_keeps_last_good_keys(
    case: str,
    server: JwksServer,
    clock: FakeClock,
    ring: KeyRing,
    caplog: pytest.LogCaptureFixture,
) -> None:
    response, reason = BAD_RESPONSES[case]
    cache = JwksCache(server.url, clock=clock, max_bytes=1000)
    cache.preload()
    server.answer(response)
    clock.advance(MAX_AGE)
    with caplog.at_level(logging.WARNING, LOGGER):
        assert cache.get(ring.current.kid).kid == ring.current.kid
    assert server.requests == 2
    [warning] = warnings_of(caplog)
    assert reason in warning
    assert "127.0.0.1" in warning


@pytest.mark.parametrize("case", BAD_RESPONSES, ids=list(BAD_RESPONSES))
def test_no_good_key_set_refuses_with_token_error(
    case: str, server: JwksServer, clock: FakeClock, ring: KeyRing, caplog: pytest.LogCaptureFixture
) -> None:
    response, _ = BAD_RESPONSES[case]
    server.answer(response)
    cache = JwksCache(server.url, clock=clock, max_bytes=1000)
    with caplog.at_level(logging.WARNING, LOGGER):
        cache.preload()  # never raises at cold start
        with pytest.raises(JwksUnavailableError) as refused:
            cache.get(ring.current.kid)
    assert isinstance(refused.value, TokenError)  # refused with 401/403, never a 500
    assert server.requests == 1  # the failed preload started the cooldown
    assert "no keys are available" in warnings_of(caplog)[0]


def test_recovers_once_the_endpoint_does(server: JwksServer, clock: FakeClock, ring: KeyRing) -> None:
    server.answer(Response(status=503, body=b"{}"))
    cache = JwksCache(server.url, clock=clock)
    for _ in range(20):
        with pytest.raises(JwksUnavailableError):
            cache.get(ring.current.kid)
    assert server.requests == 1

    server.publish(ring)
    clock.advance(COOLDOWN)
    assert cache.get(ring.current.kid).kid == ring.current.kid
    assert server.requests == 2


def test_server_down_from_the_start(ring: KeyRing, clock: FakeClock) -> None:
    down = JwksServer()
    down.stop()
    cache = JwksCache(down.url, clock=clock)
    with pytest.raises(JwksUnavailableError):
        cache.get(ring.current.kid)
    assert cache.fetch_count == 1


def test_failing_injected_fetch_keeps_last_good_keys(ring: KeyRing, clock: FakeClock) -> None:
    answers: list[bytes | Exception] = [jwks_body(ring), ConnectionResetError("reset"), b"x" * 600_000]
    calls: list[tuple[str, float]] = []

    def fetch(url: str, timeout: float) -> bytes:
        calls.append((url, timeout))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = JwksCache("https://issuer.example.test/jwks", clock=clock, fetch=fetch, timeout_seconds=1.5)
    cache.get(ring.current.kid)
    for _ in range(2):
        clock.advance(MAX_AGE)
        assert cache.get(ring.current.kid).kid == ring.current.kid
    assert calls == [("https://issuer.example.test/jwks", 1.5)] * 3
    assert cache.fetch_count == 3


# --------------------------------------------------------------------------- what a fetched JWKS may hold


def test_unusable_keys_are_skipped_not_fatal(
    server: JwksServer,
    cache: JwksCache,
    rings: dict[str, KeyRing],
    caplog: pytest.LogCaptureFixture,
) -> None:
    good_rsa, good_ed = jwk_of(rings["RS256"]), jwk_of(rings["EdDSA"])
    clash = {**jwk_of(rings["ES256"]), "kid": "twice"}
    unusable = [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},  # symmetric: never from a JWKS
        {**good_rsa, "kid": "enc", "use": "enc"},
        {**good_rsa, "kid": "private", "d": "AQAB"},  # private material published by mistake
        {**jwk_of(rings["ES256"]), "kid": "wrong-alg", "alg": "RS256"},
        {"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"},
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        {**good_rsa, "kid": ""},
        "not an object",
        clash,
        {**jwk_of(rings["RS256"]), "kid": "twice"},  # two keys, one kid: ambiguous, neither is used
    ]
    server.answer(Response(body=json.dumps({"keys": [good_rsa, *unusable, good_ed]}).encode()))
    with caplog.at_level(logging.WARNING, LOGGER):
        assert cache.get(good_rsa["kid"]).alg == "RS256"
        assert cache.get(good_ed["kid"]).alg == "EdDSA"
        for kid in ("hmac", "enc", "private", "wrong-alg", "p384", "broken", "twice"):
            with pytest.raises(KidNotFoundError):
                cache.get(kid)
    assert server.requests == 2  # the first unknown kid refetched, then the cooldown held
    # One warning per skipped key (the two clashing keys as one), logged once, not per refetch.
    assert len(warnings_of(caplog)) == 9


def test_fetched_keys_not_for_verify_or_with_the_roca_weakness_are_skipped(
    server: JwksServer,
    cache: JwksCache,
    rings: dict[str, KeyRing],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As for `use: enc`: a key we fetch that may not verify is skipped, the others still serve.
    signer = rings["RS256"]
    marked = {**jwk_of(signer), "key_ops": ["encrypt"]}
    roca_n = int(ROCA_MODULUS.read_text("ascii").split()[0], 16).to_bytes(256, "big")
    roca_jwk_n = base64.urlsafe_b64encode(roca_n).decode().rstrip("=")
    roca = {"kty": "RSA", "kid": "roca", "e": "AQAB", "n": roca_jwk_n}
    good = jwk_of(rings["ES256"])
    server.answer(Response(body=json.dumps({"keys": [marked, roca, good]}).encode()))
    verifier = TokenVerifier(cache, issuer=ISSUER, audience="api", token_type=ACCESS)
    token = jwt.encode(
        {"iss": ISSUER, "aud": "api", "sub": "u", "jti": "j", "iat": int(time.time()), "exp": 2**40},
        signer.current.private_key,
        algorithm="RS256",
        headers={"kid": signer.current.kid, "typ": "at+jwt"},
    )
    with caplog.at_level(logging.WARNING, LOGGER):
        assert cache.get(good["kid"]).alg == "ES256"
        with pytest.raises(KidNotFoundError):
            verifier.verify(token)  # signed by the key marked for encryption only
        with pytest.raises(KidNotFoundError):
            cache.get("roca")
    skipped = "\n".join(warnings_of(caplog))
    assert "key #0: key_ops ['encrypt'] does not include 'verify'" in skipped
    assert "key #1: RSA key has the ROCA weakness" in skipped


def test_lenient_key_set_reports_what_it_skipped(ring: KeyRing) -> None:
    keys, skipped = lenient_key_set({"keys": [jwk_of(ring), {"kty": "oct", "kid": "h"}]})
    assert keys.kids == (ring.current.kid,)
    assert skipped == ["key #1: unsupported key type 'oct'"]


# --------------------------------------------------------------------------- where we fetch from


def test_redirects_are_not_followed(clock: FakeClock, ring: KeyRing) -> None:
    redirecting = JwksServer()
    try:
        redirecting.routes["/elsewhere"] = Response(body=jwks_body(ring))
        redirecting.answer(Response(status=302, headers={"Location": "/elsewhere"}))
        cache = JwksCache(redirecting.url, clock=clock)
        with pytest.raises(JwksUnavailableError):
            cache.get(ring.current.kid)
        assert redirecting.paths == [JWKS_PATH]  # the redirect target was never asked
    finally:
        redirecting.stop()


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://issuer.example.test/jwks.json",
        "data:application/json,{}",
        "//issuer.example.test/jwks.json",
        "issuer.example.test/jwks.json",
        "https://",
        "",
    ],
)
def test_non_http_urls_are_refused_at_construction(url: str) -> None:
    with pytest.raises(ConfigurationError):
        JwksCache(url)


def test_plain_http_to_a_remote_host_is_allowed_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, LOGGER):
        cache = JwksCache("http://issuer.internal.example/jwks.json")
    assert cache.fetch_count == 0
    assert "plain http" in warnings_of(caplog)[0]


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        JwksCache("https://issuer.example.test/jwks", timeout_seconds=0)


# --------------------------------------------------------------------------- a static document


def test_from_document_never_fetches(rings: dict[str, KeyRing], clock: FakeClock) -> None:
    document = {"keys": [jwk_of(rings["RS256"]), jwk_of(rings["EdDSA"])]}
    for source in (document, json.dumps(document), json.dumps(document).encode()):
        cache = JwksCache.from_document(source)
        cache.preload()
        assert cache.get(rings["EdDSA"].current.kid).alg == "EdDSA"
        with pytest.raises(KidNotFoundError):
            cache.get(random_kid())
        assert cache.fetch_count == 0


@pytest.mark.parametrize("document", ["not json", {"keys": []}, {"keys": [{"kty": "oct", "kid": "h"}]}])
def test_from_document_is_strict(document: Any) -> None:
    with pytest.raises(ConfigurationError):
        JwksCache.from_document(document)


# --------------------------------------------------------------------------- with the verifier


def test_token_verifier_uses_the_cache(cache: JwksCache, server: JwksServer, ring: KeyRing) -> None:
    issuer, audience, now = "https://issuer.example.test", "orders-api", int(time.time())
    claims = {
        "iss": issuer,
        "sub": "u1",
        "aud": audience,
        "iat": now,
        "auth_time": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    assert ring.current.private_key is not None
    token = jwt.encode(
        claims,
        ring.current.private_key,
        algorithm="RS256",
        headers={"kid": ring.current.kid, "typ": "at+jwt"},
    )
    verifier = TokenVerifier(cache, issuer=issuer, audience=audience, token_type=ACCESS)
    for _ in range(5):
        assert verifier.verify(token).sub == "u1"
    assert server.requests == 1


def test_without_any_keys_a_failed_fetch_is_retried_sooner(ring: KeyRing, clock: FakeClock) -> None:
    # A container started during an outage must not refuse every token for a whole cooldown.
    answers: list[bytes | Exception] = [ConnectionRefusedError("down"), jwks_body(ring)]

    def fetch(url: str, timeout: float) -> bytes:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = JwksCache("https://issuer.example.test/jwks", clock=clock, fetch=fetch, cooldown_seconds=60)
    cache.preload()
    with pytest.raises(JwksUnavailableError):
        cache.get(ring.current.kid)  # still within the short retry delay: no second fetch
    assert cache.fetch_count == 1
    clock.advance(NO_KEYS_RETRY_SECONDS)
    assert cache.get(ring.current.kid).kid == ring.current.kid
    assert cache.fetch_count == 2


def test_on_change_is_called_when_fetched_keys_replace_the_ones_we_had(ring: KeyRing, other: KeyRing) -> None:
    bodies = [jwks_body(ring), b"not json", jwks_body(other)]
    calls: list[int] = []
    cache = JwksCache(
        "https://idp.example.test/jwks.json", cooldown_seconds=0, fetch=lambda url, timeout: bodies.pop(0)
    )
    cache.on_change(lambda: calls.append(cache.fetch_count))
    cache.get(ring.current.kid)  # the first key set: nothing was derived from keys yet
    assert calls == []
    with pytest.raises(KidNotFoundError):
        cache.get("unknown")  # a failed refetch keeps the keys: nothing changed
    assert calls == []
    cache.get(other.current.kid)  # a rotation replaced the key set
    assert calls == [3]
