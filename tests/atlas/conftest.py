"""Fixtures of the Atlas SDK tests: every test runs against both clients."""

from __future__ import annotations

from typing import AsyncIterator

import pytest
from atlas_client_support import AtlasHarness


@pytest.fixture(params=["sync", "async"])
async def atlas_harness(request: pytest.FixtureRequest) -> AsyncIterator[AtlasHarness]:
    """A factory of sync (then async) Atlas clients on a scripted server, fake clock."""
    made = AtlasHarness(request.param)
    yield made
    await made.close()
