# Generated from fluidstack/core/_async by scripts/unasync.py: do not edit by hand.
"""The lock behind a spend limit, shared by both APIs' clients: "check the spend, then
send the create" is one step for every call of a client (and its views, tasks or
threads). Separate processes are not coordinated: each checks what the server lists."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal
from typing import Iterator, Optional

from ._io import new_lock

__all__ = ["SpendLimit", "holding"]


class SpendLimit:
    """A client's ``max_hourly_spend`` (USD per hour) and the lock that serializes the
    calls it checks."""

    def __init__(self, limit: Decimal) -> None:
        self.limit = limit
        self.lock = new_lock()


@contextmanager
def holding(guard: Optional[SpendLimit]) -> Iterator[None]:
    """The guard's lock for the block (nothing without a limit)."""
    if guard is None:
        yield
        return
    with guard.lock:
        yield
