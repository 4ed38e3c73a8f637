"""Atlas end to end over real HTTP against the emulator, on both clients, when things go
wrong: launch falling back between regions, disposable instances cleaned up on the way
out, creates whose answers are lost never making a second instance, token expiry
mid-run, wrong credentials and organization isolation. The rest of the API:
``test_atlas_e2e.py``."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from atlas_client_support import AtlasClients, on_project

from fluidstack.atlas import Instance
from fluidstack.core import (
    ApiConnectionError,
    AuthenticationError,
    InternalServerError,
    NoCapacityError,
    NotFoundError,
    TokenError,
)
from support import resolve

pytestmark = pytest.mark.anyio


async def inside(
    clients: AtlasClients, manager: Any, body: Callable[[Any], None] = lambda _: None
) -> None:
    """Run ``body`` inside a context manager of either client kind."""
    if clients.is_async:
        async with manager as value:
            body(value)
    else:
        with manager as value:
            body(value)


# -- launch and disposable --------------------------------------------------------------


async def test_launch_falls_back_to_the_region_with_capacity(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    control = atlas_clients.emulator.atlas
    control.set_capacity("eu-north-1", "h100-hgx-80gb.8x", 0)
    instance = await resolve(atlas.instances.launch(type="h100-hgx-80gb.8x"))
    assert instance.state == "running"
    assert instance.region == "us-east-1"  # set by the SDK: the regional API does not say
    located = await resolve(atlas.instances.get(instance.id, all_regions=True))
    assert located.region == "us-east-1"
    there = atlas.with_options(region=instance.region)
    assert [i.region for i in await resolve(there.instances.list())] == ["us-east-1"]
    # Nowhere left: the error says why for every region.
    control.set_capacity("us-east-1", "h100-hgx-80gb.8x", 1)
    with pytest.raises(NoCapacityError) as info:
        await resolve(atlas.instances.launch(type="h100-hgx-80gb.8x"))
    assert [region for region, _ in info.value.attempts] == ["eu-north-1", "us-east-1"]
    assert "no capacity for h100-hgx-80gb.8x" in str(info.value)


async def test_launch_skips_a_region_that_cannot_create(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    atlas_clients.emulator.atlas.withhold_capabilities("eu-north-1", "instances:create")
    instance = await resolve(atlas.instances.launch(type="cpu.2x"))
    assert instance.region == "us-east-1"


async def test_launch_deletes_an_instance_that_went_out_of_stock(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients)
    control = atlas_clients.emulator.atlas
    # Capacity is reported, but taken between the read and the create: the first create
    # ends out of stock (emulated by answering the capacity read with a stale body).
    atlas_clients.emulator.add_fault(
        method="GET",
        path="/regions/eu-north-1/api/v1alpha1/capacity",
        status=200,
        body=[{"name": "h100-hgx-80gb.8x", "capacity": 3}],
    )
    control.set_capacity("eu-north-1", "h100-hgx-80gb.8x", 0)
    instance = await resolve(atlas.instances.launch(type="h100-hgx-80gb.8x"))
    assert instance.state == "running"
    everywhere = await resolve(atlas.instances.list(all_regions=True))
    assert [(i.region, i.id) for i in everywhere] == [("us-east-1", instance.id)]
    calls = [(e["method"], e["path"], e["status"]) for e in atlas_clients.emulator.journal()]
    created_in_europe = [
        c for c in calls if c[:2] == ("POST", "/regions/eu-north-1/api/v1alpha1/instances")
    ]
    deleted_in_europe = [c for c in calls if c[0] == "DELETE" and "eu-north-1" in c[1]]
    assert created_in_europe == [("POST", "/regions/eu-north-1/api/v1alpha1/instances", 201)]
    assert [status for _, _, status in deleted_in_europe] == [204]


async def test_disposable_deletes_on_the_way_out(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    seen: list = []

    def boom(box: Instance) -> None:
        seen.append(box)
        raise RuntimeError("boom")

    manager = atlas.instances.disposable(type="cpu.2x", ephemeral=True)
    with pytest.raises(RuntimeError, match="boom"):
        await inside(atlas_clients, manager, boom)
    (box,) = seen
    assert box.state == "running"
    assert box.ephemeral is True  # the create flag, passed through
    assert (await resolve(atlas.instances.get(box.id))).state == "deleting"


async def test_disposable_finds_and_deletes_what_an_interrupted_create_made(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients, max_retries=0)
    atlas_clients.emulator.add_fault(
        method="POST", path="/regions/*/api/v1alpha1/instances", action="drop", perform=True
    )
    # The lookup that would recover the create fails too, so the create raises...
    atlas_clients.emulator.add_fault(
        method="GET", path="/regions/*/api/v1alpha1/instances", status=503
    )
    with pytest.raises(ApiConnectionError):
        await inside(atlas_clients, atlas.instances.disposable(type="cpu.2x"))
    # ... and on the way out, the instance it made was found by its tag and deleted.
    (instance,) = await resolve(atlas.instances.list())
    assert instance.state == "deleting"


# -- safe creates under faults ----------------------------------------------------------


@pytest.mark.parametrize("fault", [{"status": 500}, {"action": "drop"}], ids=["500", "drop"])
async def test_a_create_whose_answer_is_lost_never_makes_a_second_instance(
    atlas_clients: AtlasClients, fault: Any
) -> None:
    atlas = await on_project(atlas_clients)
    atlas_clients.emulator.add_fault(
        method="POST", path="/regions/*/api/v1alpha1/instances", perform=True, **fault
    )
    instance = await resolve(atlas.instances.create(type="cpu.2x", name="once"))
    listed = await resolve(atlas.instances.list())
    assert [i.id for i in listed] == [instance.id]
    posts = [
        e for e in atlas_clients.emulator.journal()
        if e["method"] == "POST" and e["path"].endswith("/instances")
    ]  # fmt: skip
    assert len(posts) == 1  # found by its tag, not sent again


async def test_a_create_that_never_arrived_is_sent_again(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    atlas_clients.emulator.add_fault(
        method="POST", path="/regions/*/api/v1alpha1/instances", status=503
    )
    instance = await resolve(atlas.instances.create(type="cpu.2x"))
    assert [i.id for i in await resolve(atlas.instances.list())] == [instance.id]


@pytest.mark.parametrize("what", ["projects", "filesystems"])
async def test_projects_and_filesystems_are_safe_to_retry_too(
    atlas_clients: AtlasClients, what: str
) -> None:
    atlas = await on_project(atlas_clients)
    path = "/regions/*/api/v1alpha1/" + what
    atlas_clients.emulator.add_fault(method="POST", path=path, status=502, perform=True)
    if what == "projects":
        made = await resolve(atlas.projects.create(name="again"))
        names = [p.name for p in await resolve(atlas.projects.list())]
        assert names.count("again") == 1
    else:
        made = await resolve(atlas.filesystems.create(name="again", size="1Ti"))
        assert [f.id for f in await resolve(atlas.filesystems.list())] == [made.id]


async def test_a_stop_whose_answer_is_lost_is_checked_not_repeated(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients)
    instance = await resolve(atlas.instances.create(type="cpu.2x", wait=True))
    atlas_clients.emulator.add_fault(
        method="POST", path="/regions/*/api/v1alpha1/instances/*/actions/stop", perform=True
    )
    await resolve(atlas.instances.stop(instance.id))  # no ConflictError from a repeat
    assert (await resolve(atlas.instances.get(instance.id))).state == "stopping"


async def test_an_unrecoverable_create_reports_its_own_failure(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients, max_retries=0)
    atlas_clients.emulator.add_fault(
        method="POST", path="/regions/*/api/v1alpha1/instances", status=500, perform=True
    )
    atlas_clients.emulator.add_fault(
        method="GET", path="/regions/*/api/v1alpha1/instances", status=500
    )
    with pytest.raises(InternalServerError):
        await resolve(atlas.instances.create(type="cpu.2x"))


# -- tokens against the emulator ----------------------------------------------------------


async def test_token_expiry_mid_run_is_invisible(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    await resolve(atlas.instances.list())
    atlas_clients.emulator.atlas.expire_tokens()  # as if the token's hour were over
    assert await resolve(atlas.instances.list()) == []
    statuses = [
        (e["path"], e["status"])
        for e in atlas_clients.emulator.journal()
        if e["path"].endswith(("/instances", "/oauth/token"))
    ]
    assert statuses[-3:] == [
        ("/regions/eu-north-1/api/v1alpha1/instances", 401),
        ("/oauth/token", 200),
        ("/regions/eu-north-1/api/v1alpha1/instances", 200),
    ]


async def test_wrong_credentials_and_tokens(atlas_clients: AtlasClients) -> None:
    wrong = atlas_clients.make(client_secret="not-the-secret")
    with pytest.raises(TokenError) as info:
        await resolve(wrong.regions.list())
    assert info.value.error == "invalid_client"
    assert info.value.status_code == 401
    assert "not-the-secret" not in str(info.value)
    forged = atlas_clients.make(client_id=None, client_secret=None, token="eyJ.forged.token")
    with pytest.raises(AuthenticationError):
        await resolve(forged.regions.list())
    expired = atlas_clients.emulator.atlas.token()
    atlas_clients.emulator.atlas.expire_tokens()
    stale = atlas_clients.make(client_id=None, client_secret=None, token=expired)
    with pytest.raises(AuthenticationError):
        await resolve(stale.organizations.list())


async def test_organizations_are_isolated(atlas_clients: AtlasClients) -> None:
    control = atlas_clients.emulator.atlas
    control.create_organization("tenant-b", "tenant-b-secret")
    mine = await on_project(atlas_clients)
    theirs = await on_project(atlas_clients, client_id="tenant-b", client_secret="tenant-b-secret")
    instance = await resolve(mine.instances.create(type="cpu.2x"))
    with pytest.raises(NotFoundError):  # their project header is not ours
        await resolve(theirs.with_options(project_id=mine.project_id).instances.list())
    assert await resolve(theirs.instances.list(all_regions=True)) == []
    with pytest.raises(NotFoundError):
        await resolve(theirs.instances.get(instance.id, all_regions=True))
