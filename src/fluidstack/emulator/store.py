"""SQLite persistence: every acknowledged write is committed (WAL, synchronous=FULL).

One file holds every API's state, one table each (the platform API's is ``records``,
as it always was), so that resetting one API never touches another's records.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import IO, Any, Dict, Iterable, Optional, Set, Tuple

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["BUSY_TIMEOUT", "Store", "StoreInUse", "StoreUnavailable"]

RecordKey = Tuple[str, str]

BUSY_TIMEOUT = 0.1
"""Seconds a write waits for SQLite's write lock (held by another process) before it
fails. Python's default is 5 s, during which the emulator's one lock, and with it every
request, would wait too."""


class StoreUnavailable(Exception):
    """A write could not be committed (the file is locked, the disk is full, ...): the
    database is unchanged, and the caller must not keep the change in memory either."""


class StoreInUse(Exception):
    """Another emulator process serves this file. Each process keeps the whole state in
    memory and writes it through, so two would each answer from their own copy: keys
    and instances would appear and vanish depending on which one a request reached."""


_TABLE_NAME = re.compile(r"^[a-z_]+$")


class Store:
    """Tables of JSON records addressed by (kind, key), each write one transaction."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._owner = _own(path)
        self._conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._tables: Set[str] = set()
        self._ensure("records")

    def _ensure(self, table: str) -> None:
        if table in self._tables:
            return
        if not _TABLE_NAME.match(table):
            raise ValueError(f"invalid table name {table!r}")
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ("
            " kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL,"
            " PRIMARY KEY (kind, key))"
        )
        self._tables.add(table)

    def load(self, table: str = "records") -> Dict[str, Dict[str, Any]]:
        """All records of ``table``, by kind then key."""
        self._ensure(table)
        result: Dict[str, Dict[str, Any]] = {}
        for kind, key, data in self._conn.execute(f"SELECT kind, key, data FROM {table}"):
            result.setdefault(kind, {})[key] = json.loads(data)
        return result

    def write(
        self,
        changes: Iterable[Tuple[RecordKey, Optional[Any]]],
        clear: bool,
        table: str = "records",
    ) -> None:
        """Apply upserts (value) and deletions (``None``) atomically and durably.

        ``clear`` first empties ``table`` (and only it). Raises :class:`StoreUnavailable`,
        with nothing written, when the transaction cannot be committed.
        """
        conn = self._conn
        try:
            self._ensure(table)
            conn.execute("BEGIN IMMEDIATE")
            if clear:
                conn.execute(f"DELETE FROM {table}")
            for (kind, key), value in changes:
                if value is None:
                    conn.execute(f"DELETE FROM {table} WHERE kind = ? AND key = ?", (kind, key))
                else:
                    conn.execute(
                        f"INSERT OR REPLACE INTO {table} (kind, key, data) VALUES (?, ?, ?)",
                        (kind, key, json.dumps(value, separators=(",", ":"))),
                    )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise StoreUnavailable(str(exc)) from exc
        except BaseException:
            self._rollback()
            raise

    def replace(self, tables: Dict[str, Iterable[Tuple[RecordKey, Any]]]) -> None:
        """Make each table of ``tables`` hold exactly the records given, all tables in
        one durable transaction (a snapshot restored over every API at once). Raises
        :class:`StoreUnavailable`, with nothing written, when it cannot be committed."""
        conn = self._conn
        try:
            for table in tables:
                self._ensure(table)
            conn.execute("BEGIN IMMEDIATE")
            for table, records in tables.items():
                conn.execute(f"DELETE FROM {table}")
                conn.executemany(
                    f"INSERT OR REPLACE INTO {table} (kind, key, data) VALUES (?, ?, ?)",
                    (
                        (kind, key, json.dumps(value, separators=(",", ":")))
                        for (kind, key), value in records
                        if value is not None
                    ),
                )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise StoreUnavailable(str(exc)) from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # BEGIN itself may have failed (the lock was not ours): then there is nothing to
        # roll back, and ROLLBACK would raise over the real error.
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()
        if self._owner is not None:
            self._owner.close()  # releases the lock
            self._owner = None


def _own(path: str) -> Optional[IO[bytes]]:
    """An exclusive lock on ``PATH.lock`` for as long as the store is open (released by
    the system if the process dies); raises :class:`StoreInUse` if another holds it."""
    if fcntl is None or path == ":memory:":  # pragma: no cover - not POSIX
        return None
    owner = open(path + ".lock", "ab")  # noqa: SIM115 - closed in Store.close()
    try:
        fcntl.flock(owner.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        owner.close()
        raise StoreInUse(
            f"{path} is in use by another emulator process: one process serves one --db "
            "(stop the other, or give this one its own file)"
        ) from None
    return owner
