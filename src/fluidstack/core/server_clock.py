"""The server's clock, as the ``Date`` headers of its answers tell it.

A cost so far or an instance's age must be measured with the server's "now", not this
machine's: their clocks differ (the emulator's runs ahead on purpose; real machines
drift), and a ``created_at`` from the server read against the local clock can lie in
the future.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import Mapping, Optional, Tuple

__all__ = ["ServerClock"]


class ServerClock:
    """Remembers the latest ``Date`` a server sent and when it arrived.

    Only the header's text is kept per answer (it is parsed when asked), so that
    watching costs nothing measurable on every call."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: Optional[Tuple[str, float]] = None

    def observe(self, headers: Mapping[str, str], at: float) -> None:
        """Note the ``Date`` of an answer that arrived at ``at`` (a monotonic time)."""
        date = headers.get("date")
        if date:
            self._seen = (date, at)

    @property
    def observed(self) -> bool:
        """Whether a dated answer was seen (before one, :meth:`now` is this machine's)."""
        return self._seen is not None

    def now(self, at: float) -> dt.datetime:
        """The current time by the server's clock (UTC), ``at`` being the monotonic time
        now: its latest ``Date`` plus the time elapsed here since; this machine's time
        before any dated answer, or when the header cannot be read."""
        seen = self._seen
        if seen is not None:
            try:
                sent = email.utils.parsedate_to_datetime(seen[0])
            except (TypeError, ValueError, IndexError):
                sent = None
            if sent is not None:
                if sent.tzinfo is None:
                    sent = sent.replace(tzinfo=dt.timezone.utc)
                elapsed = dt.timedelta(seconds=at - seen[1])
                return (sent + elapsed).astimezone(dt.timezone.utc)
        return dt.datetime.now(dt.timezone.utc)
