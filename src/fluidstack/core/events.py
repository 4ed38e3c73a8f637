"""Observing calls: event hooks for metrics and tracing, and the ``fluidstack`` logger.

Set ``FLUIDSTACK_LOG=info`` (or ``debug``) to log every attempt to stderr, or configure
the ``fluidstack`` logger yourself. Neither the API key nor request bodies are logged.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Callable, List, Optional

__all__ = ["EventHooks", "RequestEvent", "ResponseEvent", "RetryEvent", "logger"]

logger = logging.getLogger("fluidstack")


@dataclass(frozen=True)
class RequestEvent:
    """An attempt is about to be sent."""

    operation: str
    """The SDK method, e.g. ``instances.get``."""
    method: str
    path: str
    """The URL path, without host or query (query values may be sensitive)."""
    attempt: int
    """1 for the first attempt, 2 for the first retry, ..."""


@dataclass(frozen=True)
class ResponseEvent:
    """An attempt ended with a response or a transport error."""

    operation: str
    method: str
    path: str
    attempt: int
    status_code: Optional[int]
    """``None`` when no response arrived (see ``error``)."""
    elapsed: float
    """Seconds since this attempt was sent."""
    error: Optional[str] = None
    """The transport error's class name, when there was no response."""


@dataclass(frozen=True)
class RetryEvent:
    """The SDK is about to wait and retry."""

    operation: str
    method: str
    path: str
    attempt: int
    """The attempt that failed."""
    delay: float
    """Seconds the SDK will wait before the next attempt."""
    reason: str
    """The status code or transport error that caused the retry."""


@dataclass
class EventHooks:
    """Callables run synchronously on each event; an exception in a hook propagates.

    Example::

        hooks = EventHooks(on_response=[lambda e: metrics.observe(e.operation, e.elapsed)])
        client = FluidStack(event_hooks=hooks)
    """

    on_request: List[Callable[[RequestEvent], None]] = field(default_factory=list)
    on_response: List[Callable[[ResponseEvent], None]] = field(default_factory=list)
    on_retry: List[Callable[[RetryEvent], None]] = field(default_factory=list)

    def request(self, event: RequestEvent) -> None:
        for hook in self.on_request:
            hook(event)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s attempt=%d", event.method, event.path, event.attempt)

    def response(self, event: ResponseEvent) -> None:
        for hook in self.on_response:
            hook(event)
        if logger.isEnabledFor(logging.INFO):
            outcome = event.status_code if event.status_code is not None else event.error
            logger.info(
                "%s %s -> %s attempt=%d elapsed=%.3fs",
                event.method,
                event.path,
                outcome,
                event.attempt,
                event.elapsed,
            )

    def retry(self, event: RetryEvent) -> None:
        for hook in self.on_retry:
            hook(event)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "%s %s retrying after %s in %.2fs (attempt %d failed)",
                event.method,
                event.path,
                event.reason,
                event.delay,
                event.attempt,
            )


_configured = False


def configure_logging_from_env() -> None:
    """Honour ``FLUIDSTACK_LOG`` once per process: add a stderr handler at that level."""
    global _configured
    if _configured:
        return
    _configured = True
    level_name = os.environ.get("FLUIDSTACK_LOG", "").strip().upper()
    if level_name not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level_name)
