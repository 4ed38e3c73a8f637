"""Atlas quickstart: find capacity, run a GPU machine, give it back, against the bundled
emulator.

Run it with ``bash scripts/quickstart.sh`` (no account, no network). To run the same
code against FluidStack Atlas, set ``FLUIDSTACK_CLIENT_ID`` and
``FLUIDSTACK_CLIENT_SECRET`` and call ``quickstart(Atlas(region=...))``.
"""

from __future__ import annotations

from fluidstack.atlas import Atlas
from fluidstack.emulator import (
    DEV_ATLAS_CLIENT_ID,
    DEV_ATLAS_CLIENT_SECRET,
    EmulatorServer,
    EmulatorSettings,
)


def quickstart(atlas: Atlas) -> None:
    print("regions:", ", ".join(region.name for region in atlas.regions.list()))
    project = atlas.projects.create(name="quickstart")
    atlas = atlas.with_options(project_id=project.id)

    available = {entry.name: entry.capacity for entry in atlas.capacity.list()}
    kinds = atlas.instance_types.list()
    for kind in kinds:  # the GPU model and count of each type (none on CPU types)
        gpus = f"{kind.gpu_count}x {kind.gpu_model}" if kind.gpu_count else "no GPU"
        print(
            f"{kind.name}: {gpus}, {kind.cpu} CPUs, {kind.memory}, "
            f"{available.get(kind.name, 0)} available in {atlas.region}"
        )
    gpu = next(kind for kind in kinds if kind.gpu_count)

    with atlas.instances.disposable(type=gpu.name, name="quickstart", poll_interval=0.5) as box:
        print(f"{box.name} is {box.state} at {box.ip}")
    # Leaving the block deleted the machine, even if the code inside had failed.
    print(f"{box.name} is {atlas.instances.get(box.id).state}")
    atlas.instances.wait(box.id, until="deleted", poll_interval=0.5)
    atlas.projects.delete(project.id)
    print(f"project {project.name} deleted")


def main() -> None:
    # Simulated time runs 600x faster than real time: a minute of booting takes 0.1 s.
    settings = EmulatorSettings(port=0, seed=1, time_scale=600, log_level="warning")
    with EmulatorServer(settings) as emulator:
        print(f"emulator at {emulator.base_url}")
        with Atlas(
            client_id=DEV_ATLAS_CLIENT_ID,
            client_secret=DEV_ATLAS_CLIENT_SECRET,
            management_url=emulator.base_url,
            region="eu-north-1",
        ) as atlas:
            quickstart(atlas)


if __name__ == "__main__":
    main()
