"""The asynchronous client's I/O primitives (hand-written; the sync twin differs)."""

from __future__ import annotations

import httpx
from anyio import sleep

__all__ = ["HttpClient", "sleep"]

HttpClient = httpx.AsyncClient
