"""The editor benchmark's ceiling for ours' full prompt, with and without one server setting: an A/B of what the
model delivers on the same keystrokes when time is no object.

    python -m benchmarks.editor.ceiling_ab --set tokenHealing=false [--model M] [--stride 6] [--name N]

Each arm is the real server over LSP with a 60 s budget, each sampled request waited for (``bounds.ceiling_ours``),
so the machine's load changes how long an arm takes, not its answers: the arms run one after the other. Both arms
are scored by the editor benchmark's rule (``scoring``). What a change does under a deadline is for the typing rows
(``+SETTING=VALUE`` rows of ``python -m benchmarks.editor``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    add_allow_dirty,
    begin_results,
    git_commit,
    machine_info,
    write_results_file,
)
from benchmarks.editor import bounds, scoring
from benchmarks.editor import passages as passages_mod
from benchmarks.editor.bench import FIM_MODEL, compact, model_path

SUMMARY_KEYS = ("useful_per_keystroke", "shown_share", "wrong_share", "exact_share", "saved_per_100")


def changed_readings(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keystrokes whose first line differs between the arms, with what each showed and what was typed next."""
    by_key = {(r["passage"], r["index"]): r for r in b}
    out = []
    for r in a:
        other = by_key.get((r["passage"], r["index"]))
        if other is not None and other["first"] != r["first"]:
            out.append({"passage": r["passage"], "index": r["index"], "rest": r["rest"],
                        "default": r["first"], "changed": other["first"],
                        "useful": [scoring.judge(r)["useful"], scoring.judge(other)["useful"]]})
    return out


def markdown(results: dict[str, Any]) -> str:
    setting = json.dumps(results["setting"])
    lines = [f"# Ceiling A/B: {results['model']}, {setting} against the defaults",
             "", f"Commit {results['git_commit']}, every {results['stride']}th keystroke of the editor benchmark's "
             f"passages, no time limit. Command: `{results['command']}`.", "",
             "| arm | keystrokes | useful / keystroke | shown | wrong | exact | saved / 100 | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for arm in ("default", "changed"):
        s = results["arms"][arm]["summary"]["all"]
        label = "defaults" if arm == "default" else setting
        lines.append(f"| {label} | {s['keystrokes']} | {s['useful_per_keystroke']} | {s['shown_share']:.0%} | "
                     f"{s['wrong_share']:.0%} | {s['exact_share']:.0%} | {s['saved_per_100']} | "
                     f"{results['arms'][arm]['seconds']} |")
    lines += ["", "By class (useful / keystroke, wrong):", ""]
    for kind in scoring.CLASSES:
        a, b = (results["arms"][arm]["summary"]["by_class"][kind] for arm in ("default", "changed"))
        if a.get("keystrokes"):
            lines.append(f"- {kind} ({a['keystrokes']} keystrokes): defaults {a['useful_per_keystroke']} "
                         f"({a['wrong_share']:.0%} wrong), changed {b['useful_per_keystroke']} "
                         f"({b['wrong_share']:.0%} wrong)")
    lines += ["", f"{len(results['differences'])} keystrokes show a different first line:", ""]
    for d in results["differences"][:40]:
        lines.append(f"- {d['passage']}#{d['index']} next `{d['rest']!s:.40}`: defaults `{d['default']!s:.40}` "
                     f"({d['useful'][0]}), changed `{d['changed']!s:.40}` ({d['useful'][1]})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", required=True, help="SETTING=VALUE (a JSON value), e.g. tokenHealing=false")
    parser.add_argument("--model", default=FIM_MODEL)
    parser.add_argument("--stride", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--box-s", type=float, default=1800)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--name", default="editor-ceiling-ab")
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    key, _, value = args.set.partition("=")
    setting = {key: json.loads(value)}
    begin_results(args.allow_dirty)
    passages = passages_mod.load()
    work = Path(tempfile.mkdtemp(prefix="ceiling-ab-"))
    ws = passages_mod.write_workspace(work / "ws", passages)
    os.environ["CODEHEARTH_MODELS_DIR"] = str(model_path(args.model).parent)  # the weights, not user state
    results: dict[str, Any] = {"name": args.name, "command": "python -m benchmarks.editor.ceiling_ab " + " ".join(
        argv if argv is not None else sys.argv[1:]), "git_commit": git_commit(),
        "machine": machine_info(), "model": args.model, "stride": args.stride, "threads": args.threads,
        "setting": setting, "arms": {}}
    readings = {}
    for arm, settings in (("default", {}), ("changed", setting)):
        t0 = time.monotonic()
        got, stats = bounds.ceiling_ours(args.model, passages, ws, args.stride, args.box_s, work / arm,
                                         args.threads, settings)
        readings[arm] = got
        results["arms"][arm] = {"settings": settings, "summary": scoring.breakdown(got),
                                "seconds": round(time.monotonic() - t0, 1), "readings": compact(got),
                                "server_stats_plans": stats.get("plans")}
        print(arm, json.dumps(results["arms"][arm]["summary"]["all"]), flush=True)
    results["differences"] = changed_readings(readings["default"], readings["changed"])
    write_results_file(args.out / f"{args.name}.json", results)
    write_results_file(args.out / f"{args.name}.md", markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
