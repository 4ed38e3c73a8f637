"""The synchronous client's I/O primitives (hand-written; the async twin differs)."""

from __future__ import annotations

import contextlib
import socket
import threading
from time import monotonic, sleep
from typing import Awaitable, Callable, TypeVar

import httpx

from ..ssh import run_in_ssh_thread

__all__ = ["HttpClient", "new_lock", "run_ssh", "shielded", "sleep", "ssh_banner"]

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
    return run_in_ssh_thread(make)


def ssh_banner(host: str, port: int, within: float) -> bool:
    """Whether an SSH server answers at ``host:port`` with its version line in time."""
    deadline = monotonic() + within
    try:
        with socket.create_connection((host, port), timeout=within) as sock:
            seen = b""
            while len(seen) < 4096:
                left = deadline - monotonic()
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
