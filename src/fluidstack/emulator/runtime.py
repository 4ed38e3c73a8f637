"""One running emulator: the parts its APIs share (settings, simulated clock, lock, store,
fault rules, journal) and each API's state."""

from __future__ import annotations

import threading
from typing import Optional

from fluidstack.emulator.atlas.state import AtlasState
from fluidstack.emulator.clock import SimClock
from fluidstack.emulator.faults import FaultBook, Journal
from fluidstack.emulator.platform.state import PlatformState
from fluidstack.emulator.settings import EmulatorSettings
from fluidstack.emulator.store import Store

__all__ = ["Emulator"]


class Emulator:
    """Settings, shared machinery and the state of every API one emulator serves."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.clock = SimClock(settings.time_scale, settings.manual_clock)
        """One simulated timeline for every API."""
        self.lock = threading.RLock()
        """One lock: an operation of one API never interleaves with another's."""
        self.store: Optional[Store] = Store(settings.db_path) if settings.db_path else None
        self.platform = PlatformState(settings, clock=self.clock, lock=self.lock, store=self.store)
        self.atlas = AtlasState(settings, clock=self.clock, lock=self.lock, store=self.store)
        self.faults = FaultBook()
        self.journal = Journal()
        self.generation = 0
        """Bumped by a full reset: requests still in flight from before it are void."""

    def advance_clock(self, seconds: float) -> None:
        """Move simulated time forward (every API's lifecycles and expiries with it)."""
        with self.lock:
            self.platform.advance_clock(seconds)
            # Atlas persists the same clock beside its own records.
            self.atlas.advance_clock(0.0)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
