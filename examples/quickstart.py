"""Quickstart: rent a GPU, use it, give it back, against the bundled emulator.

Run it with ``bash scripts/quickstart.sh`` (no account, no network). To run the same
code against the real FluidStack API, set ``FLUIDSTACK_API_KEY`` and call
``quickstart(FluidStack())``.
"""

from __future__ import annotations

from fluidstack import FluidStack
from fluidstack.cost import instance_cost
from fluidstack.emulator import EmulatorServer, EmulatorSettings

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)


def quickstart(client: FluidStack) -> None:
    # Reuse the key on a second run against a real account (names are unique).
    if not any(key.name == "laptop" for key in client.ssh_keys.list()):
        client.ssh_keys.create(name="laptop", public_key=PUBLIC_KEY)
    balance_before = client.user.get_balance().balance
    plan = client.instances.launch(gpu_type=None, ssh_key="laptop", dry_run=True)
    cheapest = plan.options[0]
    price = cheapest.price_per_hour
    print(f"cheapest single GPU: {cheapest.gpu_type} in {cheapest.region}, ${price:.2f}/h")

    with client.instances.ephemeral(
        gpu_type=cheapest.gpu_type, region=cheapest.region, ssh_key="laptop", poll_interval=0.5
    ) as instance:
        print(f"{instance.name} is {instance.status}: {instance.ssh_command}")
        print(f"burning ${instance_cost(instance).hourly:.2f}/h")
    # Leaving the block deleted the instance, even if the code inside had failed.
    print(f"{instance.name} is {client.instances.get(instance.id).status}")
    balance = client.user.get_balance().balance
    # Seconds at $0.30/h cost well under a cent: four decimals, or it would say $0.00.
    print(f"balance: ${balance:.2f} (the run cost ${balance_before - balance:.4f})")


def main() -> None:
    # Simulated time runs 600x faster than real time: a 5-minute provisioning takes 0.5 s.
    settings = EmulatorSettings(
        port=0, seed=1, failure_rate=0.0, time_scale=600, log_level="warning"
    )
    with EmulatorServer(settings) as emulator:
        print(f"emulator at {emulator.base_url}")
        with FluidStack(api_key=emulator.api_key, base_url=emulator.base_url) as client:
            quickstart(client)


if __name__ == "__main__":
    main()
