"""Shared fixtures: every SDK test runs against both clients."""

from __future__ import annotations

import signal
import subprocess
from typing import Any, AsyncIterator, Callable, Iterator, List

import pytest

from fluidstack.testing.handle import EmulatorHandle
from support import EMULATOR_KINDS, AtlasClients, Clients, Harness, emulator_clients

# A suite started in the background of a script (`bash scripts/test.sh &`, `nohup ... &`)
# inherits SIGINT ignored, and so would every child it starts: the tests that press
# Ctrl-C on a `fluidstack` process would see nothing happen. Python's own handler here
# means children start with SIGINT at its default, as under a terminal. (SIGHUP stays as
# inherited: `nohup` must keep protecting the run; the tests that send it reset it in the
# child only.)
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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
