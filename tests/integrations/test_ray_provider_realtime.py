"""The provider's deadlines and the platform's failed provisions, on an emulator whose
clock runs (120 simulated seconds per real second) and whose platform provisions all fail.

The SDK's deadlines are real time, so a provision that takes too long can only be shown
with a clock that moves by itself: here an Atlas instance runs after 0.5 s, a platform
one after 2.5 s, and the provider gives up after 0.2 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

pytest.importorskip("ray", reason="the [ray] extra (Python 3.10+) is not installed")

from ray.autoscaler.node_launch_exception import NodeLaunchException
from ray_support import (
    PUBLIC_KEY,
    WORKER_CONFIG,
    Cloud,
    atlas_provider_config,
    platform_provider_config,
    worker_tags,
)

from fluidstack.atlas import Atlas
from fluidstack.client import FluidStack
from fluidstack.emulator.server import EmulatorServer
from fluidstack.emulator.settings import EmulatorSettings
from fluidstack.integrations.ray import FluidStackNodeProvider
from fluidstack.testing.handle import EmulatorHandle

FAST = {"poll_interval": 0.05, "terminate_timeout": 30}


@pytest.fixture(scope="module")
def running_clock() -> Iterator[EmulatorHandle]:
    settings = EmulatorSettings(
        port=0, time_scale=120, seed=7, failure_rate=1.0, log_level="warning"
    )
    with EmulatorServer(settings) as server:
        client_id, client_secret = settings.effective_atlas_clients[0]
        handle = EmulatorHandle(server.base_url, server.api_key, client_id, client_secret)
        with FluidStack(api_key=handle.api_key, base_url=handle.base_url) as client:
            client.ssh_keys.create(name="ray", public_key=PUBLIC_KEY)
        try:
            yield handle
        finally:
            handle.close()


@pytest.fixture
def setup(api: str, running_clock: EmulatorHandle, tmp_path: Path) -> Iterator[Dict[str, Any]]:
    """A provider config and a ``Cloud`` for ``api`` on the running-clock emulator."""
    handle = running_clock
    if api == "atlas":
        client: Any = Atlas(
            client_id=handle.atlas.client_id,
            client_secret=handle.atlas.client_secret,
            management_url=handle.atlas.management_url,
            token_url=handle.atlas.token_url,
            region="eu-north-1",
        )
        project = client.projects.create(name=tmp_path.name[:40])
        client = client.with_options(project_id=project.id)
        config = atlas_provider_config(handle, project.id, tmp_path / "state.json", **FAST)
    else:
        client = FluidStack(api_key=handle.api_key, base_url=handle.base_url)
        config = platform_provider_config(handle, tmp_path / "state.json", **FAST)
    made: List[FluidStackNodeProvider] = []
    try:
        yield {"config": config, "cloud": Cloud(api, client, handle), "made": made}
    finally:
        for provider in made:
            provider.backend.close()
        client.close()


def provider_of(setup: Dict[str, Any], **extra: Any) -> FluidStackNodeProvider:
    provider = FluidStackNodeProvider({**setup["config"], **extra}, "demo")
    setup["made"].append(provider)
    return provider


def test_a_provision_that_takes_too_long_is_deleted_and_reported(
    api: str, setup: Dict[str, Any]
) -> None:
    provider = provider_of(setup, provision_timeout=0.2)
    cloud: Cloud = setup["cloud"]
    before = {i.id for i in cloud.existing()}

    with pytest.raises(NodeLaunchException) as raised:
        provider.create_node(WORKER_CONFIG[api], worker_tags(), 1)

    assert raised.value.category == "ProvisionTimeout"
    assert {i.id for i in cloud.existing()} == before  # deleted, and confirmed gone
    assert provider.non_terminated_nodes({}) == []


@pytest.mark.parametrize("api", ["platform"])
def test_platform_failed_provisions_are_deleted_and_retried_in_each_region(
    api: str, setup: Dict[str, Any]
) -> None:
    provider = provider_of(setup, regions=["NORWAY", "SWEDEN"])
    cloud: Cloud = setup["cloud"]
    before = {i.id for i in cloud.client.instances.iter(include_failed_instances=True)}

    with pytest.raises(NodeLaunchException) as raised:
        provider.create_node(WORKER_CONFIG[api], worker_tags(), 1)

    assert raised.value.category == "ProvisionFailed"
    assert "went failed" in raised.value.description
    assert cloud.existing() == []
    tried = [
        i
        for i in cloud.client.instances.iter(include_failed_instances=True)
        if i.id not in before and str(i.status) == "terminated"
    ]
    assert sorted(str(i.configuration.region) for i in tried) == ["NORWAY", "SWEDEN"]
