"""Shared fixtures: every SDK test runs against both clients."""

from __future__ import annotations

import subprocess
from typing import Any, AsyncIterator, Callable, Iterator, List

import pytest

from fluidstack.testing.handle import EmulatorHandle
from support import EMULATOR_KINDS, AtlasClients, Clients, Harness, emulator_clients

MakeClients = Callable[[str, EmulatorHandle], Any]


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
def client_kind(request: pytest.FixtureRequest) -> str:
    """The kind of client an emulator test runs with: sync, async, and async on aiohttp
    (when the extra is installed). Every test that builds emulator clients runs once per
    kind."""
    return str(request.param)


@pytest.fixture
async def make_clients(client_kind: str) -> AsyncIterator[MakeClients]:
    """``make_clients(api, emulator)``: a factory of clients of ``api`` (``"platform"`` or
    ``"atlas"``) of this test's kind, bound to ``emulator``, whose waits move the
    emulator's simulated clock instead of sleeping; their httpx clients are closed after
    the test. The one place emulator clients are made: ``clients``, ``atlas_clients``
    and the SSH tests' fixtures are each one line on it."""
    made: List[Any] = []

    def make(api: str, emulator: EmulatorHandle) -> Any:
        factory = emulator_clients(api, client_kind, emulator)
        made.append(factory)
        return factory

    yield make
    for factory in made:
        await factory.close()


@pytest.fixture
def clients(make_clients: MakeClients, emulator: EmulatorHandle) -> Clients:
    """Platform clients of the freshly reset emulator."""
    made: Clients = make_clients("platform", emulator)
    return made


@pytest.fixture
def atlas_clients(make_clients: MakeClients, emulator: EmulatorHandle) -> AtlasClients:
    """Atlas clients of the freshly reset emulator."""
    made: AtlasClients = make_clients("atlas", emulator)
    return made


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
