"""Where the authorizer's AWS calls go (authorizer.aws.endpoints), and which CAs their TLS trusts.

botocore is the independent reference: for regions of every partition, and for every mix of the
SDKs' endpoint variables, our endpoint is the one a boto3 client resolves. Each variable is also
shown changing a real request: the authorizer, built from configuration as the Lambda builds it,
sends its BatchGetItem (or its SSM GetParameter) to a scripted server on 127.0.0.1, or over TLS
to one whose CA only AWS_CA_BUNDLE names.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from auth_service.keys import KeyRing
from authorizer.aws import endpoints, tls
from authorizer.aws.client import AwsRequestError, JsonClient
from authorizer.aws.credentials import Credentials, StaticCredentials
from authorizer.env import EnvReader
from authorizer.errors import ConfigurationError
from authorizer.gateway.bootstrap import build_authorizer
from authorizer.gateway.config import AuthorizerConfig, CommonSettings
from bench.local_tls import LocalCA
from tests.unit.scripted_http import Reply, Request, ScriptedServer, Serve, answer

DENYLIST = "test-denylist"
SDK_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def _no_endpoint_variables(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in SDK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield
    tls._context.cache_clear()


def base_env(ring: KeyRing, **overrides: str) -> dict[str, str]:
    env = {
        "AUTH_ISSUER": "https://auth.example.test",
        "AUTH_AUDIENCE": "orders-api",
        "AUTH_JWKS": json.dumps(ring.jwks()),
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AWS_REGION": "us-east-1",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "<unset>"}


def common(**env: str) -> CommonSettings:
    reader = EnvReader(
        {"AUTH_ISSUER": "https://a.example", "AUTH_AUDIENCE": "a", "AUTH_DENYLIST_TABLE": "t", **env}
    )
    settings = CommonSettings.read(reader)
    reader.raise_if_invalid("test")
    return settings


# --------------------------------------------------------------------------- against botocore


def _partition_regions() -> list[str]:
    data = json.loads((Path(boto3.__file__).parents[1] / "botocore/data/partitions.json").read_text())
    regions = [region for partition in data["partitions"] for region in partition["regions"]]
    # Regions no release lists yet, matched by each partition's pattern only.
    regions += ["cn-south-7", "us-gov-central-5", "us-iso-north-4", "us-isob-south-3", "eu-isoe-east-2"]
    regions += ["us-isof-west-9", "eusc-de-west-2", "eu-south-9", "ap-east-9", "mx-central-3"]
    return [region for region in regions if "global" not in region]


@pytest.mark.parametrize("service", ["dynamodb", "ssm"])
def test_region_endpoints_are_botocores_in_every_partition(service: str) -> None:
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y")
    for region in _partition_regions():
        expected = session.client(service, region_name=region).meta.endpoint_url  # type: ignore[call-overload]
        assert endpoints.region_endpoint(service, region) == expected + "/", region


def test_the_partitions_of_china_and_govcloud() -> None:
    assert (
        endpoints.region_endpoint("dynamodb", "cn-north-1") == "https://dynamodb.cn-north-1.amazonaws.com.cn/"
    )
    assert (
        endpoints.region_endpoint("ssm", "cn-northwest-1") == "https://ssm.cn-northwest-1.amazonaws.com.cn/"
    )
    assert (
        endpoints.region_endpoint("dynamodb", "us-gov-west-1")
        == "https://dynamodb.us-gov-west-1.amazonaws.com/"
    )


def test_a_china_region_signs_for_its_own_host_and_scope() -> None:
    client = JsonClient(
        service="dynamodb",
        target_prefix="DynamoDB_20120810",
        json_version="1.0",
        region="cn-north-1",
        endpoint=endpoints.region_endpoint("dynamodb", "cn-north-1"),
        credentials=StaticCredentials(Credentials("AKIDEXAMPLE", "secret")),
    )
    headers = client.signed_headers("BatchGetItem", b"{}")
    assert headers["Host"] == "dynamodb.cn-north-1.amazonaws.com.cn"
    assert "/cn-north-1/dynamodb/aws4_request," in headers["Authorization"]


ENDPOINT_MIXES: list[dict[str, str]] = [
    {},
    {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"},
    {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"},
    {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"},
    {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_SSM": "https://ssm.example.test/a/b"},
    {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
    {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false"},
]


@pytest.mark.parametrize("mix", ENDPOINT_MIXES, ids=[",".join(m) or "none" for m in ENDPOINT_MIXES])
def test_endpoint_variables_resolve_as_botocore_resolves_them(
    mix: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in mix.items():
        monkeypatch.setenv(name, value)
    settings = common(AWS_REGION="eu-west-1", **mix)
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1")
    for service, ours in (("dynamodb", settings.dynamodb_endpoint), ("ssm", settings.ssm_endpoint)):
        resolved = ours or endpoints.region_endpoint(service, "eu-west-1")
        expected = session.client(service).meta.endpoint_url  # type: ignore[call-overload]
        assert resolved.rstrip("/") == expected.rstrip("/"), service


def test_our_own_dynamodb_endpoint_comes_first() -> None:
    settings = common(
        AUTH_DYNAMODB_ENDPOINT="http://localhost:8000",
        AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:1",
        AWS_ENDPOINT_URL="http://127.0.0.1:2",
        AWS_IGNORE_CONFIGURED_ENDPOINT_URLS="true",
    )
    assert settings.dynamodb_endpoint == "http://localhost:8000"


# --------------------------------------------------------------------------- validated at cold start


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (
            {"AWS_ENDPOINT_URL_DYNAMODB": "dynamodb.local:8000"},
            "AWS_ENDPOINT_URL_DYNAMODB must be an http(s)://",
        ),
        ({"AWS_ENDPOINT_URL": "ftp://x.example"}, "AWS_ENDPOINT_URL must be an http(s)://"),
        ({"AWS_ENDPOINT_URL_SSM": "https://ssm.example:99999"}, "AWS_ENDPOINT_URL_SSM must be an http(s)://"),
        ({"AWS_ENDPOINT_URL_SSM": "https://user:pw@ssm.example"}, "no user, query or fragment"),
        ({"AUTH_DYNAMODB_ENDPOINT": "http://x.example/?a=1"}, "no user, query or fragment"),
        ({"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "maybe"}, "must be true or false"),
        ({"AWS_REGION": "evil.example/#"}, "AWS_REGION must be a region name"),
        ({"AWS_CA_BUNDLE": "/no/such/file.pem"}, "AWS_CA_BUNDLE: cannot read"),
    ],
)
def test_bad_endpoint_settings_fail_at_cold_start(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        common(**env)
    assert problem in str(info.value)


def test_a_ca_bundle_that_holds_no_certificate_fails_at_cold_start(tmp_path: Path) -> None:
    (tmp_path / "empty.pem").write_text("nothing here\n")
    with pytest.raises(ConfigurationError, match="holds no PEM certificate"):
        common(AWS_CA_BUNDLE=str(tmp_path / "empty.pem"))


# --------------------------------------------------------------------------- each variable changes a request


NOTHING_REVOKED = json.dumps({"Responses": {DENYLIST: []}, "UnprocessedKeys": {}}).encode()


def dynamodb_or_ssm(jwks: dict[str, Any] | None = None) -> Callable[[int, Request], Reply]:
    def script(index: int, request: Request) -> Reply:
        if request.header("X-Amz-Target") == "AmazonSSM.GetParameter":
            body = json.dumps({"Parameter": {"Value": json.dumps(jwks), "Type": "String"}}).encode()
        else:
            body = NOTHING_REVOKED
        return Reply(answer(body, headers=(f"x-amz-crc32: {zlib.crc32(body)}",)))

    return script


def read_denylist(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Build the authorizer from `env` as the Lambda does (its process environment too), then
    make its one DynamoDB call."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    authorizer = build_authorizer(AuthorizerConfig.from_env(env))
    client: Any = authorizer.revocations.client
    result: dict[str, Any] = client.batch_get_item(
        RequestItems={DENYLIST: {"Keys": [{"pk": {"S": "jti#x"}}]}}
    )
    return result


def targets(server: ScriptedServer) -> list[str | None]:
    return [request.header("X-Amz-Target") for request in server.requests]


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"])
def test_an_sdk_endpoint_variable_sends_the_denylist_read_there(
    variable: str, ring: KeyRing, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(dynamodb_or_ssm())
    assert read_denylist(base_env(ring, **{variable: server.url}), monkeypatch) == json.loads(NOTHING_REVOKED)
    assert targets(server) == ["DynamoDB_20120810.BatchGetItem"]


def test_ignoring_configured_endpoints_sends_the_read_to_the_regions_own(
    ring: KeyRing, serve: Serve, monkeypatch: pytest.MonkeyPatch, dynamodb: Any
) -> None:
    # The region's own endpoint is moto's in these tests (tests/conftest.py).
    server = serve(dynamodb_or_ssm())
    env = base_env(ring, AWS_ENDPOINT_URL=server.url, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS="true")
    assert read_denylist(env, monkeypatch)["Responses"] == {DENYLIST: []}
    assert server.requests == []


def test_our_endpoint_setting_wins_over_the_sdk_ones_in_a_real_request(
    ring: KeyRing, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = serve(dynamodb_or_ssm()), serve(dynamodb_or_ssm())
    env = base_env(ring, AUTH_DYNAMODB_ENDPOINT=ours.url, AWS_ENDPOINT_URL_DYNAMODB=theirs.url)
    read_denylist(env, monkeypatch)
    assert (len(ours.requests), len(theirs.requests)) == (1, 0)


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL"])
def test_an_sdk_endpoint_variable_sends_the_ssm_jwks_read_there(
    variable: str, ring: KeyRing, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssm = serve(dynamodb_or_ssm(ring.jwks()))
    env = base_env(ring, AUTH_JWKS="<unset>", AUTH_JWKS_SSM_PARAMETER="/auth/jwks", **{variable: ssm.url})
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AUTH_JWKS", raising=False)
    build_authorizer(AuthorizerConfig.from_env(env))  # reads its keys from SSM at cold start
    assert targets(ssm)[0] == "AmazonSSM.GetParameter"
    assert json.loads(ssm.requests[0].body) == {"Name": "/auth/jwks"}


def test_the_ssm_endpoint_variable_leaves_dynamodb_where_it_was(ring: KeyRing) -> None:
    settings = AuthorizerConfig.from_env(base_env(ring, AWS_ENDPOINT_URL_SSM="http://127.0.0.1:9")).common
    assert (settings.ssm_endpoint, settings.dynamodb_endpoint) == ("http://127.0.0.1:9", None)


def test_aws_ca_bundle_is_what_an_https_endpoint_is_trusted_by(
    ring: KeyRing, serve: Serve, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = LocalCA(tmp_path)
    server = serve(dynamodb_or_ssm(), ca.server_context())
    env = base_env(ring, AWS_ENDPOINT_URL_DYNAMODB=server.url)
    with pytest.raises(AwsRequestError, match="SSLCertVerificationError"):
        read_denylist(env, monkeypatch)  # the system's CAs did not sign the local server's certificate
    assert server.requests == []
    env["AWS_CA_BUNDLE"] = str(ca.ca_file)
    assert read_denylist(env, monkeypatch) == json.loads(NOTHING_REVOKED)
    assert targets(server) == ["DynamoDB_20120810.BatchGetItem"]


def test_the_tls_context_is_built_in_the_init_phase_for_an_https_endpoint(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = LocalCA(tmp_path)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca.ca_file))
    tls._context.cache_clear()
    env = base_env(ring, AUTH_DYNAMODB_ENDPOINT="http://127.0.0.1:9", AWS_CA_BUNDLE=str(ca.ca_file))
    build_authorizer(AuthorizerConfig.from_env(env))
    assert tls._context.cache_info().currsize == 0  # plain http: a local run may never need TLS
    env["AUTH_DYNAMODB_ENDPOINT"] = "https://127.0.0.1:9"
    build_authorizer(AuthorizerConfig.from_env(env))
    assert tls._context.cache_info().currsize == 1  # built at init; no request was sent


def test_a_ca_bundle_openssl_cannot_load_fails_the_cold_start(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    env = base_env(ring, AWS_CA_BUNDLE=str(broken), AUTH_DYNAMODB_ENDPOINT="https://127.0.0.1:9")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(broken))
    with pytest.raises(ConfigurationError, match="AWS_CA_BUNDLE: cannot be loaded"):
        build_authorizer(AuthorizerConfig.from_env(env))
