"""A wait for a state Atlas does not have is refused before any request (a typo would
otherwise poll for the whole timeout); a state this SDK does not list yet is waited for
when passed as an ``InstanceState``."""

from __future__ import annotations

from typing import Any

import pytest
from atlas_client_support import AtlasClients

from fluidstack.atlas.types import InstanceState
from support import resolve

pytestmark = pytest.mark.anyio


async def test_an_unknown_state_is_refused_and_an_enum_member_is_taken(
    atlas_clients: AtlasClients,
) -> None:
    atlas = atlas_clients.make()
    project = await resolve(atlas.projects.create(name="waits"))
    atlas = atlas.with_options(project_id=project.id)
    instance: Any = await resolve(atlas.instances.create(type="cpu.2x"))
    with pytest.raises(ValueError, match=r"until='runnning'.*did you mean 'running'\?"):
        await resolve(atlas.instances.wait(instance.id, until="runnning"))
    with pytest.raises(ValueError, match=r"Known: creating, deleted, deleting, error"):
        await resolve(atlas.instances.wait(instance.id, until=("ssh", "gone")))
    # "deleted" and "ssh" are goals too; a member the SDK does not list is taken as is.
    atlas_clients.emulator.advance(600)
    found = await resolve(
        atlas.instances.wait(instance.id, until=[InstanceState("hibernating"), "running"])
    )
    assert str(found.state) == "running"
