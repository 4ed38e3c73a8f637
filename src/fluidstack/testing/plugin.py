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

With ``--fluidstack-target=live`` the client fixtures are built from your credentials
against the real service instead, everything a test creates is named with the run's
prefix and deleted at the end of the session (even after failures and Ctrl-C), a spend
guard is on, and the fixtures that need the emulator's control API skip: see
:mod:`fluidstack.testing.live`. Tests marked ``live`` run only then.

Everything heavy is imported inside the fixtures so that loading the plugin costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Dict, Iterator, List, Optional

import pytest

from fluidstack.testing import live
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
    "fluidstack_live",
    "fluidstack_snapshot",
    "fluidstack_ssh_emulator",
    "snapshot_emulator",
    "ssh_emulator",
]

SESSION_SEED = 1234
"""Seed of the session emulator: ids, names and addresses repeat from run to run."""

_LIVE_RUN = pytest.StashKey[live.LiveRun]()


# -- --fluidstack-target=live (see testing/live.py) ----------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    live.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    live.register_marker(config)
    if live.target(config) == "live" and _LIVE_RUN not in config.stash:
        run = live.LiveRun(live.live_settings(config))
        run.start()
        config.stash[_LIVE_RUN] = run


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    if live.target(config) == "live":
        return
    skip = pytest.mark.skip(reason="a live test: run with --fluidstack-target=live")
    for item in items:
        if item.get_closest_marker("live") is not None:
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash.get(_LIVE_RUN, None)
    if run is not None:
        run.finish()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = config.stash.get(_LIVE_RUN, None)
    if run is not None:
        live.write_summary(run, terminalreporter.write_line)


def _live_run(request: pytest.FixtureRequest) -> Optional[live.LiveRun]:
    return request.config.stash.get(_LIVE_RUN, None)


def _skip_if_live(request: pytest.FixtureRequest) -> None:
    if _live_run(request) is not None:
        pytest.skip(live.CONTROL_ONLY)


@pytest.fixture(scope="session")
def fluidstack_live(request: pytest.FixtureRequest) -> live.LiveRun:
    """The live session (its ``prefix``, its settings); skips on the emulator."""
    run = _live_run(request)
    if run is None:
        pytest.skip("needs --fluidstack-target=live")
    return run


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
def fluidstack_emulator(request: pytest.FixtureRequest) -> Iterator[EmulatorHandle]:
    """A FluidStack emulator for the whole test session (manual clock, seed, no failures)."""
    _skip_if_live(request)
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
def fluidstack_ssh_emulator(request: pytest.FixtureRequest) -> Iterator[EmulatorHandle]:
    """A second session emulator, started with ``--ssh``: running instances of both
    APIs answer SSH on loopback (Atlas on ``handle.ssh_port``). Otherwise like
    ``fluidstack_emulator``. Skips the tests that use it when the ``[ssh]`` extra is
    missing (it says what to install)."""
    _skip_if_live(request)
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
def fluidstack_client(request: pytest.FixtureRequest) -> Iterator[FluidStack]:
    """``fluidstack.client.FluidStack`` bound to the (freshly reset) emulator (live:
    to the service, with your API key and the spend guard)."""
    from fluidstack.platform.client import FluidStack

    run = _live_run(request)
    if run is not None:
        with run.platform_client() as live_client:
            yield live_client
        return
    emulator: EmulatorHandle = request.getfixturevalue("emulator")
    client = FluidStack(api_key=emulator.api_key, base_url=emulator.base_url)
    client._pipeline.sleep = simulated_sleep(emulator)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
async def async_fluidstack_client(
    request: pytest.FixtureRequest,
) -> AsyncIterator[AsyncFluidStack]:
    """``fluidstack.client.AsyncFluidStack`` bound to the (freshly reset) emulator.

    Needs an async test runner; the project uses anyio's plugin (``@pytest.mark.anyio``),
    whose ``anyio_backend`` fixture defaults to asyncio.
    """
    from fluidstack.platform.client import AsyncFluidStack

    run = _live_run(request)
    if run is not None:
        with run.platform_client():  # checks the credentials (skips without)
            pass
        async with AsyncFluidStack(
            api_key=run.settings.api_key,
            base_url=run.settings.base_url,
            max_hourly_spend=run.settings.max_hourly_spend,
        ) as live_client:
            yield live_client
        return
    emulator: EmulatorHandle = request.getfixturevalue("emulator")
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
def atlas(request: pytest.FixtureRequest) -> Iterator[Atlas]:
    """``fluidstack.atlas.Atlas`` bound to the (freshly reset) emulator: the development
    client, the first region, and a new project named ``test`` as ``project_id`` (live:
    your client and region, and a new project named with the run's prefix)."""
    from fluidstack.atlas import Atlas

    run = _live_run(request)
    if run is not None:
        client = run.atlas_client()
    else:
        emulator: EmulatorHandle = request.getfixturevalue("emulator")
        client = Atlas(**_atlas_settings(emulator))
        client._pipeline.sleep = simulated_sleep(emulator)
    try:
        project = client.projects.create(name="test")
        yield client.with_options(project_id=project.id)
    finally:
        client.close()


@pytest.fixture
async def async_atlas(request: pytest.FixtureRequest) -> AsyncIterator[AsyncAtlas]:
    """``fluidstack.atlas.AsyncAtlas`` like the ``atlas`` fixture (needs an async test
    runner, as ``async_fluidstack_client`` does)."""
    from fluidstack.atlas import AsyncAtlas

    run = _live_run(request)
    if run is not None:
        run.atlas_client().close()  # checks the credentials (skips without)
        client = AsyncAtlas(**run.atlas_kwargs())
    else:
        emulator: EmulatorHandle = request.getfixturevalue("emulator")
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
