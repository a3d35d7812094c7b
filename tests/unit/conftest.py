"""Fixtures of the unit tests that talk to scripted servers (tests/unit/scripted_http.py)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest

from tests.unit.scripted_http import Script, ScriptedServer, Serve


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start scripted servers on 127.0.0.1 (TLS with a server context); all stop after the test."""
    started: list[ScriptedServer] = []

    def start(script: Script, tls: ssl.SSLContext | None = None) -> ScriptedServer:
        started.append(ScriptedServer(script, tls))
        return started[-1]

    yield start
    for server in started:
        server.stop()
