"""Simulated time: runs ``time_scale`` times faster than real time, or only on demand."""

from __future__ import annotations

import functools
import time
from datetime import datetime, timezone
from typing import Dict

__all__ = ["SimClock", "iso"]


# Every listing re-formats the unchanging timestamps of every instance: cache them.
@functools.lru_cache(maxsize=65536)
def iso(timestamp: float) -> str:
    """An RFC 3339 UTC timestamp with milliseconds, e.g. ``2025-01-15T09:30:00.000Z``."""
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SimClock:
    """Simulated epoch seconds.

    Automatic mode: ``now = anchor + real_elapsed * time_scale``. Manual mode: ``now``
    only moves through :meth:`advance`. Either way :meth:`advance` adds seconds, and
    simulated time never goes backwards.
    """

    def __init__(self, time_scale: float, manual: bool) -> None:
        self.time_scale = time_scale
        self.manual = manual
        start = time.time()
        self._anchor_sim = float(int(start)) if manual else start
        self._anchor_mono = time.monotonic()
        self._restored_wall = float("-inf")

    def now(self) -> float:
        if self.manual:
            return self._anchor_sim
        return self._anchor_sim + (time.monotonic() - self._anchor_mono) * self.time_scale

    def rewind(self, sim: float) -> None:
        """Make simulated now ``sim``, even if earlier: only for restoring a snapshot,
        whose records go back in time with the clock."""
        self._anchor_sim = sim
        self._anchor_mono = time.monotonic()

    def advance(self, seconds: float) -> float:
        """Move simulated time forward; returns the new simulated now."""
        if seconds < 0:
            raise ValueError("simulated time cannot go backwards")
        self._anchor_sim += seconds
        return self.now()

    def snapshot(self) -> Dict[str, float]:
        """What to persist so that a restart continues the same simulated timeline."""
        return {
            "sim": self.now(),
            "wall": time.time(),
            "time_scale": self.time_scale,
            "manual": 1.0 if self.manual else 0.0,
        }

    def restore(self, snapshot: Dict[str, float]) -> None:
        """Continue from a snapshot: automatic clocks also count the real time since.

        Each API persists the one clock beside its own records; when several snapshots
        are restored, the one written last (by wall time) wins.
        """
        wall = float(snapshot.get("wall", 0.0))
        if wall < self._restored_wall:
            return
        self._restored_wall = wall
        sim = float(snapshot["sim"])
        if not snapshot.get("manual"):
            real_gap = max(0.0, time.time() - float(snapshot["wall"]))
            sim += real_gap * float(snapshot.get("time_scale", self.time_scale))
        self._anchor_sim = max(sim, self._anchor_sim if self.manual else sim)
        self._anchor_mono = time.monotonic()
