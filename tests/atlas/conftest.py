"""Fixtures of the Atlas SDK tests: every test runs against both clients, on a scripted
server or on the emulator (``atlas_clients``, in ``tests/conftest.py``)."""

from __future__ import annotations

from typing import AsyncIterator

import pytest
from atlas_client_support import AtlasHarness

ATLAS_ENV = (
    "FLUIDSTACK_CLIENT_ID",
    "FLUIDSTACK_CLIENT_SECRET",
    "FLUIDSTACK_TOKEN",
    "FLUIDSTACK_REGION",
    "FLUIDSTACK_PROJECT_ID",
    "FLUIDSTACK_ATLAS_URL",
    "FLUIDSTACK_TOKEN_URL",
    "FLUIDSTACK_REGION_URL",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own Atlas settings must not leak into the tests."""
    for name in ATLAS_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["sync", "async"])
async def atlas_harness(request: pytest.FixtureRequest) -> AsyncIterator[AtlasHarness]:
    """A factory of sync (then async) Atlas clients on a scripted server, fake clock."""
    made = AtlasHarness(request.param)
    yield made
    await made.close()
