"""Acceptance statistics: offers matched to editor events, the local store, the summary and `codehearth stats`."""

from __future__ import annotations

import io
import json
from pathlib import Path

from codehearth.context.document import Document, Point
from codehearth.feedback import Recorder, acceptance_summary, task_kind
from codehearth.feedback.commands import run_stats

SOURCE = "def double(x):\n    return "
END = Point(1, 11)


def test_task_kinds_follow_the_eval_vocabulary() -> None:
    assert task_kind("    return ", "def double(x):") == "mid-line"
    assert task_kind("    ", "def double(x):") == "block"
    assert task_kind("", "x = 1") == "line-start"
    assert task_kind("", "if (a) {") == "block"


def test_typing_through_a_suggestion_keeps_its_id(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "a.sqlite3")
    doc = Document("file:///t/d.py", SOURCE, "python")
    first = rec.offer(doc, END, "x * 2", 120.0, "m")
    assert (first.kind, first.language, first.length) == ("mid-line", "python", 5)
    assert rec.offer(doc, END, "x * 2", 5.0, "m").id == first.id  # asked again at the same place
    doc.apply_edit(END, END, "x ")
    again = rec.offer(doc, Point(1, 13), "* 2", 3.0, "m")
    assert again.id == first.id and again.typed == 2 and again.latency_ms == 120.0
    doc.apply_edit(Point(1, 13), Point(1, 13), "+")
    other = rec.offer(doc, Point(1, 14), " 1", 80.0, "m")
    assert other.id != first.id and other.length == 2


def test_events_are_counted_per_model_language_and_kind(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    rec = Recorder(path)
    doc = Document("file:///t/d.py", SOURCE, "python")
    a = rec.offer(doc, END, "x * 2", 100.0, "m1")
    assert rec.event(a.id, "shown")
    assert rec.event(a.id, "partial", 2)
    assert rec.event(a.id, "dismissed")  # a partly accepted suggestion stays partly accepted
    doc.apply_edit(END, END, "x * 2\n    ")
    b = rec.offer(doc, Point(2, 4), "return x", 300.0, "m1")
    assert rec.event(b.id, "shown") and rec.event(b.id, "accepted")
    c = rec.offer(Document("file:///t/e.go", "package main\n", "go"), Point(1, 0), "func main() {}", 50.0, "m2")
    assert rec.event(c.id, "shown") and rec.event(c.id, "dismissed")
    assert not rec.event("no-such-id", "shown") and not rec.event(c.id, "exploded")
    rec.close()

    s = acceptance_summary(path=path)
    assert (s.total.shown, s.total.accepted, s.total.fully_accepted, s.total.partially_accepted) == (3, 2, 1, 1)
    assert (s.total.dismissed, s.total.accepted_chars) == (1, 2 + 8)
    assert [(g.model, g.language, g.shown, g.accepted) for g in s.groups] == [("m1", "python", 2, 2),
                                                                             ("m2", "go", 1, 0)]
    assert s.models["m1"].acceptance_rate == 1.0 and s.models["m1"].accepted_chars_per_suggestion == 5.0
    assert s.models["m1"].latency_ms.p50 == 100.0 and s.models["m1"].latency_ms.p95 == 300.0
    assert sorted(s.kinds) == ["line-start", "mid-line"] and s.kinds["line-start"].accepted_chars == 8
    assert s.tolerated_ms == 300.0
    wire = json.loads(_run(path, as_json=True))
    assert wire["kinds"]["mid-line"] == {**wire["kinds"]["mid-line"], "shown": 1, "accepted": 1,
                                         "acceptedChars": 2}
    assert wire["toleratedMs"] == 300.0 and wire["total"]["acceptanceRate"] == round(2 / 3, 4)
    table = _run(path)
    assert "m1" in table and "python" in table and "100%" in table
    assert _run(path, erase=True) == f"erased 3 suggestion records from {path}\n"
    assert acceptance_summary(path=path).total.shown == 0


def test_nothing_is_written_when_recording_is_off(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    rec = Recorder(path)
    offer = rec.offer(Document("file:///t/d.py", SOURCE, "python"), END, "x * 2", 100.0, "m")
    assert not rec.event(offer.id, "accepted", enabled=False)
    assert not path.exists()
    assert "no suggestions recorded yet" in _run(path)
    assert not path.exists()


def test_days_filter_keeps_recent_suggestions(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    rec = Recorder(path)
    old = rec.offer(Document("file:///t/d.py", SOURCE, "python"), END, "x * 2", 100.0, "m")
    old.offered_at -= 10 * 86400
    rec.event(old.id, "accepted")
    rec.close()
    assert acceptance_summary(days=7, path=path).total.shown == 0
    assert acceptance_summary(days=30, path=path).total.shown == 1


def _run(path: Path, as_json: bool = False, erase: bool = False) -> str:
    out = io.StringIO()
    assert run_stats(path, None, as_json, erase, out) == 0
    return out.getvalue()
