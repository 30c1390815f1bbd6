"""The index's disk cache (diskcache/SQLite): a help that must never cost the index.

Every failure degrades to "in memory only" and is said once per distinct cause; the cache comes back by itself when
the cause goes away:

- a corrupted database (not a database, malformed) is deleted and rebuilt;
- a folder deleted while the server runs is noticed and recreated;
- a folder that cannot be written (read-only, disk full, file size limit) leaves the existing cache alone: the
  connection is closed and tried again every few seconds, reads included (a miss only costs a parse).

SQLite maps the WAL's shared-memory file; a connection opened on a file that cannot be written (read-only for the
user, or immutable) dies of SIGBUS when it touches that mapping. diskcache opens one connection per thread, on the
thread's first use, so every opening (ours, and each new thread's) is preceded by a check that the database files
can be opened for writing; when they cannot, the cache is not touched at all until they can.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RETRY_S = 2.0  # a cache that failed is tried again after this long
FOLDER_CHECK_S = 1.0  # how often the folder's existence is checked while writing
DB_FILES = ("cache.db", "cache.db-wal", "cache.db-shm")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:160]


def unwritable(folder: Path) -> OSError | None:
    """Why SQLite could not safely open the cache in ``folder`` now (None when it can): the folder and every
    database file must be writable. Creates the folder; writes nothing that grows (a full disk passes)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}-{threading.get_ident()}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        os.unlink(probe)
        for name in DB_FILES:
            with contextlib.suppress(FileNotFoundError):
                os.close(os.open(folder / name, os.O_RDWR))
    except OSError as exc:
        return exc
    return None


def _corrupt(exc: BaseException) -> bool:
    """A database that is damaged (rebuild it), as opposed to one that cannot be written now (leave it be)."""
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return True
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


class IndexCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.RLock()
        self._cache: Any = None
        self._retry_at = 0.0
        self._folder_checked = 0.0
        self._problem: str | None = None  # the cause said last; None while the cache works
        self._threads: set[int] = set()  # threads that have a connection (diskcache opens one per thread)

    # -- state ---------------------------------------------------------------------------------------------

    @property
    def problem(self) -> str | None:
        return self._problem

    def _fail(self, what: str, exc: BaseException) -> None:
        """Close the connection, go on in memory, say so once per cause, try again later."""
        if self._cache is not None and not self.folder.is_dir():
            self._deleted()
            return
        reason = f"{what}: {_reason(exc)}"
        if reason != self._problem:
            log.warning("index cache at %s %s; the index goes on in memory and retries", self.folder, reason)
        self._problem = reason
        self._close_connection()
        self._retry_at = time.monotonic() + RETRY_S

    def _ok(self) -> None:
        if self._problem is not None:
            log.info("index cache at %s works again", self.folder)
            self._problem = None

    def _deleted(self) -> None:
        log.warning("index cache folder %s was deleted; recreating it", self.folder)
        self._close_connection()
        self._retry_at = 0.0

    def _close_connection(self) -> None:
        cache, self._cache = self._cache, None
        self._threads.clear()
        if cache is not None:
            with contextlib.suppress(Exception):
                cache.close()

    # -- opening -------------------------------------------------------------------------------------------

    def _open(self) -> Any:
        if self._cache is not None:
            now = time.monotonic()
            if now - self._folder_checked >= FOLDER_CHECK_S:
                self._folder_checked = now
                if not self.folder.is_dir():  # deleted under us: SQLite would go on writing to a ghost
                    self._deleted()
            if self._cache is not None and threading.get_ident() not in self._threads:
                # This thread's first use opens a connection: only on files that can be written.
                if not self.folder.is_dir():
                    self._deleted()
                else:
                    problem = unwritable(self.folder)
                    if problem is not None:
                        self._fail("cannot be written", problem)
                        return None
                    self._threads.add(threading.get_ident())
            if self._cache is not None:
                return self._cache
        if time.monotonic() < self._retry_at:
            return None
        import diskcache

        problem = unwritable(self.folder)
        if problem is not None:
            self._fail("cannot be written", problem)
            return None
        for attempt in range(2):
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                cache = diskcache.Cache(str(self.folder), size_limit=2**31, timeout=5)
                cache.get("probe")  # touches the database: corrupt files fail here
            except Exception as exc:
                if attempt == 0 and _corrupt(exc):
                    log.warning("index cache at %s is corrupted (%s); rebuilding it", self.folder, _reason(exc))
                    shutil.rmtree(self.folder, ignore_errors=True)
                    with contextlib.suppress(OSError):
                        if self.folder.exists() or self.folder.is_symlink():
                            self.folder.unlink()
                    continue
                self._fail("cannot be opened", exc)
                return None
            self._cache = cache
            self._threads = {threading.get_ident()}
            self._folder_checked = time.monotonic()
            return cache
        return None

    # -- use -----------------------------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        with self._lock:
            cache = self._open()
            if cache is None:
                return None
            try:
                value = cache.get(key)
            except Exception as exc:
                log.debug("cache read %s failed: %s", key, exc)
                return None
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes) -> None:
        with self._lock:
            cache = self._open()
            if cache is None:
                return
            try:
                cache.set(key, value)
            except Exception as exc:
                self._fail("cannot be written", exc)
            else:
                self._ok()

    def delete(self, key: str) -> None:
        with self._lock:
            cache = self._open()
            if cache is None:
                return
            with contextlib.suppress(Exception):
                cache.delete(key)

    def close(self) -> None:
        with self._lock:
            self._close_connection()
