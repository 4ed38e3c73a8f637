"""The call budget: how many attempts and how much time one call may still use (the
client's timeouts and retries, overridden by the call's ``request_options``)."""

from __future__ import annotations

import time
from typing import Any, Dict, Mapping, Optional, Tuple

import httpx

from .config import DEFAULT_CREATE_GRACE_PERIOD, ClientConfig, as_timeout, check_max_response_bytes
from .errors import (
    ApiTimeoutError,
)
from .request_options import RequestOptions
from .retries import Outcome, retry_delay

__all__ = ["CallBudget"]


class CallBudget:
    """How many attempts and how much time one call may still use.

    Combines the client's settings with ``request_options``: the per-attempt timeout,
    ``max_retries``, and an optional total deadline that bounds attempts *and* back-off.
    """

    __slots__ = (
        "_attempt_end",
        "_attempt_seconds",
        "_clock",
        "_phases",
        "create_grace",
        "deadline",
        "max_response_bytes",
        "max_retries",
        "retries_done",
        "timeout",
        "total",
    )

    def __init__(
        self,
        config: ClientConfig,
        options: Optional[RequestOptions],
        clock: Any = time.monotonic,
    ) -> None:
        self._clock = clock
        timeout = config.timeout
        max_retries = config.max_retries
        total = config.total_timeout
        max_response_bytes = config.max_response_bytes
        create_grace = DEFAULT_CREATE_GRACE_PERIOD
        if options:
            if options.get("max_response_bytes") is not None:
                max_response_bytes = check_max_response_bytes(options["max_response_bytes"])
            if options.get("create_grace_period_in_seconds") is not None:
                create_grace = float(options["create_grace_period_in_seconds"])
                if create_grace < 0:
                    raise ValueError("create_grace_period_in_seconds must be >= 0")
            if options.get("timeout_in_seconds") is not None:
                timeout = as_timeout(options["timeout_in_seconds"])
            if options.get("max_retries") is not None:
                max_retries = int(options["max_retries"])
                if max_retries < 0:
                    raise ValueError("max_retries must be >= 0")
            if options.get("total_timeout_in_seconds") is not None:
                total = float(options["total_timeout_in_seconds"])
                if total <= 0:
                    raise ValueError("total_timeout_in_seconds must be > 0")
        self.timeout = timeout
        # Per phase, and the whole attempt's bound: asked on every attempt, built once.
        self._phases, self._attempt_seconds = _phases_of(timeout)
        self.max_retries = max_retries
        self.total = total
        self.deadline = None if total is None else clock() + total
        self.retries_done = 0
        self.max_response_bytes = max_response_bytes
        self.create_grace = create_grace
        self._attempt_end: Optional[float] = None

    def remaining(self) -> Optional[float]:
        """Seconds left before the deadline, or ``None`` without one."""
        return None if self.deadline is None else self.deadline - self._clock()

    def attempt_seconds(self) -> Optional[float]:
        """Seconds one attempt may take in all (connecting, headers and body), or
        ``None`` for no bound: the timeout given in seconds, or, for an
        ``httpx.Timeout``, the largest of its phases (``None`` if any phase is
        unbounded). httpx's own timeouts are per read, which a server dripping its
        answer a byte at a time never trips."""
        return self._attempt_seconds

    def start_attempt(self) -> Optional[float]:
        """Start the clock of one attempt; return the seconds it may take, the call's
        total deadline included (``None``: no bound at all)."""
        seconds = self.attempt_seconds()
        if seconds is None:
            self._attempt_end = None
        else:
            # A moment's grace past it, so that when one phase alone takes the whole
            # timeout, httpx's own timeout for it fires first and says which phase: a
            # connect timeout means the request never left (safe to retry, even a create).
            self._attempt_end = self._clock() + seconds + min(0.25, seconds / 10)
        return self.attempt_left()

    def attempt_left(self) -> Optional[float]:
        """Seconds the current attempt has left: the sooner of its own end and the
        call's deadline (``None``: no bound)."""
        end, deadline = self._attempt_end, self.deadline
        if end is None or (deadline is not None and deadline < end):
            end = deadline
        return None if end is None else end - self._clock()

    def total_deadline_passed(self) -> bool:
        """Whether the call's total deadline (not just an attempt's) has passed."""
        return self.deadline is not None and (self.remaining() or 0.0) <= 0

    def attempt_timeout(self) -> Dict[str, Optional[float]]:
        """The timeout for the next attempt, as httpx's ``timeout`` extension.

        Raises :class:`ApiTimeoutError` when the deadline has already passed.
        """
        left = self.remaining()
        base = self._phases
        if left is None:
            return dict(base)
        if left <= 0:
            raise self.deadline_error()
        return {k: left if v is None else min(v, left) for k, v in base.items()}

    def deadline_error(self) -> ApiTimeoutError:
        return ApiTimeoutError(
            f"the call did not finish within its total timeout of {self.total:g}s"
        )

    def next_delay(
        self, outcome: Outcome, headers: Optional[Mapping[str, str]], idempotent: bool
    ) -> Optional[float]:
        """Seconds to wait before retrying, or ``None`` when the call must not be retried.

        A non-idempotent call is never retried after an ambiguous failure here; the
        caller decides that (after looking for the effect of the first attempt).
        """
        if outcome in (Outcome.SUCCESS, Outcome.FATAL):
            return None
        if outcome is Outcome.AMBIGUOUS and not idempotent:
            return None
        if self.retries_done >= self.max_retries:
            return None
        delay = retry_delay(self.retries_done, headers)
        left = self.remaining()
        if left is not None and delay >= left:
            return None
        return delay


_Key = Tuple[Optional[float], Optional[float], Optional[float], Optional[float]]
_LAST_PHASES: Tuple[Optional[_Key], Dict[str, Optional[float]], Optional[float]]
_LAST_PHASES = (None, {}, None)
"""The last timeout's phases and attempt bound: the same client's timeout comes back on
every call (its values are compared, not the object, which could change). One entry,
read and replaced whole (threads share it). The dict is shared: callers copy it."""


def _phases_of(
    timeout: httpx.Timeout,
) -> Tuple[Dict[str, Optional[float]], Optional[float]]:
    """``timeout`` per phase, and the whole attempt's bound: the largest phase, or
    ``None`` when any phase is unbounded."""
    global _LAST_PHASES
    key = (timeout.connect, timeout.read, timeout.write, timeout.pool)
    last = _LAST_PHASES
    if key == last[0]:
        return last[1], last[2]
    phases = timeout.as_dict()
    values = list(phases.values())
    bound: Optional[float] = None
    if not any(p is None for p in values):
        bound = max(float(p) for p in values if p is not None)
    _LAST_PHASES = (key, phases, bound)
    return phases, bound
