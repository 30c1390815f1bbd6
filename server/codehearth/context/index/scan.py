"""The scan: walk every root, skip what the cache says is unchanged, parse the rest (in a process pool when there is
a lot), and drop what disappeared."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from .. import languages
from .records import (
    ScanStats,
    _decode_symbols,
    _encode,
    _is_regular,
    _parse_job,
    _read_text_file,
    _StatEntry,
    content_hash,
)

if TYPE_CHECKING:
    from .workspace import WorkspaceIndex

log = logging.getLogger(__name__)

POOL_THRESHOLD = 64  # parse in a process pool when at least this many files need parsing
PROGRESS_INTERVAL_S = 0.1


def walk(index: WorkspaceIndex) -> Iterable[tuple[Path, str, os.stat_result]]:
    """Candidate source files: (resolved path, language, stat)."""
    seen: set[str] = set()
    for root in index.roots:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=_log_walk_error):
            folder = Path(dirpath)
            keep = []
            for d in dirnames:
                sub = folder / d
                if sub.is_symlink():
                    continue
                if (sub / "pyvenv.cfg").exists():
                    continue  # a virtual environment, whatever its name
                if index._name_allowed(root, sub, is_dir=True):
                    keep.append(d)
            dirnames[:] = sorted(keep)
            for name in sorted(filenames):
                language = languages.language_for_path(name)
                if language is None:
                    continue
                path = folder / name
                key = str(path)
                if key in seen:
                    continue
                try:
                    st = os.lstat(path)
                except OSError:
                    continue  # deleted meanwhile
                if not _is_regular(st):
                    continue  # symlinks (never followed), fifos, sockets
                if st.st_size > index.settings.max_file_bytes:
                    continue
                if not index._name_allowed(root, path, is_dir=False):
                    continue
                seen.add(key)
                yield path, language, st

def scan_workspace(index: WorkspaceIndex, progress: Callable[[int, int], None] | None = None) -> ScanStats:
    """Walk every root and bring the index up to date. Safe to call from a background thread."""
    started = time.perf_counter()
    if index._watcher is None:
        index._stopping.clear()  # a scan after stop() runs again; stop() during a scan ends it
    candidates = list(walk(index))
    total = len(candidates)
    done = 0
    parsed = 0
    present: set[str] = set()
    to_parse: list[tuple[Path, str, os.stat_result, str]] = []
    workers = worker_count(index)

    last_report = 0.0

    def tick(n: int = 1) -> None:
        nonlocal done, last_report
        done += n
        if progress is None:
            return
        now = time.monotonic()
        if done >= total or now - last_report >= PROGRESS_INTERVAL_S:  # spare the client a flood
            last_report = now
            with contextlib.suppress(Exception):
                progress(done, total)

    if progress is not None:
        progress(0, total)
    for path, language, st in candidates:
        key = str(path)
        present.add(key)
        with index._lock:
            if key in index._overlay:
                tick()
                continue
        stat = index._cached_stat(key)
        digest = ""
        if stat is not None and stat.size == st.st_size and stat.mtime_ns == st.st_mtime_ns:
            digest = stat.hash
        else:
            data = _read_text_file(path)
            if data is None:
                present.discard(key)
                tick()
                continue
            digest = content_hash(data)
        with index._lock:
            current = index._records.get(key)
        if current is not None and current.hash == digest:
            tick()
            continue
        symbols = index._cached_symbols(key, digest)
        if symbols is not None:
            index._store(index._record(path, digest, language, symbols))
            if stat is None or stat.hash != digest or stat.mtime_ns != st.st_mtime_ns:
                index._cache_set(f"stat:{key}", _encode(_StatEntry(st.st_size, st.st_mtime_ns, digest)))
            tick()
            continue
        to_parse.append((path, language, st, digest))

    if to_parse:
        parsed = parse_many(index, to_parse, workers, tick)

    # files that disappeared since the last scan
    with index._lock:
        gone = [p for p in index._records if p not in present and p not in index._overlay]
        for p in gone:
            index._drop(p)
    files, n_symbols = index.stats()
    seconds = time.perf_counter() - started
    log.info("index: %d files, %d symbols, %d parsed in %.1fs", files, n_symbols, parsed, seconds)
    return ScanStats(files=files, symbols=n_symbols, parsed=parsed, seconds=seconds)

def worker_count(index: WorkspaceIndex) -> int:
    wanted = int(getattr(index.settings, "index_workers", 0) or 0)
    if wanted > 0:
        return wanted
    return max(1, min(os.cpu_count() or 1, 4))

def parse_many(
    index: WorkspaceIndex,
    jobs: list[tuple[Path, str, os.stat_result, str]],
    workers: int,
    tick: Callable[[int], None],
) -> int:
    by_path = {str(p): (p, lang, st, digest) for p, lang, st, digest in jobs}
    parsed = 0

    def accept(key: str, digest: str, raw: bytes | None) -> None:
        nonlocal parsed
        path, language, st, expected = by_path[key]
        if raw is None:
            return
        try:
            symbols = _decode_symbols(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        if digest != expected:
            with contextlib.suppress(OSError):
                st = os.stat(path)  # changed while we looked: store what we parsed
        parsed += 1
        index._cache_set(f"rec:{key}:{digest}", raw)
        index._cache_set(f"stat:{key}", _encode(_StatEntry(st.st_size, st.st_mtime_ns, digest)))
        index._store(index._record(path, digest, language, symbols))

    work = [(str(p), lang) for p, lang, _st, _d in jobs]
    remaining = list(work)
    if workers > 1 and len(work) >= POOL_THRESHOLD:
        try:
            ctx = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
            try:
                for key, digest, raw in pool.map(_parse_job, work, chunksize=16):
                    if index._stopping.is_set():
                        break
                    accept(key, digest, raw)
                    tick(1)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)  # stop(): do not parse the rest
            remaining = []
        except Exception as exc:  # no processes here (sandbox, frozen app): parse in-process
            log.warning("index: process pool unavailable (%s); parsing in this process", exc)
            with index._lock:
                remaining = [w for w in work if w[0] not in index._records]
    for job in remaining:
        if index._stopping.is_set():
            break
        key, digest, raw = _parse_job(job)
        accept(key, digest, raw)
        tick(1)
    return parsed


def _log_walk_error(exc: OSError) -> None:
    log.debug("index: walk error %s", exc)
