"""Fixtures of the security suite: attackers' keys, and the real server of tests/e2e (one per session)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from auth_service.keys import KeyRing
from tests.e2e.conftest import Service, service  # noqa: F401 - the `serve` subprocess fixture, reused
from tests.security.forging import attacker_rings, k1_key

__all__ = ["Attackers", "Service"]


@dataclass(frozen=True)
class Attackers:
    rings: dict[str, KeyRing]  # one key of each type we support, none of them trusted
    k1: Any  # a secp256k1 key, for ES256K


@pytest.fixture(scope="session")
def attackers() -> Attackers:
    return Attackers(rings=attacker_rings(), k1=k1_key())
