"""Running totals over records whose state is a function of simulated time, kept so that
no request walks every record: the part both APIs' ledgers share.

A platform or Atlas instance stores its timeline as ``(state, simulated start)``
segments, decided when something happens to it (create, stop, start, delete, ...); its
state at a moment is the last segment begun by then. Whether it counts toward a total
("holds capacity") therefore changes with the clock as well as with operations.
:class:`TimedTotals` keeps per-key totals as of the last moment it settled, and moves
them forward only when they can change:

- at the start of a planned segment whose *phase* (what the totals count for the
  state) differs from the one before: those moments wait in a heap, each stamped with
  the version of the plan it came from, and are applied lazily when the ledger is asked
  about a later moment (a re-planned record's older moments are skipped by version);
- when an operation re-plans a record (:meth:`TimedTotals.track`) or removes it
  (:meth:`TimedTotals.forget`).

It is derived state: never persisted, rebuilt from the records when they are loaded,
and rebuilt again if asked about a moment earlier than one it has settled (the clock
can be rewound, or reloaded from the file after a failed write): correct, not fast.

Subclasses say which records count where: :mod:`fluidstack.emulator.platform.ledger`
(GPUs per type and region, plus spend and listing order) and
:mod:`fluidstack.emulator.atlas.ledger` (instances per region and type).
"""

from __future__ import annotations

import heapq
import itertools
from typing import (
    Dict,
    Generic,
    Hashable,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    TypeVar,
)

__all__ = ["Event", "Timed", "TimedTotals", "Track", "state_at"]

Event = Tuple[float, int, str, int]
"""(simulated time, tie-break, record id, plan version)."""


def state_at(segments: Sequence[Tuple[str, float]], now: float) -> str:
    """The state of the last segment begun at ``now`` (the first one before any)."""
    for state, start in reversed(segments):
        if start <= now:
            return state
    return segments[0][0]


class Timed(Protocol):
    """A record with an id and a timeline of ``(state, simulated start)`` segments."""

    @property
    def id(self) -> str: ...

    @property
    def segments(self) -> Sequence[Tuple[str, float]]: ...


class Track:
    """What the totals currently count for one record."""

    __slots__ = ("holds", "key", "version", "weight")

    def __init__(self, key: Hashable, weight: int) -> None:
        self.key = key
        self.weight = weight
        """How much the record adds to its key's total while it holds (fixed at create)."""
        self.version = 0
        """Bumped by every re-plan: events of older plans are stale."""
        self.holds = False


R = TypeVar("R", bound=Timed)
T = TypeVar("T", bound=Track)


class TimedTotals(Generic[R, T]):
    """Per-key totals of the records that hold at the settled moment, kept up to date
    incrementally. Subclasses give :meth:`_new_track` (the key and weight), :meth:`_holds`
    and, if more than holding can change at a segment's start, :meth:`_phase`."""

    def __init__(self, records: Mapping[str, R], now: float) -> None:
        self._records = records
        self._tie = itertools.count()
        self.rebuild(now)

    # -- what a subclass says ----------------------------------------------------------

    def _new_track(self, record: R) -> T:
        """The track of a record seen for the first time (its key and weight)."""
        raise NotImplementedError

    def _holds(self, record: R, state: str) -> bool:
        """Whether ``record`` in ``state`` counts toward its key's total."""
        raise NotImplementedError

    def _phase(self, record: R, state: str) -> Hashable:
        """Everything the subclass counts for ``record`` in ``state``: an event is planned
        where it changes (by default only whether it holds)."""
        return self._holds(record, state)

    def _started(self) -> None:
        """A rebuild has emptied the totals; the subclass resets its own (before the
        records are tracked again)."""

    def _held(self, track: T, holds: bool) -> None:
        """``track`` started (``holds``) or stopped counting toward its key."""

    # -- building and moving forward ----------------------------------------------------

    def rebuild(self, now: float) -> None:
        """Count everything again from the records (at load, or if time went back)."""
        self._tracks: Dict[str, T] = {}
        self._totals: Dict[Hashable, int] = {}
        self._events: List[Event] = []
        self._settled = now
        self._started()
        for record in list(self._records.values()):  # creation order
            self.track(record, now)

    def _check_time(self, now: float) -> None:
        if now < self._settled:
            self.rebuild(now)

    def _settle(self, now: float) -> None:
        """Apply every planned change up to ``now``."""
        self._check_time(now)
        events = self._events
        while events and events[0][0] <= now:
            when, _, record_id, version = heapq.heappop(events)
            track = self._tracks.get(record_id)
            if track is not None and track.version == version:
                self._count(self._records[record_id], track, when)
        self._settled = now

    def _count(self, record: R, track: T, when: float) -> str:
        """Bring ``track`` up to ``record``'s state at ``when``; that state (so an
        override that needs it does not look it up again)."""
        state = state_at(record.segments, when)
        holds = self._holds(record, state)
        if holds != track.holds:
            self._totals[track.key] = self._totals.get(track.key, 0) + (
                track.weight if holds else -track.weight
            )
            track.holds = holds
            self._held(track, holds)
        return state

    def _plan(self, record: R, track: T, now: float) -> None:
        """Schedule the moments after ``now`` at which the record's phase changes."""
        segments = record.segments
        counted = self._phase(record, state_at(segments, now))
        for state, start in segments:
            if start > now:
                phase = self._phase(record, state)
                if phase != counted:
                    counted = phase
                    event = (start, next(self._tie), record.id, track.version)
                    heapq.heappush(self._events, event)

    # -- what the state tells it --------------------------------------------------------

    def track(self, record: R, now: float) -> T:
        """A new record, or one whose segments (or what it holds) were just re-planned at
        ``now``: count it as of ``now`` and schedule its changes."""
        self._settle(now)
        track = self._tracks.get(record.id)
        if track is None:
            track = self._new_track(record)
            self._tracks[record.id] = track
        track.version += 1
        self._count(record, track, now)
        self._plan(record, track, now)
        return track

    def forget(self, record_id: str, now: float) -> Optional[T]:
        """A record removed from the state (a reset): it no longer counts."""
        self._settle(now)
        track = self._tracks.pop(record_id, None)
        if track is not None and track.holds:
            self._totals[track.key] -= track.weight
            track.holds = False
            self._held(track, False)
        return track

    # -- questions ----------------------------------------------------------------------

    def total(self, key: Hashable, now: float) -> int:
        """The weight of the records of ``key`` that hold at ``now``: O(1), plus the
        planned changes that came due since the last question."""
        self._settle(now)
        return self._totals.get(key, 0)
