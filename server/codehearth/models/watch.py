"""The loaded model's file, watched: deleted or replaced on disk while the server runs.

llama.cpp maps the weights from the file, so a deleted file keeps serving from the mapping (the inode lives until the
last mapping goes): that is said once, and nothing else changes. A replaced file (a new inode, size or mtime) is
reloaded once it has stopped changing for one poll, so that a copy still being written is never loaded half-way;
a replacement that fails to load leaves the engine in its error state until the file changes again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

POLL_S = 1.0
Signature = tuple[int, int, int, int]


def signature(path: Path) -> Signature | None:
    """What identifies one version of a file: device, inode, size, mtime; None when it is not there."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class ModelFileWatch:
    def __init__(self, path: Path, on_change: Callable[[], None], interval: float = POLL_S) -> None:
        self.path = path
        self.on_change = on_change
        self.interval = interval
        self._loaded: Signature | None = None
        self._pending: Signature | None = None
        self._said_missing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def loaded(self, sig: Signature | None) -> None:
        """The version of the file the engine was (or failed to be) loaded from."""
        self._loaded = sig
        self._pending = None
        self._said_missing = sig is None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="codehearth-model-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # the watch is a help: it must never take the server down
                log.exception("model file watch failed")

    def poll(self) -> None:
        sig = signature(self.path)
        if sig == self._loaded:
            self._pending = None
            return
        if sig is None:
            if not self._said_missing:
                log.warning("model file %s was deleted; the model already loaded keeps serving from memory "
                            "until the file is back or the server restarts", self.path)
                self._said_missing = True
            self._pending = None
            return
        if sig != self._pending:  # changed since the last poll: maybe still being written; look again
            self._pending = sig
            return
        if self._said_missing:
            log.warning("model file %s is back; loading it", self.path)
        else:
            log.warning("model file %s changed on disk; reloading it", self.path)
        self.loaded(sig)
        self.on_change()
