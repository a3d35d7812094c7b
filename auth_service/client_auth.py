"""OAuth client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3).

* `client_secret_basic`: `Authorization: Basic base64(urlencode(client_id) ":" urlencode(secret))`
  (§2.3.1: both parts are form-urlencoded before they are joined, so either may hold a ":").
* `client_secret_post`: `client_id` and `client_secret` in the form body.
* `private_key_jwt` (RFC 7523 §2.2, at the token endpoint): `client_assertion_type` jwt-bearer
  and `client_assertion`, a JWT the client signed with a key of its registered JWKS: `iss` and
  `sub` its client id, `aud` our token endpoint or our issuer, `exp` at most an hour ahead, a
  `jti` never seen before (replays are refused while the assertion could be valid). The
  algorithm comes from the registered key, never from the assertion's header.
* `none`: a public client names itself with `client_id` alone (our first-party apps' refresh).

A request may use one method only (§2.3). Credentials that are presented are always checked,
whatever the grant: wrong ones are never ignored. Failures are throttled as failed logins are
(`LoginThrottle.admit_client`: per client id tried and per address) and answer the same 401
`invalid_client` for an unknown client, a wrong secret and a disabled client, with
`WWW-Authenticate: Basic` (§5.2).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import jwt

from auth_service.clients import Client, ClientTable, StoredClient
from auth_service.denylist import Denylist
from auth_service.http import HttpError, Request
from auth_service.login_throttle import LoginThrottle, LoginThrottledError
from auth_service.oauth import (
    CLIENT_SECRET_BASIC,
    CLIENT_SECRET_POST,
    JWT_BEARER_ASSERTION,
    NO_CLIENT_AUTH,
    PRIVATE_KEY_JWT,
)
from authorizer.errors import ConfigurationError, KidNotFoundError, TokenError
from authorizer.log import log_event
from authorizer.tokens.jwks_cache import JwksCache, JwksUnavailableError
from authorizer.tokens.keys import KeySet, VerificationKey

logger = logging.getLogger("lambda_jwt_auth.client_auth")

# Clients' published JWKS kept per container (least recently used dropped first).
MAX_PUBLISHED_JWKS = 64
# How far ahead an assertion's `exp` may be (Authlib, for one, signs assertions for an hour).
MAX_ASSERTION_LIFETIME = 3600
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="lambda-jwt-auth", charset="UTF-8"'}


@dataclass(frozen=True)
class PresentedClient:
    """Who the request says it comes from, before anything is checked."""

    client_id: str
    secret: str | None = field(repr=False)  # None: a public client (`none`) or an assertion
    method: str
    assertion: str | None = field(default=None, repr=False)  # private_key_jwt

    @property
    def authenticates(self) -> bool:
        """Whether it claims to be a confidential client (a secret or an assertion to check)."""
        return self.secret is not None or self.assertion is not None


def invalid_client(description: str = "client authentication failed") -> HttpError:
    return HttpError(401, "invalid_client", description, _CHALLENGE)


def presented_client(request: Request, params: Mapping[str, Any]) -> PresentedClient | None:
    """The client credentials of a request, by whichever single method it used (None: none)."""
    basic = _basic(request.header("authorization"))
    posted_id, posted_secret = _param(params, "client_id"), _param(params, "client_secret")
    assertion_type, assertion = _param(params, "client_assertion_type"), _param(params, "client_assertion")
    if assertion_type is not None or assertion is not None:
        if basic is not None or posted_secret is not None:
            raise HttpError(400, "invalid_request", "use one client authentication method, not two")
        return _assertion(assertion_type, assertion, posted_id)
    if basic is not None:
        if posted_secret is not None:
            raise HttpError(400, "invalid_request", "use one client authentication method, not two")
        if posted_id is not None and posted_id != basic.client_id:
            raise HttpError(400, "invalid_request", "'client_id' differs from the authenticated client")
        return basic
    if posted_secret is not None:
        if posted_id is None:
            raise HttpError(400, "invalid_request", "'client_secret' needs 'client_id'")
        return PresentedClient(posted_id, posted_secret, CLIENT_SECRET_POST)
    if posted_id is not None:
        return PresentedClient(posted_id, None, NO_CLIENT_AUTH)
    return None


def _basic(header: str | None) -> PresentedClient | None:
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None  # a Bearer token is the caller's, not a client's (introspection)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise invalid_client("malformed Basic credentials") from None
    quoted_id, colon, quoted_secret = decoded.partition(":")
    client_id, secret = unquote_plus(quoted_id), unquote_plus(quoted_secret)
    if not colon or not client_id or not secret:
        raise invalid_client("malformed Basic credentials")
    return PresentedClient(client_id, secret, CLIENT_SECRET_BASIC)


def _assertion(assertion_type: str | None, assertion: str | None, posted_id: str | None) -> PresentedClient:
    if assertion_type != JWT_BEARER_ASSERTION or assertion is None:
        raise HttpError(
            400,
            "invalid_request",
            f"client_assertion_type must be {JWT_BEARER_ASSERTION}, with a client_assertion",
        )
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise invalid_client("client_assertion is not a JWT") from None
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise invalid_client("client_assertion has no iss (the client id)")
    if posted_id is not None and posted_id != issuer:
        raise HttpError(400, "invalid_request", "'client_id' differs from the assertion's issuer")
    return PresentedClient(issuer, None, PRIVATE_KEY_JWT, assertion)


def _param(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HttpError(400, "invalid_request", f"{name!r} must be a string")
    return value


@dataclass(frozen=True)
class AssertionRules:
    """How client assertions are judged where they are accepted (the token endpoint)."""

    audiences: tuple[str, ...]  # our token endpoint's URL and our issuer
    replays: Denylist  # where seen `jti`s are kept
    leeway: int


class _ClientKeysUnavailable(Exception):
    """A client's published JWKS could not be fetched."""


class ClientAuthenticator:
    def __init__(
        self, clients: ClientTable, throttle: LoginThrottle, assertions: AssertionRules | None = None
    ) -> None:
        """`assertions`: None where private_key_jwt is not accepted (introspection, revocation)."""
        self._clients = clients
        self._throttle = throttle
        self._assertions = assertions
        self._jwks_caches: dict[str, JwksCache] = {}  # clients' published JWKS, by URL

    def authenticate(self, presented: PresentedClient, client_ip: str | None) -> Client:
        """The client, if its secret or assertion is right; 401 `invalid_client` otherwise (or 429
        while its id or the address is locked out). A public client (no secret) is refused here."""
        if not presented.authenticates:
            raise invalid_client("this request needs client authentication")
        if presented.assertion is not None and self._assertions is None:
            raise invalid_client("private_key_jwt is accepted at the token endpoint only")
        try:
            attempt = self._throttle.admit_client(presented.client_id, client_ip)
        except LoginThrottledError as exc:
            log_event(logger, "client_auth_throttled", limit=exc.limit)
            raise HttpError(
                429,
                "slow_down",
                "too many failed client authentications; retry later",
                {"Retry-After": str(exc.retry_after)},
            ) from None
        try:
            stored = self._clients.lookup(presented.client_id)
            if presented.assertion is not None:
                client = self._check_assertion(stored, presented.assertion)
            else:
                assert presented.secret is not None
                client = self._clients.check_secret(stored, presented.secret)
        except _ClientKeysUnavailable:
            attempt.abandoned()
            raise invalid_client("the client's published keys (jwks_uri) could not be fetched") from None
        except Exception:
            attempt.abandoned()
            raise
        if client is None:
            attempt.failed()
            # Not the id tried: an operator's pasted secret may sit in it.
            log_event(logger, "client_auth_failed", method=presented.method)
            raise invalid_client()
        attempt.succeeded()
        return client

    def _key_for(self, stored: StoredClient, kid: object) -> VerificationKey:
        """The client's key an assertion names (KidNotFoundError if none; with registered keys, an
        assertion without `kid` names the only one). A published JWKS that cannot be fetched is
        the client's outage: 401, not counted as a failed attempt."""
        if stored.jwks is not None:
            keys = _registered_keys(stored.jwks)
            if kid is None and len(keys) == 1:
                kid = keys.kids[0]
            return keys.get(str(kid))
        assert stored.jwks_uri is not None
        if not isinstance(kid, str):
            raise KidNotFoundError("an assertion checked against a published JWKS needs a kid")
        try:
            return self._published(stored.jwks_uri).get(kid)
        except JwksUnavailableError:
            log_event(logger, "client_jwks_unavailable", client_id=stored.client.client_id)
            raise _ClientKeysUnavailable from None

    def _published(self, url: str) -> JwksCache:
        cache = self._jwks_caches.pop(url, None) or JwksCache(url)
        self._jwks_caches[url] = cache  # most recently used last
        while len(self._jwks_caches) > MAX_PUBLISHED_JWKS:
            self._jwks_caches.pop(next(iter(self._jwks_caches)))
        return cache

    def _check_assertion(self, stored: StoredClient | None, assertion: str) -> Client | None:
        """The client if `assertion` is a valid, unseen RFC 7523 assertion signed by one of its keys."""
        rules = self._assertions
        assert rules is not None
        if stored is None or stored.disabled or (stored.jwks is None and stored.jwks_uri is None):
            return None
        try:
            key = self._key_for(stored, jwt.get_unverified_header(assertion).get("kid"))
            claims = jwt.decode(
                assertion,
                key.key,
                algorithms=list(key.algorithms),  # the key's own algorithm, never the header's choice
                audience=list(rules.audiences),
                issuer=stored.client.client_id,
                leeway=rules.leeway,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
        except (jwt.PyJWTError, ConfigurationError, TokenError, ValueError) as exc:
            log_event(logger, "client_assertion_refused", reason=type(exc).__name__)
            return None
        now = time.time()
        jti = claims["jti"]
        if claims["sub"] != stored.client.client_id or not isinstance(jti, str) or not jti:
            return None
        if claims["exp"] > now + MAX_ASSERTION_LIFETIME + rules.leeway:
            log_event(logger, "client_assertion_refused", reason="lives too long")
            return None
        if not rules.replays.claim_assertion(stored.client.client_id, jti, int(claims["exp"])):
            log_event(logger, "client_assertion_replayed", client_id=stored.client.client_id)
            return None
        return stored.client


@functools.lru_cache(maxsize=MAX_PUBLISHED_JWKS)
def _registered_keys(jwks: str) -> KeySet:
    """A client's registered JWKS as keys, built once per container for each stored JWKS (their
    checks, ROCA's included, are not repeated for every assertion)."""
    return KeySet.from_jwks(json.loads(jwks))
