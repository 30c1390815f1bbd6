"""A handler's future leaves pygls's table once it is done, with whatever its frames held.

The hour's soak (benchmarks/results/soak.json) grew 9.2 MB of tree-sitter trees: pygls files the user handler
behind its own generator handlers (workspace/executeCommand, didChangeConfiguration) under a fresh uuid and never
takes it out, and an explanation that failed (a reload stopped it) kept its exception, the traceback's frames, the
closed Document in them and that document's tree. In process, no model: the explanation fails because no model
is loading, which takes the same way out of the handler.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_protocol import URI, Recorder, ask, send


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CODEHEARTH_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("CODEHEARTH_CACHE_DIR", str(tmp_path / "cache"))
    from codehearth import app
    from codehearth.lsp.server import create_server

    monkeypatch.setattr(app, "IDLE_WAIT_S", 0.0)  # no model will load: the explanation fails at once
    srv = create_server()
    srv.protocol.set_writer(Recorder())
    yield srv
    srv.assistant.shutdown()


def notify(server: Any, method: str, params: Any) -> None:
    send(server, {"jsonrpc": "2.0", "method": method, "params": params})


async def test_a_failed_command_keeps_neither_its_future_nor_its_closed_document(server: Any) -> None:
    assert "result" in await ask(server, "init", "initialize", {"capabilities": {}})
    before = server.protocol.handlers_in_flight
    closed: list[weakref.ref[Any]] = []
    for n in range(5):  # open, explain (fails: no model), close; as the soak's cycles did
        notify(server, "textDocument/didOpen", {"textDocument": {
            "uri": URI, "languageId": "python", "version": 1, "text": f"def f{n}(x):\n    return x + {n}\n"}})
        doc = server.document(URI)
        assert doc is not None and doc.tree is not None
        closed.append(weakref.ref(doc))
        del doc
        reply = await ask(server, n, "workspace/executeCommand",
                          {"command": "codehearth.explain", "arguments": [URI, {"line": 1, "character": 4}]})
        assert reply["error"]["code"] == -32000, reply  # the handler raised, as a reload's stop does
        notify(server, "textDocument/didClose", {"textDocument": {"uri": URI}})
    notify(server, "workspace/didChangeConfiguration", {"settings": {}})  # an async handler behind pygls's own
    await asyncio.sleep(0.05)
    # Before the fix: one more per command and per settings change, for ever (249 after the hour's soak).
    assert server.protocol.handlers_in_flight == before
    gc.collect()
    assert [ref() for ref in closed] == [None] * 5  # no closed document (nor its tree) is kept


async def test_a_handler_that_fails_after_its_request_was_cancelled_leaves_no_unread_failure(
        server: Any, caplog: pytest.LogCaptureFixture) -> None:
    """pygls stops reading the handler behind its executeCommand once the request is cancelled. A handler that ended
    in its own error after that (here deterministically: it turns the cancel into an error; in the server, an
    explanation ending in its own error just before the $/cancelRequest is handled) was a task whose exception
    nobody read: asyncio logged "Task exception was never retrieved" and its traceback when it was collected,
    which failed the concurrency stress on CI."""
    caplog.set_level(logging.DEBUG, logger="codehearth.lsp.handler_futures")
    started = asyncio.Event()

    @server.command("test.failsWhenCancelled")
    async def fails_when_cancelled(ls: Any, *args: Any) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise RuntimeError("stopped in its own way") from None

    assert "result" in await ask(server, "init", "initialize", {"capabilities": {}})
    send(server, {"jsonrpc": "2.0", "id": 7, "method": "workspace/executeCommand",
                  "params": {"command": "test.failsWhenCancelled", "arguments": []}})
    await asyncio.wait_for(started.wait(), 5)
    notify(server, "$/cancelRequest", {"id": 7})
    await asyncio.sleep(0.05)
    answers = server.protocol.writer.answers(7)
    assert [a["error"]["code"] for a in answers] == [-32800]  # exactly one answer: the cancel's
    gc.collect()
    assert [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()] == []
    assert any("a handler ended after its request was cancelled: stopped in its own way" in r.getMessage()
               for r in caplog.records)
