"""The key set: which keys are published, which one signs, and the rotation cycle between them.

A key set is one JSON document, kept where the signing key is (an SSM SecureString parameter),
beside the public JWKS that verifiers read. Each key is in one state:

* **next**: published in the JWKS, not yet signing;
* **current**: signing (exactly one key);
* **retired**: published, no longer signing, until the last token it signed has expired;

and then removed. A key is either a private key (PEM) or an AWS KMS key, whose private half never
leaves KMS; a KMS key carries a random secret for what a PEM's own bytes give (the sealing of
Cognito refresh tokens and the login throttle's HMAC key).

The document also records the two bounds rotation waits for: `propagation_seconds`, how long a
newly published key takes to reach every verifier (our containers re-read keys after
AUTH_KEYS_MAX_AGE_SECONDS; API Gateway's own JWT authorizers cache keys up to an hour), and
`retire_after_seconds`, the longest a token lives (the refresh token lifetime, with leeway).
The steps here are pure functions of a document and the time; `auth_service.key_rotation`
reads and writes the parameters.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from authorizer.errors import ConfigurationError
from authorizer.tokens.keys import KeySet, jwk_thumbprint

FORMAT = "lambda-jwt-auth key set 1"
# Our containers re-read keys after 300 s by default (AUTH_KEYS_MAX_AGE_SECONDS), plus a margin.
DEFAULT_PROPAGATION_SECONDS = 360
# The default refresh token lifetime (30 days) and the default leeway.
DEFAULT_RETIRE_AFTER_SECONDS = 2_592_000 + 30
SECRET_BYTES = 32


class KeyState(Enum):
    NEXT = "next"
    CURRENT = "current"
    RETIRED = "retired"


class KeySetError(ValueError):
    """A rotation step that would make a valid token unverifiable, or a malformed key set."""


@dataclass(frozen=True)
class KeyEntry:
    kid: str
    alg: str
    state: KeyState
    since: int  # when it entered its state (epoch seconds)
    published_at: int  # when it entered the JWKS
    public_jwk: Mapping[str, Any]  # with kid, alg and use
    private_pem: str | None = field(default=None, repr=False)  # a PEM key
    kms_key_id: str | None = None  # a KMS key (its ARN)
    secret: str | None = field(default=None, repr=False)  # base64url, KMS keys only

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "kid": self.kid,
            "alg": self.alg,
            "state": self.state.value,
            "since": self.since,
            "published_at": self.published_at,
            "public_jwk": dict(self.public_jwk),
        }
        if self.private_pem is not None:
            item["private_pem"] = self.private_pem
        if self.kms_key_id is not None:
            item["kms_key_id"] = self.kms_key_id
            item["secret"] = self.secret
        return item

    @property
    def source(self) -> str:
        return "kms" if self.kms_key_id is not None else "pem"


@dataclass(frozen=True)
class NewKeys:
    """How `keys rotate` makes the next key: in KMS (under an alias prefix) or as a PEM."""

    source: str = "pem"  # "pem" or "kms"
    alg: str = "RS256"
    alias_prefix: str = ""  # KMS only: alias/lambda-jwt-auth/<stage>/

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "alg": self.alg, "alias_prefix": self.alias_prefix}


@dataclass(frozen=True)
class KeySetDocument:
    keys: tuple[KeyEntry, ...]
    new_keys: NewKeys = NewKeys()
    propagation_seconds: int = DEFAULT_PROPAGATION_SECONDS
    retire_after_seconds: int = DEFAULT_RETIRE_AFTER_SECONDS

    @property
    def current(self) -> KeyEntry:
        return next(key for key in self.keys if key.state is KeyState.CURRENT)

    def in_state(self, state: KeyState) -> list[KeyEntry]:
        return [key for key in self.keys if key.state is state]

    def find(self, kid: str) -> KeyEntry | None:
        return next((key for key in self.keys if key.kid == kid), None)

    def jwks(self) -> dict[str, Any]:
        """The public keys verifiers must trust: every key of the set, whatever its state."""
        return {"keys": [dict(key.public_jwk) for key in self.keys]}

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "propagation_seconds": self.propagation_seconds,
                "retire_after_seconds": self.retire_after_seconds,
                "new_keys": self.new_keys.to_json(),
                "keys": [key.to_json() for key in self.keys],
            },
            indent=1,
        )


def is_key_set_document(text: str) -> bool:
    """A key set document (JSON), as opposed to a PEM bundle."""
    return text.lstrip().startswith("{")


def parse_key_set(text: str) -> KeySetDocument:
    """Read and check a key set; every mistake is a `ConfigurationError` (never quoting a key)."""
    try:
        raw = json.loads(text)
    except ValueError:
        raise ConfigurationError("the key set is not valid JSON") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ConfigurationError(f"the key set must be a JSON object with format {FORMAT!r}")
    keys = raw.get("keys")
    if not isinstance(keys, list) or not keys:
        raise ConfigurationError("the key set lists no keys")
    entries = tuple(_entry(item, index) for index, item in enumerate(keys))
    new = raw.get("new_keys") or {}
    if not isinstance(new, dict) or new.get("source", "pem") not in ("pem", "kms"):
        raise ConfigurationError("the key set's new_keys.source must be pem or kms")
    document = KeySetDocument(
        keys=entries,
        new_keys=NewKeys(
            source=new.get("source", "pem"),
            alg=str(new.get("alg", "RS256")),
            alias_prefix=str(new.get("alias_prefix", "")),
        ),
        propagation_seconds=_seconds(raw, "propagation_seconds", DEFAULT_PROPAGATION_SECONDS),
        retire_after_seconds=_seconds(raw, "retire_after_seconds", DEFAULT_RETIRE_AFTER_SECONDS),
    )
    check(document)
    return document


def check(document: KeySetDocument) -> None:
    states = [key.state for key in document.keys]
    if states.count(KeyState.CURRENT) != 1:
        raise ConfigurationError(
            f"the key set needs exactly one current key, it has {states.count(KeyState.CURRENT)}"
        )
    if states.count(KeyState.NEXT) > 1:
        raise ConfigurationError("the key set has more than one next key")
    kids = [key.kid for key in document.keys]
    if len(set(kids)) != len(kids):
        raise ConfigurationError("the key set lists the same key twice")
    KeySet.from_jwks(document.jwks())  # each public key usable, kids unambiguous


def _seconds(raw: Mapping[str, Any], name: str, default: int) -> int:
    value = raw.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigurationError(f"the key set's {name} must be a whole number of seconds")
    return value


def _entry(item: Any, index: int) -> KeyEntry:
    where = f"key #{index} of the key set"
    if not isinstance(item, dict):
        raise ConfigurationError(f"{where} is not a JSON object")
    try:
        state = KeyState(item.get("state"))
    except ValueError:
        raise ConfigurationError(f"{where}: state must be next, current or retired") from None
    jwk = item.get("public_jwk")
    kid = item.get("kid")
    if not isinstance(jwk, dict) or not isinstance(kid, str):
        raise ConfigurationError(f"{where}: kid and public_jwk are required")
    try:
        thumbprint = jwk_thumbprint(jwk)
    except (ValueError, KeyError):
        raise ConfigurationError(f"{where}: public_jwk is not a usable public key") from None
    if kid != thumbprint or jwk.get("kid") != kid:
        raise ConfigurationError(f"{where}: kid must be the RFC 7638 thumbprint of public_jwk")
    pem, kms, secret = item.get("private_pem"), item.get("kms_key_id"), item.get("secret")
    if (pem is None) == (kms is None):
        raise ConfigurationError(f"{where} (kid {kid}): give private_pem or kms_key_id, not both")
    if kms is not None and (not isinstance(secret, str) or len(_decode_secret(secret, where)) < SECRET_BYTES):
        raise ConfigurationError(f"{where} (kid {kid}): a KMS key needs its 32-byte secret")
    for name in ("since", "published_at"):
        if not isinstance(item.get(name), int):
            raise ConfigurationError(f"{where} (kid {kid}): {name} must be epoch seconds")
    return KeyEntry(
        kid=kid,
        alg=str(item.get("alg") or jwk.get("alg")),
        state=state,
        since=item["since"],
        published_at=item["published_at"],
        public_jwk=jwk,
        private_pem=pem,
        kms_key_id=kms,
        secret=secret,
    )


def _decode_secret(secret: str, where: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    except ValueError:
        raise ConfigurationError(f"{where}: secret is not base64url") from None


def secret_bytes(entry: KeyEntry) -> bytes:
    assert entry.secret is not None
    return _decode_secret(entry.secret, f"kid {entry.kid}")


def new_secret() -> str:
    return base64.urlsafe_b64encode(os.urandom(SECRET_BYTES)).rstrip(b"=").decode("ascii")


# ---------------------------------------------------------------------------- the steps


@dataclass(frozen=True)
class Plan:
    """What `rotate` would do now: "add" a next key, "promote" it, or "wait" until `ready_at`."""

    action: str
    ready_at: int = 0
    reason: str = ""


def plan(document: KeySetDocument, now: int) -> Plan:
    upcoming = document.in_state(KeyState.NEXT)
    if not upcoming:
        return Plan("add", now, "no next key: create one and publish it")
    ready_at = upcoming[0].published_at + document.propagation_seconds
    if now < ready_at:
        return Plan(
            "wait",
            ready_at,
            f"the next key {upcoming[0].kid} was published {now - upcoming[0].published_at} s ago; "
            f"signing with it before {document.propagation_seconds} s (propagation_seconds) could "
            "issue tokens a verifier has not seen the key of",
        )
    return Plan("promote", now, f"the next key {upcoming[0].kid} becomes current")


def add_next(document: KeySetDocument, entry: KeyEntry, now: int) -> KeySetDocument:
    if document.in_state(KeyState.NEXT):
        raise KeySetError("there is a next key already: promote it first (auth-service keys rotate)")
    if document.find(entry.kid) is not None:
        raise KeySetError(f"key {entry.kid} is in the key set already")
    fresh = replace(entry, state=KeyState.NEXT, since=now, published_at=now)
    return _checked(replace(document, keys=(*document.keys, fresh)))


def promote(document: KeySetDocument, now: int, *, force: bool = False) -> KeySetDocument:
    """The next key signs from now on; the current one is retired. `force` skips the wait
    (a compromise: the current key must stop signing at once)."""
    step = plan(document, now)
    if step.action == "add":
        raise KeySetError("there is no next key to promote: add one first (auth-service keys rotate)")
    if step.action == "wait" and not force:
        raise KeySetError(f"refused: {step.reason}; run it again after {step.ready_at} (epoch seconds)")
    keys = []
    for key in document.keys:
        if key.state is KeyState.NEXT:
            key = replace(key, state=KeyState.CURRENT, since=now)
        elif key.state is KeyState.CURRENT:
            key = replace(key, state=KeyState.RETIRED, since=now)
        keys.append(key)
    return _checked(replace(document, keys=tuple(keys)))


def expired(document: KeySetDocument, now: int) -> list[KeyEntry]:
    """Retired keys whose last token has expired: no valid token needs them any more."""
    return [
        key for key in document.in_state(KeyState.RETIRED) if now >= key.since + document.retire_after_seconds
    ]


def without(document: KeySetDocument, kids: set[str]) -> KeySetDocument:
    return _checked(replace(document, keys=tuple(key for key in document.keys if key.kid not in kids)))


def revoke(document: KeySetDocument, kid: str, now: int, replacement: KeyEntry | None) -> KeySetDocument:
    """Remove `kid` at once: the key set no longer signs or verifies with it. If it is the current
    key, the next key (else `replacement`, which must then be given) signs from now on."""
    key = document.find(kid)
    if key is None:
        raise KeySetError(f"key {kid} is not in the key set")
    if key.state is KeyState.CURRENT:
        if not document.in_state(KeyState.NEXT):
            if replacement is None:
                raise KeySetError("revoking the current key needs a key to sign with instead")
            document = add_next(document, replacement, now)
        document = promote(document, now, force=True)
    return without(document, {kid})


def _checked(document: KeySetDocument) -> KeySetDocument:
    check(document)
    return document
