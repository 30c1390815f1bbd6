"""Following the workspace on disk (watchdog): created, changed, moved and deleted files re-indexed as they happen.

Events are gathered until the file system has been quiet for a moment (at most a second), so a burst (a branch
switch, a generated tree, ``npm install``) becomes one batch. A batch touching many paths is applied as one rescan
of the workspace, which costs a stat per unchanged file and also catches whatever the kernel dropped when its event
queue overflowed; a small batch is applied path by path.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .. import languages

if TYPE_CHECKING:
    from .workspace import WorkspaceIndex

log = logging.getLogger(__name__)

WATCH_DEBOUNCE_S = 0.05  # quiet time that ends a batch
WATCH_MAX_BATCH_S = 1.0  # a batch is applied after this long even while events keep coming
RESCAN_PATHS = 256  # a batch touching more paths than this is applied as one rescan
OVERFLOW = "overflow"  # the kernel dropped events: only a rescan can tell what changed
WATCH_QUEUE_MAX = 50_000  # events waiting to be applied; past this they are dropped and the next batch rescans


class _OverflowHook(logging.Handler):
    """watchdog rebuilds its watches when the kernel's inotify queue overflows but tells its handlers nothing; it
    does log a warning, which is where the watchers hear that events were lost."""

    watchers: ClassVar[weakref.WeakSet[IndexWatcher]] = weakref.WeakSet()
    installed = False

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            for watcher in list(self.watchers):
                watcher.overflowed()

    @classmethod
    def add(cls, watcher: IndexWatcher) -> None:
        cls.watchers.add(watcher)
        if not cls.installed:
            cls.installed = True
            hook = cls(logging.WARNING)
            for name in ("watchdog.observers.inotify_c", "watchdog.observers.inotify"):
                logging.getLogger(name).addHandler(hook)


class IndexWatcher:
    def __init__(self, index: WorkspaceIndex) -> None:
        self.index = index
        self._observer: Any = None
        self._events: queue.Queue[tuple[str, str, str | None]] = queue.Queue(WATCH_QUEUE_MAX)
        self._dropped = False  # events were dropped (a full queue): the next batch is a rescan
        self._worker: threading.Thread | None = None
        self.busy = False  # applying a batch now
        self.rescans = 0

    @property
    def pending(self) -> int:
        """Events not applied yet (0 when the index has caught up with the disk)."""
        return self._events.qsize() + (1 if self.busy else 0)

    def start(self) -> None:
        if self._observer is not None:
            return
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # pragma: no cover - watchdog is a dependency
            log.warning("watchdog unavailable; the index will not follow file changes")
            return
        enqueue = self._enqueue

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write", "closed"):
                    return
                if event.is_directory and event.event_type == "modified":
                    return  # a file inside changed: that file has its own event
                src = os.fsdecode(event.src_path)
                dest = os.fsdecode(event.dest_path) if getattr(event, "dest_path", "") else None
                enqueue((event.event_type, src, dest))

        observer = Observer()
        handler = _Handler()
        for root in self.index.roots:
            try:
                observer.schedule(handler, str(root), recursive=True)
            except OSError as exc:
                log.warning("cannot watch %s: %s", root, exc)
        observer.daemon = True
        _OverflowHook.add(self)
        observer.start()
        self._observer = observer
        self.index._stopping.clear()
        self._worker = threading.Thread(target=self._drain, name="codehearth-index-watch", daemon=True)
        self._worker.start()

    def _enqueue(self, event: tuple[str, str, str | None]) -> None:
        """From watchdog's thread: a full queue drops the event and asks for a rescan instead of growing."""
        try:
            self._events.put_nowait(event)
        except queue.Full:
            self._dropped = True

    def overflowed(self) -> None:
        """The kernel's queue overflowed: the next batch is a rescan."""
        self._enqueue((OVERFLOW, "", None))

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            try:
                observer.stop()
                observer.join(timeout=2)
            except Exception:  # stopping must not fail the server's shutdown
                log.debug("watch observer stop failed", exc_info=True)
        worker, self._worker = self._worker, None
        if worker is not None:
            try:
                self._events.put(("stop", "", None), timeout=2)  # a full queue: the worker sees _stopping
            except queue.Full:
                pass
            worker.join(timeout=2)

    def _gather(self, first: tuple[str, str, str | None]) -> list[tuple[str, str, str | None]]:
        batch = [first]
        started = time.monotonic()
        while time.monotonic() - started < WATCH_MAX_BATCH_S:
            try:
                batch.append(self._events.get(timeout=WATCH_DEBOUNCE_S))
            except queue.Empty:
                break
        while True:  # whatever is already queued joins this batch
            try:
                batch.append(self._events.get_nowait())
            except queue.Empty:
                if self._dropped:  # what was dropped is only known to the disk: rescan
                    self._dropped = False
                    batch.append((OVERFLOW, "", None))
                return batch

    def _drain(self) -> None:
        stopping = self.index._stopping
        while not stopping.is_set():
            try:
                first = self._events.get(timeout=0.5)
            except queue.Empty:
                continue
            self.busy = True
            try:
                batch = self._gather(first)
                if any(kind == "stop" for kind, _, _ in batch):
                    return
                self._apply(batch)
            finally:
                self.busy = False

    def _apply(self, batch: list[tuple[str, str, str | None]]) -> None:
        paths: dict[str, None] = {}
        rescan = False
        for kind, src, dest in batch:
            if kind == OVERFLOW:
                rescan = True
            for p in (src, dest):
                if p:
                    if os.path.basename(p) == ".gitignore":
                        rescan = True  # what is ignored changed: bring the whole index in line
                    paths[p] = None
        if rescan or len(paths) > RESCAN_PATHS:
            self.rescans += 1
            log.info("index: %d paths changed at once; rescanning the workspace", len(paths))
            try:
                self.index.rescan()
            except Exception as exc:
                log.warning("index: rescan failed: %s", exc)
            return
        for p in paths:
            if self.index._stopping.is_set():
                return
            try:
                self.apply_path_change(Path(p))
            except Exception as exc:
                log.warning("index: update for %s failed: %s", p, exc)

    def apply_path_change(self, path: Path) -> None:
        index = self.index
        if path.is_dir() and not path.is_symlink():
            try:
                resolved = path.resolve()
            except (OSError, RuntimeError):
                return
            root = index.root_of(resolved)
            if root is None or not index._name_allowed(root, resolved, is_dir=True):
                return
            for dirpath, dirnames, filenames in os.walk(resolved, followlinks=False):
                folder = Path(dirpath)
                dirnames[:] = [
                    d
                    for d in dirnames
                    if not (folder / d).is_symlink() and index._name_allowed(root, folder / d, is_dir=True)
                ]
                for name in filenames:
                    if languages.language_for_path(name) is not None:
                        index.refresh(folder / name)
            return
        if not path.exists() and not path.is_symlink():
            index.remove(path)
            return
        if languages.language_for_path(path) is not None:
            index.refresh(path)
