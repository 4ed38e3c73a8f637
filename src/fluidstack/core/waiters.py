"""Waiting for an instance to reach a state: the policy as data, shared by both APIs'
clients. The polling loop itself is :func:`fluidstack.core._async.polling.poll_until`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, FrozenSet, Iterable, Mapping, Optional, Type, Union

from .errors import InstanceFailedError, WaitTimeoutError

__all__ = ["GONE", "TERMINAL_STATUSES", "WaitPolicy", "wait_goals"]

TERMINAL_STATUSES: FrozenSet[str] = frozenset({"failed", "terminated"})
"""Platform statuses an instance never leaves."""

GONE = "deleted"
"""The state a waiter reports for an instance that no longer exists (its GET answers 404)."""

DEFAULT_WAIT_TIMEOUT = 900.0
DEFAULT_POLL_INTERVAL = 5.0
MAX_POLL_INTERVAL = 30.0
BACKOFF = 1.5

DeadEnds = Mapping[str, Type[InstanceFailedError]]

_PLATFORM_DEAD_ENDS: DeadEnds = dict.fromkeys(TERMINAL_STATUSES, InstanceFailedError)


def _status(instance: Any) -> str:
    return GONE if instance is None else str(instance.status)


def wait_goals(until: Union[str, Iterable[str]], states: Type[Any], *also: str) -> FrozenSet[str]:
    """The states a wait for ``until`` ends at, as strings.

    ``states`` is the API's enumeration of them (an :class:`~fluidstack.core.models.OpenEnum`)
    and ``also`` the other goals a wait takes (``"ssh"``, ``"deleted"``). A plain string
    that names none of them is refused at once: a typo (``"runing"``) would otherwise
    poll for the whole timeout. A member of ``states`` is always taken, even one this
    SDK does not list, so ``InstanceStatus("resizing")`` waits for a state a newer API
    added."""
    given = [until] if isinstance(until, str) else list(until)
    known = {str(m.value) for m in states}.union(also)
    for goal in given:
        if type(goal) is str and goal not in known:  # an enum member is a str too
            import difflib

            close = difflib.get_close_matches(goal, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"until={goal!r} is not a state to wait for{hint}. Known: "
                f"{', '.join(sorted(known))}. For a state this SDK does not list yet, "
                f"pass {states.__name__}({goal!r})."
            )
    return frozenset(str(goal) for goal in given)


@dataclass(frozen=True)
class WaitPolicy:
    """When a wait succeeds, fails, and how often it polls.

    Polling starts every ``poll_interval`` seconds and slows by ``BACKOFF`` after each
    poll, up to ``max_poll_interval``, so long provisions do not hammer the API.

    ``dead_ends`` maps the states an instance cannot leave for a goal to the error that
    says so (platform: ``failed``/``terminated``; Atlas: ``error``, ``out-of-stock``);
    ``status_of`` reads the state of what a poll returned (``None`` when it is gone).
    """

    until: FrozenSet[str]
    timeout: Optional[float]
    poll_interval: float
    max_poll_interval: float
    dead_ends: DeadEnds = field(default_factory=lambda: _PLATFORM_DEAD_ENDS)
    status_of: Callable[[Any], str] = _status

    @classmethod
    def build(
        cls,
        until: Union[str, Iterable[str]],
        timeout: Optional[float],
        poll_interval: float,
        max_poll_interval: Optional[float] = None,
        *,
        dead_ends: Optional[DeadEnds] = None,
        status_of: Callable[[Any], str] = _status,
    ) -> WaitPolicy:
        goals = frozenset({str(until)} if isinstance(until, str) else {str(u) for u in until})
        if not goals:
            raise ValueError("until must name at least one status")
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be > 0 seconds (or None to wait forever)")
        if poll_interval <= 0:
            raise ValueError("poll_interval must be > 0 seconds")
        ceiling = max(
            poll_interval, MAX_POLL_INTERVAL if max_poll_interval is None else max_poll_interval
        )
        return cls(
            goals,
            timeout,
            poll_interval,
            ceiling,
            _PLATFORM_DEAD_ENDS if dead_ends is None else dead_ends,
            status_of,
        )

    def reached(self, instance: Any) -> bool:
        """True when ``instance`` is in a goal state; raises if it can never get there."""
        status = self.status_of(instance)
        if status in self.until:
            return True
        error = self.dead_ends.get(status)
        if error is not None:
            what = "instance" if instance is None else f"instance {instance.id}"
            raise error(
                f"{what} is {status}; it will never be {' or '.join(sorted(self.until))}",
                instance=instance,
            )
        return False

    def interval(self, polls_done: int) -> float:
        """Seconds to wait after poll number ``polls_done`` (1 for the first)."""
        # Past 60 steps the ceiling has long been reached; the cap keeps floats finite.
        steps = min(max(0, polls_done - 1), 60)
        return min(self.poll_interval * BACKOFF**steps, self.max_poll_interval)

    def timed_out(self, instance: Any, seen: bool = True) -> WaitTimeoutError:
        """The error of a wait whose deadline passed; ``instance`` is the last poll's."""
        status = self.status_of(instance) if seen else "unknown"
        ident = "" if instance is None else f"instance {instance.id} "
        return WaitTimeoutError(
            f"{ident}did not become {' or '.join(sorted(self.until))} within "
            f"{self.timeout:g}s (last status: {status})",
            instance=instance,
        )
