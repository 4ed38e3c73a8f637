"""The async client runs under trio as well as asyncio (through anyio)."""

from __future__ import annotations

import anyio
import anyio.to_thread
import pytest

from fluidstack.client import AsyncFluidStack
from fluidstack.core import InternalServerError
from fluidstack.testing.handle import EmulatorHandle

pytest.importorskip("trio")

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)


@pytest.fixture
def anyio_backend() -> str:
    return "trio"


@pytest.mark.anyio
async def test_async_client_under_trio(emulator: EmulatorHandle) -> None:
    async with AsyncFluidStack(api_key=emulator.api_key, base_url=emulator.base_url) as client:
        await client.ssh_keys.create(name="k", public_key=PUBLIC_KEY)
        created = await client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k")
        emulator.advance(3600)
        assert (await client.instances.get(created.id)).status == "running"
        # Retries sleep with trio's clock (a short Retry-After keeps the test fast).
        emulator.add_fault(method="GET", path="/instances", status=503, retry_after="0.01")
        assert [i.id async for i in client.instances.iter()] == [created.id]
        emulator.add_fault(
            method="GET", path="/user/balance", status=500, times=3, retry_after="0.01"
        )
        with pytest.raises(InternalServerError):
            await client.user.get_balance(request_options={"max_retries": 2})

        async def move_the_clock() -> None:
            while True:
                await anyio.to_thread.run_sync(emulator.advance, 60)
                await anyio.sleep(0.01)

        # Waiting and the delete on the way out, under trio, while simulated time runs.
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(move_the_clock)
            async with client.instances.ephemeral(
                gpu_type="RTX_A4000_16GB", ssh_key="k", name="scratch", poll_interval=0.01
            ) as instance:
                assert instance.status == "running"
            tasks.cancel_scope.cancel()
        assert (await client.instances.get(instance.id)).status == "terminated"
