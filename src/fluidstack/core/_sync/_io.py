"""The synchronous client's I/O primitives (hand-written; the async twin differs)."""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from time import sleep
from typing import (
    Awaitable,
    Callable,
    ContextManager,
    Iterator,
    Mapping,
    Optional,
    TypeVar,
)

import httpx

__all__ = [
    "HttpClient",
    "deadline",
    "new_http_client",
    "new_lock",
    "run_ssh",
    "shielded",
    "sleep",
    "ssh_banner",
]

T = TypeVar("T")

HttpClient = httpx.Client


def shielded() -> contextlib.nullcontext[None]:
    """The synchronous client has no cancellation to shield cleanup from."""
    return contextlib.nullcontext()


def new_lock() -> threading.Lock:
    """A lock for ``with``: one thread at a time."""
    return threading.Lock()


def run_ssh(make: Callable[[], Awaitable[T]]) -> T:
    """Run an SSH coroutine (asyncssh) on the SSH thread's private event loop, so that
    it works even when this thread already runs one (Jupyter)."""
    from ..ssh import run_in_ssh_thread  # asyncio: only for SSH, not for every import

    return run_in_ssh_thread(make)


def ssh_banner(host: str, port: int, within: float) -> bool:
    """Whether an SSH server answers at ``host:port`` with its version line in time."""
    until = time.monotonic() + within
    try:
        with socket.create_connection((host, port), timeout=within) as sock:
            seen = b""
            while len(seen) < 4096:
                left = until - time.monotonic()
                if left <= 0:
                    return False
                sock.settimeout(left)
                chunk = sock.recv(1024)
                if not chunk:
                    return False
                seen += chunk
                # Servers may send other lines first (RFC 4253 4.2); the version decides.
                lines = seen.split(b"\n")
                if any(line.startswith(b"SSH-") for line in lines[:-1]):
                    return True
            return False
    except OSError:
        return False


# -- the total deadline ------------------------------------------------------------------
#
# A blocking socket read can only be bounded by its own timeout, which httpcore sets once
# per phase: the client's own httpx client reads and writes through network streams
# (core/deadline_stream.py) that shorten every timeout to what is left of the call's
# deadline, held in a context variable for the thread doing the call. (A client you
# pass in keeps its own transport: there, the pipeline checks the deadline between
# chunks of the body.)

_DEADLINE: contextvars.ContextVar[Optional[float]] = contextvars.ContextVar(
    "fluidstack_deadline", default=None
)


def deadline(seconds: Optional[float]) -> ContextManager[object]:
    """Within this block, no read or write of the client's own connections outlives
    ``seconds`` from now (``None``: no deadline)."""
    if seconds is None:
        return _NO_DEADLINE  # the common case: nothing to set
    return _deadline(seconds)


_NO_DEADLINE = contextlib.nullcontext()


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def new_http_client(timeout: httpx.Timeout, headers: Mapping[str, str]) -> httpx.Client:
    """The client's own ``httpx`` client, carrying the fixed ``headers`` (httpx merges
    and checks them once, not per call), whose connections honour :func:`deadline`."""
    client = httpx.Client(timeout=timeout, headers=headers)
    # httpcore (~16 ms of imports) is loaded here, when a client is built, not when the
    # SDK is imported: httpx itself imports it only for its transport.
    from ..deadline_stream import bound_backends

    bound_backends(client, _DEADLINE)
    return client
