"""The synchronous client's I/O primitives (hand-written; the async twin differs)."""

from __future__ import annotations

import contextlib
from time import sleep

import httpx

__all__ = ["HttpClient", "shielded", "sleep"]

HttpClient = httpx.Client


def shielded() -> contextlib.nullcontext[None]:
    """The synchronous client has no cancellation to shield cleanup from."""
    return contextlib.nullcontext()
