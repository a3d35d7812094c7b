"""boto3 clients of the issuing side, with timeouts and a retry budget that fit inside a Lambda
invocation. (The authorizer does without boto3: authorizer.aws.client.)

Every function has a 10 s timeout (serverless.yml). One SDK call may take at most

    attempts x connect_timeout + attempts x read_timeout + the backoff between attempts

(`worst_case_seconds`). tests/unit/test_faults_sdk_budget.py checks these numbers against the
clients actually built and measures them against misbehaving local endpoints.

Two things botocore would otherwise do are switched off here, because each breaks that budget or
turns a fault into a wrong answer:

* a server-sent `x-amz-retry-after` header may stretch each backoff by up to 5 s: it is dropped,
  so the backoff stays botocore's own (at most 1 s, 2 s, ... for throttling);
* a 2xx answer whose body is not a JSON object is parsed by botocore as an empty result, which
  for BatchGetItem reads as "nothing is revoked" and for PutItem as "written": it is an error.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ssm import SSMClient

# The issuing functions (login, refresh, logout, revoke, introspect), SSM at cold start and the
# CLI: a retry more than the authorizer's, since a failed write means a 503 the client has to
# retry itself.
ISSUING_CONFIG = Config(
    connect_timeout=0.5,
    read_timeout=1,
    retries={"mode": "standard", "total_max_attempts": 3},
)

# botocore's standard retry mode (botocore.retries.standard.ExponentialBackoff), mirrored so the
# budget can be computed; the budget test checks them against botocore's own values.
_THROTTLING_BASE_SCALE = 1.0  # the larger of its two scales (the other is for transient errors)
_BACKOFF_BASE = 2.0
_MAX_BACKOFF = 20.0
_RETRY_AFTER_MAX_ADDITIONAL = 5.0
_RETRY_AFTER_HEADER = "x-amz-retry-after"


class MalformedResponseError(BotoCoreError):
    """A 2xx answer whose body is not a JSON object: we cannot tell what it means, so it is a fault."""

    fmt = "{service} answered HTTP {status} with a body that is not a JSON object"


def worst_case_seconds(config: Config, *, honours_retry_after: bool = False) -> float:
    """The longest one SDK call made with `config` can take, retries and backoff included.

    Only the standard retry mode is accepted: legacy mode retries DynamoDB up to 10 times and
    adaptive mode adds client-side rate limiting, neither with a bound worth computing. Clients
    built here drop `x-amz-retry-after`; pass `honours_retry_after` for clients that do not.
    Name resolution is not bounded by any timeout, nor are several addresses of one host tried
    in one connect timeout; AWS endpoints resolve from the Lambda's cache in practice.
    """
    # Config's options are set dynamically: botocore-stubs does not know them.
    retries: dict[str, Any] = dict(getattr(config, "retries", None) or {})
    if retries.get("mode") != "standard":
        raise ValueError("only botocore's standard retry mode has a bounded retry budget")
    attempts = int(retries.get("total_max_attempts") or retries.get("max_attempts", 2) + 1)
    backoff = sum(
        min(_THROTTLING_BASE_SCALE * _BACKOFF_BASE ** (retry - 1), _MAX_BACKOFF)
        + (_RETRY_AFTER_MAX_ADDITIONAL if honours_retry_after else 0.0)
        for retry in range(1, attempts)
    )
    connect = float(getattr(config, "connect_timeout"))  # noqa: B009
    read = float(getattr(config, "read_timeout"))  # noqa: B009
    return attempts * (connect + read) + backoff


def aws_client(service: str, region: str, endpoint: str | None, config: Config) -> Any:
    """A boto3 client with our retry-after and garbled-answer guards (any JSON-protocol service)."""
    return _client(service, region, endpoint, config)


def _client(service: str, region: str, endpoint: str | None, config: Config) -> Any:
    session: Any = boto3.session.Session()
    client = session.client(service, region_name=region, endpoint_url=endpoint, config=config)
    # First, so that botocore's retry handler (registered on the same event) sees no header.
    client.meta.events.register_first(f"needs-retry.{service}", _drop_retry_after)
    client.meta.events.register(f"before-parse.{service}", _refuse_non_json_success)
    return client


def _drop_retry_after(response: Any = None, **_: Any) -> None:
    # response is (http_response, parsed) when an HTTP answer arrived, else None.
    if response is not None:
        response[0].headers.pop(_RETRY_AFTER_HEADER, None)
    # Returning None leaves the retry decision to botocore.


def _refuse_non_json_success(response_dict: dict[str, Any], operation_model: Any, **_: Any) -> None:
    status = response_dict.get("status_code", 0)
    body = response_dict.get("body")
    if not 200 <= status < 300 or not isinstance(body, bytes):
        return  # errors are botocore's to parse; a garbled error body is still an error
    try:
        document = json.loads(body)
    except ValueError:  # also UnicodeDecodeError
        document = None
    if not isinstance(document, dict):
        service = operation_model.service_model.service_id.hyphenize()
        raise MalformedResponseError(service=service, status=status)


def dynamodb_client(
    region: str, endpoint: str | None = None, *, config: Config = ISSUING_CONFIG
) -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb", region, endpoint, config)
    return client


def ssm_client(region: str) -> SSMClient:
    client: SSMClient = _client("ssm", region, None, ISSUING_CONFIG)
    return client
