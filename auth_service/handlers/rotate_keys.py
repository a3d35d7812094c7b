"""The scheduled key rotation (EventBridge, serverless.yml's `keyRotationSchedule`): one step of
`auth-service keys rotate` per run, the same code, so a schedule can rotate keys on its own.

Each run drops retired keys whose tokens have all expired, then publishes a next key, or makes
the published one sign once `propagation_seconds` have passed; otherwise it waits for the next
run. With a schedule of `rate(N days)`, a key signs for about 2N days. A run that waits is not an
error; a run that cannot read or write the key set fails (and Lambda's error metric shows it).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import boto3

from auth_service import key_rotation, runtime
from auth_service.aws import ISSUING_CONFIG
from auth_service.config import SigningKeyKind
from authorizer.errors import ConfigurationError
from authorizer.gateway.config import JwksKind
from authorizer.log import log_event

logging.getLogger("lambda_jwt_auth").setLevel(logging.INFO)
logger = logging.getLogger("lambda_jwt_auth.rotate_keys")


def key_store() -> key_rotation.KeyStore:
    """The deployed key set: both parameters must be in SSM (the rotation writes them)."""
    cfg = runtime.config()
    signing, jwks = cfg.signing_key, cfg.common.jwks
    if (
        signing is None
        or signing.kind is not SigningKeyKind.SSM
        or jwks is None
        or jwks.kind is not JwksKind.SSM
    ):
        raise ConfigurationError(
            "the key rotation writes the key set and the JWKS: set AUTH_SIGNING_KEY_SSM_PARAMETER "
            "and AUTH_JWKS_SSM_PARAMETER"
        )
    region = cfg.common.region
    session: Any = boto3.session.Session()
    return key_rotation.KeyStore(
        session.client("ssm", region_name=region, config=ISSUING_CONFIG),
        lambda: session.client("kms", region_name=region, config=ISSUING_CONFIG),
        signing_parameter=signing.value,
        jwks_parameter=jwks.value,
    )


_store = key_store()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcome = key_rotation.rotate(_store, int(time.time()))
    log_event(logger, "key rotation", action=outcome.action, detail=list(outcome.lines))
    return {"action": outcome.action, "detail": list(outcome.lines)}
