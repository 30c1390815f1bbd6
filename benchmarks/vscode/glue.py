"""Between the editor benchmark's passages and the VS Code driver: the spec the driver types, and its readings back
as the editor benchmark's readings, so benchmarks/editor/scoring.py judges both editors with one code."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.editor import scoring
from benchmarks.editor.passages import Passage


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def shows(text: str) -> str:
    """A piece of the file's first non-empty line, for the driver to know the file is on screen (up to the first
    space: the editor renders runs of spaces as no-break spaces)."""
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return first.split()[0][:40] if first else ""


def typed_before(passage: Passage) -> list[str]:
    """What the cursor's line holds just before each key: the indentation (it comes with the Enter) and the
    characters of the line typed so far."""
    out = []
    typed = _indent(passage.lines[0])
    for key in passage.keys:
        out.append(typed)
        typed = _indent(passage.lines[key.line + 1]) if key.char == "\n" else typed + key.char
    return out


def spec(passages: list[Passage], workspace: Path, cadence_ms: int, pause_ms: int,
         settings: dict[str, Any]) -> dict[str, Any]:
    """driver.mjs --measure's input: where each passage goes back and its keys (Enter with the next line's
    indentation)."""
    return {
        "workspace": str(workspace),
        "cadenceMs": cadence_ms,
        "pauseMs": pause_ms,
        "settings": settings,
        "passages": [{
            "name": p.name,
            "module": p.module,
            "shows": shows((workspace / p.module).read_text()),
            "row": p.row,
            "indent": _indent(p.lines[0]),
            "keys": [{"char": k.char, "nextIndent": _indent(p.lines[k.line + 1]) if k.char == "\n" else ""}
                     for k in p.keys],
        } for p in passages],
    }


def readings(passages: list[Passage], measured: dict[str, Any]) -> list[dict[str, Any]]:
    """The driver's readings as typist.Reading dicts. A reading is trusted when the cursor's line showed exactly
    what was typed so far and the editor had the focus (as the Neovim typist requires the line and Insert mode)."""
    by_name = {m["name"]: m for m in measured["passages"]}
    out: list[dict[str, Any]] = []
    for p in passages:
        got = by_name.get(p.name)
        if got is None:
            raise ValueError(f"the driver typed no {p.name}")
        if [r["index"] for r in got["readings"]] != list(range(len(p.keys))):
            raise ValueError(f"{p.name}: {len(got['readings'])} readings for {len(p.keys)} keys, or out of order")
        for key, typed, seen in zip(p.keys, typed_before(p), got["readings"], strict=True):
            out.append({
                "passage": p.name, "split": p.split, "index": seen["index"], "line": key.line, "char": key.char,
                "rest": key.rest, "kind": key.kind, "first": seen["first"], "below": list(seen["below"]),
                "t": round(seen["t"], 3), "trusted": seen["line"] == typed and bool(seen["focused"]),
            })
    return out


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One editor's repeats: scored over all their keystrokes (each repeat's passage counted as its own, so a
    line's Tab saving counts once per repeat), each repeat's own summary kept for the spread."""
    tagged = [{**r, "passage": f"{r['passage']}#{i}"} for i, run in enumerate(runs) for r in run["readings"]]
    per_run = [{**{k: v for k, v in run.items() if k != "readings"}, "summary": scoring.summarise(run["readings"]),
                "answers_by_source": dict(Counter(a["source"] for a in run["answers"]))} for run in runs]
    values = {k: [r["summary"].get(k) for r in per_run]
              for k in ("useful_per_keystroke", "shown_share", "wrong_share", "exact_share", "saved_per_100")}
    return {
        "model_used": ", ".join(sorted({str(run.get("model_used")) for run in runs})),
        "summary": scoring.breakdown(tagged),
        "spread": {k: [min(v), max(v)] for k, v in values.items() if None not in v and v},
        "runs": per_run,
        "readings": tagged,
    }
