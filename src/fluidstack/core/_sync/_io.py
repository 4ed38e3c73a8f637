"""The synchronous client's I/O primitives (hand-written; the async twin differs)."""

from __future__ import annotations

import contextlib
import contextvars
import socket
import ssl
import threading
import time
from time import sleep
from typing import (
    Any,
    Awaitable,
    Callable,
    ContextManager,
    Iterable,
    Iterator,
    Mapping,
    Optional,
    Type,
    TypeVar,
)

import httpcore
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
# per phase (headers, body) from the request's ``timeout`` extension: a server that sends
# one byte every 0.2 s never trips it. The client's own httpx client therefore reads and
# writes through a network stream that shortens every timeout to what is left of the
# call's deadline, held in a context variable for the thread doing the call. (A client
# you pass in keeps its own transport: there, the pipeline checks the deadline between
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


def _bounded(timeout: Optional[float], error: Type[Exception]) -> Optional[float]:
    end = _DEADLINE.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise error("the call's total timeout has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: Optional[float] = None,
        local_address: Optional[str] = None,
        socket_options: Optional[Iterable[Any]] = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, bounded, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: Optional[float] = None,
        socket_options: Optional[Iterable[Any]] = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def new_http_client(timeout: httpx.Timeout, headers: Mapping[str, str]) -> httpx.Client:
    """The client's own ``httpx`` client, carrying the fixed ``headers`` (httpx merges
    and checks them once, not per call), whose connections honour :func:`deadline`."""
    client = httpx.Client(timeout=timeout, headers=headers)
    # httpx has no public hook for its network backend: wrap the one each of its pools
    # made (the default transport, and any proxy from the environment). Should a future
    # httpx move it, the pipeline's checks between body chunks still bound the body.
    transports = [getattr(client, "_transport", None)]
    transports += list(getattr(client, "_mounts", {}).values())
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
    return client
