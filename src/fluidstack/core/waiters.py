"""Waiting for an instance to reach a status: the policy as data, shared by both clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, FrozenSet, Iterable, Optional, Union

from .errors import InstanceFailedError, WaitTimeoutError

__all__ = ["TERMINAL_STATUSES", "WaitPolicy"]

TERMINAL_STATUSES: FrozenSet[str] = frozenset({"failed", "terminated"})
"""Statuses an instance never leaves."""

DEFAULT_WAIT_TIMEOUT = 900.0
DEFAULT_POLL_INTERVAL = 5.0
MAX_POLL_INTERVAL = 30.0
BACKOFF = 1.5


@dataclass(frozen=True)
class WaitPolicy:
    """When a wait succeeds, fails, and how often it polls.

    Polling starts every ``poll_interval`` seconds and slows by ``BACKOFF`` after each
    poll, up to ``max_poll_interval``, so long provisions do not hammer the API.
    """

    until: FrozenSet[str]
    timeout: Optional[float]
    poll_interval: float
    max_poll_interval: float

    @classmethod
    def build(
        cls,
        until: Union[str, Iterable[str]],
        timeout: Optional[float],
        poll_interval: float,
        max_poll_interval: Optional[float] = None,
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
        return cls(goals, timeout, poll_interval, ceiling)

    def reached(self, instance: Any) -> bool:
        """True when ``instance`` is in a goal status; raises if it can never get there."""
        status = str(instance.status)
        if status in self.until:
            return True
        if status in TERMINAL_STATUSES:
            raise InstanceFailedError(
                f"instance {instance.id} is {status}; it will never be "
                f"{' or '.join(sorted(self.until))}",
                instance=instance,
            )
        return False

    def interval(self, polls_done: int) -> float:
        """Seconds to wait after poll number ``polls_done`` (1 for the first)."""
        # Past 60 steps the ceiling has long been reached; the cap keeps floats finite.
        steps = min(max(0, polls_done - 1), 60)
        return min(self.poll_interval * BACKOFF**steps, self.max_poll_interval)

    def timed_out(self, instance: Any) -> WaitTimeoutError:
        status = "unknown" if instance is None else str(instance.status)
        ident = "" if instance is None else f"instance {instance.id} "
        return WaitTimeoutError(
            f"{ident}did not become {' or '.join(sorted(self.until))} within "
            f"{self.timeout:g}s (last status: {status})",
            instance=instance,
        )
