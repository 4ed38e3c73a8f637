"""Shared fixtures: every SDK test runs against both clients."""

from __future__ import annotations

from typing import AsyncIterator

import pytest

from fluidstack.testing.handle import EmulatorHandle
from support import EMULATOR_KINDS, Clients, Harness


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sync", "async"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """A factory of sync (then async) clients on a mock transport with a fake clock."""
    made = Harness(request.param)
    yield made
    await made.close()


@pytest.fixture(params=EMULATOR_KINDS)
async def clients(
    request: pytest.FixtureRequest, emulator: EmulatorHandle
) -> AsyncIterator[Clients]:
    """Sync, async (and async on aiohttp) clients of the emulator whose back-off costs
    no real time."""
    made = Clients(request.param, emulator)
    yield made
    await made.close()
