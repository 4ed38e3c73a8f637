"""The base every API's emulated state is built on: one lock, one clock, a journal of
touched records committed to the ``--db`` file in one transaction, rollback by reloading
the file when a commit fails, and seeded randomness and ids.

Each API (``platform/``, ``atlas/``) subclasses :class:`JournaledState` once, in its
``base.py`` (its records' dictionaries, how they load, what meta it saves), and adds
one mixin per resource on top (as moto's larger backends do). A mutating operation
validates first, changes its records in memory, :meth:`_touch`-es each one it changed,
and calls :meth:`_commit`: the change is on disk before the answer leaves, or it is in
neither place.
"""

from __future__ import annotations

import _random
import hashlib
import logging
import random
import threading
from dataclasses import asdict, is_dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple

from fluidstack.emulator.clock import SimClock
from fluidstack.emulator.responses import storage_unavailable
from fluidstack.emulator.settings import EmulatorSettings
from fluidstack.emulator.store import RecordKey, Store, StoreUnavailable

__all__ = ["JournaledState", "draw_below", "draw_int", "uuid4_text"]

logger = logging.getLogger("fluidstack.emulator")


class JournaledState:
    """Storage, rollback and randomness shared by every API's state.

    Subclasses set :attr:`TABLE` (their table in the ``--db`` file), :attr:`SEED_PREFIX`
    (so that two APIs given one ``--seed`` do not draw the same numbers) and implement
    :meth:`_empty`, :meth:`_load` and :meth:`_meta`.
    """

    TABLE = "records"
    """This API's table in the ``--db`` file."""
    SEED_PREFIX = ""
    """Put before the seed when deriving a generator (part of the persisted behaviour:
    a seeded run makes the same ids as before)."""
    WHAT = "a write"
    """How a failed commit is named in the log."""

    def __init__(
        self,
        settings: EmulatorSettings,
        *,
        clock: Optional[SimClock] = None,
        lock: Optional[threading.RLock] = None,
        store: Optional[Store] = None,
    ) -> None:
        self.settings = settings
        if clock is None:
            clock = SimClock(settings.time_scale, settings.manual_clock)
        self.clock = clock
        self.lock = lock if lock is not None else threading.RLock()
        if store is None and settings.db_path:
            store = Store(settings.db_path)
        self._store: Optional[Store] = store
        self._dirty: Dict[RecordKey, Optional[Any]] = {}
        self._clear = False
        self._mirror: Dict[str, Dict[str, Any]] = {}
        """Without ``--db``: what the file would hold, by kind then key (a record's
        serialised form, or the record itself, serialised when exported). It is what a
        snapshot exports, so every kind a mixin journals travels without being listed."""
        self._system_random = random.SystemRandom()
        self.seq = 0
        """Bumped by every random draw (and every bulk-made instance): seeded ids follow it."""

    # -- what each API provides -------------------------------------------------------

    def _empty(self) -> None:
        """Reset every in-memory record (the start of a load, or a full reset)."""
        raise NotImplementedError

    def _load(self, data: Dict[str, Dict[str, Any]], commit: bool = True) -> None:
        """Fill the empty state from the records of :attr:`TABLE`, by kind then key."""
        raise NotImplementedError

    def _meta(self, clear: bool) -> List[Tuple[str, Any]]:
        """``meta`` records written with every commit (``clear``: with a full reset)."""
        return [("clock", self.clock.snapshot()), ("seq", {"seq": self.seq})]

    def _memory_only(self) -> Any:
        """What lives in memory only and must survive a rollback (one-time codes)."""
        return None

    def _restore_memory_only(self, kept: Any) -> None:
        """Put back what :meth:`_memory_only` returned, after a rollback."""

    # -- the journal ----------------------------------------------------------------

    def _load_stored(self) -> Dict[str, Dict[str, Any]]:
        """This API's records in the file (nothing without ``--db``)."""
        return self._store.load(self.TABLE) if self._store is not None else {}

    def _touch(self, kind: str, key: str, value: Optional[Any]) -> None:
        """Note a record to write (``value``) or delete (``None``) at the next commit."""
        self._dirty[(kind, key)] = value

    def _commit(self, clear: bool = False) -> None:
        """Persist the pending changes (and the clock) in one durable transaction;
        ``clear`` first empties this API's table (a full reset)."""
        self._clear = self._clear or clear
        if self._store is None:
            self._apply_to_mirror(self._dirty.items(), self._clear)
            self._dirty.clear()
            self._clear = False
            return
        for key, value in self._meta(self._clear):
            self._touch("meta", key, value)
        changes = list(self._dirty.items())
        self._dirty.clear()
        clear_all, self._clear = self._clear, False
        try:
            self._store.write(changes, clear=clear_all, table=self.TABLE)
        except StoreUnavailable as exc:
            # The change is not on disk, so it must not stay in memory either: an answer
            # of 503 whose effect lingers (and vanishes at the next restart) is the
            # lost acknowledged write of issue 13, item 8. The file is the truth.
            logger.warning("%s could not be committed (%s): rolled back", self.WHAT, exc)
            self._reload()
            raise storage_unavailable(str(exc)) from None

    def _apply_to_mirror(
        self, changes: Iterable[Tuple[RecordKey, Optional[Any]]], clear: bool
    ) -> None:
        if clear:
            self._mirror = {}
        mirror = self._mirror
        for (kind, key), value in changes:
            records = mirror.get(kind)
            if value is None:
                if records is not None:
                    records.pop(key, None)
            elif records is None:
                mirror[kind] = {key: value}
            else:  # (no empty dict made and dropped per change, as setdefault did)
                records[key] = value

    # -- snapshots (emulator/snapshot.py) ---------------------------------------------

    def export_records(self) -> Dict[str, Dict[str, Any]]:
        """Every record as the ``--db`` file holds it (by kind then key, JSON-ready),
        with the ``meta`` records (clock, seq, ...) as of now. Call under the lock."""
        if self._store is not None:
            records = self._store.load(self.TABLE)
        else:
            records = self._mirror_records()
        records["meta"] = {**records.get("meta", {}), **dict(self._meta(True))}
        return records

    def _mirror_records(self) -> Dict[str, Dict[str, Any]]:
        return {
            kind: {key: _serialised(value) for key, value in rows.items()}
            for kind, rows in self._mirror.items()
        }

    def load_records(self, data: Dict[str, Dict[str, Any]]) -> None:
        """Replace the in-memory state with ``data`` (as :meth:`export_records` gives),
        by the same :meth:`_load` a start from ``--db`` uses; nothing is committed yet
        (see :meth:`commit_loaded`). May raise on a malformed record: then call
        :meth:`rollback_load`. Call under the lock."""
        self._empty()
        self._dirty.clear()
        self._clear = False
        self._load(data, commit=False)

    def loaded_changes(self, data: Dict[str, Dict[str, Any]]) -> List[Tuple[RecordKey, Any]]:
        """What :meth:`load_records` left to write: every record of ``data``, then what
        the load itself changed (command-line keys, expired tokens), then ``meta``."""
        changes: Dict[RecordKey, Any] = {
            (kind, key): value for kind, rows in data.items() for key, value in rows.items()
        }
        changes.update(self._dirty)
        changes.update((("meta", key), value) for key, value in self._meta(True))
        self._dirty.clear()
        return list(changes.items())

    def commit_loaded(self, changes: List[Tuple[RecordKey, Any]]) -> None:
        """Without ``--db``: make ``changes`` (from :meth:`loaded_changes`) the mirror.
        With it, the caller writes every API's changes in one transaction instead."""
        if self._store is None:
            self._apply_to_mirror(changes, clear=True)

    def current_meta(self) -> Dict[str, Any]:
        """The ``meta`` records as of now (clock, seq, capacity, ...)."""
        return dict(self._meta(True))

    def rollback_load(self, meta: Dict[str, Any]) -> None:
        """Undo a :meth:`load_records` that failed or could not be committed: back to
        the file (``--db``), or to the mirror (which only :meth:`commit_loaded` changes)
        and ``meta`` (:meth:`current_meta` from before the load)."""
        if self._store is not None:
            self._reload()
            return
        kept = self._memory_only()
        previous = self._mirror_records()
        previous["meta"] = meta
        self.load_records(previous)
        self.commit_loaded(self.loaded_changes(previous))
        self._restore_memory_only(kept)

    def _reload(self) -> None:
        """Forget memory and take the state back from the file (after a failed commit)."""
        assert self._store is not None
        kept = self._memory_only()
        self._empty()
        self._dirty.clear()
        self._clear = False
        self._load(self._store.load(self.TABLE), commit=False)
        self._restore_memory_only(kept)

    # -- randomness ------------------------------------------------------------------

    def _random(self, purpose: str) -> random.Random:
        """A generator for one decision: derived from the seed when there is one."""
        self.seq += 1
        if self.settings.seed is None:
            return random.Random(self._system_random.getrandbits(64))
        return seeded_random(f"{self.SEED_PREFIX}{self.settings.seed}:{self.seq}:{purpose}")

    def _uuid(self, purpose: str) -> str:
        return uuid4_text(self._random(purpose).getrandbits(128))

    def advance_clock(self, seconds: float) -> None:
        with self.lock:
            self.clock.advance(seconds)
            self._commit()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def seeded_random(text: str) -> random.Random:
    """``random.Random(text)``, the same generator in the same state, without the
    Python frames of ``Random.__init__`` and ``Random.seed``: the seed is the integer
    ``Random.seed`` makes of a string (its bytes and their SHA-512, big-endian), given
    to the C seeding directly. ``test_seeded_draws`` checks the states are equal."""
    data = text.encode()
    rng: random.Random = random.Random.__new__(random.Random)
    _seed(rng, int.from_bytes(data + hashlib.sha512(data).digest(), "big"))
    rng.gauss_next = None  # type: ignore[attr-defined]  # (what Random.seed resets)
    return rng


_seed = _random.Random.seed


_VERSION_4 = ~((0xC000 << 48) | (0xF000 << 64))


def uuid4_text(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))`` (``bits``: 128 random bits), without
    the ``UUID`` object: its checks and properties were a twentieth of a create
    (issue 24). The same text: the variant and version bits set, lower-case hex."""
    text = "%032x" % ((bits & _VERSION_4) | (0x8000 << 48) | (4 << 76))
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def draw_below(rng: random.Random, n: int) -> int:
    """``rng.choice``'s index into ``n`` items (``n`` > 0): the very draw CPython's
    ``Random._randbelow`` makes, so seeded runs keep their ids and names, without the
    Python frames of ``randint`` -> ``randrange`` -> ``_randbelow`` (a create makes two
    to four such draws; issue 24). ``test_seeded_draws`` checks it against ``rng``."""
    k = n.bit_length()
    r = rng.getrandbits(k)
    while r >= n:
        r = rng.getrandbits(k)
    return r


def draw_int(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint(low, high)``, the same draw (see :func:`draw_below`)."""
    return low + draw_below(rng, high - low + 1)


def _serialised(value: Any) -> Any:
    """A mirrored value as the file would hold it (a record object is serialised now)."""
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value
