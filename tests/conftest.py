"""Shared fixtures: AWS is never called for real; keys are generated at run time.

The authorizer reads DynamoDB over plain HTTP (authorizer.aws.client), which `mock_aws` does not
intercept (it patches botocore). Its requests for the public endpoint go instead to a moto server
running in this process, which shares moto's data with `mock_aws`: tables a test creates with
boto3 inside `mock_aws()` are the ones the authorizer reads, signed request and all.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.server import ThreadedMotoServer

import authorizer.aws.dynamodb
from auth_service.keys import KeyRing, generate_private_key_pem, load_key_ring
from auth_service.tables import create_tables

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
DENYLIST = "test-denylist"
USERS = "test-users"


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    # Dummy credentials so an accidental real call fails to authenticate instead of succeeding.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _moto_dynamodb_writes_are_atomic() -> Iterator[None]:
    """DynamoDB applies each write, its condition included, atomically; moto checks a condition
    and then writes without a lock, so two concurrent conditional puts of one item can both
    succeed. The tests that race refreshes need DynamoDB's behaviour, not moto's: each write
    runs under one lock (auth_service.local.dynamodb does the same for `serve`)."""
    lock = threading.RLock()

    def atomic(write: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(write)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return write(*args, **kwargs)

        return locked

    writes = ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items")
    with pytest.MonkeyPatch.context() as patch:
        for name in writes:
            patch.setattr(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name)))
        yield


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on 127.0.0.1, sharing this process's moto data with `mock_aws`."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}/"
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def _authorizer_dynamodb_on_moto(moto_endpoint: str) -> Iterator[None]:
    # Session-wide, so that module-scoped authorizers are built pointing at it too.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(authorizer.aws.dynamodb, "endpoint_for", lambda region: moto_endpoint)
        yield


@pytest.fixture(scope="session")
def rsa_pem() -> str:
    return generate_private_key_pem("RS256")


@pytest.fixture(scope="session", params=["RS256", "ES256", "EdDSA"])
def any_alg_pem(request: pytest.FixtureRequest) -> str:
    return generate_private_key_pem(request.param)


@pytest.fixture(scope="session")
def ring(rsa_pem: str) -> KeyRing:
    return load_key_ring(rsa_pem)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """A moto DynamoDB client with the denylist and users tables created."""
    with mock_aws():
        import boto3

        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, denylist=DENYLIST, users=USERS)
        yield client


@pytest.fixture
def service_env(monkeypatch: pytest.MonkeyPatch, rsa_pem: str) -> dict[str, str]:
    """Environment of a deployed issuing function (signing key inline)."""
    env = {
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_DENYLIST_TABLE": DENYLIST,
        "AUTH_USERS_TABLE": USERS,
        "AUTH_SIGNING_KEY": rsa_pem,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def _catalogue_left_out(config: pytest.Config) -> bool:
    """The attack catalogue (tests/security) runs when asked for: `-m` naming it (any `-m` is the
    caller's choice), or its path among the arguments. A bare `pytest` leaves it out."""
    if config.getoption("markexpr"):
        return False
    security = config.rootpath / "tests" / "security"
    asked = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    return not any(path.is_relative_to(security) for path in asked) and any(
        security.is_relative_to(path) for path in asked
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _catalogue_left_out(config):
        return
    left_out = [item for item in items if item.get_closest_marker("security") is not None]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item.get_closest_marker("security") is None]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say what the default test command left out, and how to run it (pytest-xdist's workers
    collect, so the count is not known here; the catalogue's own summary counts it)."""
    if _catalogue_left_out(config):
        terminalreporter.write_line(
            "left out: the attack catalogue (tests/security, about 9,000 cases, about a minute); "
            "`python -m pytest -m security` runs it (CI runs both)"
        )
