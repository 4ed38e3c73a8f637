"""Network streams that honour a call's total deadline (the synchronous client only).

A blocking socket read can only be bounded by its own timeout, which httpcore sets once
per phase (headers, body) from the request's ``timeout`` extension: a server that sends
one byte every 0.2 s never trips it. The client's own httpx client therefore reads and
writes through a stream that shortens every timeout to what is left of the call's
deadline, held in a context variable by :func:`fluidstack.core._sync._io.deadline`.

Kept apart from ``_io`` so that importing the SDK does not import httpcore: this module
is loaded when the first client is built.
"""

from __future__ import annotations

import contextvars
import ssl
import time
from typing import Any, Iterable, Optional, Type

import httpcore
import httpx

__all__ = ["bound_backends"]

# The context variable holding the deadline (a time.monotonic() instant, or None).
_Deadline = contextvars.ContextVar[Optional[float]]


def bound_backends(client: httpx.Client, deadline_var: _Deadline) -> None:
    """Make every connection pool of ``client`` read and write through streams bounded
    by the deadline in ``deadline_var``."""
    # httpx has no public hook for its network backend: wrap the one each of its pools
    # made (the default transport, and any proxy from the environment). Should a future
    # httpx move it, the pipeline's checks between body chunks still bound the body.
    transports = [getattr(client, "_transport", None)]
    transports += list(getattr(client, "_mounts", {}).values())
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _DeadlineBackend(backend, deadline_var)  # type: ignore[union-attr]


def _bounded(
    deadline_var: _Deadline,
    timeout: Optional[float],
    error: Type[Exception],
) -> Optional[float]:
    end = deadline_var.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise error("the call's total timeout has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline_var: _Deadline) -> None:
        self._stream = stream
        self._deadline = deadline_var

    def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(self._deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        self._stream.write(buffer, _bounded(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(self._deadline, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, bounded), self._deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend, deadline_var: _Deadline) -> None:
        self._backend = backend
        self._deadline = deadline_var

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: Optional[float] = None,
        local_address: Optional[str] = None,
        socket_options: Optional[Iterable[Any]] = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(self._deadline, timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, bounded, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self,
        path: str,
        timeout: Optional[float] = None,
        socket_options: Optional[Iterable[Any]] = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(self._deadline, timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_unix_socket(path, bounded, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)
