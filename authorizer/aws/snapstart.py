"""Lambda SnapStart runtime hooks: nothing network- or credential-bound survives in a snapshot.

With SnapStart (serverless.yml param `authorizerSnapStart`), Lambda runs the cold start once when
a version is published, snapshots the memory, and starts every later execution environment of
that version from the snapshot, possibly hours later and many at once. Before the snapshot the
DynamoDB connection is closed and fetched credentials are dropped; after each restore the
credentials are fetched anew and the connection reopened, so the first request finds both ready.
The TLS context too is first built after a restore (authorizer.gateway.bootstrap.prepare_tls builds it at
init only without SnapStart): building one draws randomness, which every environment restored
from one snapshot would share.
Lambda's `snapshot_restore_py` exists only in its SnapStart runtime: elsewhere this does nothing.
"""

from __future__ import annotations

from authorizer.aws.client import AwsRequestError, JsonClient
from authorizer.aws.credentials import CredentialsError, CredentialSource
from authorizer.log import WARNING, get_logger, log_event

logger = get_logger("lambda_jwt_auth.snapstart")


def register(client: JsonClient, credentials: CredentialSource) -> bool:
    """Register the hooks if Lambda's SnapStart runtime is there; True if it is."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found, unused-ignore]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(lambda: before_snapshot(client, credentials))
    register_after_restore(lambda: after_restore(client, credentials))
    return True


def before_snapshot(client: JsonClient, credentials: CredentialSource) -> None:
    client.close()
    credentials.forget()


def after_restore(client: JsonClient, credentials: CredentialSource) -> None:
    client.close()
    credentials.forget()
    try:  # best effort: a failure here is retried by the first request, which fails closed
        credentials.get()
        client.connect()
    except (CredentialsError, AwsRequestError, OSError) as exc:
        log_event(logger, "snapstart_warm_up_failed", WARNING, error=type(exc).__name__)
