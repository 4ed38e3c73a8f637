"""Load: 200 concurrent creates, then stops and deletes, from async clients over four
accounts, leave counts, capacity and balances consistent."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any, Dict, List

import httpx
import pytest

from fluidstack.client import AsyncFluidStack
from fluidstack.core import ApiError, ConflictError
from fluidstack.testing.handle import EmulatorHandle

pytestmark = pytest.mark.anyio

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)
GPU = "RTX_A4000_16GB"
CREATES_PER_ACCOUNT = 50
CAPACITY = 120  # fewer GPUs than the 200 creates ask for: some must be refused


def capacity(emulator: EmulatorHandle, region: str) -> Dict[str, Any]:
    rows = httpx.get(
        f"{emulator.base_url}/_emulator/capacity", headers=emulator.control_headers
    ).json()
    (row,) = [r for r in rows if r["gpu_type"] == GPU and r["region"] == region]
    return dict(row)


async def test_concurrent_lifecycles_over_four_accounts_stay_consistent(
    emulator: EmulatorHandle,
) -> None:
    keys = [emulator.api_key] + [f"load-account-{n}" for n in range(1, 4)]
    for key in keys[1:]:
        emulator.create_account(key, balance=1000.0)
    async with AsyncFluidStack(api_key=keys[0], base_url=emulator.base_url) as probe:
        catalog = await probe.configurations.list()
    (offer,) = [c for c in catalog if str(c.gpu_type) == GPU]
    region = str(offer.regions[0])
    for other in offer.regions[1:]:
        emulator.set_capacity(GPU, str(other), 0)
    emulator.set_capacity(GPU, region, CAPACITY)

    clients = [AsyncFluidStack(api_key=k, base_url=emulator.base_url) for k in keys]
    try:
        await asyncio.gather(*(c.ssh_keys.create(name="k", public_key=PUBLIC_KEY) for c in clients))

        async def create(client: AsyncFluidStack, n: int) -> Any:
            try:
                return await client.instances.create(gpu_type=GPU, ssh_key="k", name=f"load-{n}")
            except ConflictError as exc:
                return exc

        results: List[List[Any]] = await asyncio.gather(
            *(asyncio.gather(*(create(c, n) for n in range(CREATES_PER_ACCOUNT))) for c in clients)
        )
        created = [[r for r in rs if not isinstance(r, ApiError)] for rs in results]
        refused = sum(len(rs) - len(ok) for rs, ok in zip(results, created))
        total = sum(len(ok) for ok in created)
        assert total == CAPACITY  # every GPU sold, not one more
        assert refused == 4 * CREATES_PER_ACCOUNT - CAPACITY
        row = capacity(emulator, region)
        assert (row["in_use"], row["available"]) == (CAPACITY, 0)

        # Each account sees exactly what it created: nothing lost, nothing duplicated.
        for client, ok in zip(clients, created):
            listed = [i async for i in client.instances.iter(include_failed_instances=True)]
            assert sorted(i.id for i in listed) == sorted(c.id for c in ok)

        emulator.advance(3600)  # everything is running now
        before = [(await c.user.get_balance()).balance for c in clients]
        emulator.advance(3600)  # one hour of running
        after = [(await c.user.get_balance()).balance for c in clients]
        price = offer.price_per_gpu_hour
        for b, a, ok in zip(before, after, created):
            expected = price * len(ok)
            assert Decimal(str(b - a)).quantize(Decimal("0.0001")) == expected.quantize(
                Decimal("0.0001")
            )

        # Stop half and delete the other half, all at once.
        async def settle(client: AsyncFluidStack, ids: List[str]) -> None:
            half = len(ids) // 2
            await asyncio.gather(
                *(client.instances.stop(i) for i in ids[:half]),
                *(client.instances.delete(i) for i in ids[half:]),
            )

        await asyncio.gather(*(settle(c, [i.id for i in ok]) for c, ok in zip(clients, created)))
        emulator.advance(600)
        stopped = 0
        for client, ok in zip(clients, created):
            statuses = [str((await client.instances.get(i.id)).status) for i in ok]
            half = len(ok) // 2
            assert statuses[:half] == ["stopped"] * half
            assert statuses[half:] == ["terminated"] * (len(ok) - half)
            stopped += half
        row = capacity(emulator, region)
        # Stopped instances keep their GPUs; deleted ones give them back.
        assert row["in_use"] == stopped
        assert row["available"] == CAPACITY - stopped
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
