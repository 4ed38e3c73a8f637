"""403 from Atlas: PermissionDeniedError with the server's message, on both clients,
and nothing changed (a viewer's invite, role change, project create and delete)."""

from __future__ import annotations

from typing import Any

import pytest
from atlas_client_support import AtlasClients

from fluidstack.atlas import MemberRole, Organization
from fluidstack.core import PermissionDeniedError
from support import resolve

pytestmark = pytest.mark.anyio


async def test_a_viewer_gets_permission_denied_and_changes_nothing(
    atlas_clients: AtlasClients,
) -> None:
    control = atlas_clients.emulator.atlas
    admin = atlas_clients.make()  # client credentials: the organization's admin
    project = await resolve(admin.projects.create(name="kept"))
    added = control.add_user("vera@example.com")
    await resolve(admin.members.update(added["id"], role=MemberRole.VIEWER))
    token = control.login_tokens(email="vera@example.com", password=added["password"])
    viewer = atlas_clients.make(
        client_id=None, client_secret=None, token=token["access_token"], project_id=project.id
    )
    seeded_admin = next(
        m for m in await resolve(admin.members.list()) if m.email != "vera@example.com"
    )

    async def state() -> Any:
        return (
            [(m.id, m.role) for m in await resolve(admin.members.list())],
            [(i.email, i.role) for i in await resolve(admin.invitations.list())],
            [p.id for p in await resolve(admin.projects.list())],
        )

    before = await state()
    attempts = [
        lambda: viewer.invitations.create(email="eve@example.com", role="admin"),
        lambda: viewer.members.update(added["id"], role="admin"),
        lambda: viewer.projects.create(name="mine"),
        lambda: viewer.projects.delete(project.id),
        lambda: viewer.members.delete(seeded_admin.id),
        lambda: viewer.organizations.create(display_name="Mine"),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDeniedError) as info:
            await resolve(attempt())
        assert info.value.status_code == 403
        assert "read-only" in str(info.value)  # the server's message
        assert await state() == before
    # A viewer reads as before.
    assert [p.id for p in await resolve(viewer.projects.list())] == before[2]


async def test_an_admin_creates_an_organization(atlas_clients: AtlasClients) -> None:
    atlas = atlas_clients.make()
    org = await resolve(atlas.organizations.create(display_name="Research"))
    assert isinstance(org, Organization)
    assert org.display_name == "Research"
    (mine,) = await resolve(atlas.organizations.list())
    assert mine.id != org.id
    client_id = next(
        o["client_id"] for o in atlas_clients.emulator.atlas.organizations() if o["id"] == org.id
    )
    theirs = atlas_clients.make(
        client_id=None, client_secret=None, token=atlas_clients.emulator.atlas.token(client_id)
    )
    assert await resolve(theirs.organizations.list()) == [org]
    with pytest.raises(ValueError, match="display_name"):
        await resolve(atlas.organizations.create(display_name=" "))
