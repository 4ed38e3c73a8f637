"""Every Atlas operation end to end over real HTTP against the emulator, on both clients:
the lifecycle, every error code the specs list, token expiry mid-run, capacity and
launch, waiters, and the safe-create fault cases."""

from __future__ import annotations

import base64
from typing import Any, Callable

import pytest
from atlas_client_support import AtlasClients

from fluidstack.atlas import (
    Capability,
    Filesystem,
    GlobalInstance,
    Instance,
    InstanceState,
    MemberRole,
    Project,
)
from fluidstack.core import (
    ApiConnectionError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InstanceFailedError,
    InternalServerError,
    NoCapacityError,
    NotFoundError,
    NotSupportedError,
    OutOfStockError,
    PermissionDeniedError,
    TokenError,
    UnknownRegionError,
    WaitTimeoutError,
)
from support import resolve

pytestmark = pytest.mark.anyio

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)
OTHER_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g other@desk"
)
MISSING = "00000000-0000-4000-8000-000000000000"


async def on_project(clients: AtlasClients, **kwargs: Any) -> Any:
    """A client on a new project of the development organization."""
    atlas = clients.make(**kwargs)
    project = await resolve(atlas.projects.create(name="e2e"))
    return atlas.with_options(project_id=project.id)


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


# -- management -------------------------------------------------------------------------


async def test_regions_and_organizations(atlas_clients: AtlasClients) -> None:
    atlas = atlas_clients.make()
    regions = await resolve(atlas.regions.list())
    base = atlas_clients.emulator.base_url
    assert [(r.name, r.url) for r in regions] == [
        ("eu-north-1", f"{base}/regions/eu-north-1"),
        ("us-east-1", f"{base}/regions/us-east-1"),
    ]
    (organization,) = await resolve(atlas.organizations.list())
    assert organization.name == "org-1"


async def test_members_update_and_delete(atlas_clients: AtlasClients) -> None:
    atlas = atlas_clients.make()
    added = atlas_clients.emulator.atlas.add_member("Ada", "ada@example.com", role="viewer")
    await resolve(atlas.members.update(added["id"], role=MemberRole.EDITOR))
    roles = {m.email: m.role for m in await resolve(atlas.members.list())}
    assert roles["ada@example.com"] is MemberRole.EDITOR
    with pytest.raises(BadRequestError):
        await resolve(atlas.members.update(added["id"], role="owner"))
    await resolve(atlas.members.delete(added["id"]))
    assert "ada@example.com" not in {m.email for m in await resolve(atlas.members.list())}
    with pytest.raises(NotFoundError):
        await resolve(atlas.members.delete(added["id"]))
    with pytest.raises(NotFoundError):
        await resolve(atlas.members.update(added["id"], role="viewer"))


async def test_invitations(atlas_clients: AtlasClients) -> None:
    atlas = atlas_clients.make()
    assert await resolve(atlas.invitations.create(email="bob@example.com", role="viewer")) is None
    (invitation,) = await resolve(atlas.invitations.list())
    assert invitation.email == "bob@example.com"
    assert invitation.role is MemberRole.VIEWER
    with pytest.raises(BadRequestError):
        await resolve(atlas.invitations.create(email="carol@example.com", role="wizard"))
    with pytest.raises(ValueError, match="email"):
        await resolve(atlas.invitations.create(email="not-an-address"))
    await resolve(atlas.invitations.delete(invitation.id))
    assert await resolve(atlas.invitations.list()) == []
    with pytest.raises(NotFoundError):
        await resolve(atlas.invitations.delete(invitation.id))


async def test_user_keys(atlas_clients: AtlasClients) -> None:
    atlas = atlas_clients.make()
    key = await resolve(atlas.user_keys.create(name="laptop", key=PUBLIC_KEY + "\n"))
    assert key.key == PUBLIC_KEY
    assert [k.name for k in await resolve(atlas.user_keys.list())] == ["laptop"]
    # The same key again is what a retry after a lost answer does: not an error.
    await resolve(atlas.user_keys.create(name="laptop", key=PUBLIC_KEY))
    with pytest.raises(ConflictError):
        await resolve(atlas.user_keys.create(name="laptop", key=OTHER_KEY))
    with pytest.raises(BadRequestError):
        await resolve(atlas.user_keys.create(name="junk", key="not a key"))
    await resolve(atlas.user_keys.delete("laptop"))
    assert await resolve(atlas.user_keys.list()) == []
    with pytest.raises(NotFoundError):
        await resolve(atlas.user_keys.delete("laptop"))


async def test_clusters_and_the_global_instance_listing(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    clusters = await resolve(atlas.clusters.list())
    assert {c.type for c in clusters} == {"kubernetes", "slurm"}
    created = await resolve(atlas.instances.create(type="cpu.2x", name="a"))
    elsewhere = atlas.with_options(region="us-east-1")
    await resolve(elsewhere.instances.create(type="cpu.2x", name="b"))
    everywhere = await resolve(atlas.instances.list(all_regions=True))
    assert all(isinstance(i, GlobalInstance) for i in everywhere)
    assert sorted((i.name, i.region) for i in everywhere) == [
        ("a", "eu-north-1"),
        ("b", "us-east-1"),
    ]
    assert {i.project_id for i in everywhere} == {atlas.project_id}
    found = await resolve(atlas.instances.get(created.id, all_regions=True))
    assert found.region == "eu-north-1"
    with pytest.raises(NotFoundError):
        await resolve(atlas.instances.get(MISSING, all_regions=True))


async def test_management_5xx_is_retried_then_raised(atlas_clients: AtlasClients) -> None:
    atlas = atlas_clients.make()
    await resolve(atlas.members.list())  # token and connection in place
    atlas_clients.emulator.add_fault(method="GET", path="/api/v1alpha1/members", status=503)
    assert await resolve(atlas.members.list())  # one 503, then the answer
    atlas_clients.emulator.add_fault(
        method="GET", path="/api/v1alpha1/members", status=500, times=3
    )
    with pytest.raises(InternalServerError):
        await resolve(atlas.members.list())
    statuses = [
        e["status"] for e in atlas_clients.emulator.journal() if e["path"].endswith("/members")
    ]
    assert statuses == [200, 503, 200, 500, 500, 500]


# -- projects, catalog, orchestrators -------------------------------------------------


async def test_projects(atlas_clients: AtlasClients) -> None:
    atlas = atlas_clients.make()
    project = await resolve(atlas.projects.create(name="research", tags={"team": "ml"}))
    assert isinstance(project, Project)
    assert project.state == "active"
    assert project.tags["team"] == "ml"
    assert project.tags["fluidstack.client-token"]
    assert [p.id for p in await resolve(atlas.projects.list())] == [project.id]
    assert (await resolve(atlas.projects.get(project.id))).name == "research"
    # Projects are seen from every region (inferred by the emulator; see its docs).
    elsewhere = atlas.with_options(region="us-east-1")
    assert (await resolve(elsewhere.projects.get(project.id))).id == project.id
    with pytest.raises(NotFoundError):
        await resolve(atlas.projects.get(MISSING))
    with pytest.raises(BadRequestError):  # a tag key the server refuses
        await resolve(
            atlas.projects.create(
                name="x", request_options={"additional_body_parameters": {"tags": {"-x": "1"}}}
            )
        )
    scoped = atlas.with_options(project_id=project.id)
    instance = await resolve(scoped.instances.create(type="cpu.2x"))
    with pytest.raises(ConflictError):
        await resolve(atlas.projects.delete(project.id))
    await resolve(scoped.instances.delete(instance.id, wait=True))
    await resolve(atlas.projects.delete(project.id))
    with pytest.raises(NotFoundError):
        await resolve(atlas.projects.delete(MISSING))


async def test_catalog_capacity_and_capabilities(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    kinds = {t.name: t for t in await resolve(atlas.instance_types.list())}
    assert kinds["h100-hgx-80gb.8x"].gpu_count == 8
    assert kinds["h100-hgx-80gb.8x"].gpu_model == "H100-HGX-80GB"
    assert kinds["cpu.2x"].gpu_model is None
    before = {c.name: c.capacity for c in await resolve(atlas.capacity.list())}
    await resolve(atlas.instances.create(type="h100-hgx-80gb.8x"))
    after = {c.name: c.capacity for c in await resolve(atlas.capacity.list())}
    assert after["h100-hgx-80gb.8x"] == before["h100-hgx-80gb.8x"] - 1
    capabilities = await resolve(atlas.capabilities.list())
    assert capabilities == atlas_clients.emulator.atlas.all_capabilities
    assert len(capabilities) == 31
    assert all(isinstance(c, Capability) and c.is_known for c in capabilities)


async def test_kubernetes_and_slurm(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    (k8s,) = await resolve(atlas.kubernetes.clusters.list())
    pools = await resolve(atlas.kubernetes.node_pools.list())
    assert pools
    (slurm,) = await resolve(atlas.slurm.clusters.list())
    assert await resolve(atlas.slurm.node_pools.list())
    atlas_clients.emulator.atlas.remove_cluster(k8s.id)
    assert await resolve(atlas.kubernetes.clusters.list()) == []
    with pytest.raises(NotFoundError):  # no cluster of that kind: the spec's 404
        await resolve(atlas.kubernetes.node_pools.list())
    assert slurm.name


async def test_project_headers_are_checked(atlas_clients: AtlasClients) -> None:
    atlas = atlas_clients.make(project_id=MISSING)
    with pytest.raises(NotFoundError):  # not a project of this organization
        await resolve(atlas.instances.list())
    bad_org = {"additional_headers": {"X-ORG-ID": "someone-else"}}
    with pytest.raises(PermissionDeniedError):
        await resolve(atlas.projects.list(request_options=bad_org))


# -- instances --------------------------------------------------------------------------


async def test_instance_lifecycle_end_to_end(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    fs = await resolve(atlas.filesystems.create(name="data", size="512Gi"))
    created = await resolve(
        atlas.instances.create(
            name="trainer",
            type="cpu.8x",
            image="image://ubuntu24.04",
            tags={"team": "ml"},
            user_data=b"#cloud-config\npackages: [htop]\n",
            filesystems=[fs],
            ephemeral=True,
            preemptible=False,
        )
    )
    assert isinstance(created, Instance)
    assert created.state is InstanceState.CREATING
    assert created.ip is None
    assert created.user_data_bytes == b"#cloud-config\npackages: [htop]\n"
    assert base64.b64decode(created.user_data or "") == created.user_data_bytes
    assert created.filesystems == [fs.id]
    assert created.ephemeral is True
    assert created.image == "image://ubuntu24.04"
    seen: list = []
    running = await resolve(
        atlas.instances.wait(created.id, on_poll=lambda i: seen.append(str(i.state)))
    )
    assert running.state == "running"
    assert running.ip
    assert seen[-1] == "running"
    assert len(seen) >= 2  # creating/starting were seen on the way
    assert await resolve(atlas.instances.stop(created.id)) is None
    with pytest.raises(ConflictError):  # already stopping
        await resolve(atlas.instances.stop(created.id))
    stopped = await resolve(atlas.instances.wait(created.id, until="stopped"))
    assert stopped.state == "stopped"
    with pytest.raises(ConflictError):
        await resolve(atlas.instances.stop(created.id))
    started = await resolve(atlas.instances.start(created.id, wait=True))
    assert started.state == "running"
    with pytest.raises(ConflictError):
        await resolve(atlas.instances.start(created.id))
    with pytest.raises(ConflictError):  # still attached
        await resolve(atlas.filesystems.delete(fs.id))
    assert [i.id for i in await resolve(atlas.instances.list())] == [created.id]
    await resolve(atlas.instances.delete(created.id, wait=True))
    with pytest.raises(NotFoundError):
        await resolve(atlas.instances.get(created.id))
    assert await resolve(atlas.instances.list()) == []
    # Deleting what is gone: 404, unless waiting for it to be gone (then it is done).
    with pytest.raises(NotFoundError):
        await resolve(atlas.instances.delete(created.id))
    await resolve(atlas.instances.delete(created.id, wait=True))
    await resolve(atlas.filesystems.delete(fs.id))


async def test_instance_errors_the_spec_lists(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    with pytest.raises(BadRequestError):
        await resolve(atlas.instances.create(type="no-such-type"))
    for call in (
        atlas.instances.get,
        atlas.instances.delete,
        atlas.instances.start,
        atlas.instances.stop,
    ):
        with pytest.raises(NotFoundError):
            await resolve(call(MISSING))
    with pytest.raises(ValueError, match="tag key"):  # refused before sending
        await resolve(atlas.instances.create(type="cpu.2x", tags={"a/b": "c"}))


async def test_filesystems(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    fs = await resolve(atlas.filesystems.create(name="scratch", size=1024))
    assert isinstance(fs, Filesystem)
    assert fs.size == "1024Gi"
    assert (await resolve(atlas.filesystems.get(fs.id))).name == "scratch"
    assert [f.id for f in await resolve(atlas.filesystems.list())] == [fs.id]
    with pytest.raises(ValueError, match="size"):
        await resolve(atlas.filesystems.create(name="bad", size="lots"))
    with pytest.raises(BadRequestError):
        await resolve(
            atlas.filesystems.create(
                name="bad", size=1, request_options={"additional_body_parameters": {"size": "0"}}
            )
        )
    await resolve(atlas.filesystems.delete(fs.id))
    for call in (atlas.filesystems.get, atlas.filesystems.delete):
        with pytest.raises(NotFoundError):
            await resolve(call(fs.id))


async def test_waiters_raise_on_out_of_stock_error_and_timeout(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients)
    control = atlas_clients.emulator.atlas
    control.set_capacity("eu-north-1", "h100-hgx-80gb.8x", 0)
    starved = await resolve(atlas.instances.create(type="h100-hgx-80gb.8x"))
    with pytest.raises(OutOfStockError) as stock:
        await resolve(atlas.instances.wait(starved.id))
    assert stock.value.instance.state == "out-of-stock"
    assert isinstance(stock.value, InstanceFailedError)

    control.fail_next("eu-north-1", "cpu.2x")
    broken = await resolve(atlas.instances.create(type="cpu.2x"))
    with pytest.raises(InstanceFailedError) as failed:
        await resolve(atlas.instances.wait(broken.id))
    assert failed.value.instance.state == "error"
    assert not isinstance(failed.value, OutOfStockError)

    slow = await resolve(atlas.instances.create(type="cpu.2x"))
    with pytest.raises(WaitTimeoutError) as late:
        await resolve(atlas.instances.wait(slow.id, timeout=1, poll_interval=0.5))
    assert late.value.instance.state == "creating"
    # Waiting for a deletion, even a broken instance is fine.
    await resolve(atlas.instances.delete(broken.id))
    assert await resolve(atlas.instances.wait(broken.id, until="deleted")) is None


async def test_preempted_instances_stop(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    spot = await resolve(atlas.instances.create(type="cpu.2x", preemptible=True, wait=True))
    assert spot.preemptible is True
    atlas_clients.emulator.atlas.preempt(spot.id)
    stopped = await resolve(atlas.instances.wait(spot.id, until="stopped"))
    assert stopped.state == "stopped"


async def test_a_region_without_the_capability_raises_not_supported(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients)
    atlas_clients.emulator.atlas.withhold_capabilities("eu-north-1", "instances:create")
    with pytest.raises(NotSupportedError) as info:
        await resolve(atlas.instances.create(type="cpu.2x"))
    assert info.value.capability == "instances:create"
    assert "in region eu-north-1" in str(info.value)
    assert await resolve(atlas.instances.list()) == []


async def test_unknown_region_is_reported_with_the_known_ones(atlas_clients: AtlasClients) -> None:
    atlas = atlas_clients.make(region="mars-1", project_id=MISSING)
    with pytest.raises(UnknownRegionError, match="eu-north-1, us-east-1"):
        await resolve(atlas.instances.list())


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
