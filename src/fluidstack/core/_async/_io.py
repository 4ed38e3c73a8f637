"""The asynchronous client's I/O primitives (hand-written; the sync twin differs)."""

from __future__ import annotations

from typing import Awaitable, Callable, TypeVar

import anyio
import httpx
from anyio import sleep

from ..ssh import asyncio_is_running, run_in_ssh_thread

__all__ = ["HttpClient", "new_lock", "run_ssh", "shielded", "sleep", "ssh_banner"]

T = TypeVar("T")

HttpClient = httpx.AsyncClient


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
