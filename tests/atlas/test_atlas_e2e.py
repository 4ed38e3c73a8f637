"""Every Atlas operation end to end over real HTTP against the emulator, on both clients:
management, projects, the catalog and orchestrators, and the instance lifecycle with
every error code the specs list, waiters and capacity. Launch and disposable, the
safe-create fault cases and tokens: ``test_atlas_e2e_faults.py``."""

from __future__ import annotations

import base64

import pytest
from atlas_client_support import AtlasClients, on_project

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
    BadRequestError,
    ConflictError,
    InstanceFailedError,
    InternalServerError,
    NotFoundError,
    NotSupportedError,
    OutOfStockError,
    PermissionDeniedError,
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
