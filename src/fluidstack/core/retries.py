"""When to retry and how long to wait: pure functions shared by both clients.

The send loops in ``fluidstack.core._sync.pipeline`` and ``core._async.pipeline``
only do I/O and sleep; every decision is made here, so it is tested once.
"""

from __future__ import annotations

import email.utils
import enum
import random
import time
from typing import Callable, List, Mapping, Optional

import httpx

__all__ = [
    "INITIAL_DELAY",
    "MAX_DELAY",
    "MAX_RETRY_AFTER",
    "Outcome",
    "classify_exception",
    "classify_status",
    "late_create_delays",
    "may_arrive_late",
    "retry_delay",
]

INITIAL_DELAY = 0.5
"""Back-off before the first retry, in seconds (before jitter)."""

MAX_DELAY = 8.0
"""Largest back-off the SDK chooses by itself, in seconds."""

MAX_RETRY_AFTER = 60.0
"""Largest server-requested wait (``Retry-After``) the SDK honours, in seconds."""


class Outcome(enum.Enum):
    """What one attempt came to, as far as retrying is concerned."""

    SUCCESS = "success"
    """A 2xx response (202 for a pending instance included)."""

    FATAL = "fatal"
    """An error that retrying cannot fix: 4xx other than 408/429, 501 (not supported),
    or a redirect that was not followed."""

    NOT_PERFORMED = "not_performed"
    """Retryable, and the server certainly did not act on the request: the
    connection was never made, or the server answered 408/429."""

    AMBIGUOUS = "ambiguous"
    """Retryable, but the server may have acted: a 5xx, a read timeout, a connection
    dropped after the request was sent. Repeating a non-idempotent request here can
    perform it twice."""


def classify_status(status_code: int) -> Outcome:
    """Classify a response by its status code."""
    if 200 <= status_code < 300:
        return Outcome.SUCCESS
    if status_code in (408, 429):
        return Outcome.NOT_PERFORMED
    if status_code == 501:  # "not implemented" does not change by asking again
        return Outcome.FATAL
    if status_code >= 500:
        return Outcome.AMBIGUOUS
    return Outcome.FATAL


def classify_exception(exc: BaseException) -> Outcome:
    """Classify a transport error raised by ``httpx``."""
    # The request never reached the server: always safe to repeat.
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return Outcome.NOT_PERFORMED
    if isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)):
        return Outcome.AMBIGUOUS
    return Outcome.FATAL


def may_arrive_late(status_code: Optional[int]) -> bool:
    """Whether a failed attempt may still reach the server (and act) later: no answer at
    all (a timeout, a dropped connection), or a gateway's 502/504, behind which the
    upstream may still be working on it. A server's own 500/503 is its last word."""
    return status_code is None or status_code in (502, 504)


def late_create_delays(grace: float, first: float = INITIAL_DELAY) -> List[float]:
    """Pauses between the lookups for a create that may arrive late: doubling from
    ``first``, adding up to ``grace`` seconds (the last one cut to fit)."""
    delays: List[float] = []
    spent, delay = 0.0, first
    while spent < grace - 1e-9:
        step = min(delay, grace - spent)
        delays.append(step)
        spent += step
        delay *= 2
    return delays


def retry_after(
    headers: Optional[Mapping[str, str]], now: Optional[float] = None
) -> Optional[float]:
    """The wait the server asked for, in seconds, or ``None``.

    Understands ``retry-after-ms`` (milliseconds), and ``Retry-After`` as seconds or as
    an HTTP date. Malformed or negative values are ignored rather than raised.
    """
    if not headers:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0 and value == value:  # rejects NaN
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if parsed is None:  # pragma: no cover - older Pythons return None
            return None
        current = time.time() if now is None else now
        return max(0.0, parsed.timestamp() - current)
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds


def retry_delay(
    retries_done: int,
    headers: Optional[Mapping[str, str]] = None,
    *,
    jitter: Callable[[], float] = random.random,
    now: Optional[float] = None,
) -> float:
    """Seconds to wait before retry number ``retries_done + 1``.

    A server-requested wait (``Retry-After``/``retry-after-ms``) is honoured when it is
    at most :data:`MAX_RETRY_AFTER`; otherwise the delay is exponential back-off from
    :data:`INITIAL_DELAY`, capped at :data:`MAX_DELAY`, with up to 25 % jitter taken off
    so that many clients do not retry in lock-step.
    """
    requested = retry_after(headers, now=now)
    if requested is not None and requested <= MAX_RETRY_AFTER:
        return requested
    # The cap on the exponent keeps the float finite for any retry count.
    base = min(INITIAL_DELAY * (2.0 ** min(retries_done, 32)), MAX_DELAY)
    return base * (1.0 - 0.25 * jitter())
