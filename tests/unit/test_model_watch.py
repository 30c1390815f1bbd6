"""The model file watch, poll by poll (no thread, no model): deleted is said once and changes nothing; a replacement
is reloaded once it has stopped changing; a file that comes back is loaded again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codehearth.models.watch import ModelFileWatch, signature


def make(path: Path, data: bytes = b"GGUF-one") -> None:
    path.write_bytes(data)


def test_deleted_then_replaced_then_rewritten(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = tmp_path / "m.gguf"
    make(model)
    reloads: list[int] = []
    watch = ModelFileWatch(model, lambda: reloads.append(1))
    watch.loaded(signature(model))
    watch.poll()
    assert reloads == []

    model.unlink()
    for _ in range(3):
        watch.poll()
    assert reloads == [] and len([r for r in caplog.records if "was deleted" in r.getMessage()]) == 1

    part = tmp_path / "m.part"
    make(part, b"GGUF-two, longer")
    os.replace(part, model)
    watch.poll()  # changed: looked at again before anything is loaded (it may still be being written)
    assert reloads == []
    watch.poll()
    assert reloads == [1]
    assert len([r for r in caplog.records if "is back; loading it" in r.getMessage()]) == 1
    watch.poll()
    assert reloads == [1]

    with model.open("ab") as fh:  # rewritten in place, a growing copy
        fh.write(b"more")
    watch.poll()
    with model.open("ab") as fh:
        fh.write(b"and more")
    watch.poll()  # still changing: not yet
    assert reloads == [1]
    watch.poll()
    assert reloads == [1, 1]
    assert len([r for r in caplog.records if "changed on disk" in r.getMessage()]) == 1


def test_a_file_missing_at_load_is_loaded_when_it_appears(tmp_path: Path) -> None:
    model = tmp_path / "later.gguf"
    reloads: list[int] = []
    watch = ModelFileWatch(model, lambda: reloads.append(1))
    watch.loaded(signature(model))  # None: the load failed for want of the file
    watch.poll()
    make(model)
    watch.poll()
    watch.poll()
    assert reloads == [1]
