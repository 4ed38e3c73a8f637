"""Ages and costs are measured on the server's clock (the ``Date`` of its answers), not
on this machine's, which can differ by hours (the emulator's runs ahead on purpose)."""

from __future__ import annotations

import datetime as dt

import pytest

from fluidstack.core.server_clock import ServerClock
from fluidstack.cost import instance_cost
from fluidstack.types import InstanceResponse
from support import INSTANCE, Clients, resolve

pytestmark = pytest.mark.anyio
UTC = dt.timezone.utc
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV"


async def test_cost_so_far_on_the_emulator_uses_its_clock(clients: Clients) -> None:
    emulator = clients.emulator
    client = clients.make()
    emulator.advance(5 * 3600)  # the server's clock is now hours ahead of this machine's
    await resolve(
        client.ssh_keys.create(
            name="k",
            public_key=PUBLIC_KEY,
        )
    )
    created = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k"))
    emulator.advance(2 * 3600)
    instance = await resolve(client.instances.get(created.id))
    server_now = client.server_time()
    assert server_now.tzinfo is not None
    cost = instance_cost(instance, now=server_now)
    assert cost.hours is not None
    assert 1.99 < cost.hours < 2.05
    assert cost.accrued is not None
    assert cost.accrued > 0
    assert cost.problem is None
    local = instance_cost(instance)  # this machine's clock: hours behind the server's
    assert local.hours is None
    assert local.accrued is None
    assert local.problem is not None
    assert "server_time()" in local.problem


def test_an_age_ahead_of_now_is_unknown_with_its_reason_never_zero() -> None:
    instance = InstanceResponse.model_validate(INSTANCE)
    before = dt.datetime(2024, 1, 15, 8, 0, tzinfo=UTC)  # created 09:30 that day
    cost = instance_cost(instance, now=before)
    assert (cost.hours, cost.accrued) == (None, None)
    assert cost.problem is not None
    assert "1.50 h after" in cost.problem
    assert instance_cost(instance, now=before + dt.timedelta(hours=2)).hours == 0.5


def test_the_server_clock_is_the_last_date_plus_the_time_since() -> None:
    clock = ServerClock()
    before = dt.datetime.now(UTC)
    assert clock.now(at=5.0) >= before  # no answer yet: this machine's time
    clock.observe({"date": "Thu, 26 Nov 2026 12:00:00 GMT"}, at=100.0)
    assert clock.now(at=130.0) == dt.datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC)
    clock.observe({"content-type": "application/json"}, at=200.0)  # undated: kept
    assert clock.now(at=200.0) == dt.datetime(2026, 11, 26, 12, 1, 40, tzinfo=UTC)


@pytest.mark.parametrize("date", ["not a date", "Thu, 99 Nov 2026 12:00:00 GMT", ""])
def test_an_unreadable_date_falls_back_to_this_machines_time(date: str) -> None:
    clock = ServerClock()
    clock.observe({"date": date}, at=0.0)
    before = dt.datetime.now(UTC)
    assert before <= clock.now(at=1.0) <= dt.datetime.now(UTC)
