"""The soak's editor: opens a file, types a few of its lines back word by word (one ``didChange`` per character, an
inline completion after each word, the pending one cancelled as VS Code does), explains a function of it, closes it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from benchmarks.latency.replay import plan

TYPED_LINES = 4
CHAR_S = 0.03
PAUSE_S = (0.15, 0.6)
LINE_WAIT_S = 2.0  # at the end of a line the user waits (up to this long) for the suggestion


def block_starts(text: str) -> list[int]:
    """Lines that start a typed block: indented code lines inside a function, with code on the lines after."""
    lines = text.split("\n")
    starts = []
    for i in range(len(lines) - TYPED_LINES):
        block = lines[i : i + TYPED_LINES]
        if all(b.startswith("        ") and b.strip() and not b.strip().startswith(("#", '"', "'")) for b in block):
            starts.append(i)
    return starts


def function_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(text.split("\n")) if line.lstrip().startswith("def ")]


class Driver:
    def __init__(self, client: LanguageClient, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self.version = 0
        self.latencies: list[tuple[float, float]] = []  # (monotonic time answered, end-to-end ms)
        self.requests = 0
        self.unanswered = 0
        self.explanations: list[tuple[float, float]] = []
        self.errors: list[str] = []

    def _change(self, uri: str, line: int, character: int, text: str) -> None:
        self.version += 1
        here = types.Position(line, character)
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=self.version),
            [types.TextDocumentContentChangePartial(range=types.Range(here, here), text=text)]))

    def _ask(self, uri: str, line: int, character: int) -> tuple[str, asyncio.Future[Any], float]:
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, character),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic))
        msg_id = f"c{self.requests}"
        self.requests += 1
        future = asyncio.wrap_future(self.client.protocol.send_request(
            "textDocument/inlineCompletion", params, msg_id=msg_id))
        return msg_id, future, time.monotonic()

    async def cycle(self, n: int, uri: str, text: str, start: int, function_line: int) -> None:
        initial, units = plan(text, start, TYPED_LINES)
        self.version += 1
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=self.version, text=initial)))
        row, col = start, 0
        pending: tuple[str, asyncio.Future[Any], float] | None = None
        for index, (kind, chars) in enumerate(units):
            if kind == "enter":
                self._change(uri, row, col, chars)
                if "\n" in chars:
                    row += 1
                    col = len(chars.split("\n")[-1].encode("utf-16-le")) // 2
                else:
                    col += len(chars.encode("utf-16-le")) // 2
                await asyncio.sleep(CHAR_S)
            else:
                for ch in chars:
                    self._change(uri, row, col, ch)
                    col += len(ch.encode("utf-16-le")) // 2
                    await asyncio.sleep(CHAR_S)
            if pending is not None and not pending[1].done():
                self.client.protocol.notify("$/cancelRequest", types.CancelParams(id=pending[0]))
            pending = self._ask(uri, row, col)
            fut, sent = pending[1], pending[2]
            fut.add_done_callback(lambda f, s=sent: self._answered(f, s))
            line_end = index + 1 == len(units) or units[index + 1][0] == "enter"
            pause = LINE_WAIT_S if line_end else self.rng.uniform(*PAUSE_S)
            await asyncio.wait([fut], timeout=pause)
        if pending is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(pending[1]), 30)
        # Typing has made the document the file again. Explain a function of it; a marker line under its ``def``
        # makes every cycle's function new to the explanation cache, so that each explanation is generated.
        def_line = text.split("\n")[function_line]
        indent = def_line[: len(def_line) - len(def_line.lstrip())] + "    "
        marker_line = function_line + 1
        self._change(uri, marker_line, 0, f"{indent}# soak cycle {n}\n")
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(self.client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="codehearth.explain", arguments=[uri, {"line": marker_line, "character": len(indent)}])), 300)
            self.explanations.append((time.monotonic(), (time.monotonic() - t0) * 1000))
        except Exception as exc:  # recorded, not fatal: the soak measures the server, not one answer
            self.errors.append(f"explain: {type(exc).__name__}: {exc}"[:200])
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))

    def _answered(self, fut: asyncio.Future[Any], sent: float) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            if getattr(exc, "code", None) == -32603:  # cancelled ones (-32800) are the editor's doing
                self.errors.append(f"completion: -32603 {exc}"[:200])
            return
        self.latencies.append((time.monotonic(), (time.monotonic() - sent) * 1000))
