"""editor-vscode.md from editor-vscode.json: the VS Code row beside the Neovim row on the same passages."""

from __future__ import annotations

from typing import Any

from benchmarks.editor.report import _f


def _cell(row: dict[str, Any], key: str, pct: bool = False) -> str:
    """The value over all repeats, and the range over the repeats when there are several."""
    lo_hi = row.get("spread", {}).get(key)
    spread = f" [{_f(lo_hi[0], pct)}–{_f(lo_hi[1], pct)}]" if lo_hi and len(row["runs"]) > 1 else ""
    return _f(row["summary"]["all"].get(key), pct) + spread


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    keys = sum(p["keystrokes"] for p in r["passages"])
    out = [
        "# Editor benchmark in VS Code: what a person sees at typing speed",
        "",
        f"`{r['command']}` — commit `{r['git_commit']}`, {r['started']} → {r.get('finished', '?')}.",
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, load at start {m.get('loadavg_start', '?')}, "
        f"at end {m.get('loadavg_end', '?')}.",
        f"Passages: {keys} keystrokes (" + ", ".join(f"{p['name']} {p['split']} {p['keystrokes']}"
                                                      for p in r["passages"])
        + f"), typed {r['config']['repeat']} times in each editor at {r['config']['cadence_ms']} ms a character, "
        f"Enter and a {r['config']['pause_ms']} ms pause at each line end, into the module with the passages "
        "removed; codehearth's default settings (debug log). Each time a fresh editor, server, caches and "
        "workspace; the editors type one after the other, leading in turn.",
        "",
        "Scored by benchmarks/editor/scoring.py (the Neovim editor benchmark's code) over every keystroke of every "
        "repeat, the range over repeats in brackets: useful/key: common prefix of the ghost text's first line and "
        "the rest of the line, per keystroke; shown: keystrokes with ghost text; wrong: shown with no character "
        "right; exact: the first line is the rest of the line; saved/100: keystrokes a simulated Tab would save per "
        "100; untrusted: readings whose line was not exactly what was typed.",
        "",
        "| editor | model | keystrokes | useful/key | shown | wrong | exact | saved/100 | untrusted | answers |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"].values():
        s = row["summary"]["all"]
        sources = {"planned": sum(run.get("requests_planned", 0) for run in row["runs"])}
        for run in row["runs"]:
            for k, v in run["answers_by_source"].items():
                sources[k] = sources.get(k, 0) + v
        out.append(
            f"| {row['editor']} | {row.get('model_used') or '?'} | {s.get('keystrokes', 0)} | "
            f"{_cell(row, 'useful_per_keystroke')} | {_cell(row, 'shown_share', True)} | "
            f"{_cell(row, 'wrong_share', True)} | {_cell(row, 'exact_share', True)} | "
            f"{_cell(row, 'saved_per_100')} | {s.get('untrusted', 0)} | "
            + ", ".join(f"{k} {v}" for k, v in sources.items()) + " |")
    out += ["", "answers: the requests the server planned and its answers by source, from its debug log (all "
            "repeats; a request the editor cancelled before its answer is planned and not answered).", "",
            "A passage of this length is a check that both clients show what the server answers, not a benchmark "
            "to rank settings by: benchmarks/results/editor.md types 821 keystrokes.", ""]
    return "\n".join(out) + "\n"
