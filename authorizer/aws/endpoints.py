"""Where the AWS calls of the authorizer go, and which CAs their TLS trusts: read once, at cold start.

* The region's own endpoint, by partition: `https://{service}.{region}.{dns suffix}/`, the suffix
  being the partition's (amazonaws.com, amazonaws.com.cn for cn-* regions, c2s.ic.gov for
  us-iso-*...). DynamoDB and SSM use that pattern in every partition (botocore's endpoint data;
  tests/unit/test_authorizer_endpoints.py checks it against botocore's own resolver).
* Overrides, as the AWS SDKs define them: `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SSM`,
  else `AWS_ENDPOINT_URL` for every service; `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` ignores
  them all. Our own `AUTH_DYNAMODB_ENDPOINT` comes first, whatever those say (as an endpoint given
  in code does for the SDKs).
* `AWS_CA_BUNDLE`: a PEM file of the only CAs trusted for https, as the SDKs read it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from authorizer.env import EnvReader

# (region pattern, DNS suffix) of every partition but `aws`, the default (botocore's
# data/partitions.json: regionRegex and dnsSuffix).
_PARTITIONS = (
    (re.compile(r"cn-\w+-\d+"), "amazonaws.com.cn"),
    (re.compile(r"us-gov-\w+-\d+"), "amazonaws.com"),
    (re.compile(r"us-iso-\w+-\d+"), "c2s.ic.gov"),
    (re.compile(r"us-isob-\w+-\d+"), "sc2s.sgov.gov"),
    (re.compile(r"eu-isoe-\w+-\d+"), "cloud.adc-e.uk"),
    (re.compile(r"us-isof-\w+-\d+"), "csp.hci.ic.gov"),
    (re.compile(r"eusc-de-\w+-\d+"), "amazonaws.eu"),
)
_DEFAULT_SUFFIX = "amazonaws.com"
# A region becomes part of a host name, where a dot, slash or '@' would send the signed request
# elsewhere: lowercase letters, digits and inner hyphens only.
_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

CA_BUNDLE = "AWS_CA_BUNDLE"
IGNORE_CONFIGURED = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
GLOBAL_ENDPOINT = "AWS_ENDPOINT_URL"
# The service identifiers of the SDKs' AWS_ENDPOINT_URL_<SERVICE> variables.
SERVICE_ENDPOINT = {"dynamodb": "AWS_ENDPOINT_URL_DYNAMODB", "ssm": "AWS_ENDPOINT_URL_SSM"}


def dns_suffix(region: str) -> str:
    for pattern, suffix in _PARTITIONS:
        if pattern.fullmatch(region):
            return suffix
    return _DEFAULT_SUFFIX


def region_endpoint(service: str, region: str) -> str:
    """The region's own endpoint of `service` (dynamodb, ssm)."""
    return f"https://{service}.{region}.{dns_suffix(region)}/"


def read_region(env: EnvReader) -> str:
    region = env.text("AWS_REGION") or env.text("AWS_DEFAULT_REGION") or "us-east-1"
    if not _REGION.fullmatch(region):
        env.problems.append(f"AWS_REGION must be a region name such as eu-west-1, got {region!r}")
        return "us-east-1"
    return region


def read_endpoint(env: EnvReader, service: str, own: str | None = None) -> str | None:
    """The endpoint override for `service`, None for the region's own endpoint.

    `own`: our variable for it (AUTH_DYNAMODB_ENDPOINT), which wins over the SDKs' ones.
    """
    names = [own] if own else []
    if not env.boolean(IGNORE_CONFIGURED, False):
        names += [SERVICE_ENDPOINT[service], GLOBAL_ENDPOINT]
    for name in names:
        url = env.text(name)
        if url is not None:
            return url if _valid_endpoint(name, url, env) else None
    return None


def ca_bundle_path(environ: Mapping[str, str]) -> str | None:
    """AWS_CA_BUNDLE as given (config.read_ca_bundle checks it at cold start)."""
    return environ.get(CA_BUNDLE, "").strip() or None


def read_ca_bundle(env: EnvReader) -> str | None:
    path = env.text(CA_BUNDLE)
    if path is None:
        return None
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            pem = file.read()
    except OSError as exc:
        env.problems.append(f"{CA_BUNDLE}: cannot read {path!r}: {exc.strerror}")
        return None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        env.problems.append(f"{CA_BUNDLE}: {path!r} holds no PEM certificate")
        return None
    return path


def _valid_endpoint(name: str, url: str, env: EnvReader) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is no number)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        env.problems.append(f"{name} must be an http(s):// URL with a host, got {url!r}")
    elif parts.username or parts.password or parts.query or parts.fragment:
        env.problems.append(f"{name} must be scheme://host[:port][/path], with no user, query or fragment")
    else:
        return True
    return False
