"""Fixtures of the Ray provider's tests: providers on the session emulator, in simulated time.

The provider builds its own SDK clients (as it does under Ray). Here every client it
builds waits in simulated time, like the plugin's client fixtures: where the SDK would
sleep (between the polls of a launch or a deletion), the emulator's clock moves instead.
Nothing here imports Ray: the test modules skip themselves where it is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest
from ray_support import PUBLIC_KEY, Make, atlas_provider_config, platform_provider_config

from fluidstack.atlas import Atlas
from fluidstack.client import FluidStack
from fluidstack.testing.handle import EmulatorHandle
from fluidstack.testing.plugin import simulated_sleep


@pytest.fixture
def simulated_time(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients the provider builds wait in the emulator's simulated time."""
    atlas_backend = pytest.importorskip("fluidstack.integrations.ray._atlas_backend")
    platform_backend = pytest.importorskip("fluidstack.integrations.ray._platform_backend")
    make_atlas = atlas_backend.make_atlas_client
    make_platform = platform_backend.make_platform_client
    sleep = simulated_sleep(emulator)

    def atlas_client(settings: Any) -> Atlas:
        client: Atlas = make_atlas(settings)
        client._pipeline.sleep = sleep
        return client

    def platform_client(settings: Any) -> FluidStack:
        client: FluidStack = make_platform(settings)
        client._pipeline.sleep = sleep
        return client

    # Patched where the backends call them (the modules of each backend).
    monkeypatch.setattr(atlas_backend, "make_atlas_client", atlas_client)
    monkeypatch.setattr(platform_backend, "make_platform_client", platform_client)


@pytest.fixture
def platform_key(fluidstack_client: FluidStack) -> str:
    """The SSH key ``ray`` in the emulator's development account."""
    fluidstack_client.ssh_keys.create(name="ray", public_key=PUBLIC_KEY)
    return "ray"


@pytest.fixture(params=["atlas", "platform"])
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def provider_config(
    api: str,
    emulator: EmulatorHandle,
    tmp_path: Path,
    simulated_time: None,
    request: pytest.FixtureRequest,
) -> Callable[..., Any]:
    """``provider_config(**extra)``: a ``provider:`` section for ``api`` on the emulator,
    its state file in the test's directory."""
    if api == "atlas":
        project_id = request.getfixturevalue("atlas").project_id

        def atlas_config(**extra: Any) -> Any:
            return atlas_provider_config(emulator, project_id, tmp_path / "state.json", **extra)

        return atlas_config
    request.getfixturevalue("platform_key")

    def platform_config(**extra: Any) -> Any:
        return platform_provider_config(emulator, tmp_path / "state.json", **extra)

    return platform_config


@pytest.fixture
def providers() -> Iterator[List[Any]]:
    """Providers a test made, whose clients are closed after it."""
    made: List[Any] = []
    yield made
    for provider in made:
        provider.backend.close()


@pytest.fixture
def make(provider_config: Callable[..., Dict[str, Any]], providers: List[Any]) -> Make:
    """``make(**provider_settings)``: a provider of the cluster ``demo``, as Ray builds it
    (its client closed after the test)."""
    from fluidstack.integrations.ray import FluidStackNodeProvider

    def build(cluster: str = "demo", **extra: Any) -> FluidStackNodeProvider:
        provider = FluidStackNodeProvider(provider_config(**extra), cluster)
        providers.append(provider)
        return provider

    return build


@pytest.fixture
def cloud(api: str, emulator: EmulatorHandle, request: pytest.FixtureRequest) -> Any:
    """The emulator's instances, for the API under test (the same project as the provider)."""
    from ray_support import Cloud

    client = request.getfixturevalue("atlas" if api == "atlas" else "fluidstack_client")
    return Cloud(api, client, emulator)
