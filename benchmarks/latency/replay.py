"""Keystroke replay through the real server over LSP.

For each source file (real code nobody here wrote: the CPython standard library on disk), a block of lines is
taken out and typed back in, character by character (one ``didChange`` per character, ``CHAR_S`` apart). After
each word and after each Enter (with the editor's auto-indent) the editor asks for an inline completion and
pauses for a seeded random 150-600 ms within a line, and up to 6 s at the start and the end of a line (the user
waits for the suggestion there), or less if the answer comes first; a request still pending when the next
one goes out is cancelled with ``$/cancelRequest``, as VS Code does. The client measures end-to-end latency
(request sent to response read); the server's flight recorder gives the source of each answer, its engine
timings and the prompt.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.common import STDLIB
from benchmarks.latency.lsp_driver import Editor, inline_text, lsp_session

CHAR_S = 0.03
PAUSE_S = (0.15, 0.6)
LINE_PAUSE_S = 6.0


def plan(text: str, start_line: int, n_lines: int) -> tuple[str, list[tuple[str, str]]]:
    """The document with the lines taken out (an empty line left at ``start_line``) and the typing units.

    Units: ("enter", newline + indentation) or ("word", characters including the leading spaces).
    """
    lines = text.split("\n")
    typed = lines[start_line : start_line + n_lines]
    initial = "\n".join([*lines[:start_line], "", *lines[start_line + n_lines :]])
    units: list[tuple[str, str]] = []
    for i, line in enumerate(typed):
        indent = line[: len(line) - len(line.lstrip())]
        body = line[len(indent) :]
        if i == 0:
            if indent:
                units.append(("enter", indent))
        else:
            units.append(("enter", "\n" + indent))
        word = ""
        for ch in body:
            if ch == " " and word.strip():
                units.append(("word", word))
                word = ""
            word += ch
        if word:
            units.append(("word", word))
    return initial, units


async def replay_file(editor: Editor, uri: str, text: str, start_line: int, n_lines: int,
                      rng: random.Random, label: str) -> list[dict[str, Any]]:
    initial, units = plan(text, start_line, n_lines)
    editor.open(uri, initial)
    await asyncio.sleep(0.5)  # let the server parse and index the buffer, as after opening a file
    row, col = start_line, 0
    requests: list[dict[str, Any]] = []
    pending: dict[str, Any] | None = None

    def on_done(entry: dict[str, Any], fut: asyncio.Future[Any]) -> None:
        entry["e2e_ms"] = round((time.monotonic() - entry["sent"]) * 1000, 2)
        if fut.cancelled() or fut.exception() is not None:
            entry["client_outcome"] = "error" if not entry["client_cancelled"] else "cancelled"
            entry["shown"] = ""
        else:
            entry["shown"] = inline_text(fut.result())
            entry["client_outcome"] = "answered"

    for index, (kind, chars) in enumerate(units):
        if kind == "enter":
            editor.insert(uri, row, col, chars)
            if "\n" in chars:
                row += 1
                col = len(chars.split("\n")[-1].encode())
            else:
                col += len(chars.encode())
            await asyncio.sleep(CHAR_S)
        else:
            for ch in chars:
                editor.insert(uri, row, col, ch)
                col += len(ch.encode())
                await asyncio.sleep(CHAR_S)
        if pending is not None and "e2e_ms" not in pending:
            pending["client_cancelled"] = True
            editor.cancel(pending["id"])
        msg_id, fut = editor.request_inline(uri, row, col)
        entry = {"id": msg_id, "file": label, "row": row, "column": col, "sent": time.monotonic(),
                 "client_cancelled": False}
        fut.add_done_callback(lambda f, e=entry: on_done(e, f))
        requests.append(entry)
        pending = entry
        pause = rng.uniform(*PAUSE_S)
        line_end = index + 1 == len(units) or units[index + 1][0] == "enter"
        if kind == "enter" or line_end:
            pause = LINE_PAUSE_S  # at a new line and at the end of a line the user waits for the suggestion
        done, _ = await asyncio.wait([fut], timeout=pause)
        if done:
            await asyncio.sleep(0.05)  # the user reads the suggestion, then types on
    # Let the last answers arrive.
    end = time.monotonic() + 15
    while any("e2e_ms" not in r for r in requests) and time.monotonic() < end:
        await asyncio.sleep(0.05)
    editor.close(uri)
    return requests


async def run_replay(model: str, files: list[tuple[str, int, int]], work: Path, init_options: dict[str, Any],
                     seed: int = 7) -> dict[str, Any]:
    """Type ``files`` ([(stdlib-relative path, first line, line count)]) into a workspace copy of them."""
    workspace = work / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    for rel, _, _ in files:
        dest = workspace / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        src_dir = (STDLIB / rel).parent
        if src_dir != STDLIB and (src_dir / "__init__.py").is_file():  # the whole package, for cross-file context
            shutil.copytree(src_dir, dest.parent, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "test*"))
        shutil.copy(STDLIB / rel, dest)
    for rel, start, count in files:  # the typed lines are not on disk either: the user is writing them
        initial, _ = plan((STDLIB / rel).read_text(encoding="utf-8"), start, count)
        (workspace / rel).write_text(initial, encoding="utf-8")
    trace = work / "trace.jsonl"
    trace.unlink(missing_ok=True)
    cache = work / "cache"
    cache.mkdir(exist_ok=True)
    rng = random.Random(seed)
    requests: list[dict[str, Any]] = []
    options = {"model": model, **init_options}
    started = time.monotonic()
    async with lsp_session(workspace, cache, trace, options) as editor:
        await asyncio.sleep(1.0)  # initial index
        for rel, start, count in files:
            path = workspace / rel
            text = (STDLIB / rel).read_text(encoding="utf-8")
            requests += await replay_file(editor, path.as_uri(), text, start, count, rng, rel)
        stats = await editor.stats()
    wall = time.monotonic() - started
    records = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
    merge(requests, records, workspace)
    return {"requests": requests, "server_records": records, "server_stats": stats, "wall_s": round(wall, 1)}


def merge(requests: list[dict[str, Any]], records: list[dict[str, Any]], workspace: Path) -> None:
    """Attach to each client request the server's record for the same document position."""
    by_pos: dict[tuple[str, int, int], dict[str, Any]] = {}
    for rec in records:
        rel = Path(rec["uri"].removeprefix("file://")).relative_to(workspace).as_posix()
        by_pos[(rel, rec["row"], rec["column"])] = rec
    for req in requests:
        rec = by_pos.get((req["file"], req["row"], req["column"]))
        if rec is None:
            req["source"] = "unknown"
            continue
        req["source"] = rec["source"]
        req["plan"] = rec.get("plan") or None
        req["rung"] = rec.get("rung")
        req["server_ms"] = rec["latency_ms"]
        req["timings"] = rec.get("timings")
        req["pieces"] = rec.get("pieces")
        req["server_arrived"] = rec["arrived"]
