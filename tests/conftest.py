"""Shared fixtures: every SDK test runs against both clients."""

from __future__ import annotations

import subprocess
from typing import AsyncIterator, Iterator, List

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


@pytest.fixture
def processes() -> Iterator[List[subprocess.Popen[str]]]:
    """Subprocesses a test starts (emulators, the CLI): append them, and whatever is still
    running at the end is killed and reaped."""
    started: List[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
