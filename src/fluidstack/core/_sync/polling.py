# Generated from fluidstack/core/_async by scripts/unasync.py: do not edit by hand.
"""The polling loop behind every ``wait``: poll, check the policy, sleep, within a deadline."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple, TypeVar

from ..errors import ApiTimeoutError
from ..request_options import RequestOptions, with_deadline
from ..waiters import WaitPolicy
from ._io import ssh_banner
from .pipeline import Pipeline

__all__ = ["SSH_GOAL", "poll_until", "with_ssh_goal"]

SSH_GOAL = "ssh"
"""The goal of a wait for an instance that is running *and* whose SSH server answers."""
SSH_PROBE_SECONDS = 5.0
"""How long one poll waits for the SSH banner before calling it not ready yet."""

T = TypeVar("T")


def poll_until(
    pipeline: Pipeline,
    policy: WaitPolicy,
    fetch: Callable[[Optional[RequestOptions]], T],
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
            last = fetch(options)
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
        pipeline.sleep(delay)


def with_ssh_goal(
    fetch: Callable[[Optional[RequestOptions]], T],
    status_of: Callable[[Any], str],
    address_of: Callable[[T], Optional[Tuple[str, int]]],
) -> Tuple[Callable[[Optional[RequestOptions]], T], Callable[[Any], str]]:
    """``fetch`` and ``status_of`` for a wait whose goal may be ``"ssh"``: a poll that
    finds the instance ``running`` also knocks on its SSH port, and the instance counts
    as ``ssh`` once the server's banner answers (sshd often starts after "running")."""
    ready: List[Any] = []

    def fetch_and_knock(options: Optional[RequestOptions]) -> T:
        instance = fetch(options)
        ready.clear()
        if instance is not None and status_of(instance) == "running":
            address = address_of(instance)
            # A knock never outlives the wait's deadline (an address that drops packets
            # would otherwise hold each poll for the whole probe).
            left = (options or {}).get("total_timeout_in_seconds")
            within = SSH_PROBE_SECONDS if left is None else max(min(SSH_PROBE_SECONDS, left), 0.01)
            if address is not None and ssh_banner(*address, within):
                ready.append(instance)
        return instance

    def status(instance: Any) -> str:
        if ready and ready[0] is instance:
            return SSH_GOAL
        return status_of(instance)

    return fetch_and_knock, status
