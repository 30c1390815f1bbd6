"""The SQLite file behind the acceptance statistics: one row per suggestion the user saw.

The file is created by the first event recorded, never before (so nothing is written while recording is off).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Literal

import msgspec

Outcome = Literal["shown", "partial", "accepted", "dismissed"]
SCHEMA = """
CREATE TABLE IF NOT EXISTS suggestions (
    id TEXT PRIMARY KEY,
    shown_at REAL NOT NULL,          -- unix time of its first event
    model TEXT NOT NULL,
    language TEXT NOT NULL,
    kind TEXT NOT NULL,              -- mid-line | line-start | block
    latency_ms REAL NOT NULL,
    length INTEGER NOT NULL,         -- characters suggested
    outcome TEXT NOT NULL,           -- shown | partial | accepted | dismissed
    accepted_chars INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS suggestions_shown_at ON suggestions (shown_at);
"""
MAX_CHARS = 1_000_000


class Row(msgspec.Struct, frozen=True):
    model: str
    language: str
    kind: str
    latency_ms: float
    length: int
    outcome: str
    accepted_chars: int
    shown_at: float


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._conn is None:
            if not create and not self.path.exists():
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")  # the server writes while `codehearth stats` reads
            conn.execute("PRAGMA synchronous=NORMAL")  # statistics, not ledgers: no fsync per event
            conn.executescript(SCHEMA)
            self._conn = conn
        return self._conn

    def record(
        self,
        *,
        suggestion_id: str,
        model: str,
        language: str,
        kind: str,
        latency_ms: float,
        length: int,
        outcome: Outcome,
        accepted_chars: int = 0,
        at: float | None = None,
    ) -> None:
        """Apply one event: the first creates the row; acceptance never goes back to dismissed or shown."""
        chars = max(0, min(int(accepted_chars), MAX_CHARS))
        with self._lock:
            conn = self._connect(create=True)
            assert conn is not None
            with conn:
                conn.execute("BEGIN")
                conn.execute(
                    "INSERT OR IGNORE INTO suggestions (id, shown_at, model, language, kind, latency_ms, length, "
                    "outcome, accepted_chars) VALUES (?, ?, ?, ?, ?, ?, ?, 'shown', 0)",
                    (suggestion_id, at or time.time(), model, language, kind, latency_ms, length),
                )
                if outcome == "dismissed":
                    conn.execute("UPDATE suggestions SET outcome = 'dismissed' WHERE id = ? AND outcome = 'shown'",
                                 (suggestion_id,))
                elif outcome == "partial":
                    conn.execute(
                        "UPDATE suggestions SET accepted_chars = MAX(accepted_chars, ?), "
                        "outcome = CASE outcome WHEN 'accepted' THEN 'accepted' ELSE 'partial' END WHERE id = ?",
                        (chars, suggestion_id),
                    )
                elif outcome == "accepted":
                    conn.execute(
                        "UPDATE suggestions SET accepted_chars = MAX(accepted_chars, ?), outcome = 'accepted' "
                        "WHERE id = ?",
                        (chars, suggestion_id),
                    )

    def rows(self, since: float | None = None) -> list[Row]:
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return []
            cur = conn.execute(
                "SELECT model, language, kind, latency_ms, length, outcome, accepted_chars, shown_at "
                "FROM suggestions WHERE shown_at >= ? ORDER BY shown_at",
                (since or 0.0,),
            )
            return [Row(*r) for r in cur.fetchall()]

    def erase(self) -> int:
        """Delete every row (and their traces in the file); returns how many there were."""
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return 0
            with conn:
                count = int(conn.execute("SELECT COUNT(*) FROM suggestions").fetchone()[0])
                conn.execute("DELETE FROM suggestions")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return count

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
