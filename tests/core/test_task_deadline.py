"""The async pipeline's deadline on asyncio (``_io.deadline``): it raises ``TimeoutError``
when it passes, as ``anyio.fail_after`` does, and lets every other cancellation through
(a task cancelled from outside, an enclosing anyio scope)."""

from __future__ import annotations

import asyncio
import sys

import anyio
import pytest

from fluidstack.core._async._io import deadline

pytestmark = pytest.mark.anyio


async def test_a_passed_deadline_raises_timeout_error_and_leaves_the_task_usable() -> None:
    with pytest.raises(TimeoutError), deadline(0.01):
        await asyncio.sleep(5)
    await asyncio.sleep(0)  # no cancellation left behind
    task = asyncio.current_task()
    assert task is not None
    if sys.version_info >= (3, 11):
        assert task.cancelling() == 0


async def test_a_deadline_that_does_not_pass_changes_nothing() -> None:
    with deadline(5):
        await asyncio.sleep(0)
    with deadline(None):
        await asyncio.sleep(0)


async def test_a_cancellation_from_outside_is_not_turned_into_a_timeout() -> None:
    async def call() -> None:
        with deadline(5):
            await asyncio.sleep(5)

    task = asyncio.ensure_future(call())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_enclosing_scope_that_is_cancelled_gets_its_cancellation() -> None:
    with anyio.move_on_after(0.01) as scope:
        with deadline(5):
            await asyncio.sleep(5)
    assert scope.cancelled_caught


async def test_an_enclosing_scope_that_passes_after_the_deadline_still_ends_the_call() -> None:
    async def call() -> None:
        with deadline(0.01):
            await asyncio.sleep(5)

    with anyio.CancelScope(deadline=anyio.current_time() + 0.2) as scope:
        with pytest.raises(TimeoutError):
            await call()
        await asyncio.sleep(5)  # the scope's own cancellation still arrives
    assert scope.cancelled_caught
