"""The asynchronous client's I/O primitives (hand-written; the sync twin differs)."""

from __future__ import annotations

import contextlib
from typing import ContextManager, Mapping, Optional

import anyio
import httpx
from anyio import sleep

__all__ = ["HttpClient", "deadline", "new_http_client", "new_lock", "shielded", "sleep"]

HttpClient = httpx.AsyncClient


def shielded() -> anyio.CancelScope:
    """A scope that cancellation cannot interrupt: cleanup must finish."""
    return anyio.CancelScope(shield=True)


def new_lock() -> anyio.Lock:
    """A lock for ``async with``: one task at a time (asyncio or trio)."""
    return anyio.Lock()


def deadline(seconds: Optional[float]) -> ContextManager[object]:
    """A scope that cancels what runs inside after ``seconds`` (``None``: never) and then
    raises :class:`TimeoutError`: a call's total deadline covers every read, the
    response headers and body included, whatever the server's pace."""
    if seconds is None:
        return _NO_DEADLINE  # the common case: no cancel scope to enter
    return anyio.fail_after(seconds)


_NO_DEADLINE = contextlib.nullcontext()


def new_http_client(timeout: httpx.Timeout, headers: Mapping[str, str]) -> httpx.AsyncClient:
    """The client's own ``httpx`` client, carrying the fixed ``headers`` (httpx merges
    and checks them once, not per call); one you pass in is used as it is."""
    return httpx.AsyncClient(timeout=timeout, headers=headers)
