"""The asynchronous client's I/O primitives (hand-written; the sync twin differs)."""

from __future__ import annotations

import anyio
import httpx
from anyio import sleep

__all__ = ["HttpClient", "new_lock", "shielded", "sleep"]

HttpClient = httpx.AsyncClient


def shielded() -> anyio.CancelScope:
    """A scope that cancellation cannot interrupt: cleanup must finish."""
    return anyio.CancelScope(shield=True)


def new_lock() -> anyio.Lock:
    """A lock for ``async with``: one task at a time (asyncio or trio)."""
    return anyio.Lock()
