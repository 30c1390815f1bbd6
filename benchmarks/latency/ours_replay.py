"""Ours over LSP in the useful-characters replay: the real server types each keystroke's characters, asks for an
inline completion and waits for it; each answer gets the server's flight-recorder record of its request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.common import STDLIB
from benchmarks.latency.keystrokes import FILES, Answer, Keystroke
from benchmarks.latency.replay import plan

CHAR_S = 0.03
SERVER_WAIT_S = 30.0


def trace_records(trace: Path) -> list[dict[str, Any]]:
    """The server's flight recorder: one record per completion request (source, plan, rung, prompt tokens)."""
    if not trace.is_file():
        return []
    out = []
    for line in trace.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def attach_trace(answers: list[Answer], sent: list[tuple[int, int]], records: list[dict[str, Any]]) -> None:
    """Each answer gets the server's record of its request (matched in order by position)."""
    rest = list(records)
    for ans, (row, column) in zip(answers, sent, strict=True):
        match = next((r for r in rest if (r.get("row"), r.get("column")) == (row, column)), None)
        if match is None:
            ans.extra["source"] = "no record"
            continue
        rest = rest[rest.index(match) + 1 :]
        timings = match.get("timings") or {}
        ans.extra.update(source=match.get("source"), plan=match.get("plan") or None, rung=match.get("rung"),
                         reason=match.get("reason") or None, prompt_tokens=timings.get("prompt_tokens"),
                         evaluated=timings.get("tokens_evaluated"))


async def replay_ours(model: str, keys: list[Keystroke], budget_ms: int, work: Path,
                      extra_settings: dict[str, Any] | None = None,
                      box_s: float = 1e9) -> tuple[list[Answer], dict[str, Any]]:
    """One replay through the real server; typing stops when ``box_s`` is spent (fewer keystrokes, all counted)."""
    from benchmarks.latency.lsp_driver import inline_text, lsp_session

    workspace = work / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    for rel, start, count in FILES:
        dest = workspace / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        initial, _ = plan((STDLIB / rel).read_text(encoding="utf-8"), start, count)
        dest.write_text(initial, encoding="utf-8")
    cache = work / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    # the machine's calibration is shared with every other run of the same model (it is per machine anyway)
    speed_cache = Path(os.environ.get("CODEHEARTH_BENCH_SPEED", str(work.parent / "speed.json")))
    if speed_cache.exists():
        (cache / "speed.json").write_bytes(speed_cache.read_bytes())
    options = {"model": model, "latencyBudgetMs": budget_ms, **(extra_settings or {})}
    answers: list[Answer] = []
    sent_at: list[tuple[int, int]] = []
    trace = work / "trace.jsonl"
    trace.unlink(missing_ok=True)
    async with lsp_session(workspace, cache, trace, options) as editor:
        await asyncio.sleep(1.0)
        current = ""
        started = time.monotonic()
        for key in keys:
            if time.monotonic() - started > box_s:
                break
            uri = (workspace / key.file).as_uri()
            if key.file != current:
                if current:
                    editor.close((workspace / current).as_uri())
                editor.open(uri, (workspace / key.file).read_text(encoding="utf-8"))
                current = key.file
                await asyncio.sleep(0.5)
            row, col = key.row, key.column - len(key.typed.encode())
            if key.typed.startswith("\n"):  # Enter: a new line after the previous one, then the indentation
                row, col = key.row - 1, len(key.before.rsplit("\n", 2)[-2].encode())
                editor.insert(uri, row, col, key.typed)
                await asyncio.sleep(CHAR_S)
            else:
                for ch in key.typed:
                    editor.insert(uri, key.row, col, ch)
                    col += len(ch.encode())
                    await asyncio.sleep(CHAR_S)
            sent = time.monotonic()
            _, fut = editor.request_inline(uri, key.row, key.column)
            sent_at.append((key.row, key.column))
            try:
                result = await asyncio.wait_for(fut, budget_ms / 1000 + SERVER_WAIT_S)
                answers.append(Answer(round((time.monotonic() - sent) * 1000, 2), inline_text(result)))
            except Exception as exc:  # recorded, never hidden (a timeout too)
                answers.append(Answer(None, "", {"error": f"{type(exc).__name__}: {exc}"}))
        stats = await editor.stats()
    attach_trace(answers, sent_at, trace_records(trace))
    with contextlib.suppress(OSError):
        speed_cache.write_bytes((cache / "speed.json").read_bytes())
    return answers, stats
