"""Glances on and off (issue 11): the useful-characters replay of ``useful.py`` again with ``glanceWhenBehind``
off, scored the same way, next to the rows of the last ``useful.json`` (glances on, the default).

A glance answers from the few lines above the cursor when no prompt of the ladder fits the time left; the question
is whether that beats answering nothing and leaving the whole budget to the background prefill of the full prompt.

    python -m benchmarks.latency.glance_ab [--models a,b] [--budgets 400,1000] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import add_allow_dirty, begin_results, machine_info, write_results_file
from benchmarks.latency.keystrokes import FILES, keystrokes
from benchmarks.latency.ours_replay import replay_ours
from benchmarks.latency.useful import MODELS
from benchmarks.latency.useful_scoring import latency_summary, score


def run(models: list[str], budgets: list[int], out: Path, box_s: float) -> dict[str, Any]:
    keys = keystrokes(FILES)
    work = Path(tempfile.mkdtemp(prefix="codehearth-glance-ab-"))
    on = json.loads((out / "useful.json").read_text()) if (out / "useful.json").is_file() else {"models": {}}
    result: dict[str, Any] = {"machine": machine_info(), "keystrokes": len(keys), "files": FILES, "models": {}}
    for model in models:
        rows: dict[str, Any] = {}
        for budget in budgets:
            print(f"[glance-ab {model}] glanceWhenBehind off at {budget} ms", flush=True)
            answers, stats = asyncio.run(replay_ours(model, keys, budget, work / f"{model}-{budget}",
                                                     {"glanceWhenBehind": False}, box_s=box_s))
            n = len(answers)
            rows[f"off@{budget}"] = {"keystrokes": n, "latency_ms": latency_summary(answers),
                                     **score(keys[:n], answers, budget), "plans": stats.get("plans")}
            on_row = (on["models"].get(model, {}).get("table", {}).get(str(budget)) or {}).get("ours")
            if on_row is not None:
                rows[f"on@{budget}"] = on_row
        result["models"][model] = rows
    write_results_file(out / "useful-glance-ab.json", result)
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = [f"Glances on (default) and off, useful characters per keystroke ({result['keystrokes']} keystrokes)", "",
             "| model | row | useful chars/keystroke | shown | exact rest of line | p50 ms |", "|---|---|---|---|---|---|"]
    for model, rows in result["models"].items():
        for name, row in sorted(rows.items(), key=lambda kv: (int(kv[0].split("@")[1]), kv[0])):
            lines.append(f"| {model} | {name} | {row['useful_chars_per_keystroke']} | {row['shown_share']:.0%} | "
                         f"{row['exact_rest_of_line']:.0%} | {row['latency_ms'].get('p50')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--budgets", default="400,1000")
    parser.add_argument("--box-s", type=float, default=900.0)
    parser.add_argument("--out", default="benchmarks/results")
    add_allow_dirty(parser)
    args = parser.parse_args()
    begin_results(args.allow_dirty)
    out = Path(args.out)
    result = run(args.models.split(","), [int(b) for b in args.budgets.split(",")], out, args.box_s)
    write_results_file(out / "useful-glance-ab.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
