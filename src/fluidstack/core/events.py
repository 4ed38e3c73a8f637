"""Observing calls: event hooks for metrics and tracing, and the ``fluidstack`` logger.

Set ``FLUIDSTACK_LOG=info`` (or ``debug``) to log every attempt to stderr, or configure
the ``fluidstack`` logger yourself. Neither the API key nor request bodies are logged, and
while a client exists the records of ``httpx`` and ``httpcore`` (which log response
headers at DEBUG) have its credentials replaced too.
"""

from __future__ import annotations

import logging
import os
import weakref
from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Optional, Protocol

from .redaction import redact_all  # one rule for logs and errors (short secrets)

__all__ = [
    "DuplicateEvent",
    "EventHooks",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "logger",
    "watch_secrets",
]

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


@dataclass(frozen=True)
class DuplicateEvent:
    """A create was sent again, and its first attempt turned out to have arrived too (late):
    the extra resource was deleted, so that one call leaves one billed resource."""

    operation: str
    """The SDK method, e.g. ``instances.create``."""
    identity: str
    """What marks the call's resources: the generated name, or the client-token tag."""
    kept_id: str
    """The resource the call returned."""
    deleted_ids: List[str]
    """The extra resources deleted."""
    failed_ids: List[str]
    """Extra resources that could not be deleted (delete them yourself)."""
    error: Optional[str] = None
    """Why the check or a deletion failed, if it did."""


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
    on_duplicate: List[Callable[[DuplicateEvent], None]] = field(default_factory=list)

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

    def _hears_requests(self) -> bool:
        """Whether ``request`` would do anything (a hook, a subclass's own ``request``, the
        debug log): when not, the pipeline does not build the event (~3% of a quick call)."""
        return (
            bool(self.on_request)
            or type(self).request is not EventHooks.request
            or logger.isEnabledFor(logging.DEBUG)
        )

    def _hears_responses(self) -> bool:
        """The same for ``response`` (and the info log)."""
        return (
            bool(self.on_response)
            or type(self).response is not EventHooks.response
            or logger.isEnabledFor(logging.INFO)
        )

    def duplicate(self, event: DuplicateEvent) -> None:
        for hook in self.on_duplicate:
            hook(event)
        logger.warning(
            "%s sent again: a duplicate of %s (%s) %s%s",
            event.operation,
            event.kept_id,
            event.identity,
            f"was deleted: {', '.join(event.deleted_ids)}" if event.deleted_ids else "was found",
            f"; could not delete {', '.join(event.failed_ids)}" if event.failed_ids else "",
        )


class _SecretHolder(Protocol):
    def secrets(self) -> Iterable[Optional[str]]: ...


_HOLDERS: weakref.WeakSet[_SecretHolder] = weakref.WeakSet()
TRANSPORT_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
"""The loggers of the HTTP stack under the SDK (httpcore logs response headers, and
the status line, at DEBUG)."""


class _RedactingFilter(logging.Filter):
    """Replaces the credentials of every live client in a log record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [s for holder in list(_HOLDERS) for s in holder.secrets() if s]
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as it would
            return True
        redacted = redact_all(message, secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER = _RedactingFilter()


def watch_secrets(holder: _SecretHolder) -> None:
    """Keep ``holder.secrets()`` (a client pipeline's credentials) out of the records of
    the HTTP stack's loggers for as long as ``holder`` lives."""
    _HOLDERS.add(holder)
    for name in TRANSPORT_LOGGERS:
        transport_logger = logging.getLogger(name)
        if _FILTER not in transport_logger.filters:
            transport_logger.addFilter(_FILTER)


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
