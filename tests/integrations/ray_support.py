"""Helpers of the Ray provider's tests: provider configs on the emulator, simulated time."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List

from fluidstack.testing.handle import EmulatorHandle

if TYPE_CHECKING:  # nothing here imports Ray, which the provider's module needs
    from fluidstack.integrations.ray import FluidStackNodeProvider

Make = Callable[..., "FluidStackNodeProvider"]
"""The ``make`` fixture: ``make(cluster="demo", **provider_settings)`` builds a provider."""

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)
MODULE = "fluidstack.integrations.ray.FluidStackNodeProvider"


def atlas_provider_config(
    emulator: EmulatorHandle, project_id: str, state_file: Path, **extra: Any
) -> Dict[str, Any]:
    """A ``provider:`` section for Atlas on the emulator (the development client)."""
    return {
        "type": "external",
        "module": MODULE,
        "api": "atlas",
        "client_id": emulator.atlas.client_id,
        "client_secret": emulator.atlas.client_secret,
        "management_url": emulator.atlas.management_url,
        "token_url": emulator.atlas.token_url,
        "region": "eu-north-1",
        "project_id": project_id,
        "state_file": str(state_file),
        **extra,
    }


def platform_provider_config(
    emulator: EmulatorHandle, state_file: Path, **extra: Any
) -> Dict[str, Any]:
    """A ``provider:`` section for the platform API on the emulator (the development key)."""
    return {
        "type": "external",
        "module": MODULE,
        "api": "platform",
        "api_key": emulator.api_key,
        "base_url": emulator.base_url,
        "ssh_key": "ray",
        "state_file": str(state_file),
        **extra,
    }


def atlas_instances(emulator: EmulatorHandle, project_id: str) -> List[Dict[str, Any]]:
    """Every instance of the project in every region that is not gone, as the
    management API lists it (read with a token of the development client)."""
    import httpx

    token = emulator.atlas.token()
    response = httpx.get(
        emulator.atlas.management_url + "/api/v1alpha1/instances",
        headers={"Authorization": f"Bearer {token}", "X-PROJECT-ID": project_id},
        timeout=30,
    )
    response.raise_for_status()
    listed: List[Dict[str, Any]] = response.json()
    return listed


WORKER_CONFIG = {
    "atlas": {"type": "cpu.2x"},
    "platform": {"gpu_type": "RTX_A4000_16GB"},
}
HEAD_CONFIG = {
    "atlas": {"type": "cpu.8x"},
    "platform": {"gpu_type": "RTX_A4000_16GB", "gpu_count": 2},
}
LAUNCH_HASH = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"


def worker_tags(node_type: str = "cpu_worker") -> Dict[str, str]:
    """The tags Ray's NodeLauncher gives a new worker."""
    return {
        "ray-node-name": "ray-demo-worker",
        "ray-node-type": "worker",
        "ray-node-status": "uninitialized",
        "ray-launch-config": LAUNCH_HASH,
        "ray-user-node-type": node_type,
    }


def head_tags() -> Dict[str, str]:
    """The tags ``ray up`` gives a new head node."""
    return {
        "ray-node-name": "ray-demo-head",
        "ray-node-type": "head",
        "ray-node-status": "uninitialized",
        "ray-launch-config": LAUNCH_HASH,
        "ray-user-node-type": "head",
    }


class Cloud:
    """What the emulator holds, read past the provider with the SDK."""

    def __init__(self, api: str, client: Any, emulator: EmulatorHandle) -> None:
        self.api = api
        self.client = client
        self.emulator = emulator

    def existing(self) -> List[Any]:
        """Instances that are not gone: Atlas, every listed one (``deleting`` included);
        the platform, every one not ``terminated`` (``failed`` included)."""
        if self.api == "atlas":
            return list(self.client.instances.list(all_regions=True))
        return [
            i
            for i in self.client.instances.iter(include_failed_instances=True)
            if str(i.status) != "terminated"
        ]

    def running(self) -> List[Any]:
        return [
            i for i in self.existing() if str(getattr(i, "state", None) or i.status) == "running"
        ]

    def get(self, instance_id: str) -> Any:
        if self.api == "atlas":
            return self.client.instances.get(instance_id, all_regions=True)
        return self.client.instances.get(instance_id)


def ids_of(instances: List[Any]) -> List[str]:
    """The ids of SDK instances, sorted: to compare with what the provider reports."""
    return sorted(i.id for i in instances)
