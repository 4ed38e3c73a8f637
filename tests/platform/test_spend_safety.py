"""Never pay for a forgotten GPU (platform API), against the emulator in simulated time, on
every kind of client: confirmed deletes, sweeps, leases and the spend limit."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, List

import anyio
import pytest

from fluidstack import FluidStack
from fluidstack.core import NoCapacityError, SpendLimitError, WaitTimeoutError
from fluidstack.core.spend import SweepResult
from fluidstack.platform.spend import lease_of
from support import Clients, FakeClock, resolve

pytestmark = pytest.mark.anyio

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV"
HOUR = 3600.0


async def ready(clients: Clients, **kwargs: Any) -> Any:
    """A client of the emulator with an SSH key named ``k``."""
    client = clients.make(**kwargs)
    await resolve(client.ssh_keys.create(name="k", public_key=PUBLIC_KEY))
    return client


def with_fake_clock(clients: Clients, client: Any) -> FakeClock:
    """Make the client's deadlines run on simulated time: each of its sleeps moves its
    own clock and the emulator's by the same amount, at no real cost."""
    clock = FakeClock()
    client._pipeline.clock = clock

    def step(seconds: float) -> None:
        clock.advance(seconds)
        clients.emulator.advance(seconds)

    if clients.is_async:

        async def sleep(seconds: float) -> None:
            step(seconds)

        client._pipeline.sleep = sleep
    else:
        client._pipeline.sleep = step
    return clock


def deletes_of(clients: Clients, instance_id: str) -> List[Any]:
    return [
        e
        for e in clients.emulator.journal()
        if e["method"] == "DELETE" and e["path"] == f"/instances/{instance_id}"
    ]


async def status(client: Any, instance_id: str) -> str:
    return str((await resolve(client.instances.get(instance_id))).status)


# -- confirmed delete ---------------------------------------------------------------------


async def test_delete_wait_returns_once_the_instance_is_terminated(clients: Clients) -> None:
    client = await ready(clients)
    created = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k"))
    clients.emulator.advance(HOUR)

    assert await resolve(client.instances.delete(created.id, wait=True)) is None

    assert await status(client, created.id) == "terminated"
    assert len(deletes_of(clients, created.id)) == 1
    # Already terminated, or never there: what a confirmed delete wants, not an error.
    await resolve(client.instances.delete(created.id, wait=True))
    await resolve(client.instances.delete("no-such-instance", wait=True))


async def test_a_delete_the_server_said_ok_to_but_did_not_perform_is_sent_again(
    clients: Clients,
) -> None:
    client = await ready(clients)
    created = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k"))
    clients.emulator.advance(HOUR)
    path = f"/instances/{created.id}"
    # "Terminated" says the server, and nothing happens: the classic silent leak.
    clients.emulator.add_fault(method="DELETE", path=path, status=200, times=2)

    await resolve(client.instances.delete(created.id))  # without wait: believed
    assert await status(client, created.id) == "running"

    await resolve(client.instances.delete(created.id, wait=True, poll_interval=1))
    assert await status(client, created.id) == "terminated"
    assert [e["status"] for e in deletes_of(clients, created.id)] == [200, 200, 200]


async def test_a_delete_refused_with_5xx_beyond_the_retries_is_sent_again(
    clients: Clients,
) -> None:
    client = await ready(clients, max_retries=1)
    created = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k"))
    clients.emulator.advance(HOUR)
    clients.emulator.add_fault(
        method="DELETE", path=f"/instances/{created.id}", status=503, times=3
    )

    await resolve(client.instances.delete(created.id, wait=True, poll_interval=1))

    assert await status(client, created.id) == "terminated"
    assert [e["status"] for e in deletes_of(clients, created.id)] == [503, 503, 503, 200]


async def test_a_delete_that_never_takes_ends_in_a_timeout_that_says_so(
    clients: Clients,
) -> None:
    client = await ready(clients)
    with_fake_clock(clients, client)
    created = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k"))
    clients.emulator.advance(HOUR)
    clients.emulator.add_fault(
        method="DELETE", path=f"/instances/{created.id}", status=200, times=None
    )

    with pytest.raises(WaitTimeoutError) as caught:
        await resolve(client.instances.delete(created.id, wait=True, timeout=120, poll_interval=5))

    assert "still running after 4 delete requests" in str(caught.value)
    assert caught.value.instance.id == created.id
    assert len(deletes_of(clients, created.id)) == 4  # one, and three more: bounded


# -- sweep ---------------------------------------------------------------------------------


async def test_sweep_lists_what_it_would_delete_with_its_cost_then_deletes_only_when_told(
    clients: Clients,
) -> None:
    client = await ready(clients)
    old_ci = await resolve(
        client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k", name="ci-old", gpu_count=2)
    )
    keep = await resolve(
        client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k", name="keep")
    )
    clients.emulator.advance(50 * HOUR)  # a weekend
    new_ci = await resolve(
        client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k", name="ci-new")
    )
    clients.emulator.advance(HOUR)

    plan = await resolve(
        client.instances.sweep(older_than=dt.timedelta(hours=24), name_prefix="ci-")
    )

    assert isinstance(plan, SweepResult)
    assert plan.dry_run is True
    assert [m.id for m in plan.matched] == [old_ci.id]
    (match,) = plan.matched
    assert match.name == "ci-old"
    # 51 hours, give or take the second the server's Date header rounds away.
    assert match.reasons[0] == "name starts with 'ci-'"
    assert match.reasons[1] in ("age 2d 02h", "age 2d 03h")
    assert match.age is not None
    assert dt.timedelta(hours=50.9) < match.age < dt.timedelta(hours=51.1)
    assert match.hourly == Decimal("0.60")  # 2 GPUs at 0.30
    assert match.cost_so_far is not None
    assert Decimal("30.5") < match.cost_so_far < Decimal("30.7")
    assert plan.deleted == []
    assert plan.failed == []
    assert await status(client, old_ci.id) == "running"  # a dry run deletes nothing

    done = await resolve(
        client.instances.sweep(older_than=24 * HOUR, name_prefix="ci-", dry_run=False)
    )

    assert [m.id for m in done.deleted] == [old_ci.id]
    assert done.ok
    assert await status(client, old_ci.id) == "terminated"
    assert await status(client, keep.id) == "running"
    assert await status(client, new_ci.id) == "running"
    again = await resolve(client.instances.sweep(older_than=24 * HOUR, name_prefix="ci-"))
    assert again.matched == []  # terminated instances are never selected


async def test_a_sweep_reports_a_delete_that_failed_and_still_deletes_the_rest(
    clients: Clients,
) -> None:
    client = await ready(clients)
    a = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k", name="ci-a"))
    b = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k", name="ci-b"))
    clients.emulator.advance(HOUR)
    clients.emulator.add_fault(method="DELETE", path=f"/instances/{a.id}", status=403, times=None)

    result = await resolve(client.instances.sweep(name_prefix="ci-", dry_run=False, wait=False))

    assert [m.id for m in result.deleted] == [b.id]
    (failure,) = result.failed
    assert (failure.match.id, failure.error.status_code) == (a.id, 403)
    assert not result.ok
    assert await status(client, a.id) == "running"
    assert await status(client, b.id) == "terminated"


async def test_sweep_by_status_selects_stopped_instances(clients: Clients) -> None:
    client = await ready(clients)
    a = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k"))
    b = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k"))
    clients.emulator.advance(HOUR)
    await resolve(client.instances.stop(a.id))
    clients.emulator.advance(HOUR)

    plan = await resolve(client.instances.sweep(statuses=["stopped"]))

    assert [m.id for m in plan.matched] == [a.id]
    assert plan.matched[0].reasons == ("status stopped",)
    assert b.id not in [m.id for m in plan.matched]


async def test_a_sweep_needs_a_criterion_and_the_platform_has_no_tags(
    clients: Clients,
) -> None:
    client = clients.make()
    with pytest.raises(ValueError, match="at least one criterion"):
        await resolve(client.instances.sweep())
    with pytest.raises(ValueError, match="platform instances have no tags"):
        await resolve(client.instances.sweep(tags={"team": "ml"}))
    with pytest.raises(ValueError, match="older_than must be longer than 0"):
        await resolve(client.instances.sweep(older_than=0))
    with pytest.raises(TypeError, match="timedelta or a number of seconds"):
        await resolve(client.instances.sweep(older_than="2h"))
    assert clients.emulator.journal() == []  # refused before anything was sent


# -- leases ---------------------------------------------------------------------------------


async def test_a_lease_is_kept_in_the_name_and_expires_on_the_servers_clock(
    clients: Clients,
) -> None:
    clients.emulator.advance(5 * HOUR)  # the server's clock is now hours ahead of ours
    await ready(clients)
    # A new client that has not heard from the server: the expiry must still be the
    # server's "now" plus the lease, not this machine's.
    client = clients.make()
    created = await resolve(
        client.instances.create(
            gpu_type="RTX_A4000_16GB", ssh_key="k", name="trainer", lease=dt.timedelta(hours=2)
        )
    )
    instance = await resolve(client.instances.get(created.id))
    expires = lease_of(instance.name)
    assert instance.name.startswith("trainer--lease-until-")
    assert expires is not None
    assert instance.created_at is not None
    created_at = instance.created_at.replace(tzinfo=dt.timezone.utc)
    assert abs((expires - created_at) - dt.timedelta(hours=2)) < dt.timedelta(seconds=5)

    assert (await resolve(client.instances.sweep(expired=True))).matched == []
    clients.emulator.advance(HOUR)
    assert (await resolve(client.instances.sweep(expired=True))).matched == []
    clients.emulator.advance(1.5 * HOUR)

    plan = await resolve(client.instances.sweep(expired=True, dry_run=False))

    assert [m.id for m in plan.deleted] == [created.id]
    assert plan.deleted[0].reasons[0].startswith("lease expired ")
    assert plan.deleted[0].lease_expires == expires
    assert await status(client, created.id) == "terminated"


async def test_a_bad_lease_or_a_name_too_long_for_one_is_refused_before_sending(
    clients: Clients,
) -> None:
    client = clients.make()
    with pytest.raises(ValueError, match="lease must be longer than 0"):
        await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k", lease=-5))
    with pytest.raises(ValueError, match="at most 225 characters"):
        await resolve(
            client.instances.create(
                gpu_type="RTX_A4000_16GB", ssh_key="k", name="n" * 240, lease=60
            )
        )
    with pytest.raises(ValueError, match="already ends in a lease"):
        await resolve(
            client.instances.create(
                gpu_type="RTX_A4000_16GB",
                ssh_key="k",
                name="x--lease-until-20260101T000000Z",
                lease=60,
            )
        )
    assert clients.emulator.journal() == []


async def test_create_and_wait_and_launch_take_a_lease_too(clients: Clients) -> None:
    client = await ready(clients)
    waited = await resolve(
        client.instances.create_and_wait(
            gpu_type="RTX_A4000_16GB", ssh_key="k", lease=HOUR, poll_interval=1
        )
    )
    launched = await resolve(
        client.instances.launch(gpu_type="RTX_A4000_16GB", ssh_key="k", lease=HOUR)
    )
    launched_instance = await resolve(client.instances.get(launched.id))
    assert lease_of(waited.name) is not None
    assert lease_of(launched_instance.name) is not None


# -- spend limit ----------------------------------------------------------------------------


async def test_a_create_over_the_spend_limit_is_refused_before_it_is_sent(
    clients: Clients,
) -> None:
    client = await ready(clients, max_hourly_spend="1.00")
    assert client.max_hourly_spend == Decimal("1.00")
    first = await resolve(
        client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k", gpu_count=2)
    )  # 0.60/h, counted at once although it is still pending
    posts = len([e for e in clients.emulator.journal() if e["method"] == "POST"])

    with pytest.raises(SpendLimitError) as caught:
        await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k", gpu_count=2))

    error = caught.value
    assert (error.limit, error.current, error.adding) == (
        Decimal("1.00"),
        Decimal("0.60"),
        Decimal("0.60"),
    )
    assert "$1.20/h is over max_hourly_spend $1.00/h" in str(error)
    assert error.status_code is None
    assert len([e for e in clients.emulator.journal() if e["method"] == "POST"]) == posts
    # Within the limit it goes through: 0.60 + 0.30 = 0.90.
    await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k"))
    # Deleting frees the room again.
    await resolve(client.instances.delete(first.id, wait=True))
    await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k", gpu_count=2))


async def test_a_price_the_catalog_does_not_list_is_refused_not_guessed(
    clients: Clients,
) -> None:
    client = await ready(clients, max_hourly_spend=100)
    posts = len([e for e in clients.emulator.journal() if e["method"] == "POST"])

    with pytest.raises(SpendLimitError, match="cannot be checked: the catalog lists no price"):
        await resolve(client.instances.create(gpu_type="B200_SXM_180GB", ssh_key="k"))

    assert len([e for e in clients.emulator.journal() if e["method"] == "POST"]) == posts


async def test_a_start_over_the_spend_limit_is_refused(clients: Clients) -> None:
    client = await ready(clients, max_hourly_spend=0.85)
    stopped = await resolve(
        client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k", gpu_count=2)
    )
    clients.emulator.advance(HOUR)
    await resolve(client.instances.stop(stopped.id))
    clients.emulator.advance(HOUR)
    await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k"))

    with pytest.raises(SpendLimitError) as caught:  # 0.30 + 0.03 stopped, +0.57 to run: 0.90
        await resolve(client.instances.start(stopped.id))

    assert caught.value.current == Decimal("0.33")
    assert caught.value.adding == Decimal("0.57")
    assert await status(client, stopped.id) == "stopped"


async def test_launch_skips_offers_over_the_spend_limit(clients: Clients) -> None:
    client = await ready(clients, max_hourly_spend="2.10")
    await resolve(client.instances.create(gpu_type="A100_PCIE_80GB", ssh_key="k"))  # 1.80/h

    plan = await resolve(
        client.instances.launch(
            gpu_type=["RTX_A4000_16GB", "A10_PCIE_24GB", "L4_24GB"], ssh_key="k", dry_run=True
        )
    )
    assert {str(o.gpu_type) for o in plan.options} == {
        "RTX_A4000_16GB"
    }  # 0.30 fits exactly; 0.35, 0.45: over

    launched = await resolve(
        client.instances.launch(gpu_type=["A10_PCIE_24GB", "RTX_A4000_16GB"], ssh_key="k")
    )
    assert str(launched.gpu_type) == "RTX_A4000_16GB"

    with pytest.raises(SpendLimitError, match="launching 1 x A10_PCIE_24GB"):
        await resolve(client.instances.launch(gpu_type="A10_PCIE_24GB", ssh_key="k"))
    with pytest.raises(NoCapacityError):  # nothing matches at all: not a spend problem
        await resolve(client.instances.launch(gpu_type="RTX_A4000_16GB", ssh_key="k", gpu_count=3))


async def test_two_creates_at_once_in_one_client_cannot_both_pass_the_check(
    clients: Clients,
) -> None:
    client = await ready(clients, max_hourly_spend="0.50")
    outcomes: List[str] = []

    def outcome(call: Any) -> None:
        try:
            call()
        except SpendLimitError:
            outcomes.append("refused")
        else:
            outcomes.append("created")

    if clients.is_async:

        async def create() -> None:
            try:
                await client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k")
            except SpendLimitError:
                outcomes.append("refused")
            else:
                outcomes.append("created")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(create)
            tasks.start_soon(create)
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for _ in range(2):
                pool.submit(
                    outcome,
                    lambda: client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k"),
                )

    assert sorted(outcomes) == ["created", "refused"]
    assert len(await resolve(client.instances.list())) == 1


def test_a_bad_spend_limit_is_refused_when_the_client_is_built() -> None:
    for bad in (0, -1, "lots", float("nan"), True):
        with pytest.raises((ValueError, TypeError), match="max_hourly_spend"):
            FluidStack(api_key="k", max_hourly_spend=bad)  # type: ignore[arg-type]
    assert FluidStack(api_key="k", max_hourly_spend=12.3).max_hourly_spend == Decimal("12.3")
    assert FluidStack(api_key="k").max_hourly_spend is None
