"""The asynchronous client's I/O primitives (hand-written; the sync twin differs)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from types import TracebackType
from typing import Awaitable, Callable, ContextManager, Mapping, Optional, Type, TypeVar

import anyio
import httpx
from anyio import sleep

from ..ssh import asyncio_is_running, run_in_ssh_thread

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

HttpClient = httpx.AsyncClient


def _fail_fast_without_sniffio() -> None:
    """Make httpcore's ``import sniffio`` fail at once when sniffio is not installed.

    httpcore's async pool tries ``import sniffio`` several times per request (to tell
    asyncio from trio) and falls back to asyncio on ImportError. Recent anyio and httpx
    no longer install sniffio, and Python does not remember a failed import: each one
    searched ``sys.path`` again, a quarter of an async request's time. ``None`` in
    ``sys.modules`` is Python's own "not importable" mark: the same ImportError, at once.
    Trio needs sniffio, so a trio user always has it and is not affected."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


_fail_fast_without_sniffio()


def shielded() -> anyio.CancelScope:
    """A scope that cancellation cannot interrupt: cleanup must finish."""
    return anyio.CancelScope(shield=True)


def new_lock() -> anyio.Lock:
    """A lock for ``async with``: one task at a time (asyncio or trio)."""
    return anyio.Lock()


async def run_ssh(make: Callable[[], Awaitable[T]]) -> T:
    """Run an SSH coroutine (asyncssh: asyncio only): here under asyncio, else (trio) on
    the SSH thread's loop while this task waits in a worker thread."""
    if asyncio_is_running():
        return await make()
    return await anyio.to_thread.run_sync(run_in_ssh_thread, make)


async def ssh_banner(host: str, port: int, within: float) -> bool:
    """Whether an SSH server answers at ``host:port`` with its version line in time."""
    try:
        with anyio.fail_after(within):
            async with await anyio.connect_tcp(host, port) as stream:
                seen = b""
                while len(seen) < 4096:
                    seen += await stream.receive(1024)
                    # Servers may send other lines first (RFC 4253 4.2); the version decides.
                    lines = seen.split(b"\n")
                    if any(line.startswith(b"SSH-") for line in lines[:-1]):
                        return True
                return False
    except (OSError, TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError):
        return False


def deadline(seconds: Optional[float]) -> ContextManager[object]:
    """A scope that cancels what runs inside after ``seconds`` (``None``: never) and then
    raises :class:`TimeoutError`: a call's total deadline covers every read, the
    response headers and body included, whatever the server's pace."""
    if seconds is None:
        return _NO_DEADLINE  # the common case: no cancel scope to enter
    return _task_deadline(seconds) or anyio.fail_after(seconds)


if sys.version_info >= (3, 11):

    class _TaskDeadline:
        """``asyncio.timeout`` as a plain context manager, raising :class:`TimeoutError`
        like ``anyio.fail_after``: one timer on the loop, where anyio's cancel scope
        costs a tenth of a fast call on aiohttp. Tasks count their cancellations
        (``uncancel``, Python 3.11), so cancellations from elsewhere (a task group, an
        outer scope, ``task.cancel()``) pass through unchanged, as with ``asyncio.timeout``.
        """

        __slots__ = ("_cancelling", "_fired", "_handle", "_seconds", "_task")

        def __init__(self, task: asyncio.Task[object], seconds: float) -> None:
            self._task = task
            self._seconds = seconds
            self._fired = False

        def __enter__(self) -> _TaskDeadline:
            self._cancelling = self._task.cancelling()
            self._handle = self._task.get_loop().call_later(self._seconds, self._fire)
            return self

        def _fire(self) -> None:
            self._fired = True
            self._task.cancel()

        def __exit__(
            self,
            exc_type: Optional[Type[BaseException]],
            exc: Optional[BaseException],
            tb: Optional[TracebackType],
        ) -> None:
            self._handle.cancel()
            if (
                self._fired
                and self._task.uncancel() <= self._cancelling
                and exc_type is asyncio.CancelledError
            ):
                raise TimeoutError from exc

    def _task_deadline(seconds: float) -> Optional[ContextManager[object]]:
        """The deadline of the current asyncio task (``None`` under trio)."""
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no asyncio loop: trio
            return None
        return None if task is None else _TaskDeadline(task, seconds)

else:

    def _task_deadline(seconds: float) -> Optional[ContextManager[object]]:
        return None  # Python < 3.11: tasks cannot tell whose cancellation it was


_NO_DEADLINE = contextlib.nullcontext()


def new_http_client(timeout: httpx.Timeout, headers: Mapping[str, str]) -> httpx.AsyncClient:
    """The client's own ``httpx`` client, carrying the fixed ``headers`` (httpx merges
    and checks them once, not per call); one you pass in is used as it is."""
    return httpx.AsyncClient(timeout=timeout, headers=headers)
