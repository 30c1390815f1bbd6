"""The workspace index: definitions, imports and exports of every file, searchable by name, kept live."""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pathspec

from .. import languages
from ..symbols import Definition, FileSymbols
from .cache import IndexCache
from .filters import _EXCLUDED_DIR_GLOBS, DEFAULT_EXCLUDED_DIRS, _IgnoreRules, is_secret_path, looks_secret
from .records import (
    BINARY_SNIFF_BYTES,
    CACHE_SCHEMA,
    FileRecord,
    ScanStats,
    _decode_stat,
    _decode_symbols,
    _encode,
    _StatEntry,
    content_hash,
    module_keys,
    parse_source,
)
from .scan import scan_workspace
from .watcher import IndexWatcher

if TYPE_CHECKING:
    from codehearth.config import ContextSettings

    from ..document import Document

log = logging.getLogger(__name__)

OVERLAY_DEBOUNCE_S = 0.3


class WorkspaceIndex:
    """Definitions across the workspace roots, searchable by name."""

    def __init__(self, roots: list[Path], cache_dir: Path, settings: ContextSettings) -> None:
        self.roots: list[Path] = []
        for root in roots:
            try:
                self.roots.append(Path(root).resolve())
            except (OSError, RuntimeError):
                log.warning("workspace root %s cannot be resolved; skipped", root)
        self.settings = settings
        self.cache_dir = Path(cache_dir)
        self._lock = threading.RLock()
        self._records: dict[str, FileRecord] = {}
        self._by_name: dict[str, list[Definition]] = {}
        self._by_module: dict[str, set[str]] = {}
        self._overlay: set[str] = set()
        self._relpaths: dict[str, str] = {}
        self._overlay_updated: dict[str, float] = {}
        self._pending: dict[str, tuple[Path, str, bytes]] = {}
        self._pending_timer: threading.Timer | None = None
        self._ignore = _IgnoreRules()
        self._exclude = pathspec.GitIgnoreSpec.from_lines(list(settings.exclude or []))
        self._cache = IndexCache(self.cache_dir / CACHE_SCHEMA)
        self._watcher: IndexWatcher | None = None
        self._stopping = threading.Event()  # stop(): scans and the watcher end early
        self.generation = 0  # bumped on every change, for callers that memoise

    # ------------------------------------------------------------- the cache
    def _cache_get(self, key: str) -> bytes | None:
        return self._cache.get(key)

    def _cache_set(self, key: str, value: bytes) -> None:
        self._cache.set(key, value)

    def _cache_delete(self, key: str) -> None:
        self._cache.delete(key)

    def _cached_symbols(self, path: str, digest: str) -> FileSymbols | None:
        raw = self._cache_get(f"rec:{path}:{digest}")
        if raw is None:
            return None
        try:
            return _decode_symbols(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    def _cached_stat(self, path: str) -> _StatEntry | None:
        raw = self._cache_get(f"stat:{path}")
        if raw is None:
            return None
        try:
            return _decode_stat(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    def close(self) -> None:
        self.stop()
        self._cache.close()

    # ---------------------------------------------------------- the filters
    def root_of(self, path: Path) -> Path | None:
        for root in self.roots:
            if path == root or root in path.parents:
                return root
        return None

    def relpath(self, path: str | Path) -> str:
        """Workspace-relative posix path (the path itself when outside every root)."""
        key = str(path)
        cached = self._relpaths.get(key)
        if cached is not None:
            return cached
        p = Path(path)
        root = self.root_of(p)
        rel = str(p) if root is None else p.relative_to(root).as_posix()
        if len(self._relpaths) > 50_000:
            self._relpaths.clear()
        self._relpaths[key] = rel
        return rel

    def _name_allowed(self, root: Path, path: Path, is_dir: bool) -> bool:
        rel = path.relative_to(root)
        for part in rel.parts[:-1] if not is_dir else rel.parts:
            if part in DEFAULT_EXCLUDED_DIRS or any(
                fnmatch.fnmatchcase(part, g) for g in _EXCLUDED_DIR_GLOBS
            ):
                return False
        if not is_dir and not self.settings.include_secrets and is_secret_path(rel):
            return False
        rel_posix = rel.as_posix() + ("/" if is_dir else "")
        if self._exclude.match_file(rel_posix):
            return False
        return not self._ignore.ignored(root, path, is_dir)

    def is_allowed(self, path: Path) -> bool:
        """Inside a root, not git-ignored/excluded, not a secret, not binary or too big."""
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError):  # symlink loop
            return False
        root = self.root_of(resolved)
        if root is None:
            return False
        if not self._name_allowed(root, resolved, is_dir=False):
            return False
        if not self.settings.include_secrets and is_secret_path(Path(path).name):
            return False  # the link's own name counts too
        try:
            st = resolved.stat()
        except FileNotFoundError:
            return True  # not on disk (yet): an unsaved buffer; names were checked
        except OSError:
            return False
        if st.st_size > self.settings.max_file_bytes:
            return False
        try:
            with open(resolved, "rb") as fh:
                head = fh.read(BINARY_SNIFF_BYTES)
        except OSError:
            return False
        return b"\0" not in head

    # ---------------------------------------------------------------- query
    def definitions(self, name: str) -> list[Definition]:
        with self._lock:
            return list(self._by_name.get(name, ()))

    def file_symbols(self, path: str | Path) -> FileSymbols | None:
        with self._lock:
            rec = self._records.get(str(path))
            return rec.symbols if rec is not None else None

    def definitions_in(self, path: str | Path) -> list[Definition]:
        with self._lock:
            rec = self._records.get(str(path))
            return list(rec.symbols.definitions) if rec is not None else []

    def files_for_module(self, key: str) -> set[str]:
        """Files an import of ``key`` (dotted: ``json.decoder``, ``pkg.util``) may refer to."""
        with self._lock:
            return set(self._by_module.get(key, ()))

    def paths(self) -> list[str]:
        with self._lock:
            return list(self._records)

    def stats(self) -> tuple[int, int]:
        with self._lock:
            return len(self._records), sum(len(v) for v in self._by_name.values())

    # ------------------------------------------------------------- mutation
    def _store(self, record: FileRecord) -> None:
        with self._lock:
            self._drop(record.path)
            self._records[record.path] = record
            for d in record.symbols.definitions:
                self._by_name.setdefault(d.name, []).append(d)
            for key in record.module_keys:
                self._by_module.setdefault(key, set()).add(record.path)
            self.generation += 1

    def _drop(self, path: str) -> bool:
        old = self._records.pop(path, None)
        if old is None:
            return False
        for d in old.symbols.definitions:
            bucket = self._by_name.get(d.name)
            if bucket:
                bucket[:] = [x for x in bucket if x.path != path]
                if not bucket:
                    del self._by_name[d.name]
        for key in old.module_keys:
            files = self._by_module.get(key)
            if files:
                files.discard(path)
                if not files:
                    del self._by_module[key]
        self.generation += 1
        return True

    def _record(self, path: Path, digest: str, language: str, symbols: FileSymbols) -> FileRecord:
        root = self.root_of(path)
        keys = module_keys(path.relative_to(root)) if root is not None else []
        return FileRecord(path=str(path), hash=digest, language=language, symbols=symbols, module_keys=keys)

    def remove(self, path: Path) -> None:
        """Forget a file (deleted, or no longer allowed)."""
        key = str(Path(path).resolve()) if Path(path).is_absolute() else str(path)
        with self._lock:
            self._overlay.discard(key)
            removed = self._drop(key)
            # a folder: everything under it
            prefix = key.rstrip(os.sep) + os.sep
            for other in [p for p in self._records if p.startswith(prefix)]:
                self._drop(other)
                removed = True
        if removed:
            log.debug("index: removed %s", key)

    def update_text(self, path: Path, text: str) -> None:
        """Index an open document from its in-memory text (disk events are ignored until closed).

        Cheap enough to call on every keystroke: the first update of a file is applied at once;
        while updates keep coming, parsing happens at most every :data:`OVERLAY_DEBOUNCE_S` seconds
        on a background timer (:meth:`flush` applies what is pending now).
        """
        self._update_bytes(Path(path), text.encode("utf-8", "replace"))

    def update_document(self, doc: Document) -> None:
        """:meth:`update_text` for a :class:`Document` (uses a snapshot of its buffer)."""
        if doc.path is not None:
            self._update_bytes(Path(doc.path), doc.source)

    def _update_bytes(self, path: Path, data: bytes) -> None:
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):
            return
        key = str(resolved)
        language = languages.language_for_path(resolved)
        if language is None or len(data) > self.settings.max_file_bytes:
            return
        with self._lock:
            known = key in self._overlay
        if not known and not self.is_allowed(resolved):
            return
        now = time.monotonic()
        with self._lock:
            self._overlay.add(key)
            recent = now - self._overlay_updated.get(key, -1e9) < OVERLAY_DEBOUNCE_S
            if recent:
                self._pending[key] = (resolved, language, data)
                if self._pending_timer is None:
                    timer = threading.Timer(OVERLAY_DEBOUNCE_S, self.flush)
                    timer.daemon = True
                    self._pending_timer = timer
                    timer.start()
                return
            self._overlay_updated[key] = now
            self._pending.pop(key, None)
        self._index_bytes(resolved, language, data)

    def flush(self) -> None:
        """Apply pending in-memory updates now."""
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
            self._pending_timer = None
            now = time.monotonic()
            for resolved, _language, _data in pending:
                self._overlay_updated[str(resolved)] = now
        for resolved, language, data in pending:
            try:
                self._index_bytes(resolved, language, data)
            except Exception as exc:
                log.warning("index: in-memory update of %s failed: %s", resolved, exc)

    def _index_bytes(self, resolved: Path, language: str, data: bytes) -> None:
        if looks_secret(data) and not self.settings.include_secrets:
            with self._lock:
                self._drop(str(resolved))
            return
        digest = content_hash(data)
        with self._lock:
            if str(resolved) not in self._overlay:
                return  # closed meanwhile
            current = self._records.get(str(resolved))
            if current is not None and current.hash == digest:
                return
        symbols = parse_source(data, language, str(resolved))
        with self._lock:
            if str(resolved) in self._overlay:
                self._store(self._record(resolved, digest, language, symbols))

    def close_document(self, path: Path) -> None:
        """The editor closed the document: go back to what is on disk."""
        with contextlib.suppress(OSError, RuntimeError):
            resolved = Path(path).resolve()
            with self._lock:
                self._overlay.discard(str(resolved))
                self._overlay_updated.pop(str(resolved), None)
                self._pending.pop(str(resolved), None)
            self.refresh(resolved)

    def refresh(self, path: Path) -> bool:
        """Re-index one file from disk (or drop it when gone / not allowed). True when it changed."""
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError):
            return False
        key = str(resolved)
        with self._lock:
            if key in self._overlay:
                return False
        language = languages.language_for_path(resolved)
        if (
            language is None
            or Path(path).is_symlink()
            or not resolved.is_file()
            or not self.is_allowed(resolved)
        ):
            with self._lock:
                had = key in self._records
                self._drop(key)
            return had
        try:
            data = resolved.read_bytes()
            st = resolved.stat()
        except OSError:
            with self._lock:
                return self._drop(key)
        if looks_secret(data) and not self.settings.include_secrets:
            with self._lock:
                return self._drop(key)
        digest = content_hash(data)
        with self._lock:
            current = self._records.get(key)
            if current is not None and current.hash == digest:
                return False
        symbols = self._cached_symbols(key, digest)
        if symbols is None:
            try:
                symbols = parse_source(data, language, key)
            except Exception as exc:
                log.warning("index: parsing %s failed: %s", key, exc)
                return False
            self._cache_set(f"rec:{key}:{digest}", _encode(symbols))
        self._cache_set(f"stat:{key}", _encode(_StatEntry(st.st_size, st.st_mtime_ns, digest)))
        self._store(self._record(resolved, digest, language, symbols))
        return True

    # ----------------------------------------------------------------- scan
    def scan(self, progress: Callable[[int, int], None] | None = None) -> ScanStats:
        """Walk every root and bring the index up to date. Safe to call from a background thread."""
        return scan_workspace(self, progress)

    # ------------------------------------------------------------- watching
    def start_watching(self) -> None:
        """Re-index created, changed, moved and deleted files as they happen (see :mod:`.watcher`)."""
        if self._watcher is None:
            self._watcher = IndexWatcher(self)
        self._watcher.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            timer, self._pending_timer = self._pending_timer, None
            self._pending.clear()
        if timer is not None:
            timer.cancel()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    def rescan(self) -> ScanStats:
        """Scan again from scratch (.gitignore files re-read): after a burst of changes or lost events."""
        self._ignore.clear()
        return self.scan()

    def health(self) -> dict[str, Any]:
        """Size, backlog and cache state, for ``codehearth/stats``."""
        files, definitions = self.stats()
        watcher = self._watcher
        return {"files": files, "definitions": definitions,
                "pendingEvents": watcher.pending if watcher is not None else 0,
                "rescans": watcher.rescans if watcher is not None else 0,
                "cacheProblem": self._cache.problem}
