"""authorizer.tokens.token_cache: verified tokens reused, never past `exp`, never past a key change.

The verifiers are real (`TokenVerifier`, `TrustedIssuers`), keys are generated at run time, and
time is an injected clock shared by the verifier and the cache, so boundaries are exact.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import pytest
from moto import mock_aws

from auth_service.denylist import Denylist
from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from auth_service.tables import create_tables
from authorizer.errors import (
    ConfigurationError,
    InvalidSignatureError,
    KidNotFoundError,
    TokenExpiredError,
)
from authorizer.gateway.authorization import Authorizer
from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig
from authorizer.gateway.events import parse_event
from authorizer.gateway.routes import RouteScopes
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.issuers import TrustedIssuers
from authorizer.tokens.jwks_cache import JwksCache
from authorizer.tokens.revocation import RevocationList
from authorizer.tokens.token_cache import VerifiedTokenCache
from authorizer.tokens.verifier import ACCESS, TokenVerifier
from tests.unit.test_jwks_cache import JwksServer

ISSUER = "https://auth.example.test"
OTHER_ISSUER = "https://idp.example.test"
AUDIENCE = "orders-api"
LEEWAY = 30
NOW = 1_800_000_000.0
TABLE = "token-cache-denylist"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Counting:
    """A verifier that counts the tokens it is asked to verify."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def verify(self, token: str) -> TokenClaims:
        self.calls += 1
        claims: TokenClaims = self.inner.verify(token)
        return claims


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return load_key_ring(generate_private_key_pem("ES256"))


@pytest.fixture(scope="module")
def other_ring() -> KeyRing:
    return load_key_ring(generate_private_key_pem("ES256"))


def sign(ring: KeyRing, *, issuer: str = ISSUER, typ: str | None = "at+jwt", **claims: Any) -> str:
    body = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": "alice",
        "jti": str(uuid.uuid4()),
        "iat": int(NOW),
        "auth_time": int(NOW),
        "exp": int(NOW) + 300,
        "scope": "orders:read",
        **claims,
    }
    headers = {"kid": ring.current.kid, **({"typ": typ} if typ else {})}
    return jwt.encode(body, ring.current.private_key, algorithm=ring.current.alg, headers=headers)


def cached(ring: KeyRing, clock: Clock, **options: Any) -> tuple[VerifiedTokenCache, Counting]:
    verifier = TokenVerifier(
        ring.key_set(), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS, leeway=LEEWAY, clock=clock
    )
    counting = Counting(verifier)
    return VerifiedTokenCache(counting, leeway=LEEWAY, clock=clock, **options), counting


# --------------------------------------------------------------------------- reuse and expiry


def test_a_token_seen_again_is_not_verified_again(ring: KeyRing) -> None:
    cache, counting = cached(ring, Clock())
    token = sign(ring)
    first = cache.verify(token)
    assert cache.verify(token) is first
    assert cache.verify(token).sub == "alice"
    assert counting.calls == 1
    assert len(cache) == 1


def test_an_entry_serves_until_the_verifier_would_refuse_the_token_and_not_a_moment_more(
    ring: KeyRing,
) -> None:
    clock = Clock()
    cache, counting = cached(ring, clock)
    token = sign(ring, exp=int(NOW) + 300)
    cache.verify(token)
    deadline = NOW + 300 + LEEWAY  # the verifier refuses at now >= exp + leeway
    clock.now = deadline - 0.001
    cache.verify(token)
    assert counting.calls == 1
    counting.inner.verify(token)  # the verifier itself still accepts it at that instant
    clock.now = deadline
    with pytest.raises(TokenExpiredError):
        cache.verify(token)
    assert counting.calls == 2  # asked the verifier, which refused
    assert len(cache) == 0  # and the stale entry is gone
    with pytest.raises(TokenExpiredError):
        cache.verify(token)
    assert counting.calls == 3


def test_a_refused_token_is_never_stored(ring: KeyRing, other_ring: KeyRing) -> None:
    cache, counting = cached(ring, Clock())
    head, body, _ = sign(ring).split(".")
    forged = f"{head}.{body}.{sign(other_ring).split('.')[2]}"
    for calls in (1, 2):
        with pytest.raises(InvalidSignatureError):
            cache.verify(forged)
        assert counting.calls == calls
    assert len(cache) == 0


def test_an_already_expired_token_is_refused_every_time(ring: KeyRing) -> None:
    cache, counting = cached(ring, Clock(NOW + 10_000))
    token = sign(ring)
    for _ in range(2):
        with pytest.raises(TokenExpiredError):
            cache.verify(token)
    assert counting.calls == 2 and len(cache) == 0


# --------------------------------------------------------------------------- bounds


def test_the_number_of_entries_is_bounded_oldest_first(ring: KeyRing) -> None:
    cache, counting = cached(ring, Clock(), max_entries=3)
    tokens = [sign(ring) for _ in range(5)]
    for token in tokens:
        cache.verify(token)
    assert len(cache) == 3
    for token in tokens[2:]:  # the three newest are kept
        cache.verify(token)
    assert counting.calls == 5
    cache.verify(tokens[0])  # the oldest was evicted
    assert counting.calls == 6
    assert len(cache) == 3


def test_the_memory_held_is_bounded(ring: KeyRing) -> None:
    token = sign(ring, pad="x" * 3000)
    one = 4 * len(token) + 1024  # what an entry of this token is reckoned to cost
    cache, _ = cached(ring, Clock(), max_entries=100, max_bytes=2 * one + 10)
    tokens = [sign(ring, pad="x" * 3000) for _ in range(4)]
    for each in tokens:
        cache.verify(each)
        assert cache.size_bytes <= 2 * one + 10
    assert len(cache) == 2


def test_a_token_larger_than_the_whole_budget_is_verified_but_not_stored(ring: KeyRing) -> None:
    cache, counting = cached(ring, Clock(), max_bytes=1000)
    token = sign(ring)
    cache.verify(token)
    cache.verify(token)
    assert counting.calls == 2 and len(cache) == 0 and cache.size_bytes == 0


def test_a_cache_without_room_is_a_configuration_mistake(ring: KeyRing) -> None:
    with pytest.raises(ValueError):
        cached(ring, Clock(), max_entries=0)


def test_a_token_verified_while_the_keys_change_is_not_stored(ring: KeyRing) -> None:
    clock = Clock()
    verifier = TokenVerifier(ring.key_set(), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS, clock=clock)

    class ChangingKeys:
        """Verifies with the old keys, while (as another thread would) the key set changes."""

        def verify(self, token: str) -> TokenClaims:
            claims = verifier.verify(token)
            cache.clear()
            return claims

    cache = VerifiedTokenCache(ChangingKeys(), leeway=LEEWAY, clock=clock)
    assert cache.verify(sign(ring)).sub == "alice"
    assert len(cache) == 0


def test_clear_forgets_everything(ring: KeyRing) -> None:
    cache, counting = cached(ring, Clock())
    token = sign(ring)
    cache.verify(token)
    cache.clear()
    assert len(cache) == 0 and cache.size_bytes == 0
    cache.verify(token)
    assert counting.calls == 2


def test_concurrent_use_stays_consistent(ring: KeyRing) -> None:
    cache, _ = cached(ring, Clock(), max_entries=8)
    tokens = [sign(ring) for _ in range(20)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                for token in tokens:
                    assert cache.verify(token).sub == "alice"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 8
    assert cache.size_bytes == sum(4 * len(token) + 1024 for token in cache._entries)


# --------------------------------------------------------------------------- issuers


def test_tokens_of_two_issuers_never_share_an_entry(ring: KeyRing, other_ring: KeyRing) -> None:
    clock = Clock()
    ours = TokenVerifier(ring.key_set(), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS, clock=clock)
    theirs = TokenVerifier(
        other_ring.key_set(),
        issuer=OTHER_ISSUER,
        audience=AUDIENCE,
        token_type=ACCESS,
        clock=clock,
    )
    counting = Counting(TrustedIssuers({ISSUER: ours, OTHER_ISSUER: theirs}))
    cache = VerifiedTokenCache(counting, leeway=LEEWAY, clock=clock)
    mine = sign(ring, jti="same-jti", sub="same-sub")
    foreign = sign(other_ring, issuer=OTHER_ISSUER, jti="same-jti", sub="same-sub")
    assert cache.verify(mine).issuer == ISSUER
    assert cache.verify(foreign).issuer == OTHER_ISSUER
    assert cache.verify(mine).issuer == ISSUER
    assert cache.verify(foreign).issuer == OTHER_ISSUER
    assert counting.calls == 2 and len(cache) == 2
    # Our key cannot speak for the other issuer, cached or not.
    with pytest.raises(KidNotFoundError):
        cache.verify(sign(ring, issuer=OTHER_ISSUER, jti="same-jti", sub="same-sub"))


# --------------------------------------------------------------------------- key set changes


def test_a_key_rotation_at_the_jwks_url_forgets_every_verified_token(
    ring: KeyRing, other_ring: KeyRing
) -> None:
    published = {"keys": [dict(ring.jwks()["keys"][0])]}
    keys = JwksCache(
        "https://idp.example.test/jwks.json",
        cooldown_seconds=0,
        fetch=lambda url, timeout: json.dumps(published).encode(),
    )
    verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS, clock=Clock())
    cache = VerifiedTokenCache(verifier, leeway=LEEWAY, clock=Clock())
    keys.on_change(cache.clear)
    old = sign(ring)
    cache.verify(old)
    assert len(cache) == 1
    # The issuer rotates: the old key is withdrawn, a token of the new one prompts a refetch.
    published["keys"] = [dict(other_ring.jwks()["keys"][0])]
    new = sign(other_ring)
    cache.verify(new)
    assert keys.fetch_count == 2
    assert len(cache) == 0  # the old token was forgotten with the old keys (and the new one,
    # verified while the keys changed, is stored only when next seen)
    with pytest.raises(KidNotFoundError):
        cache.verify(old)
    cache.verify(new)
    assert len(cache) == 1


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()  # a real HTTP server on 127.0.0.1 (tests/unit/test_jwks_cache.py)
    yield server
    server.stop()


def _env(ring: KeyRing, **extra: str) -> dict[str, str]:
    return {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_DENYLIST_TABLE": TABLE,
        "AUTH_JWKS": json.dumps(ring.jwks()),
        "AWS_REGION": "us-east-1",
        "AUTH_DYNAMODB_ENDPOINT": "http://127.0.0.1:9",  # never contacted here
        **extra,
    }


def test_build_authorizer_forgets_verified_tokens_when_a_trusted_issuer_rotates_its_keys(
    ring: KeyRing, other_ring: KeyRing, jwks_server: JwksServer
) -> None:
    first = load_key_ring(generate_private_key_pem("ES256"))
    jwks_server.publish(first)
    trusted = [
        {
            "issuer": OTHER_ISSUER,
            "jwks_uri": jwks_server.url,
            "audiences": [AUDIENCE],
            "algorithms": ["ES256"],
        }
    ]
    authorizer = build_authorizer(
        AuthorizerConfig.from_env(_env(ring, AUTH_TRUSTED_ISSUERS=json.dumps(trusted)))
    )
    cache = authorizer.verifier
    assert isinstance(cache, VerifiedTokenCache)
    now = int(time.time())
    claims = {"iat": now, "exp": now + 300}
    theirs = sign(first, issuer=OTHER_ISSUER, typ=None, **claims)
    mine = sign(ring, **claims)
    cache.verify(theirs)
    cache.verify(mine)
    assert len(cache) == 2
    jwks_server.publish(other_ring)  # rotation: the first key is withdrawn
    cache.verify(sign(other_ring, issuer=OTHER_ISSUER, typ=None, **claims))
    assert len(cache) == 0
    with pytest.raises(KidNotFoundError):
        cache.verify(theirs)
    cache.verify(mine)  # our own keys did not change; only the cache was emptied
    assert len(cache) == 1


# --------------------------------------------------------------------------- revocation


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, denylist=TABLE)
        yield client


def _request(token: str) -> Any:
    return parse_event(
        {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": "arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/orders",
            "routeKey": "GET /orders",
            "rawPath": "/orders",
            "headers": {"authorization": f"Bearer {token}"},
            "requestContext": {"http": {"method": "GET", "path": "/orders"}},
        }
    )


def test_a_revoked_token_is_refused_even_while_its_verification_is_cached(
    ring: KeyRing, dynamodb: Any
) -> None:
    now = int(time.time())
    token = sign(ring, iat=now, exp=now + 300, sid="session-1")
    verifier = TokenVerifier(ring.key_set(), issuer=ISSUER, audience=AUDIENCE, token_type=ACCESS)
    counting = Counting(verifier)
    authorizer = Authorizer(
        VerifiedTokenCache(counting, leeway=LEEWAY),
        RevocationList(dynamodb, TABLE, cache_seconds=0),
        RouteScopes.from_mapping({"GET /orders": ["orders:read"]}),
    )
    assert authorizer.decide(_request(token)).allowed
    claims = verifier.verify(token)
    Denylist(dynamodb, TABLE, max_token_lifetime=3600, leeway=LEEWAY).revoke_token(
        claims.jti, claims.exp, "test"
    )
    decision = authorizer.decide(_request(token))
    assert not decision.allowed
    assert decision.reason.startswith("TokenRevokedError")
    assert counting.calls == 1  # the signature was not verified again: revocation was still asked


# --------------------------------------------------------------------------- configuration


def test_the_cache_is_on_by_default_and_sized_by_configuration(ring: KeyRing) -> None:
    default = AuthorizerConfig.from_env(_env(ring))
    assert default.verified_token_cache_size == 1000
    assert isinstance(build_authorizer(default).verifier, VerifiedTokenCache)
    sized = AuthorizerConfig.from_env(_env(ring, AUTH_VERIFIED_TOKEN_CACHE_SIZE="50"))
    assert sized.verified_token_cache_size == 50


def test_a_cache_size_of_zero_turns_the_cache_off(ring: KeyRing) -> None:
    config = AuthorizerConfig.from_env(_env(ring, AUTH_VERIFIED_TOKEN_CACHE_SIZE="0"))
    assert isinstance(build_authorizer(config).verifier, TrustedIssuers)


@pytest.mark.parametrize("value", ["-1", "100001", "lots", "1.5"])
def test_an_invalid_cache_size_fails_at_cold_start(ring: KeyRing, value: str) -> None:
    with pytest.raises(ConfigurationError, match="AUTH_VERIFIED_TOKEN_CACHE_SIZE"):
        AuthorizerConfig.from_env(_env(ring, AUTH_VERIFIED_TOKEN_CACHE_SIZE=value))
