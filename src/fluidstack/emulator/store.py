"""SQLite persistence: every acknowledged write is committed (WAL, synchronous=FULL)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Dict, Iterable, Optional, Tuple

__all__ = ["Store"]

RecordKey = Tuple[str, str]


class Store:
    """A table of JSON records addressed by (kind, key), written in one transaction."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS records ("
            " kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL,"
            " PRIMARY KEY (kind, key))"
        )

    def load(self) -> Dict[str, Dict[str, Any]]:
        """All records, by kind then key."""
        result: Dict[str, Dict[str, Any]] = {}
        for kind, key, data in self._conn.execute("SELECT kind, key, data FROM records"):
            result.setdefault(kind, {})[key] = json.loads(data)
        return result

    def write(self, changes: Iterable[Tuple[RecordKey, Optional[Any]]], clear: bool) -> None:
        """Apply upserts (value) and deletions (``None``) atomically and durably."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if clear:
                conn.execute("DELETE FROM records")
            for (kind, key), value in changes:
                if value is None:
                    conn.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))
                else:
                    conn.execute(
                        "INSERT OR REPLACE INTO records (kind, key, data) VALUES (?, ?, ?)",
                        (kind, key, json.dumps(value, separators=(",", ":"))),
                    )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()
