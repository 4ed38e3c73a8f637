"""The synchronous client's I/O primitives (hand-written; the async twin differs)."""

from __future__ import annotations

import contextlib
import threading
from time import sleep

import httpx

__all__ = ["HttpClient", "new_lock", "shielded", "sleep"]

HttpClient = httpx.Client


def shielded() -> contextlib.nullcontext[None]:
    """The synchronous client has no cancellation to shield cleanup from."""
    return contextlib.nullcontext()


def new_lock() -> threading.Lock:
    """A lock for ``with``: one thread at a time."""
    return threading.Lock()
