"""A tiny stand-in for `codehearth serve`, for the plugin's fast tests only.

It speaks the same wire contract as docs/protocol.md (inline completion with
`codehearth/completionChunk` streaming, the "Explain this function" code action,
`codehearth.explain` streaming `codehearth/explainChunk`, `codehearth/cancelExplain`)
with canned text, so the plugin's behaviour can be checked without a model.
The real-server tests live in test_neovim_real.py.

Environment knobs: FAKE_CHUNK_DELAY (seconds between explain chunks),
FAKE_EXPLAIN_FAIL=1 (the command answers with a JSON-RPC error).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("codehearth-fake", "0.0.1")
_ids = itertools.count(1)
_cache: dict[str, str] = {}
_cancelled: set[str] = set()
_init_options: dict[str, Any] = {}
_offers: list[str] = []
_background: set[asyncio.Future[None]] = set()
CHUNK_DELAY = float(os.environ.get("FAKE_CHUNK_DELAY", "0.05"))

EXPLAIN_CHUNKS = [
    "This function ",
    "adds its two ",
    "arguments\n",
    "and returns ",
    "the **sum**.\n",
]
SUGGESTION = "total = a + b\n    return total"


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _enclosing_def(lines: list[str], line: int) -> int | None:
    """Index of the `def` line enclosing `line`, or None."""
    if line >= len(lines):
        return None
    for i in range(line, -1, -1):
        text = lines[i]
        m = re.match(r"^(\s*)(async\s+)?def\s", text)
        if m:
            indent = len(m.group(1))
            # every non-blank line between must be indented deeper
            for j in range(i + 1, line + 1):
                t = lines[j]
                if t.strip() and len(t) - len(t.lstrip()) <= indent:
                    return None
            return i
        if i < line and text.strip() and not text.startswith((" ", "\t")):
            return None
        if i == line and text.strip() and not text.startswith((" ", "\t")):
            return None
    return None


@server.feature(types.INITIALIZE)
def initialize(ls: LanguageServer, params: types.InitializeParams) -> None:
    _init_options.clear()
    if isinstance(params.initialization_options, dict):
        _init_options.update(params.initialization_options)


@server.feature("codehearth/initOptions")
def init_options(ls: LanguageServer, params: Any) -> dict[str, Any]:
    return dict(_init_options)


@server.feature("codehearth/suggestionEvent")
def suggestion_event(ls: LanguageServer, params: Any) -> None:
    pass  # what the plugin sent is checked in its own log (ghost.stats.events)


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline_completion(
    ls: LanguageServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    lines = doc.lines
    pos = params.position
    line = lines[pos.line] if pos.line < len(lines) else ""
    if line[: pos.character].strip() == "" and pos.line > 0 and line.strip() != "":
        return types.InlineCompletionList(items=[])
    text = SUGGESTION
    token = params.work_done_token
    # In a function named `hidden` the generation goes on after the answer and the server's confidence gate then
    # hides the finished suggestion: its last chunk is empty.
    hidden = any(re.match(r"\s*def hidden\(", t) for t in lines[: pos.line])
    if token is not None and _init_options.get("streamCompletionChunks"):
        acc = ""
        for part in ["total", " = a", " + b\n", "    return", " total"]:
            await asyncio.sleep(0.03)
            acc += part
            ls.protocol.notify("codehearth/completionChunk", {"token": token, "text": acc, "done": False})
        if hidden:
            async def hide_later() -> None:
                await asyncio.sleep(0.3)
                ls.protocol.notify("codehearth/completionChunk", {"token": token, "text": "", "done": True})

            _background.add(asyncio.ensure_future(hide_later()))
        else:
            ls.protocol.notify("codehearth/completionChunk", {"token": token, "text": acc, "done": True})
    rng = types.Range(start=pos, end=pos)
    _offers.append(text)
    accept = types.Command(title="accepted", command="codehearth.acceptSuggestion",
                           arguments=[{"id": f"fake-{len(_offers)}", "acceptedChars": len(text)}])
    return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text=text, range=rng, command=accept)])


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION)
def code_action(ls: LanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    pos = params.range.start
    if _enclosing_def(doc.lines, pos.line) is None:
        return []
    cmd = types.Command(
        title="Explain this function",
        command="codehearth.explain",
        arguments=[params.text_document.uri, {"line": pos.line, "character": pos.character}],
    )
    return [types.CodeAction(title="Explain this function", kind="", command=cmd)]


@server.feature("codehearth/cancelExplain")
def cancel_explain(ls: LanguageServer, params: Any) -> None:
    _cancelled.add(str(_get(params, "id")))


@server.command("codehearth.explain")
async def explain(ls: LanguageServer, uri: Any, position: Any, opts: Any = None) -> dict[str, Any]:
    if os.environ.get("FAKE_EXPLAIN_FAIL"):
        raise RuntimeError("model not loaded: fake failure")
    sid = str(_get(opts, "id") or f"fake-{next(_ids)}")
    doc = ls.workspace.get_text_document(uri)
    line = int(_get(position, "line"))
    start = _enclosing_def(doc.lines, line)
    if start is None:
        raise ValueError("no function at this position")
    key = f"{uri}:{start}:{doc.lines[start]}"
    if key in _cache:
        ls.protocol.notify("codehearth/explainChunk", {"id": sid, "text": _cache[key], "done": True})
        return {"id": sid, "text": _cache[key], "cached": True}
    text = ""
    for part in EXPLAIN_CHUNKS:
        await asyncio.sleep(CHUNK_DELAY)
        if sid in _cancelled:
            ls.protocol.notify("codehearth/explainChunk", {"id": sid, "text": "", "done": True})
            return {"id": sid, "text": text, "cached": False}
        text += part
        ls.protocol.notify("codehearth/explainChunk", {"id": sid, "text": part, "done": False})
    ls.protocol.notify("codehearth/explainChunk", {"id": sid, "text": "", "done": True})
    _cache[key] = text
    return {"id": sid, "text": text, "cached": False}


if __name__ == "__main__":
    server.start_io()
