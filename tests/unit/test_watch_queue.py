"""The index watcher's event queue is bounded: past its size events are dropped and the next batch rescans."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from codehearth.context.index import watcher as watch


def test_a_full_event_queue_drops_events_and_asks_for_a_rescan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "WATCH_QUEUE_MAX", 3)
    w = watch.IndexWatcher(SimpleNamespace(roots=[]))  # type: ignore[arg-type]
    for i in range(5):
        w._enqueue(("modified", f"/ws/{i}.py", None))
    assert w._events.qsize() == 3
    batch = w._gather(w._events.get_nowait())
    assert batch == [("modified", "/ws/0.py", None), ("modified", "/ws/1.py", None), ("modified", "/ws/2.py", None),
                     (watch.OVERFLOW, "", None)]
    w._enqueue(("modified", "/ws/5.py", None))
    assert w._gather(w._events.get_nowait()) == [("modified", "/ws/5.py", None)]  # one rescan per overflow
