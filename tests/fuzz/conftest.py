"""The deployed world the fuzz tests share, once per module, and their Hypothesis settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz.world import World, deployed

# Modest by default (the whole fuzz suite: about 85 s on a 2-core machine, 65 s of it before the
# contract properties); FUZZ_EXAMPLES raises it.
# scripts/fuzz_long.py runs the same properties with as many examples as asked.
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,  # nothing written into the checkout; failures are reported with their input
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)
FUZZ = settings.get_profile("fuzz")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with deployed() as deployed_world:
        yield deployed_world
