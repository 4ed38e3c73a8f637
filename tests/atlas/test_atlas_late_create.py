"""Issue 13, item 14 on Atlas: a create whose first attempt reaches the server late (after
the client gave up on it) leaves one instance, found by its client-token tag; after a
resend, a late duplicate is deleted and reported. Both clients, on the emulator, with
real waits (the late arrival happens in real time)."""

from __future__ import annotations

import time
from typing import Any, List

import anyio
import pytest
from atlas_client_support import AtlasClients
from test_atlas_e2e import on_project

from fluidstack.atlas.endpoints import CLIENT_TOKEN_TAG
from fluidstack.core import DuplicateEvent, EventHooks
from support import resolve

pytestmark = pytest.mark.anyio

CREATE = "/regions/*/api/v1alpha1/instances"


async def _real_time(atlas_clients: AtlasClients, **kwargs: Any) -> Any:
    atlas = await on_project(atlas_clients, timeout=0.3, **kwargs)
    atlas._pipeline.sleep = anyio.sleep if atlas_clients.is_async else time.sleep
    atlas._pipeline.clock = time.monotonic
    return atlas


async def test_item14_atlas_a_late_first_attempt_is_found_not_duplicated(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await _real_time(atlas_clients)
    atlas_clients.emulator.add_fault(method="POST", path=CREATE, action="delay", seconds=1.2)
    created = await resolve(atlas.instances.create(type="cpu.2x"))
    listed = await resolve(atlas.instances.list())
    assert [i.id for i in listed] == [created.id]
    posts = [e for e in atlas_clients.emulator.journal() if e["method"] == "POST"]
    assert len([e for e in posts if e["path"].endswith("/instances")]) == 1


async def test_item14_atlas_a_late_duplicate_after_a_resend_is_deleted(
    atlas_clients: AtlasClients,
) -> None:
    events: List[DuplicateEvent] = []
    atlas = await _real_time(
        atlas_clients, event_hooks=EventHooks(on_duplicate=[events.append]), max_retries=3
    )
    emulator = atlas_clients.emulator
    emulator.add_fault(method="POST", path=CREATE, action="delay", seconds=2.0)
    emulator.add_fault(method="POST", path=CREATE, status=503, retry_after="3")
    created = await resolve(
        atlas.instances.create(type="cpu.2x", request_options={"create_grace_period_in_seconds": 0})
    )
    listed = await resolve(atlas.instances.list())
    alive = [i.id for i in listed if i.state != "deleting"]
    assert alive == [created.id]
    (event,) = events
    assert event.kept_id == created.id
    assert event.identity == created.tags[CLIENT_TOKEN_TAG]
    assert [i.id for i in listed if i.state == "deleting"] == event.deleted_ids
