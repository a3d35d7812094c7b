"""The deployed key set, changed one step at a time: `auth-service keys` and the scheduled rotation.

Two SSM parameters hold it: the key set document (a SecureString, what the issuing functions
sign with) and the JWKS (a String, what every verifier trusts). A step that publishes a key
writes the JWKS first; a step that withdraws one writes the key set first; a step that does both
publishes the union, then the key set, then the final JWKS. So at no moment does a function sign
with a key the JWKS lacks, and a revoked key leaves both as soon as the two writes are done.
Containers then pick the change up within AUTH_KEYS_MAX_AGE_SECONDS (auth_service.live_keys).

KMS keys are created with an alias under the stage's prefix (alias/lambda-jwt-auth/<stage>/<kid>):
the issuing functions may sign only with keys that carry such an alias (serverless.yml), so a
key whose alias is deleted can no longer sign, whatever a stale key set still says.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from auth_service import key_set
from auth_service.key_set import KeyEntry, KeySetDocument, KeySetError, KeyState, NewKeys

_MAX_ALIAS_LENGTH = 256
# The tag every KMS key of a key set carries, its value the set's alias prefix.
KEY_SET_TAG = "lambda-jwt-auth-key-set"


@dataclass(frozen=True)
class Outcome:
    """What a step did, for the operator (never a key)."""

    action: str  # "added", "promoted", "waiting", "revoked", "initialised", "settings"
    lines: tuple[str, ...]


class KeyStore:
    """The two parameters and, for KMS keys, KMS itself."""

    def __init__(
        self, ssm: Any, kms: Callable[[], Any], *, signing_parameter: str, jwks_parameter: str
    ) -> None:
        self._ssm, self._kms_factory = ssm, kms
        self._kms: Any = None
        self.signing_parameter, self.jwks_parameter = signing_parameter, jwks_parameter

    @property
    def kms(self) -> Any:
        if self._kms is None:
            self._kms = self._kms_factory()
        return self._kms

    def read(self) -> KeySetDocument | None:
        try:
            answer = self._ssm.get_parameter(Name=self.signing_parameter, WithDecryption=True)
        except self._ssm.exceptions.ParameterNotFound:
            return None
        text = str(answer["Parameter"]["Value"])
        if not key_set.is_key_set_document(text):
            raise KeySetError(
                f"{self.signing_parameter} holds a PEM bundle, not a key set: rotation steps need a key "
                "set (auth-service keys init --from-pem FILE converts the bundle)"
            )
        return key_set.parse_key_set(text)

    def write(self, before: KeySetDocument | None, after: KeySetDocument) -> None:
        old = {key.kid: key.public_jwk for key in (before.keys if before else ())}
        new = {key.kid: key.public_jwk for key in after.keys}
        if set(new) - set(old):  # publish what is new before anything signs with it
            self._publish({**old, **new})
        # Intelligent-Tiering: a set of three PEM keys is more than a standard parameter's 4 KB.
        self._ssm.put_parameter(
            Name=self.signing_parameter,
            Value=after.to_json(),
            Type="SecureString",
            Overwrite=True,
            Tier="Intelligent-Tiering",
        )
        self._publish(new)  # the final JWKS (also puts right a JWKS edited by hand)

    def _publish(self, jwks: dict[str, Any]) -> None:
        document = {"keys": [dict(jwk) for jwk in jwks.values()]}
        self._ssm.put_parameter(
            Name=self.jwks_parameter, Value=json.dumps(document), Type="String", Overwrite=True
        )

    def create_key(self, new_keys: NewKeys, now: int) -> KeyEntry:
        """A new key, not yet in the key set: in KMS (with its alias) or a PEM made here."""
        if new_keys.source == "kms":
            return self._create_kms_key(new_keys, now)
        from auth_service.keys import generate_private_key_pem, load_key_ring

        pem = generate_private_key_pem(new_keys.alg)
        ring = load_key_ring(pem)
        return KeyEntry(
            kid=ring.current.kid,
            alg=ring.current.alg,
            state=KeyState.NEXT,
            since=now,
            published_at=now,
            public_jwk=ring.current.public_jwk,
            private_pem=pem,
        )

    def _create_kms_key(self, new_keys: NewKeys, now: int) -> KeyEntry:
        from auth_service.kms_signing import KEY_SPECS, public_key_of
        from authorizer.tokens.keys import jwk_thumbprint

        if new_keys.alg not in KEY_SPECS:
            raise KeySetError(f"KMS keys sign with {' or '.join(KEY_SPECS)}, not {new_keys.alg}")
        created = self.kms.create_key(
            KeySpec=KEY_SPECS[new_keys.alg],
            KeyUsage="SIGN_VERIFY",
            Description=f"lambda-jwt-auth signing key ({new_keys.alias_prefix})",
            # What the scheduled rotation's IAM policy is conditioned on (aws:ResourceTag).
            Tags=[{"TagKey": KEY_SET_TAG, "TagValue": new_keys.alias_prefix}],
        )
        arn = str(created["KeyMetadata"]["Arn"])
        alg, public = public_key_of(self.kms, arn)
        from auth_service.kms_signing import KmsKey

        jwk = KmsKey(key_id=arn, alg=alg, public_key=public, client=None).public_jwk()
        kid = jwk_thumbprint(jwk)
        alias = new_keys.alias_prefix + kid
        if not new_keys.alias_prefix.startswith("alias/") or len(alias) > _MAX_ALIAS_LENGTH:
            raise KeySetError(f"the key set's new_keys.alias_prefix {new_keys.alias_prefix!r} is not usable")
        self.kms.create_alias(AliasName=alias, TargetKeyId=arn)
        return KeyEntry(
            kid=kid,
            alg=alg,
            state=KeyState.NEXT,
            since=now,
            published_at=now,
            public_jwk={**jwk, "kid": kid, "alg": alg, "use": "sig"},
            kms_key_id=arn,
            secret=key_set.new_secret(),
        )

    def withdraw(self, entry: KeyEntry, alias_prefix: str) -> str | None:
        """A KMS key that left the set can no longer sign: its alias goes, the key is disabled
        (schedule its deletion yourself once you are sure). Returns what was done."""
        if entry.kms_key_id is None:
            return None
        with contextlib.suppress(self.kms.exceptions.NotFoundException):
            self.kms.delete_alias(AliasName=alias_prefix + entry.kid)
        # The key id, which DisableKey takes as real KMS does its ARN (moto takes only the id).
        self.kms.disable_key(KeyId=entry.kms_key_id.rsplit("/", 1)[-1])
        return f"KMS key {entry.kms_key_id} disabled and its alias deleted"


def initialise(
    store: KeyStore,
    new_keys: NewKeys,
    now: int,
    *,
    propagation_seconds: int,
    retire_after_seconds: int,
    from_pem: str | None = None,
) -> Outcome:
    """The first key set: one current key (made now, or the bundle `from_pem`: its first key
    current, the others retired from now on)."""
    if store.read() is not None:
        raise KeySetError(f"{store.signing_parameter} holds a key set already: use keys rotate")
    entries: list[KeyEntry] = []
    if from_pem is not None:
        from auth_service.keys import load_key_ring

        ring = load_key_ring(from_pem)
        for index, key in enumerate(ring.keys):
            if key.private_key is None:
                raise KeySetError(f"key {key.kid} of the bundle is public only: a key set keeps private keys")
            from cryptography.hazmat.primitives import serialization

            pem = key.private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode("ascii")
            state = KeyState.CURRENT if index == 0 else KeyState.RETIRED
            entries.append(KeyEntry(key.kid, key.alg, state, now, now, key.public_jwk, private_pem=pem))
    else:
        entries.append(replace(store.create_key(new_keys, now), state=KeyState.CURRENT))
    document = KeySetDocument(
        keys=tuple(entries),
        new_keys=new_keys,
        propagation_seconds=propagation_seconds,
        retire_after_seconds=retire_after_seconds,
    )
    key_set.check(document)
    store.write(None, document)
    return Outcome("initialised", (f"current key {entries[0].kid} ({entries[0].source}, {entries[0].alg})",))


def rotate(store: KeyStore, now: int) -> Outcome:
    """One step of the cycle: drop retired keys whose tokens have all expired, then add a next key,
    or promote it once every verifier can have seen it; else say when it can."""
    document = _read(store)
    lines: list[str] = []
    gone = key_set.expired(document, now)
    if gone:
        pruned = key_set.without(document, {key.kid for key in gone})
        store.write(document, pruned)
        for key in gone:
            lines.append(f"removed retired key {key.kid}: every token it signed has expired")
            done = store.withdraw(key, document.new_keys.alias_prefix)
            if done:
                lines.append(f"  {done}")
        document = pruned
    step = key_set.plan(document, now)
    if step.action == "wait":
        lines.append(f"waiting: {step.reason}; the next step is possible in {step.ready_at - now} s")
        return Outcome("waiting", tuple(lines))
    if step.action == "add":
        entry = store.create_key(document.new_keys, now)
        store.write(document, key_set.add_next(document, entry, now))
        lines.append(
            f"published next key {entry.kid} ({entry.source}, {entry.alg}); it can sign in "
            f"{document.propagation_seconds} s (run keys rotate again then)"
        )
        return Outcome("added", tuple(lines))
    promoted = key_set.promote(document, now)
    store.write(document, promoted)
    retired = next(key for key in promoted.in_state(KeyState.RETIRED) if key.since == now)
    lines.append(
        f"key {promoted.current.kid} signs from now on; {retired.kid} is retired and stays published "
        f"for {document.retire_after_seconds} s, until the last token it signed has expired"
    )
    return Outcome("promoted", tuple(lines))


def revoke(store: KeyStore, kid: str, now: int) -> Outcome:
    """Compromise: `kid` leaves the key set and the JWKS now; if it was signing, the next key (or
    a new one) signs instead, at once. Every token it signed is then refused within the bound."""
    document = _read(store)
    entry = document.find(kid)
    if entry is None:
        raise KeySetError(f"key {kid} is not in the key set {store.signing_parameter}")
    replacement = None
    if entry.state is KeyState.CURRENT and not document.in_state(KeyState.NEXT):
        replacement = store.create_key(document.new_keys, now)
    after = key_set.revoke(document, kid, now, replacement)
    store.write(document, after)
    lines = [f"revoked key {kid}: removed from the key set and the JWKS"]
    if entry.state is KeyState.CURRENT:
        lines.append(f"key {after.current.kid} signs from now on")
    done = store.withdraw(entry, document.new_keys.alias_prefix)
    if done:
        lines.append(done)
    return Outcome("revoked", tuple(lines))


def change_settings(
    store: KeyStore, *, propagation_seconds: int | None, retire_after_seconds: int | None
) -> Outcome:
    document = _read(store)
    after = replace(
        document,
        propagation_seconds=document.propagation_seconds
        if propagation_seconds is None
        else propagation_seconds,
        retire_after_seconds=document.retire_after_seconds
        if retire_after_seconds is None
        else retire_after_seconds,
    )
    store.write(document, after)
    return Outcome(
        "settings",
        (f"propagation_seconds {after.propagation_seconds}, retire_after {after.retire_after_seconds} s",),
    )


def describe(store: KeyStore, now: int) -> list[str]:
    document = _read(store)
    lines = [
        f"key set {store.signing_parameter} (JWKS {store.jwks_parameter}); new keys: "
        f"{document.new_keys.source} {document.new_keys.alg}; propagation_seconds "
        f"{document.propagation_seconds}, retire_after_seconds {document.retire_after_seconds}"
    ]
    for key in document.keys:
        where = key.kms_key_id or "PEM"
        lines.append(f"  {key.state.value:8} {key.kid}  {key.alg}  {where}  since {now - key.since} s ago")
    for key in key_set.expired(document, now):
        lines.append(f"  {key.kid} has expired: the next keys rotate removes it")
    step = key_set.plan(document, now)
    if step.action == "wait":
        lines.append(f"next step: promote the next key, possible in {step.ready_at - now} s")
    else:
        lines.append(f"next step: {step.action} ({step.reason})")
    return lines


def _read(store: KeyStore) -> KeySetDocument:
    document = store.read()
    if document is None:
        raise KeySetError(f"{store.signing_parameter} holds no key set: run auth-service keys init first")
    return document
