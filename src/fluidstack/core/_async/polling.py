"""The polling loop behind every ``wait``: poll, check the policy, sleep, within a deadline."""

from __future__ import annotations

from typing import Awaitable, Callable, Optional, TypeVar

from ..errors import ApiTimeoutError
from ..request_options import RequestOptions, with_deadline
from ..waiters import WaitPolicy
from .pipeline import AsyncPipeline

__all__ = ["poll_until"]

T = TypeVar("T")


async def poll_until(
    pipeline: AsyncPipeline,
    policy: WaitPolicy,
    fetch: Callable[[Optional[RequestOptions]], Awaitable[T]],
    *,
    request_options: Optional[RequestOptions] = None,
    on_poll: Optional[Callable[[T], object]] = None,
) -> T:
    """Call ``fetch`` until what it returns satisfies ``policy``, and return that.

    Sleeps with the pipeline's ``sleep`` (so tests can move a simulated clock instead),
    and never lets a single poll outlive the policy's deadline.

    Raises:
        WaitTimeoutError: The deadline passed; ``.instance`` is the last state seen.
        InstanceFailedError: A poll found a state the policy calls a dead end.
    """
    clock = pipeline.clock
    deadline = None if policy.timeout is None else clock() + policy.timeout
    last: Optional[T] = None
    polls = 0
    while True:
        options = request_options
        if deadline is not None:
            left = deadline - clock()
            if left <= 0:
                raise policy.timed_out(last, seen=polls > 0)
            options = with_deadline(request_options, left)
        try:
            last = await fetch(options)
        except ApiTimeoutError as exc:
            if deadline is not None and clock() >= deadline:
                raise policy.timed_out(last, seen=polls > 0) from exc
            raise
        polls += 1
        if on_poll is not None:
            on_poll(last)
        if policy.reached(last):
            return last
        delay = policy.interval(polls)
        if deadline is not None:
            left = deadline - clock()
            if left <= 0:
                raise policy.timed_out(last)
            delay = min(delay, left)
        await pipeline.sleep(delay)
