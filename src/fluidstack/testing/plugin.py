"""pytest plugin: a FluidStack emulator per test session, and SDK clients bound to it.

Registered as the ``fluidstack`` ``pytest11`` entry point, so installing the package makes
the fixtures available everywhere:

- ``fluidstack_emulator`` (session): one emulator on a free loopback port, manual clock,
  fixed seed, failure rate 0, serving the platform API and Atlas (the development client,
  the two default regions). Yields an :class:`EmulatorHandle` (``handle.atlas`` for Atlas).
- ``emulator`` (function): the same handle, after resetting state (platform and Atlas),
  faults and journal.
- ``snapshot_emulator`` (function): the same handle, holding the state of the
  session-scoped ``fluidstack_snapshot`` (override it to build a world once; by default
  ``None``, a reset), restored before each test.
- ``fluidstack_client`` / ``async_fluidstack_client`` (function): SDK clients pointed at
  the emulator, closed after the test. Their waits cost no real time: when the client
  would sleep (between polls of ``instances.wait``, before a retry) the emulator's
  simulated clock moves forward by as much instead, so ``create_and_wait`` finishes at
  once and deterministically.
- ``atlas`` / ``async_atlas`` (function): ``fluidstack.atlas.Atlas`` and ``AsyncAtlas``
  with the emulator's development client, in its first region, on a fresh project of
  their own, waiting in simulated time as above.

Everything heavy is imported inside the fixtures so that loading the plugin costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Dict, Iterator, Optional

import pytest

from fluidstack.testing.handle import EmulatorHandle

if TYPE_CHECKING:
    from fluidstack.atlas import AsyncAtlas, Atlas
    from fluidstack.platform.client import AsyncFluidStack, FluidStack

__all__ = [
    "async_atlas",
    "async_fluidstack_client",
    "atlas",
    "emulator",
    "fluidstack_client",
    "fluidstack_emulator",
    "fluidstack_snapshot",
    "fluidstack_ssh_emulator",
    "snapshot_emulator",
    "ssh_emulator",
]

SESSION_SEED = 1234
"""Seed of the session emulator: ids, names and addresses repeat from run to run."""


def _session_emulator(**extra: Any) -> Iterator[EmulatorHandle]:
    """Serve an emulator on a free loopback port (manual clock, the session seed, no
    random failures, plus ``extra`` settings) until the session ends."""
    from fluidstack.emulator.server import EmulatorServer
    from fluidstack.emulator.settings import EmulatorSettings

    settings = EmulatorSettings(
        port=0,
        manual_clock=True,
        seed=SESSION_SEED,
        failure_rate=0.0,
        log_level="warning",
        **extra,
    )
    server = EmulatorServer(settings)
    server.start()
    client_id, client_secret = settings.effective_atlas_clients[0]
    handle = EmulatorHandle(
        server.base_url,
        server.api_key,
        client_id,
        client_secret,
        control_token=server.control_token,
    )
    try:
        yield handle
    finally:
        handle.close()
        server.stop()


@pytest.fixture(scope="session")
def fluidstack_emulator() -> Iterator[EmulatorHandle]:
    """A FluidStack emulator for the whole test session (manual clock, seed, no failures)."""
    try:
        from fluidstack.emulator.app import create_app  # noqa: F401 - checks the extra
    except ImportError as exc:
        from fluidstack._extras import missing_extra

        command = missing_extra(exc)
        if command is None:
            raise
        pytest.fail(
            f"the fluidstack_emulator fixture needs the emulator extra ({exc.name} is "
            f"missing): {command}",
            pytrace=False,
        )

    yield from _session_emulator()


@pytest.fixture(scope="session")
def fluidstack_ssh_emulator() -> Iterator[EmulatorHandle]:
    """A second session emulator, started with ``--ssh``: running instances of both
    APIs answer SSH on loopback (Atlas on ``handle.ssh_port``). Otherwise like
    ``fluidstack_emulator``. Skips the tests that use it when the ``[ssh]`` extra is
    missing (it says what to install)."""
    try:
        from fluidstack.emulator.app import create_app  # noqa: F401
        from fluidstack.emulator.ssh.quiet import asyncssh  # noqa: F401 - checks the extra
    except ImportError as exc:
        pytest.skip(f"needs the ssh extra ({exc.name} is missing): pip install 'fluidstack[ssh]'")

    yield from _session_emulator(ssh=True, ssh_port=0)


@pytest.fixture
def ssh_emulator(fluidstack_ssh_emulator: EmulatorHandle) -> EmulatorHandle:
    """The ``--ssh`` session emulator with a clean slate (state, faults, journal and
    every instance's directory)."""
    fluidstack_ssh_emulator.reset()
    return fluidstack_ssh_emulator


@pytest.fixture
def emulator(fluidstack_emulator: EmulatorHandle) -> EmulatorHandle:
    """The session emulator with a clean slate: state, faults and journal reset."""
    fluidstack_emulator.reset()
    return fluidstack_emulator


@pytest.fixture(scope="session")
def fluidstack_snapshot(fluidstack_emulator: EmulatorHandle) -> Optional[Dict[str, Any]]:
    """The state ``snapshot_emulator`` restores before each test. Override it in your
    ``conftest.py`` to build a world once per session (through the API, as your tests
    would) and return ``fluidstack_emulator.snapshot()``; by default ``None``: a reset."""
    return None


@pytest.fixture
def snapshot_emulator(
    fluidstack_emulator: EmulatorHandle, fluidstack_snapshot: Optional[Dict[str, Any]]
) -> EmulatorHandle:
    """The session emulator holding ``fluidstack_snapshot``'s state (faults and journal
    cleared): each test starts from the same world, restored in a fraction of what
    building it through the API costs."""
    if fluidstack_snapshot is None:
        fluidstack_emulator.reset()
    else:
        fluidstack_emulator.restore(fluidstack_snapshot)
    return fluidstack_emulator


@pytest.fixture
def fluidstack_client(emulator: EmulatorHandle) -> Iterator[FluidStack]:
    """``fluidstack.client.FluidStack`` bound to the (freshly reset) emulator."""
    from fluidstack.platform.client import FluidStack

    client = FluidStack(api_key=emulator.api_key, base_url=emulator.base_url)
    client._pipeline.sleep = simulated_sleep(emulator)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
async def async_fluidstack_client(emulator: EmulatorHandle) -> AsyncIterator[AsyncFluidStack]:
    """``fluidstack.client.AsyncFluidStack`` bound to the (freshly reset) emulator.

    Needs an async test runner; the project uses anyio's plugin (``@pytest.mark.anyio``),
    whose ``anyio_backend`` fixture defaults to asyncio.
    """
    from fluidstack.platform.client import AsyncFluidStack

    client = AsyncFluidStack(api_key=emulator.api_key, base_url=emulator.base_url)
    sleep = simulated_sleep(emulator)

    async def async_sleep(seconds: float) -> None:
        sleep(seconds)

    client._pipeline.sleep = async_sleep
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def atlas(emulator: EmulatorHandle) -> Iterator[Atlas]:
    """``fluidstack.atlas.Atlas`` bound to the (freshly reset) emulator: the development
    client, the first region, and a new project named ``test`` as ``project_id``."""
    from fluidstack.atlas import Atlas

    client = Atlas(**_atlas_settings(emulator))
    client._pipeline.sleep = simulated_sleep(emulator)
    try:
        project = client.projects.create(name="test")
        yield client.with_options(project_id=project.id)
    finally:
        client.close()


@pytest.fixture
async def async_atlas(emulator: EmulatorHandle) -> AsyncIterator[AsyncAtlas]:
    """``fluidstack.atlas.AsyncAtlas`` like the ``atlas`` fixture (needs an async test
    runner, as ``async_fluidstack_client`` does)."""
    from fluidstack.atlas import AsyncAtlas

    client = AsyncAtlas(**_atlas_settings(emulator))
    sleep = simulated_sleep(emulator)

    async def async_sleep(seconds: float) -> None:
        sleep(seconds)

    client._pipeline.sleep = async_sleep
    try:
        project = await client.projects.create(name="test")
        yield client.with_options(project_id=project.id)
    finally:
        await client.aclose()


def _atlas_settings(emulator: EmulatorHandle) -> Dict[str, Any]:
    """The development client's credentials and URLs, and the first region."""
    control = emulator.atlas
    return {
        "client_id": control.client_id,
        "client_secret": control.client_secret,
        "management_url": control.management_url,
        "token_url": control.token_url,
        "region": control.regions()[0],
    }


def simulated_sleep(emulator: EmulatorHandle) -> Callable[[float], None]:
    """A ``sleep`` that moves the emulator's simulated clock instead of waiting."""

    def sleep(seconds: float) -> None:
        emulator.advance(seconds)

    return sleep
