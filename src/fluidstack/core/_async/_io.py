"""The asynchronous client's I/O primitives (hand-written; the sync twin differs)."""

from __future__ import annotations

import anyio
import httpx
from anyio import sleep

__all__ = ["HttpClient", "shielded", "sleep"]

HttpClient = httpx.AsyncClient


def shielded() -> anyio.CancelScope:
    """A scope that cancellation cannot interrupt: cleanup must finish."""
    return anyio.CancelScope(shield=True)
