"""The synchronous client's I/O primitives (hand-written; the async twin differs)."""

from __future__ import annotations

from time import sleep

import httpx

__all__ = ["HttpClient", "sleep"]

HttpClient = httpx.Client
