"""The SigV4 signer (authorizer.aws.sigv4) and the requests the authorizer's client signs with it.

Two references: AWS's published test suite (tests/unit/sigv4_vectors, the cases with the
canonical URI "/"), and botocore's own signer on many random DynamoDB-shaped requests.
"""

from __future__ import annotations

import calendar
import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from authorizer.aws import sigv4
from authorizer.aws.client import JsonClient
from authorizer.aws.credentials import Credentials, StaticCredentials

VECTORS = json.loads((Path(__file__).parent / "sigv4_vectors" / "vectors.json").read_text())
SUITE_ACCESS_KEY = "AKIDEXAMPLE"
SUITE_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"  # AWS's published example key


def parse_request(text: str) -> tuple[str, str, list[tuple[str, str]], dict[str, str], bytes]:
    head, _, body = text.partition("\n\n")
    request_line, *header_lines = head.split("\n")
    method, target, _ = request_line.split(" ")
    path, _, query = target.partition("?")
    pairs = [tuple(part.split("=", 1)) for part in query.split("&") if part]
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name] = value
    return method, path, [(k, v) for k, v in pairs], headers, body.encode()


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_aws_signature_v4_test_suite(name: str) -> None:
    vector = VECTORS[name]
    method, path, query, headers, body = parse_request(vector["request"])
    if "creq" in vector:
        canonical, _ = sigv4.canonical_request(method, path, query, headers, sigv4.sha256_hex(body))
        assert canonical == vector["creq"]
    header = sigv4.authorization(
        method=method,
        path=path,
        query=query,
        headers=headers,
        payload=body,
        access_key=SUITE_ACCESS_KEY,
        secret_key=SUITE_SECRET_KEY,
        region="us-east-1",
        service="service",
        amz_date=headers["X-Amz-Date"],
    )
    assert header == vector["authz"]


def test_signing_key_is_cached_per_secret_date_region_and_service() -> None:
    sigv4.signing_key.cache_clear()
    first = sigv4.signing_key(SUITE_SECRET_KEY, "20150830", "us-east-1", "dynamodb")
    assert sigv4.signing_key(SUITE_SECRET_KEY, "20150830", "us-east-1", "dynamodb") is first
    assert sigv4.signing_key.cache_info().hits == 1
    assert sigv4.signing_key(SUITE_SECRET_KEY, "20150831", "us-east-1", "dynamodb") != first
    assert sigv4.signing_key("other", "20150830", "us-east-1", "dynamodb") != first


# --------------------------------------------------------------------------- botocore, differential

regions = st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1"])
hosts = st.sampled_from(["dynamodb.{region}.amazonaws.com", "127.0.0.1", "localhost", "ddb.internal.example"])
ports = st.sampled_from([None, 80, 443, 4566, 8000, 65535])
attribute_values = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(min_size=1, max_size=40)),
    st.builds(lambda n: {"N": str(n)}, st.integers(min_value=-(10**12), max_value=10**12)),
)
table_names = st.from_regex(r"[A-Za-z0-9_.-]{3,40}", fullmatch=True)
batch_requests = st.dictionaries(
    table_names,
    st.fixed_dictionaries(
        {
            "Keys": st.lists(
                st.dictionaries(st.sampled_from(["pk", "sk"]), attribute_values, min_size=1), max_size=5
            )
        },
        optional={"ConsistentRead": st.booleans(), "ProjectionExpression": st.text(max_size=30)},
    ),
    min_size=1,
    max_size=3,
)
access_keys = st.from_regex(r"(AKIA|ASIA)[A-Z0-9]{16}", fullmatch=True)
secret_keys = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=40, max_size=40)
session_tokens = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9+/]{20,400}={0,2}", fullmatch=True))


def botocore_signed(url: str, body: bytes, operation: str, credentials: Credentials, region: str) -> Any:
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
        },
    )
    boto = BotoCredentials(credentials.access_key, credentials.secret_key, credentials.session_token)
    SigV4Auth(boto, "dynamodb", region).add_auth(request)
    return request.headers


@settings(max_examples=300, deadline=None)
@given(
    region=regions,
    host=hosts,
    port=ports,
    https=st.booleans(),
    items=batch_requests,
    operation=st.sampled_from(["BatchGetItem", "GetItem", "Query"]),
    access_key=access_keys,
    secret_key=secret_keys,
    session_token=session_tokens,
)
def test_signature_matches_botocores(
    region: str,
    host: str,
    port: int | None,
    https: bool,
    items: dict[str, Any],
    operation: str,
    access_key: str,
    secret_key: str,
    session_token: str | None,
) -> None:
    netloc = host.format(region=region) + (f":{port}" if port else "")
    url = f"{'https' if https else 'http'}://{netloc}/"
    credentials = Credentials(access_key, secret_key, session_token)
    body = json.dumps({"RequestItems": items}, separators=(",", ":")).encode()

    expected = botocore_signed(url, body, operation, credentials, region)
    signed_at = calendar.timegm(time.strptime(expected["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    client = JsonClient(
        service="dynamodb",
        target_prefix="DynamoDB_20120810",
        json_version="1.0",
        region=region,
        endpoint=url,
        credentials=StaticCredentials(credentials),
        clock=lambda: float(signed_at),
    )
    ours = client.signed_headers(operation, body)

    assert ours["Authorization"] == expected["Authorization"]
    assert ours.get("X-Amz-Security-Token") == expected.get("X-Amz-Security-Token")
    # What is signed is what is sent: botocore's canonical host (no default port) is our Host.
    canonical, signed = sigv4.canonical_request(
        "POST", "/", (), {k: v for k, v in ours.items() if k != "Authorization"}, sigv4.sha256_hex(body)
    )
    expected_host = netloc.removesuffix(":443" if https else ":80")
    assert f"host:{expected_host}\n" in canonical
    assert signed.split(";") == sorted(signed.split(";"))
