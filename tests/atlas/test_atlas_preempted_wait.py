"""A wait does not outlive a preemption: a preemptible instance that stops after it was
seen on its way up will not get to ``running`` (or SSH) on its own, so the wait raises
``InstancePreemptedError`` at once instead of polling until its timeout."""

from __future__ import annotations

from typing import Any, List

import pytest
from atlas_client_support import AtlasClients

from fluidstack.atlas import InstanceFailedError, InstancePreemptedError, WaitTimeoutError
from support import resolve

pytestmark = pytest.mark.anyio


async def _project(clients: AtlasClients) -> Any:
    atlas = clients.make()
    project = await resolve(atlas.projects.create(name="spot"))
    return atlas.with_options(project_id=project.id)


async def test_a_wait_for_running_ends_when_the_instance_is_preempted(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await _project(atlas_clients)
    control = atlas_clients.emulator.atlas
    spot = await resolve(atlas.instances.create(type="cpu.2x", preemptible=True))
    seen: List[str] = []

    def preempt_after_the_first_poll(instance: Any) -> None:
        seen.append(str(instance.state))
        if len(seen) == 1:  # it comes up and is preempted before the next poll
            atlas_clients.emulator.advance(600)
            control.preempt(spot.id)

    with pytest.raises(InstancePreemptedError) as caught:
        await resolve(
            atlas.instances.wait(spot.id, timeout=3600, on_poll=preempt_after_the_first_poll)
        )
    assert isinstance(caught.value, InstanceFailedError)  # old handlers still catch it
    assert str(caught.value.instance.state) in ("stopping", "stopped")
    assert "preempted" in str(caught.value)
    assert len(seen) == 2  # no polling until the timeout


async def test_a_stopped_instance_is_not_taken_for_a_preempted_one(
    atlas_clients: AtlasClients,
) -> None:
    """Stopped from the first poll on (a wait right after ``start`` may still read it so),
    or waited for in ``stopped``, or not preemptible: no preemption is reported."""
    atlas = await _project(atlas_clients)
    control = atlas_clients.emulator.atlas
    spot = await resolve(atlas.instances.create(type="cpu.2x", preemptible=True))
    atlas_clients.emulator.advance(600)
    control.preempt(spot.id)
    stopped = await resolve(atlas.instances.wait(spot.id, until="stopped"))
    assert str(stopped.state) == "stopped"

    # Already stopped at the first poll: the wait keeps going (here until its timeout,
    # since nothing starts it), rather than calling it a preemption.
    with pytest.raises(WaitTimeoutError):
        await resolve(atlas.instances.wait(spot.id, timeout=30, poll_interval=5))

    steady = await resolve(atlas.instances.create(type="cpu.2x"))
    atlas_clients.emulator.advance(600)
    await resolve(atlas.instances.stop(steady.id))
    with pytest.raises(WaitTimeoutError):  # a stop of an on-demand instance: no dead end
        await resolve(atlas.instances.wait(steady.id, timeout=30, poll_interval=5))
