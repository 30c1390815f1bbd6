"""One owner per piece of state (codehearth.threads): snapshots for other threads, the debug mode that catches a
thread changing what the event loop owns, reloads and the index hopping onto the loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import FakeEngine

from codehearth import threads
from codehearth.app import RELOAD_REASON, Assistant
from codehearth.complete.service import CompletionService
from codehearth.config import ContextSettings, Settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.engine.base import CancelToken

SOURCE = "import os\n\ndef double(x):\n    return x * 2\n"


def in_thread(fn: Any) -> BaseException | None:
    """Run ``fn`` on a new thread; the exception it raised, or None."""
    caught: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            caught.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return caught[0] if caught else None


def test_the_suite_runs_in_debug_mode() -> None:
    assert threads.DEBUG  # tests/conftest.py turns it on for every test and every server a test starts


def test_editing_a_document_from_another_thread_fails_in_debug_mode() -> None:
    doc = Document("file:///t/a.py", SOURCE, "python")
    exc = in_thread(lambda: doc.apply_edit(Point(3, 16), Point(3, 16), " + 1"))
    assert isinstance(exc, threads.ThreadOwnershipError)
    assert "document file:///t/a.py: text changed from thread" in str(exc)
    assert doc.text == SOURCE  # refused before anything changed
    exc = in_thread(lambda: doc.symbols())
    assert isinstance(exc, threads.ThreadOwnershipError) and "symbol cache" in str(exc)


def test_a_snapshot_keeps_its_revision_while_the_loop_edits() -> None:
    doc = Document("file:///t/a.py", SOURCE, "python")
    snap = doc.snapshot()
    assert doc.tree is not None and snap.tree is not None and snap.tree is not doc.tree
    doc.apply_edit(Point(0, 0), Point(0, 0), "import sys\n")
    doc.apply_edit(Point(4, 4), Point(4, 16), "pass")
    assert snap.text == SOURCE and snap.revision == doc.revision - 2
    assert snap.tree.root_node.end_byte == len(SOURCE.encode())  # the copy was not edited with the document
    assert snap.line(3) == "    return x * 2" and doc.line(4) == "    pass"
    with pytest.raises(ValueError) as refused:
        snap.apply_edit(Point(0, 0), Point(0, 0), "x")
    assert str(refused.value) == "a snapshot of file:///t/a.py cannot be edited"


def test_symbols_a_thread_computes_go_into_the_snapshot_and_back_only_for_the_same_revision() -> None:
    doc = Document("file:///t/a.py", SOURCE, "python")
    snap = doc.snapshot()
    assert in_thread(lambda: snap.symbols()) is None  # the snapshot's own cache: any one thread may fill it
    assert [d.name for d in snap.symbols().definitions] == ["double"]
    assert doc._symbols is None  # the loop's document was not touched
    doc.adopt_symbols(snap)
    assert doc._symbols is snap._symbols

    stale = doc.snapshot()
    doc.apply_edit(Point(3, 16), Point(3, 16), " + 1")
    stale._symbols = None
    stale.symbols()
    doc.adopt_symbols(stale)  # computed for an older revision: not kept
    assert doc._symbols is None


def test_service_state_changed_off_the_loop_fails_in_debug_mode() -> None:
    builder = ContextBuilder(None, ContextSettings(), len)
    svc = CompletionService(Settings(), builder, lambda: None)
    for fn in (svc.cancel_all, lambda: svc.forget("file:///t/a.py"), svc.background.stop):
        exc = in_thread(fn)
        assert isinstance(exc, threads.ThreadOwnershipError)
    assert in_thread(lambda: threads.check_owner(threading.get_ident(), "own")) is None


async def test_a_reload_from_another_thread_cancels_on_the_loop(tmp_path: Path) -> None:
    assistant = Assistant(data_dir=tmp_path, engine_factory=lambda s, p, r: FakeEngine())
    assistant.bind_loop()
    loop_thread = threading.get_ident()
    seen: list[int] = []
    real_cancel = assistant.completions.cancel_all

    def cancel_all() -> None:
        seen.append(threading.get_ident())
        real_cancel()

    assistant.completions.cancel_all = cancel_all  # type: ignore[method-assign]
    token = CancelToken()
    assistant.explanations._active.add(token)
    # The model-file watch and load_engine_async's executor call this off the loop.
    await asyncio.get_running_loop().run_in_executor(None, assistant._unload)
    assert seen == [loop_thread]
    assert token.cancelled and token.reason == RELOAD_REASON
    assistant.shutdown()


async def test_the_index_thread_reads_open_documents_only_through_a_list_made_on_the_loop(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "a.py").write_text("def on_disk():\n    pass\n")
    loop_thread = threading.get_ident()
    readers: set[int] = set()

    class Watched(dict):  # type: ignore[type-arg]
        def values(self) -> Any:
            readers.add(threading.get_ident())
            return super().values()

    settings = Settings(context=ContextSettings(index_workers=1))
    assistant = Assistant(roots=[workspace], settings=settings, data_dir=tmp_path / "data")
    assistant.documents = Watched()
    assistant.open_document((workspace / "b.py").as_uri(), "def in_the_editor():\n    pass\n", "python")
    setters: list[int] = []
    original = type(assistant.builder).index.fset

    def set_index(builder: Any, index: Any) -> None:
        setters.append(threading.get_ident())
        original(builder, index)  # type: ignore[misc]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(assistant.builder), "index", property(type(assistant.builder).index.fget, set_index))
        await asyncio.wrap_future(assistant.start_index())
    assert readers == {loop_thread} and setters == [loop_thread]
    assert assistant.index is not None
    found = assistant.index.definitions("in_the_editor")
    assert [d.name for d in found] == ["in_the_editor"]  # the open document's text reached the index
    assistant.shutdown()


async def test_an_unload_closes_the_engines_then_gives_the_free_heap_back(tmp_path: Path) -> None:
    from codehearth import app as app_module
    from codehearth.memory import release_free_heap

    assert release_free_heap() is True  # glibc here
    events: list[str] = []

    class Closing(FakeEngine):
        def close(self) -> None:
            events.append("close")

    assistant = Assistant(data_dir=tmp_path)
    assistant.slots["completion"].engine = Closing()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(app_module, "release_free_heap", lambda: events.append("trim") or True)
        await asyncio.get_running_loop().run_in_executor(None, assistant._unload)
        assert events == ["close", "trim"]
        assistant._unload()  # nothing loaded: nothing to give back
        assert events == ["close", "trim"]
    assistant.shutdown()
