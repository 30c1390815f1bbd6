"""The confidence gate's curve on the editor benchmark's TUNING split (issue 22): shown share against wrong share.

Also the sweep that chooses the defaults: any rows (``MODEL@MS``, ``defaults``), one thread count per run
(``--threads``), each reported as typed and at its best threshold.

Rows run with ``minConfidence`` off; every answer's confidence (the lowest and the mean log-probability of the
tokens of its first line) comes from the server's log line per answer (``lsp/completion.py``). Each ghost text the
typist read is traced back to the answer for that cursor position, and hiding it at a threshold T is simulated by
removing that reading's ghost text (what a person would have seen with ``minConfidence`` = T; the plugin's own reuse
of a hidden suggestion while typing into it is not simulated). The threshold chosen maximises

    useful characters - WRONG_COST x wrong ghost texts

on the tuning passages only; the test passages are never read here.

    flock /tmp/codehearth-bench.lock python -m benchmarks.editor.confidence [--rows defaults,MODEL@MS] [--cost 3]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.common import ROOT, git_commit
from benchmarks.editor import bench, scoring
from benchmarks.editor import passages as passages_mod

WRONG_COST = 3.0  # characters a wrong ghost text costs the person (reading it, dismissing it)
THRESHOLDS = (-0.1, -0.2, -0.3, -0.5, -0.75, -1.0, -1.25, -1.5, -2.0, -2.5, -3.0, -4.0, -6.0)
CALIBRATED = re.compile(r"calibrated: ([\d.]+ prompt tokens/s, [\d.]+ generated tokens/s on \d+ threads?)")
CONF = re.compile(r"completion (\S+) in (\d+) ms at (\d+):(\d+) plan=(\S+) rung=(-?\d+) .*? "
                  r"conf=(\S+) held=(\S+) hidden=(\d)")


def parse_confidences(lsp_log: str) -> list[dict[str, Any]]:
    out = []
    for m in CONF.finditer(lsp_log):
        source, ms, line, char, plan, rung, conf, held, hidden = m.groups()
        low, _, mean = conf.partition("/")
        out.append({"source": source, "ms": int(ms), "line": int(line), "character": int(char), "plan": plan,
                    "rung": int(rung), "min": float(low) if mean else None, "mean": float(mean) if mean else None,
                    "held": held, "hidden": int(hidden)})
    return out


def full_readings(passages: list[passages_mod.Passage], compact: list[list[Any]]) -> list[dict[str, Any]]:
    """Every keystroke of the passages, with the ghost text the compact record saw (none where it has no entry),
    and the cursor position it was read at."""
    ghost = {(p, i): (first, below) for p, i, first, below, _ in compact}
    out = []
    for p in passages:
        for i, key in enumerate(p.keys):
            first, below = ghost.get((p.name, i), ("", []))
            out.append({"passage": p.name, "split": p.split, "index": i, "line": key.line, "char": key.char,
                        "rest": key.rest, "kind": key.kind, "first": first, "below": below,
                        "row": p.row + key.line, "col": key.col})
    return out


def attach(readings: list[dict[str, Any]], answers: list[dict[str, Any]]) -> int:
    """Give each reading with ghost text the confidence of the last answer with text for its position; returns how
    many could not be traced (they stay shown at every threshold)."""
    by_position: dict[tuple[int, int], dict[str, Any]] = {}
    for a in answers:
        if a["min"] is not None:
            by_position[(a["line"], a["character"])] = a
    untraced = 0
    for r in readings:
        if not r["first"].strip():
            continue
        a = by_position.get((r["row"], r["col"]))
        if a is None:
            untraced += 1
        else:
            r["min"], r["mean"] = a["min"], a["mean"]
    return untraced


def gated(readings: list[dict[str, Any]], measure: str, threshold: float | None) -> list[dict[str, Any]]:
    out = []
    for r in readings:
        value = r.get(measure)
        hide = threshold is not None and value is not None and value < threshold
        out.append({**r, "first": "" if hide else r["first"]})
    return out


def curve(readings: list[dict[str, Any]], cost: float) -> dict[str, Any]:
    rows = []
    for measure in ("min", "mean"):
        for threshold in (None, *THRESHOLDS):
            s = scoring.summarise(gated(readings, measure, threshold))
            n = s["keystrokes"]
            objective = s["useful_chars"] - cost * round(s["wrong_share"] * n)
            rows.append({"measure": measure, "threshold": threshold, **s, "objective": round(objective, 1)})
    best = max(rows, key=lambda r: (r["objective"], r["threshold"] is None))
    return {"points": rows, "best": {"measure": best["measure"], "threshold": best["threshold"],
                                     "objective": best["objective"]}, "best_point": best}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=lambda s: s.split(","),
                        default=["defaults", "qwen2.5-coder-0.5b-instruct@1000"])
    parser.add_argument("--cadence", type=int, default=150)
    parser.add_argument("--cost", type=float, default=WRONG_COST)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--name", default="editor-confidence")
    parser.add_argument("--allow-dirty", action="store_true")
    args = parser.parse_args(argv)
    if git_commit().endswith("+dirty") and not args.allow_dirty:
        print("refusing to run from an uncommitted tree (commit first, or --allow-dirty)", file=sys.stderr)
        return 2
    tuning = tuple(p for p in passages_mod.PASSAGES if p[3] == "tuning")
    passages_mod.PASSAGES = tuning  # the test split is never typed here
    logs: dict[str, list[dict[str, Any]]] = {}
    original = bench.parse_answers

    def parse_answers(lsp_log: str) -> list[dict[str, Any]]:
        logs.setdefault("runs", []).append(parse_confidences(lsp_log))  # type: ignore[arg-type]
        logs.setdefault("speed", []).append(CALIBRATED.findall(lsp_log))  # type: ignore[arg-type]
        return original(lsp_log)

    bench.parse_answers = parse_answers  # type: ignore[assignment]
    # One speed cache for every row: each (model, threads) is calibrated once, by the first row that loads it, so a
    # load spike during one row's start cannot cripple that row alone (seen: Qwen calibrated at 2.8 prompt tokens/s
    # while the machine's load average was 90, and that row never answered).
    shared = Path(tempfile.mkdtemp(prefix="editor-speed-"))
    original_env = bench.codehearth_env

    def codehearth_env(state: Path, models_dir: Path) -> dict[str, str]:
        return {**original_env(state, models_dir), "CODEHEARTH_CACHE_DIR": str(shared)}

    bench.codehearth_env = codehearth_env  # type: ignore[assignment]
    run_args = SimpleNamespace(rows=args.rows, cadence=[args.cadence], llama_vim=None, threads=args.threads,
                               quick=False, no_bounds=True, ceiling_stride=4, ceiling_box_s=0)
    results = bench.run(run_args)
    passages = passages_mod.load(tuning)
    out: dict[str, Any] = {"name": args.name, "command": " ".join(["python -m benchmarks.editor.confidence",
                                                                   *sys.argv[1:]]),
                           "git_commit": results["git_commit"], "machine": results["machine"],
                           "cadence_ms": args.cadence, "wrong_cost": args.cost, "split": "tuning",
                           "passages": [p.name for p in passages], "rows": {}}
    rows = results["cadences"][str(args.cadence)]["rows"]
    speeds = logs.get("speed", [])
    for i, ((name, row), answers) in enumerate(zip(rows.items(), logs.get("runs", []), strict=False)):
        readings = full_readings(passages, row["readings"])
        untraced = attach(readings, answers)
        c = curve(readings, args.cost)
        confs = [a for a in answers if a["min"] is not None and a["source"] != "skipped"]
        out["rows"][name] = {"model_used": row.get("model_used"), "untraced_ghosts": untraced,
                             "calibrated": speeds[i] if i < len(speeds) else None, "threads": row.get("threads"),
                             "answers_with_confidence": len(confs), "prompts": row.get("prompts"),
                             "summary_ungated": row["summary"]["tuning"], **c}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(out, indent=1) + "\n")
    (args.out / f"{args.name}.md").write_text(markdown(out))
    print(markdown(out))
    return 0


def markdown(out: dict[str, Any]) -> str:
    lines = [f"# The confidence gate on the editor benchmark's tuning split ({out['cadence_ms']} ms a character)", "",
             f"`{out['command']}` — commit `{out['git_commit']}`; passages {', '.join(out['passages'])}; objective: "
             f"useful characters − {out['wrong_cost']:g} × wrong ghost texts.", ""]
    lines += ["Rows (tuning split): as typed (gate off), and at each row's best threshold.", "",
              "| row | model | useful/keystroke | wrong | exact | shown | full prompt share | gated: measure ≥ T | "
              "useful/keystroke | wrong | exact | objective |", "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for name, row in out["rows"].items():
        u, b = row["summary_ungated"], row["best_point"]
        t = "off" if b["threshold"] is None else f"{b['measure']} ≥ {b['threshold']:g}"
        lines.append(f"| {name} | {row['model_used']} | {u.get('useful_per_keystroke')} | {u.get('wrong_share')} | "
                     f"{u.get('exact_share')} | {u.get('shown_share')} | "
                     f"{(row.get('prompts') or {}).get('full_prompt_share')} | {t} | "
                     f"{b.get('useful_per_keystroke')} | {b.get('wrong_share')} | {b.get('exact_share')} | "
                     f"{b['objective']} |")
    lines.append("")
    for name, row in out["rows"].items():
        best = row["best"]
        lines += [f"## {name} ({row['model_used']})", "",
                  f"Best: {best['measure']} log-probability ≥ {best['threshold']} (objective {best['objective']}); "
                  f"{row['untraced_ghosts']} ghost texts not traced to an answer (always shown).", "",
                  "| measure | threshold | useful/keystroke | shown | wrong | exact | saved/100 | objective |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for p in row["points"]:
            t = "off" if p["threshold"] is None else f"{p['threshold']:g}"
            lines.append(f"| {p['measure']} | {t} | {p.get('useful_per_keystroke')} | {p.get('shown_share')} | "
                         f"{p.get('wrong_share')} | {p.get('exact_share')} | {p.get('saved_per_100')} | "
                         f"{p['objective']} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
