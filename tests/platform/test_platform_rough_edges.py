"""The SDK's side of issue 14's items 1, 5 and 14: a delete answered 409 for an instance
that is already gone is success (and any other 409 is not), the 2024-06-03 statuses,
and connection errors that name the address tried. Sync, async and async on aiohttp."""

from __future__ import annotations

from typing import Any

import pytest

from fluidstack import AsyncFluidStack, FluidStack
from fluidstack.core import (
    ApiConnectionError,
    ApiTimeoutError,
    ConflictError,
    InstanceFailedError,
    PaymentRequiredError,
)
from fluidstack.types import InstanceStatus
from support import Clients, resolve

pytestmark = pytest.mark.anyio

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)


async def _instance(client: Any) -> str:
    await resolve(client.ssh_keys.create(name="laptop", public_key=PUBLIC_KEY))
    created = await resolve(client.instances.create(gpu_type="L40_48GB", ssh_key="laptop"))
    return str(created.id)


async def test_deleting_a_gone_instance_succeeds_on_both_answers(clients: Clients) -> None:
    client = clients.make()
    instance_id = await _instance(client)
    await resolve(client.instances.delete(instance_id))
    await resolve(client.instances.delete(instance_id))  # the emulator: 200
    # A server that answers 409 for it (as the emulator once did): still done.
    clients.emulator.add_fault(
        method="DELETE",
        path=f"/instances/{instance_id}",
        status=409,
        body={"message": f"Instance {instance_id} is already terminated"},
    )
    await resolve(client.instances.delete(instance_id))
    deletes = [e for e in clients.emulator.journal() if e["method"] == "DELETE"]
    assert [e["status"] for e in deletes] == [200, 200, 409]


async def test_a_409_for_a_live_instance_is_still_an_error(clients: Clients) -> None:
    client = clients.make()
    instance_id = await _instance(client)
    clients.emulator.add_fault(
        method="DELETE", path=f"/instances/{instance_id}", status=409, body={"message": "busy"}
    )
    with pytest.raises(ConflictError, match="busy"):
        await resolve(client.instances.delete(instance_id))
    instance = await resolve(client.instances.get(instance_id))
    assert instance.status != "terminated"


async def test_unhealthy_and_shutting_down_are_statuses_like_any_other(clients: Clients) -> None:
    client = clients.make()
    instance_id = await _instance(client)
    clients.emulator.advance(600)
    clients.emulator.set_instance_status(instance_id, "unhealthy")
    instance = await resolve(client.instances.get(instance_id))
    assert instance.status is InstanceStatus.UNHEALTHY
    clients.emulator.set_instance_status(instance_id, "shutting_down", seconds=60)
    listed = {i.id: i.status for i in await resolve(client.instances.list())}
    assert listed[instance_id] is InstanceStatus.SHUTTING_DOWN
    # A wait for "running" ends when shutting down ends: terminated is a dead end.
    with pytest.raises(InstanceFailedError) as info:
        await resolve(client.instances.wait(instance_id, until="running", timeout=600))
    assert "terminated" in str(info.value)


async def test_an_empty_balance_is_a_payment_required_error(clients: Clients) -> None:
    client = clients.make()
    await resolve(client.ssh_keys.create(name="laptop", public_key=PUBLIC_KEY))
    clients.emulator.set_balance(0)
    with pytest.raises(PaymentRequiredError) as info:
        await resolve(client.instances.create(gpu_type="L40_48GB", ssh_key="laptop"))
    assert info.value.status_code == 402


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_connection_errors_name_the_address_tried(kind: str) -> None:
    url = "http://127.0.0.1:9"  # discard: nothing listens there
    if kind == "sync":
        client = FluidStack(api_key="sk-never-shown-123", base_url=url, max_retries=0)
        with client, pytest.raises(ApiConnectionError) as info:
            client.instances.list()
    else:
        async with AsyncFluidStack(
            api_key="sk-never-shown-123", base_url=url, max_retries=0
        ) as aclient:
            with pytest.raises(ApiConnectionError) as info:
                await aclient.instances.list()
    assert "(GET http://127.0.0.1:9/instances)" in str(info.value)
    assert "sk-never-shown-123" not in str(info.value)


async def test_timeouts_name_the_address_tried_and_no_query(clients: Clients) -> None:
    clients.emulator.add_fault(method="GET", path="/instances", action="delay", seconds=2)
    client = clients.make(timeout=0.2, max_retries=0)
    with pytest.raises(ApiTimeoutError) as info:
        await resolve(client.instances.list())
    assert f"(GET {clients.emulator.base_url}/instances)" in str(info.value)
