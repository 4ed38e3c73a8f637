"""Never pay for a forgotten GPU (Atlas), against the emulator in simulated time, on every
kind of client: confirmed deletes, sweeps, leases (tags) and the spend limit (with the
user's price table, since Atlas publishes none)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, List

import pytest
from atlas_client_support import AtlasClients

from fluidstack.atlas import Atlas, SpendLimitError
from fluidstack.atlas.spend import CREATED_AT_TAG, LEASE_TAG, created_at_of
from fluidstack.core import WaitTimeoutError
from support import resolve

pytestmark = pytest.mark.anyio

HOUR = 3600.0
INSTANCES = "/regions/*/api/v1alpha1/instances"


async def on_project(clients: AtlasClients, **kwargs: Any) -> Any:
    atlas = clients.make(**kwargs)
    project = await resolve(atlas.projects.create(name="spend"))
    return atlas.with_options(project_id=project.id)


def deletes(clients: AtlasClients, instance_id: str) -> List[int]:
    return [
        e["status"]
        for e in clients.emulator.journal()
        if e["method"] == "DELETE" and e["path"].endswith(f"/instances/{instance_id}")
    ]


def advance(clients: AtlasClients, atlas: Any, seconds: float) -> None:
    """Let simulated time pass on both sides: the emulator's clock, and the monotonic
    clock the client measures the time since the server's last ``Date`` with."""
    clients.emulator.advance(seconds)
    atlas._pipeline.clock.advance(seconds)


async def gone(atlas: Any, instance_id: str) -> bool:
    return instance_id not in [i.id for i in await resolve(atlas.instances.list())]


# -- confirmed delete ---------------------------------------------------------------------


async def test_delete_wait_sends_again_a_delete_refused_beyond_the_retries(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients, max_retries=1)
    created = await resolve(atlas.instances.create(type="cpu.2x", wait=True))
    atlas_clients.emulator.add_fault(
        method="DELETE", path=f"{INSTANCES}/{created.id}", status=503, times=2
    )

    await resolve(atlas.instances.delete(created.id, wait=True, poll_interval=1))

    assert await gone(atlas, created.id)
    assert deletes(atlas_clients, created.id) == [503, 503, 204]
    # Already gone: what a confirmed delete wants, not an error.
    await resolve(atlas.instances.delete(created.id, wait=True))


async def test_a_delete_accepted_but_not_performed_is_sent_again(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients)
    created = await resolve(atlas.instances.create(type="cpu.2x", wait=True))
    atlas_clients.emulator.add_fault(
        method="DELETE", path=f"{INSTANCES}/{created.id}", status=204, times=1
    )

    await resolve(atlas.instances.delete(created.id, wait=True, poll_interval=1))

    assert await gone(atlas, created.id)
    assert deletes(atlas_clients, created.id) == [204, 204]


async def test_a_delete_that_never_takes_times_out_saying_how_many_were_sent(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients)
    created = await resolve(atlas.instances.create(type="cpu.2x", wait=True))
    atlas_clients.emulator.add_fault(
        method="DELETE", path=f"{INSTANCES}/{created.id}", status=204, times=None
    )

    with pytest.raises(WaitTimeoutError, match="still running after 4 delete requests"):
        await resolve(atlas.instances.delete(created.id, wait=True, timeout=120))

    assert len(deletes(atlas_clients, created.id)) == 4


# -- sweeps and leases ----------------------------------------------------------------------


async def test_sweep_selects_by_age_prefix_and_tags_with_the_cost_so_far(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients, prices={"cpu.2x": "0.50"})
    old = await resolve(atlas.instances.create(type="cpu.2x", name="ci-old", tags={"team": "ml"}))
    other = await resolve(
        atlas.instances.create(type="cpu.2x", name="ci-other", tags={"team": "web"})
    )
    advance(atlas_clients, atlas, 50 * HOUR)
    young = await resolve(
        atlas.instances.create(type="cpu.2x", name="ci-young", tags={"team": "ml"})
    )
    advance(atlas_clients, atlas, HOUR)
    assert created_at_of(old.tags) is not None

    plan = await resolve(
        atlas.instances.sweep(
            older_than=dt.timedelta(days=1), name_prefix="ci-", tags={"team": "ml"}
        )
    )

    assert [m.id for m in plan.matched] == [old.id]
    (match,) = plan.matched
    assert match.reasons[:2] == ("name starts with 'ci-'", "tagged team=ml")
    assert match.hourly == Decimal("0.50")
    assert match.cost_so_far is not None
    assert Decimal("25.4") < match.cost_so_far < Decimal("25.6")  # 51 hours at 0.50
    assert match.region == atlas.region
    assert not await gone(atlas, old.id)  # a dry run deletes nothing

    done = await resolve(
        atlas.instances.sweep(older_than=HOUR * 24, tags={"team": "ml"}, dry_run=False)
    )

    assert [m.id for m in done.deleted] == [old.id]
    assert await gone(atlas, old.id)
    assert not await gone(atlas, other.id)
    assert not await gone(atlas, young.id)


async def test_instances_made_elsewhere_have_no_age_and_are_never_swept_by_it(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients)
    # As another tool would create it: no fluidstack.created-at tag.
    foreign = await resolve(
        atlas.instances._create(
            "t0",
            name="foreign",
            type="cpu.2x",
            image=None,
            tags=None,
            user_data=None,
            filesystems=None,
            ephemeral=None,
            preemptible=None,
            request_options=None,
        )
    )
    assert CREATED_AT_TAG not in foreign.tags
    advance(atlas_clients, atlas, 100 * HOUR)

    result = await resolve(atlas.instances.sweep(older_than=HOUR, dry_run=False))

    assert result.matched == []
    assert [(u.id, u.reason) for u in result.undecided] == [
        (foreign.id, f"age unknown: no {CREATED_AT_TAG} tag (not created by this SDK)")
    ]
    assert not await gone(atlas, foreign.id)
    # Selected by another criterion, it has no age and no price: both unknown, not 0.
    (match,) = (await resolve(atlas.instances.sweep(name_prefix="for"))).matched
    assert (match.age, match.hourly, match.cost_so_far) == (None, None, None)


async def test_a_lease_is_a_tag_and_sweep_expired_deletes_it_once_past(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients)
    leased = await resolve(
        atlas.instances.create(type="cpu.2x", name="trainer", lease=dt.timedelta(hours=2))
    )
    kept = await resolve(atlas.instances.create(type="cpu.2x", name="kept"))
    assert LEASE_TAG not in kept.tags
    ends = dt.datetime.strptime(leased.tags[LEASE_TAG], "%Y%m%dT%H%M%SZ")
    began = dt.datetime.strptime(leased.tags[CREATED_AT_TAG], "%Y%m%dT%H%M%SZ")
    assert ends - began == dt.timedelta(hours=2)

    advance(atlas_clients, atlas, HOUR)
    assert (await resolve(atlas.instances.sweep(expired=True))).matched == []
    advance(atlas_clients, atlas, 1.5 * HOUR)

    result = await resolve(atlas.instances.sweep(expired=True, dry_run=False))

    assert [m.id for m in result.deleted] == [leased.id]
    assert result.deleted[0].reasons[0].startswith("lease expired 30m")
    assert await gone(atlas, leased.id)
    assert not await gone(atlas, kept.id)


async def test_bad_sweeps_and_leases_are_refused_before_anything_is_sent(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients)
    before = len(atlas_clients.emulator.journal())
    with pytest.raises(ValueError, match="at least one criterion"):
        await resolve(atlas.instances.sweep())
    with pytest.raises(ValueError, match="tags=\\{\\} selects everything"):
        await resolve(atlas.instances.sweep(tags={}))
    with pytest.raises(ValueError, match="lease must be longer than 0"):
        await resolve(atlas.instances.create(type="cpu.2x", lease=dt.timedelta(0)))
    assert len(atlas_clients.emulator.journal()) == before


# -- spend limit ----------------------------------------------------------------------------


async def test_a_create_over_the_spend_limit_is_refused_before_it_is_sent(
    atlas_clients: AtlasClients,
) -> None:
    prices = {"cpu.2x": 4, "cpu.8x": "12.5"}
    atlas = await on_project(atlas_clients, max_hourly_spend=10, prices=prices)
    assert atlas.max_hourly_spend == Decimal(10)
    await resolve(atlas.instances.create(type="cpu.2x"))
    await resolve(atlas.instances.create(type="cpu.2x"))  # 8.00: still under
    posts = len([e for e in atlas_clients.emulator.journal() if e["method"] == "POST"])

    with pytest.raises(SpendLimitError) as caught:
        await resolve(atlas.instances.create(type="cpu.2x"))

    assert (caught.value.current, caught.value.adding) == (Decimal(8), Decimal(4))
    assert "$12.00/h is over max_hourly_spend $10.00/h" in str(caught.value)
    with pytest.raises(SpendLimitError, match=r"prices= has no price for h100-hgx-80gb\.8x"):
        await resolve(atlas.instances.create(type="h100-hgx-80gb.8x"))
    with pytest.raises(SpendLimitError):  # launch: the same check, in any region
        await resolve(atlas.instances.launch(type="cpu.8x"))
    assert len([e for e in atlas_clients.emulator.journal() if e["method"] == "POST"]) == posts


async def test_a_start_over_the_spend_limit_is_refused(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients, max_hourly_spend=6, prices={"cpu.2x": 4})
    first = await resolve(atlas.instances.create(type="cpu.2x", wait=True))
    await resolve(atlas.instances.stop(first.id, wait=True))  # stopped: counts as nothing
    await resolve(atlas.instances.create(type="cpu.2x", wait=True))

    with pytest.raises(SpendLimitError, match=f"starting instance {first.id}"):
        await resolve(atlas.instances.start(first.id))

    assert str((await resolve(atlas.instances.get(first.id))).state) == "stopped"


def test_a_spend_limit_without_prices_is_refused_when_the_client_is_built() -> None:
    with pytest.raises(ValueError, match="Atlas publishes no prices"):
        Atlas(token="t", max_hourly_spend=10, use_environment=False)
    with pytest.raises(ValueError, match=r"prices\['cpu.2x'\] must be 0 or more"):
        Atlas(token="t", max_hourly_spend=10, prices={"cpu.2x": -1}, use_environment=False)
    with pytest.raises(ValueError, match="max_hourly_spend must be more than 0"):
        Atlas(token="t", max_hourly_spend=0, prices={}, use_environment=False)
    assert Atlas(token="t", use_environment=False).max_hourly_spend is None
