"""The index's disk cache under faults, without a server: deleted under an open connection, a folder that cannot be
written, and a burst of changes that the watcher applies as one rescan."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from codehearth.context.index import cache as cache_module
from codehearth.context.index.cache import IndexCache, unwritable
from codehearth.context.index.watcher import RESCAN_PATHS, IndexWatcher


def test_a_deleted_folder_is_recreated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(cache_module, "FOLDER_CHECK_S", 0.0)
    folder = tmp_path / "index"
    cache = IndexCache(folder)
    cache.set("a", b"1")
    assert cache.get("a") == b"1"
    import shutil

    shutil.rmtree(folder)
    cache.set("b", b"2")  # noticed: recreated, and this write lands in the new folder
    cache.set("c", b"3")
    assert folder.is_dir() and cache.get("c") == b"3"
    assert len([r for r in caplog.records if "was deleted; recreating it" in r.getMessage()]) == 1
    cache.close()


def test_a_folder_that_cannot_be_written_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "index"
    cache = IndexCache(folder)
    cache.set("a", b"1")
    cache.close()
    real_open = cache_module.os.open

    def read_only(path, flags, *args):  # type: ignore[no-untyped-def]
        if flags & (cache_module.os.O_WRONLY | cache_module.os.O_RDWR):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(cache_module.os, "open", read_only)
    assert isinstance(unwritable(folder), PermissionError)
    again = IndexCache(folder)
    for _ in range(3):
        again.set("b", b"2")  # never opened: SQLite on files it cannot write may die of SIGBUS
        assert again.get("a") is None
    assert again.problem is not None and "Permission denied" in again.problem
    assert len([r for r in caplog.records if "cannot be written" in r.getMessage()]) == 1
    monkeypatch.setattr(cache_module.os, "open", real_open)
    monkeypatch.setattr(cache_module, "RETRY_S", 0.0)
    again._retry_at = 0.0
    again.set("b", b"2")
    assert again.get("a") == b"1" and again.get("b") == b"2" and again.problem is None
    again.close()


def test_a_new_thread_checks_before_it_connects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "index"
    cache = IndexCache(folder)
    cache.set("a", b"1")
    monkeypatch.setattr(cache_module, "unwritable", lambda f: PermissionError(1, "Operation not permitted"))
    seen: list[bytes | None] = []
    worker = threading.Thread(target=lambda: seen.append(cache.get("a")))
    worker.start()
    worker.join()
    assert seen == [None] and cache.problem is not None


class _FakeIndex:
    def __init__(self) -> None:
        self.roots: list[Path] = []
        self._stopping = threading.Event()
        self.rescanned = 0
        self.refreshed: list[Path] = []

    def rescan(self) -> None:
        self.rescanned += 1

    def refresh(self, path: Path) -> bool:
        self.refreshed.append(path)
        return True

    def remove(self, path: Path) -> None:
        pass


def test_a_burst_is_one_rescan_and_a_trickle_is_path_by_path(tmp_path: Path) -> None:
    index = _FakeIndex()
    watcher = IndexWatcher(index)  # type: ignore[arg-type]
    files = []
    for i in range(RESCAN_PATHS + 1):
        path = tmp_path / f"f{i}.py"
        path.write_text("x = 1\n")
        files.append(path)
    watcher._apply([("created", str(p), None) for p in files])
    assert index.rescanned == 1 and index.refreshed == []
    watcher._apply([("modified", str(files[0]), None), ("modified", str(files[0]), None)])
    assert index.rescanned == 1 and index.refreshed == [files[0]]
    watcher._apply([("overflow", "", None)])  # the kernel dropped events: only a rescan knows
    assert index.rescanned == 2


def test_an_inotify_overflow_reported_by_watchdog_means_a_rescan(tmp_path: Path) -> None:
    import logging

    from codehearth.context.index.watcher import _OverflowHook

    index = _FakeIndex()
    watcher = IndexWatcher(index)  # type: ignore[arg-type]
    _OverflowHook.add(watcher)
    logging.getLogger("watchdog.observers.inotify_c").warning("Inotify queue overflowed; filesystem events were lost")
    first = watcher._events.get_nowait()
    assert first[0] == "overflow"
    watcher._apply([first])
    assert index.rescanned == 1
