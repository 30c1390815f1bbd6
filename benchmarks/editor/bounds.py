"""The floor and the ceiling of the editor benchmark.

Floor: no answer can come faster than evaluating what was typed since the previous request (at least one token)
plus generating the tokens it shows, at the rates ``llama-bench`` (built beside llama-server, same llama.cpp
build) measures with the same thread count. Every model answer of every row is checked against it; a row whose
answers beat it means the measurement is wrong, and the results fail (tests/bench/test_editor_results.py).

Ceiling: the same model with no time limit on the same keystrokes — a request-then-wait replay of the document
state before each sampled keystroke — once with ours' full prompt (the real server over LSP, latencyBudgetMs
60000) and once with llama.vim's prompt to llama-server (greedy). The better of the two is what the model can
deliver; every row is also reported as a share of it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.editor import llamavim
from benchmarks.editor.passages import Key, Passage
from benchmarks.latency.llama_server import llama_bench_binary

CEILING_BUDGET_MS = 60000


def llama_bench(model_path: Path, threads: int, timeout_s: float = 300) -> dict[str, Any]:
    """Prompt and generation rates (tokens/s) of this llama.cpp build: 64 prompt tokens, 16 generated, 2 runs."""
    binary = llama_bench_binary()
    cmd = [str(binary), "-m", str(model_path), "-t", str(threads), "-p", "64", "-n", "16", "-r", "2", "-o", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=True)
    rows = json.loads(out.stdout)
    pp = next(r for r in rows if r.get("n_prompt", 0) > 0 and r.get("n_gen", 0) == 0)
    tg = next(r for r in rows if r.get("n_gen", 0) > 0 and r.get("n_prompt", 0) == 0)
    return {"binary": str(binary), "threads": threads, "command": " ".join(cmd[1:]),
            "prompt_tokens_per_s": round(float(pp["avg_ts"]), 1),
            "generated_tokens_per_s": round(float(tg["avg_ts"]), 1), "build": pp.get("build_commit")}


def floor_ms(rates: dict[str, Any], new_tokens: int, generated: int) -> float:
    return 1000.0 * (max(1, new_tokens) / rates["prompt_tokens_per_s"]
                     + generated / rates["generated_tokens_per_s"])


def floor_check(answers: list[dict[str, Any]], rates: dict[str, Any]) -> dict[str, Any]:
    """``answers``: model answers with ``ms`` (as the row measured them), ``generated`` tokens and, where known,
    ``typed_tokens`` (else one). An answer beats the floor when it took less than its floor."""
    checked = [a for a in answers if a.get("ms") is not None and a.get("generated", 0) > 0]
    ratios = []
    below = 0
    for a in checked:
        f = floor_ms(rates, int(a.get("typed_tokens", 1)), int(a["generated"]))
        ratios.append(a["ms"] / f)
        below += a["ms"] < f
    ratios.sort()
    return {"answers": len(checked), "below_floor": below,
            "min_ratio": round(ratios[0], 2) if ratios else None,
            "p50_ratio": round(ratios[len(ratios) // 2], 2) if ratios else None,
            "beats_floor": below > 0}


# -- the document states before each keystroke --------------------------------------------------------------


@dataclass
class State:
    passage: Passage
    index: int
    key: Key
    module: str
    lines: list[str]  # the buffer before the key
    row: int
    col: int


def states(passages: list[Passage], workspace: Path) -> Iterator[State]:
    """Every keystroke's document state, as the typist produces it (passages of a file typed top to bottom)."""
    docs: dict[str, list[str]] = {}
    for p in passages:
        lines = docs.setdefault(p.module, (workspace / p.module).read_text().split("\n"))
        first = p.lines[0]
        indent = first[: len(first) - len(first.lstrip(" \t"))]
        lines.insert(p.row, indent)
        row, col = p.row, len(indent)
        for i, key in enumerate(p.keys):
            yield State(p, i, key, p.module, list(lines), row, col)
            if key.char == "\n":
                nxt = p.lines[key.line + 1]
                nindent = nxt[: len(nxt) - len(nxt.lstrip(" \t"))]
                lines.insert(row + 1, nindent + lines[row][col:])
                lines[row] = lines[row][:col]
                row, col = row + 1, len(nindent)
            else:
                lines[row] = lines[row][:col] + key.char + lines[row][col:]
                col += 1


def reading(s: State, first: str, below: list[str], extra: dict[str, Any]) -> dict[str, Any]:
    return {"passage": s.passage.name, "split": s.passage.split, "index": s.index, "line": s.key.line,
            "char": s.key.char, "rest": s.key.rest, "kind": s.key.kind, "first": first, "below": below,
            "trusted": True, **extra}


def ceiling_llama_server(server_infill: str, passages: list[Passage], workspace: Path, stride: int,
                         box_s: float) -> list[dict[str, Any]]:
    """llama.vim's prompt (its local context, no ring chunks), greedy, no time limit, first line only."""
    out = []
    started = time.monotonic()
    for s in states(passages, workspace):
        if s.index % stride or time.monotonic() - started > box_s:
            continue
        ctx = llamavim.local_context(s.lines, s.row, s.col)
        body = {"id_slot": 0, "input_prefix": ctx.prefix, "input_suffix": ctx.suffix, "input_extra": [],
                "prompt": ctx.middle, "n_predict": 64, "stop": ["\n"], "n_indent": ctx.indent, "top_k": 1,
                "samplers": ["top_k"], "temperature": 0.0, "stream": False, "cache_prompt": True}
        sent = time.monotonic()
        answer = llamavim.post(server_infill, body, timeout=600)
        content, _ = llamavim.render(str(answer.get("content", "")), s.lines, s.row, s.col)
        timings = answer.get("timings", {})
        out.append(reading(s, content[0], content[1:], {
            "ms": round((time.monotonic() - sent) * 1000, 1), "evaluated": timings.get("prompt_n"),
            "generated": timings.get("predicted_n")}))
    return out


async def _ceiling_ours(model: str, passages: list[Passage], workspace: Path, stride: int, box_s: float,
                        work: Path, threads: int, settings: dict[str, Any] | None = None,
                        ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from benchmarks.latency.lsp_driver import inline_text, lsp_session

    out: list[dict[str, Any]] = []
    options = {"model": model, "latencyBudgetMs": CEILING_BUDGET_MS, "engine": {"nThreads": threads},
               **(settings or {})}
    work.mkdir(parents=True, exist_ok=True)
    async with lsp_session(workspace, work / "cache", work / "trace.jsonl", options) as editor:
        opened: set[str] = set()
        started = time.monotonic()
        for s in states(passages, workspace):
            uri = (workspace / s.module).as_uri()
            if s.module not in opened:
                editor.open(uri, (workspace / s.module).read_text())
                opened.add(s.module)
            if s.index == 0:  # the passage's empty line with its indentation, as the typist makes it
                editor.insert(uri, s.row, 0, s.lines[s.row] + "\n")
            if s.index % stride == 0 and time.monotonic() - started <= box_s:
                sent = time.monotonic()
                _, fut = editor.request_inline(uri, s.row, s.col)
                text = inline_text(await asyncio.wait_for(fut, CEILING_BUDGET_MS / 1000 + 30))
                lines = text.split("\n")
                out.append(reading(s, lines[0], lines[1:], {"ms": round((time.monotonic() - sent) * 1000, 1)}))
            if s.key.char == "\n":
                nxt = s.passage.lines[s.key.line + 1]
                editor.insert(uri, s.row, s.col, "\n" + nxt[: len(nxt) - len(nxt.lstrip(" \t"))])
            else:
                editor.insert(uri, s.row, s.col, s.key.char)
        stats = await editor.stats()
    return out, stats


def ceiling_ours(model: str, passages: list[Passage], workspace: Path, stride: int, box_s: float, work: Path,
                 threads: int, settings: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Ours' full prompt: the real server over LSP with a 60 s budget, each sampled request waited for
    (``settings``: other server settings, for an A/B of one of them)."""
    return asyncio.run(_ceiling_ours(model, passages, workspace, stride, box_s, work, threads, settings))
