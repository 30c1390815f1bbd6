"""Nothing is kept per message once it is handled: the soak found one future left behind per notification."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from tests.lsp.harness import open_doc, running_server, stats_of

pytestmark = pytest.mark.model

TYPED = "total = price * quantity"


async def test_notifications_leave_no_handler_futures_behind(tmp_path: Path, default_model: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    uri = (workspace / "typing.py").as_uri()
    async with running_server(workspace, tmp_path / "cache") as client:
        before = (await stats_of(client))["handlersInFlight"]
        for _ in range(10):  # open, type a line character by character, close: 10 × 26 notifications
            open_doc(client, uri, "def f(price, quantity):\n    \n", version=1)
            for i, ch in enumerate(TYPED):
                here = types.Position(1, 4 + i)
                client.text_document_did_change(types.DidChangeTextDocumentParams(
                    types.VersionedTextDocumentIdentifier(uri=uri, version=2 + i),
                    [types.TextDocumentContentChangePartial(range=types.Range(here, here), text=ch)]))
            client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
        after = await stats_of(client)
    # Before the fix: 260 more, one per notification (what is in flight at the start, e.g. the model's load,
    # is the same before and after; the stats request itself is a plain function and is not counted).
    assert before <= 2
    assert after["handlersInFlight"] == before
