"""The DynamoDB that `auth-service serve` talks to: an embedded moto server, or one given.

moto runs in this process on 127.0.0.1 and a free port, so nothing outside the machine is
reachable and several servers can run side by side (e.g. in tests). It answers one request at a
time: moto checks a write's condition and then writes, without a lock, so two conditional writes
racing from two containers could both succeed, where DynamoDB applies one and refuses the other.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import boto3

from auth_service.tables import create_tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts any key; this is no secret
    "AWS_SESSION_TOKEN": "testing",
}


def use_dummy_credentials_if_unset(environ: MutableMapping[str, str] | None = None) -> bool:
    """Give boto3 throwaway credentials unless the environment already names some.

    A local endpoint accepts any signature, and without credentials boto3 would fail before
    sending anything (or probe the EC2 metadata service for them). Returns whether it set them.
    """
    env = os.environ if environ is None else environ
    env.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    if env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_PROFILE"):
        return False
    env.update(_DUMMY_CREDENTIALS)
    return True


class OneRequestAtATime:
    """WSGI middleware: the wrapped application handles one request at a time."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))  # the whole answer, inside the lock


class EmbeddedDynamoDB:
    """A moto server for DynamoDB on 127.0.0.1; start() returns its endpoint URL."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._server: Any = None  # a werkzeug server, imported lazily with moto
        self._thread: threading.Thread | None = None
        self.endpoint_url: str | None = None

    def start(self) -> str:
        # Imported here: moto is only in the `local` extra and is slow to import.
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        # werkzeug would otherwise log every DynamoDB call to stderr at INFO.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        _forget_moto_dynamodb_data()
        # What moto's ThreadedMotoServer builds, with requests answered one at a time.
        app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
        server = make_server(self._host, 0, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        self._server = server
        host, port = str(server.server_address[0]), int(server.server_address[1])
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    def stop(self) -> None:
        """Stop the server; safe to call when it never started or already stopped."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _forget_moto_dynamodb_data() -> None:
    # moto keeps data in process-wide backends, so a second embedded server in one process (as in
    # tests) would start with the first one's tables and users. Each start begins empty instead.
    from moto.backends import get_backend

    for service in ("dynamodb", "ssm", "kms"):  # the tables; `serve --signing-key kms`'s key set
        for regions in get_backend(service).values():
            for backend in regions.values():
                backend.reset()


def dynamodb_client(endpoint_url: str, region: str) -> DynamoDBClient:
    return boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=region)


def prepare_tables(client: DynamoDBClient, *, denylist: str, users: str, clients: str | None = None) -> None:
    """Create the denylist, users and clients tables unless they already exist."""
    create_tables(client, denylist=denylist, users=users, clients=clients)
