"""The confidence gate's curve on the editor benchmark's TUNING split (issue 22): shown share against wrong share.

Also the sweep that chooses the defaults: any rows (``MODEL@MS``, ``defaults``), one thread count per run
(``--threads``), each reported as typed and at its best threshold.

Rows run with ``minConfidence`` off; every answer's confidence (the lowest, the mean and the first log-probability
of the tokens of its first line) comes from the server's log line per answer (``lsp/completion.py``). Each ghost
text the typist read is traced back to the answer for that cursor position, and hiding it at a threshold T is
simulated by removing that reading's ghost text (what a person would have seen with ``minConfidence`` = T; the
plugin's own reuse of a hidden suggestion while typing into it is not simulated).

The simulation overstates what the gate costs on long right suggestions: it hides every reading traced to a hidden
answer, where the server, asked again a keystroke later, judges the same suggestion by what is left of it (the
unlikely token typed) and often shows it. Seen in editor-confidence-first-150: one docstring line, right for 54
keystrokes (1426 useful characters), hidden whole because its first token had a log-probability of -1.1. Compare
measures and thresholds with it; choose a default from rows typed with the gate on (``measured+minConfidence=T``).
The threshold chosen maximises

    useful characters - WRONG_COST x wrong ghost texts

on the tuning passages only; the test passages are never read here.

    flock /tmp/codehearth-bench.lock python -m benchmarks.editor.confidence [--rows defaults,MODEL@MS] [--cost 3]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
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
# complete/confidence.py's measures (the lowest, the mean, the first token's log-probability) and the keys they have
# in a reading here (its "first" is the ghost text's first line)
MEASURES = {"min": "min", "mean": "mean", "first": "first_token"}
THRESHOLDS = (-0.1, -0.2, -0.3, -0.5, -0.75, -1.0, -1.25, -1.5, -2.0, -2.5, -3.0, -4.0, -6.0)
CALIBRATED = re.compile(r"calibrated: ([\d.]+ prompt tokens/s, [\d.]+ generated tokens/s on \d+ threads?)")
CONF = re.compile(r"completion (\S+) in (\d+) ms at (\d+):(\d+) plan=(\S+) rung=(-?\d+) .*? prompt=-?\d+: (.*?) "
                  r"conf=(\S+) held=(\S+) hidden=(\d)")


def parse_confidences(lsp_log: str) -> list[dict[str, Any]]:
    out = []
    for m in CONF.finditer(lsp_log):
        source, ms, line, char, plan, rung, text, conf, held, hidden = m.groups()
        low, mean, first = ([*conf.split("/"), None, None][:3] if "/" in conf else (None, None, None))
        out.append({"source": source, "ms": int(ms), "line": int(line), "character": int(char), "plan": plan,
                    "rung": int(rung), "min": float(low) if mean else None, "mean": float(mean) if mean else None,
                    "first_token": float(first) if first else None,
                    "held": held, "hidden": int(hidden), "text": _literal(text)})
    return out


def _literal(text: str) -> str:
    """The suggestion's repr as logged (inside Neovim's own quoting of the server's stderr)."""
    for candidate in (text, text.replace('\\"', '"').replace("\\\\", "\\")):
        with contextlib.suppress(ValueError, SyntaxError):
            value = ast.literal_eval(candidate)
            if isinstance(value, str):
                return value
    return ""


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
                        "row": p.row + key.line, "col": key.col, "text": p.lines[key.line]})
    return out


def attach(readings: list[dict[str, Any]], answers: list[dict[str, Any]]) -> int:
    """Give each reading with ghost text the confidence of the answer it shows: the last answer on its line, at its
    column or before it (the plugin keeps showing a suggestion while the person types into it), whose text after
    what was typed since starts with the ghost text's first line. Returns how many could not be traced (they stay
    shown at every threshold)."""
    by_row: dict[int, list[dict[str, Any]]] = {}
    for a in answers:
        if a["min"] is not None and a.get("text"):
            by_row.setdefault(a["line"], []).append(a)
    untraced = 0
    for r in readings:
        ghost = r["first"].rstrip()
        if not ghost.strip():
            continue
        found = None
        for a in reversed(by_row.get(r["row"], [])):
            if a["character"] > r["col"]:
                continue
            typed = r["text"][a["character"]:r["col"]]
            if not a["text"].startswith(typed):
                continue
            left = a["text"][len(typed):].split("\n", 1)[0].rstrip()
            if left and (left.startswith(ghost) or ghost.startswith(left)):
                found = a
                break
        if found is None:
            untraced += 1
        else:
            r["min"], r["mean"], r["first_token"] = found["min"], found["mean"], found.get("first_token")
    return untraced


def gated(readings: list[dict[str, Any]], measure: str, threshold: float | None) -> list[dict[str, Any]]:
    out = []
    for r in readings:
        value = r.get(MEASURES[measure])
        hide = threshold is not None and value is not None and value < threshold
        out.append({**r, "first": "" if hide else r["first"]})
    return out


def curve(readings: list[dict[str, Any]], cost: float) -> dict[str, Any]:
    rows = []
    for measure in MEASURES:
        if not any(r.get(MEASURES[measure]) is not None for r in readings):
            continue  # a log from before the server logged this measure
        for threshold in (None, *THRESHOLDS):
            s = scoring.summarise(gated(readings, measure, threshold))
            n = s["keystrokes"]
            objective = s["useful_chars"] - cost * round(s["wrong_share"] * n)
            rows.append({"measure": measure, "threshold": threshold, **s, "objective": round(objective, 1)})
    best = max(rows, key=lambda r: (r["objective"], r["threshold"] is None))
    return {"points": rows, "best": {"measure": best["measure"], "threshold": best["threshold"],
                                     "objective": best["objective"]}, "best_point": best}


def score_test_split(readings: list[dict[str, Any]], best: dict[str, Any]) -> dict[str, Any]:
    """The test split ungated and gated at the choice made on the tuning split (both report paths use it)."""
    test = [r for r in readings if r["split"] == "test"]
    gated_test = gated(test, best["measure"], best["threshold"])
    return {"ungated": scoring.breakdown(test)["test"],
            "gated_at_tuning_choice": scoring.breakdown(gated_test)["test"],
            "gated_by_class": scoring.breakdown(gated_test)["by_class"]}


def from_editor_run(results: dict[str, Any], work: Path, cadence: int, cost: float) -> dict[str, Any]:
    """The same analysis on a finished ``python -m benchmarks.editor`` run: its results (compact readings per row)
    and its work folder (each codehearth row's Neovim lsp.log, whose answer lines carry the confidence)."""
    wanted = set(results["passages"][i]["name"] for i in range(len(results["passages"])))
    passages = [p for p in passages_mod.load(passages_mod.PASSAGES) if p.name in wanted]
    splits = sorted({p.split for p in passages})
    out: dict[str, Any] = {"name": "editor-confidence", "command": results.get("command", ""),
                           "git_commit": results.get("git_commit"), "machine": results.get("machine"),
                           "cadence_ms": cadence, "wrong_cost": cost, "split": "tuning", "splits_typed": splits,
                           "passages": [p.name for p in passages], "rows": {}, "from_run": str(work)}
    for name, row in results["cadences"][str(cadence)]["rows"].items():
        readings = full_readings(passages, row["readings"])
        entry: dict[str, Any] = {"kind": row["kind"], "model_used": row.get("model_used"),
                                 "threads": row.get("threads"), "prompts": row.get("prompts"),
                                 "summary_ungated": row["summary"]["tuning"], "summary": row["summary"]}
        if row["kind"] == "codehearth":
            log = work / f"c{cadence}" / re.sub(r"[^\w.@-]", "_", name) / "xdg_state_home" / "nvim" / "lsp.log"
            text = log.read_text(errors="replace") if log.is_file() else ""
            answers = parse_confidences(text)
            entry.update(untraced_ghosts=attach(readings, answers), calibrated=CALIBRATED.findall(text),
                         answers_with_confidence=sum(a["min"] is not None for a in answers))
            entry.update(curve([r for r in readings if r["split"] == "tuning"], cost))
            entry["test"] = score_test_split(readings, entry["best"])
        else:
            entry["test"] = {"ungated": row["summary"].get("test"), "by_class": row["summary"].get("by_class")}
        out["rows"][name] = entry
    return out


class _RunArgs(SimpleNamespace):
    """The editor benchmark's options for bench.run; any option it grows later is off (None)."""

    def __getattr__(self, name: str) -> Any:
        return None


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
    parser.add_argument("--splits", type=lambda v: v.split(","), default=["tuning"],
                        help="passages typed: tuning (default) or tuning,test; thresholds are always chosen on "
                        "the tuning split, the test split only reports them")
    parser.add_argument("--from-run", nargs=2, metavar=("RESULTS_JSON", "WORK_DIR"),
                        help="analyse a finished python -m benchmarks.editor run instead of typing")
    args = parser.parse_args(argv)
    if args.from_run:
        done = from_editor_run(json.loads(Path(args.from_run[0]).read_text()), Path(args.from_run[1]),
                               args.cadence, args.cost)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.name}.json").write_text(json.dumps(done, indent=1) + "\n")
        (args.out / f"{args.name}.md").write_text(markdown(done))
        print(markdown(done))
        return 0
    if git_commit().endswith("+dirty") and not args.allow_dirty:
        print("refusing to run from an uncommitted tree (commit first, or --allow-dirty)", file=sys.stderr)
        return 2
    splits = set(args.splits)
    spec = tuple(p for p in passages_mod.PASSAGES if p[3] in splits)
    # without "test" in --splits, the test split is never typed (the benchmark reads its passages from SETS)
    passages_mod.PASSAGES = spec
    passages_mod.SETS = {**passages_mod.SETS, "default": spec}
    logs: dict[str, list[Any]] = {"runs": [], "speed": []}
    original = bench.parse_answers

    def parse_answers(lsp_log: str) -> list[dict[str, Any]]:
        logs["runs"].append(parse_confidences(lsp_log))
        logs["speed"].append(CALIBRATED.findall(lsp_log))
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
    run_args = _RunArgs(rows=args.rows, cadence=[args.cadence], llama_vim=None, threads=args.threads,
                        passages="default", quick=False, no_bounds=True, ceiling_stride=4, ceiling_box_s=0)
    results = bench.run(run_args)
    passages = passages_mod.load(spec)
    out: dict[str, Any] = {"name": args.name, "command": " ".join(["python -m benchmarks.editor.confidence",
                                                                   *sys.argv[1:]]),
                           "git_commit": results["git_commit"], "machine": results["machine"],
                           "cadence_ms": args.cadence, "wrong_cost": args.cost, "split": "tuning",
                           "splits_typed": sorted(splits), "passages": [p.name for p in passages], "rows": {}}
    rows = results["cadences"][str(args.cadence)]["rows"]
    ours = iter(zip(logs["runs"], logs["speed"], strict=False))  # parse_answers runs for codehearth rows only
    for name, row in rows.items():
        readings = full_readings(passages, row["readings"])
        entry: dict[str, Any] = {"kind": row["kind"], "model_used": row.get("model_used"),
                                 "threads": row.get("threads"), "prompts": row.get("prompts"),
                                 "summary_ungated": row["summary"]["tuning"], "summary": row["summary"],
                                 "readings": row["readings"]}
        if row["kind"] == "codehearth":
            answers, speed = next(ours, ([], []))
            entry["untraced_ghosts"] = attach(readings, answers)
            entry["calibrated"] = speed
            entry["answers_with_confidence"] = sum(a["min"] is not None for a in answers)
            entry["answers"] = answers
            tuning = [r for r in readings if r["split"] == "tuning"]
            entry.update(curve(tuning, args.cost))  # chosen on the tuning split only
            if "test" in splits:
                entry["test"] = score_test_split(readings, entry["best"])
        else:
            entry["test"] = {"ungated": row["summary"].get("test"), "by_class": row["summary"].get("by_class")}
        out["rows"][name] = entry
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(out, indent=1) + "\n")
    (args.out / f"{args.name}.md").write_text(markdown(out))
    print(markdown(out))
    return 0


def _row(u: dict[str, Any] | None) -> str:
    u = u or {}
    return (f"{u.get('useful_per_keystroke')} | {u.get('wrong_share')} | {u.get('exact_share')} | "
            f"{u.get('shown_share')} | {u.get('saved_per_100')}")


def markdown(out: dict[str, Any]) -> str:
    lines = [f"# The confidence gate and the defaults on the editor benchmark ({out['cadence_ms']} ms a character)",
             "", f"`{out['command']}` — commit `{out['git_commit']}`; passages {', '.join(out['passages'])}; "
             f"thresholds chosen on the tuning split by useful characters − {out['wrong_cost']:g} × wrong ghost texts.",
             "", "Tuning split: as typed (gate off), and at each row's best threshold.", "",
             "| row | model | useful/keystroke | wrong | exact | shown | saved/100 | full prompt share | "
             "gated: measure ≥ T | useful/keystroke | wrong | exact | objective |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for name, row in out["rows"].items():
        b = row.get("best_point")
        t = "–" if b is None else ("off" if b["threshold"] is None else f"{b['measure']} ≥ {b['threshold']:g}")
        gated = "– | – | – | –" if b is None else (f"{b.get('useful_per_keystroke')} | {b.get('wrong_share')} | "
                                                  f"{b.get('exact_share')} | {b['objective']}")
        lines.append(f"| {name} | {row.get('model_used') or row['kind']} | {_row(row['summary_ungated'])} | "
                     f"{(row.get('prompts') or {}).get('full_prompt_share')} | {t} | {gated} |")
    lines.append("")
    if "test" in out.get("splits_typed", []):
        lines += ["Test split (never used to choose): as typed, and with the threshold its row chose on the tuning "
                  "split applied (hiding simulated from the recorded confidences).", "",
                  "| row | as typed: useful/keystroke | wrong | exact | shown | saved/100 | gated: useful/keystroke | "
                  "wrong | exact | shown | saved/100 | string/comment keystrokes: useful/keystroke (gated) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for name, row in out["rows"].items():
            test = row.get("test") or {}
            by_class = test.get("gated_by_class") or test.get("by_class") or {}
            prose = ", ".join(f"{k} {by_class.get(k, {}).get('useful_per_keystroke')}" for k in ("string", "comment"))
            lines.append(f"| {name} | {_row(test.get('ungated'))} | "
                         f"{_row(test.get('gated_at_tuning_choice')) if 'gated_at_tuning_choice' in test else '– | – | – | – | –'}"
                         f" | {prose} |")
        lines.append("")
    for name, row in out["rows"].items():
        if "best" not in row:
            continue
        best = row["best"]
        lines += [f"## {name} ({row['model_used']}): the curve on the tuning split", "",
                  f"Best: {best['measure']} log-probability ≥ {best['threshold']} (objective {best['objective']}); "
                  f"{row['untraced_ghosts']} ghost texts not traced to an answer (always shown); calibrated "
                  f"{row.get('calibrated')}.", "",
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
