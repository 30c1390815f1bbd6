"""The README's benchmark tables, generated from the results files (issue 21: every number in the README is in one).

    python -m benchmarks.readme_tables [--results benchmarks/results] [--readme README.md]

Each table sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers; a table whose results file is
missing is left as it is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT

HUMANEVAL_ROWS = (("ours-unlimited", "ours, unlimited budget (60 s)"), ("llama-server-psm", "llama-server `/infill`, plain PSM"),
                  ("ours-default", "ours, default budget"),
                  ("ours-default-rest", "ours, default budget, then the person rests (late suggestions)"))


def humaneval_table(result: dict[str, Any], results_name: str) -> str:
    m = result["machine"]
    loads = result.get("loadavg_at_row_starts") or [0.0]
    lines = [f"{result['tasks']} tasks, {result['model']}, {result['threads']} thread(s) for every row, llama-server "
             f"`{' '.join(result['server_preset'])}`, n_predict {result['max_tokens']}, stop "
             f"{json.dumps(result['server_stop'])}, every row through the same post-processing, {result['order']}; "
             f"{m['cpu']}, {m['cores']} cores, load {min(loads)}–{max(loads)} at the rows' starts; commit "
             f"`{m['git_commit'][:10]}` ([results](benchmarks/results/{results_name}.md))", "",
             "| row | pass@1 | exact | edit similarity | p50 ms | empty answers | prompts cut |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for key, label in HUMANEVAL_ROWS:
        row = result["rows"].get(key)
        if row is None:
            continue
        tasks = row["per_task"]
        passed = sum(1 for t in tasks if t["passed"])
        empty = sum(1 for t in tasks if not t["completion"].strip())
        if key.startswith("ours-default"):
            label = label.replace("default budget", f"default budget ({result['default_budget_ms']} ms)")
        cut = row.get("server_prompts_cut", 0) if key.startswith("llama") else "–"
        lines.append(f"| {label} | {row['pass@1']:.1%} ({passed}) | {row['exact_match']:.1%} | "
                     f"{row['edit_similarity']:.3f} | {row['latency_ms']['p50']} | {empty} | {cut} |")
    rest = result["rows"].get("ours-default-rest")
    if rest is not None and "pass@1_after_rest" in rest:
        reads = ", ".join(f"{k} {v:.1%}" for k, v in rest["pass@1_after_rest"].items())
        lines += ["", f"The rest row: pass@1 of what is shown at the keystroke {rest['first_pass@1']:.1%}; after the "
                      f"person rested {reads}. {rest['late_answers']} late suggestions, asked again at p50 "
                      f"{rest['late_ms']['p50']} ms (p95 {rest['late_ms']['p95']} ms) after the keystroke; its p50 "
                      "ms column is the time of what is shown after the rest."]
    return "\n".join(lines)


def editor_table(result: dict[str, Any], stem: str = "editor") -> str:
    """The editor benchmark's rows, both cadences in one table, every figure from its results file."""
    from benchmarks.editor.report import _f, default_budget

    m = result["machine"]
    lines = [f"Run of {result['started'][:10]} (commit `{result['git_commit'][:10]}`, {result.get('threads')} "
             f"thread(s) for llama-server and every chosen model, {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
             f"load {(m.get('loadavg_start') or ['?'])[0]} at the start, rows interleaved passage by passage; "
             f"[results](benchmarks/results/{stem}.md)):", "",
             "| row | cadence | useful chars / keystroke | test split | ghost text shown | wrong ghost text | "
             "exact rest of line | keys saved / 100 | share of ceiling |",
             "|---|---|---|---|---|---|---|---|---|"]
    for cadence, c in result["cadences"].items():
        for name, row in c["rows"].items():
            s, t = row["summary"]["all"], row["summary"]["test"]
            threads = row.get("threads") or result.get("threads")
            if row["kind"] == "codehearth":
                model = row.get("model_used") or row.get("model") or "auto"
                budget = f"{row['budget_ms']} ms" if row.get("budget_ms") else default_budget(result)
                base = name.split("+")[0]
                changed = "".join(f", `{k}` {json.dumps(v)}" for k, v in (row.get("settings") or {}).items())
                kind, _, at = base.partition("@")
                measured = ", speeds measured first as `make run` does" if kind == "measured" else ""
                label = (f"codehearth defaults (`auto` → {model}, {budget}{changed}, {threads} thread(s){measured})"
                         if kind in ("defaults", "measured") and not at
                         else f"codehearth `auto` → {model} at {budget}{changed} ({threads} thread(s){measured})"
                         if kind in ("defaults", "measured")
                         else f"codehearth {model} at {budget}{changed} ({threads} thread(s))")
            else:
                kind = "llama.vim, the real plugin" if row["kind"] == "llama.vim" else "llama.vim replica (Python)"
                label = f"{kind} ({threads} thread(s))"
            lines.append(f"| {label} | {cadence} ms | {_f(s.get('useful_per_keystroke'))} | "
                         f"{_f(t.get('useful_per_keystroke'))} | {_f(s.get('shown_share'), True)} | "
                         f"{_f(s.get('wrong_share'), True)} | {_f(s.get('exact_share'), True)} | "
                         f"{_f(s.get('saved_per_100'))} | {_f(row.get('share_of_ceiling'), True)} |")
    ce = result.get("ceiling")
    if ce:
        lines += ["", "Ceiling (same model, no time limit, every "
                  f"{ce['stride']}th keystroke): " + "; ".join(
                      f"{k.replace('_', ' ')} {_f(ce[k]['summary']['all'].get('useful_per_keystroke'))} useful/key, "
                      f"wrong {_f(ce[k]['summary']['all'].get('wrong_share'), True)}"
                      for k in ("ours_full_prompt", "llama_server_prompt")) + "."]
    fl = result.get("floor")
    if fl:
        lines += ["", "Rows beating the floor (llama-bench rates at each row's thread count): "
                  + (", ".join(fl.get("rows_beating_floor", [])) or "none") + "."]
    return "\n".join(lines)


WRONG_COST = 3  # useful characters a wrong ghost text costs, as in the confidence gate's objective


def defaults_table(result: dict[str, Any], stem: str) -> str:
    """The sweep that chooses ``latencyBudgetMs`` and ``auto``'s completion model (issue 22): every codehearth row
    on the tuning split (where the choice is made: useful characters a keystroke minus WRONG_COST x the share of
    keystrokes with wrong ghost text) and on the test split (where it is reported)."""
    from benchmarks.editor.report import _f, default_budget

    m = result["machine"]
    lines = [f"Run of {result['started'][:10]} (commit `{result['git_commit'][:10]}`, {m.get('cpu', '?')}, "
             f"{m.get('cores', '?')} cores, load {(m.get('loadavg_start') or ['?'])[0]} at the start, rows "
             f"interleaved passage by passage; [results](benchmarks/results/{stem}.md)). Objective: useful chars / "
             f"keystroke − {WRONG_COST} × wrong share, on the tuning split; **bold**: the best row at each cadence.",
             "", "| cadence | model | budget | threads | tuning: useful / key | tuning: wrong | tuning: objective | "
             "test: useful / key | test: wrong | test: exact rest of line |", "|---" * 10 + "|"]
    for cadence, c in result["cadences"].items():
        rows = [(name, row) for name, row in c["rows"].items() if row["kind"] == "codehearth"]

        def objective(row: dict[str, Any]) -> float:
            tuning = row["summary"]["tuning"]
            return (tuning.get("useful_per_keystroke") or 0) - WRONG_COST * (tuning.get("wrong_share") or 0)

        best = max((objective(row) for _, row in rows), default=None)
        for name, row in rows:
            tuning, test = row["summary"]["tuning"], row["summary"]["test"]
            model = row.get("model_used") or row.get("model") or "auto"
            auto = "`auto` → " if name.split("+")[0].split("@")[0] in ("defaults", "measured") else ""
            budget = f"{row['budget_ms']} ms" if row.get("budget_ms") else default_budget(result)
            budget += "".join(f", `{k}` {json.dumps(v)}" for k, v in (row.get("settings") or {}).items())
            score = objective(row)
            mark = "**" if score == best else ""
            lines.append(f"| {cadence} ms | {auto}{model} | {budget} | {row.get('threads') or result.get('threads')} | "
                         f"{_f(tuning.get('useful_per_keystroke'))} | {_f(tuning.get('wrong_share'), True)} | "
                         f"{mark}{score:.2f}{mark} | {_f(test.get('useful_per_keystroke'))} | "
                         f"{_f(test.get('wrong_share'), True)} | {_f(test.get('exact_share'), True)} |")
    return "\n".join(lines)


def replace_between(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        return text
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + "\n" + body.strip() + "\n" + end + tail


def update(readme: Path, results: Path) -> list[str]:
    from benchmarks.latency.useful import markdown as useful_markdown

    text = readme.read_text(encoding="utf-8")
    done = []
    useful = results / "useful.json"
    if useful.is_file():
        text = replace_between(text, "useful", useful_markdown(json.loads(useful.read_text())).replace("\n### ", "\n#### "))
        done.append("useful")
    for stem in ("editor", "editor-healing", "editor-measured", "editor-chunks", "editor-gate", "editor-final",
                 "editor-final-gate"):
        editor = results / f"{stem}.json"
        if editor.is_file():
            text = replace_between(text, stem, editor_table(json.loads(editor.read_text()), stem))
            done.append(stem)
    sweep = results / "editor-defaults.json"
    if sweep.is_file():
        sweep_table = defaults_table(json.loads(sweep.read_text()), "editor-defaults")
        text = replace_between(text, "editor-defaults", sweep_table)
        done.append("editor-defaults")
    for name, stem in (("humaneval-lines", "humaneval-lines-qwen2.5"), ("humaneval-blocks", "humaneval-blocks-qwen2.5"),
                       ("humaneval-lines-rest", "humaneval-lines-rest-qwen2.5")):
        path = results / f"{stem}.json"
        if path.is_file():
            data = json.loads(path.read_text())
            if "server_preset" in data:  # written by the fair rows (issue 21); older files have no such fields
                text = replace_between(text, name, humaneval_table(data, stem))
                done.append(name)
    readme.write_text(text, encoding="utf-8")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args()
    print("updated:", ", ".join(update(args.readme, args.results)) or "nothing")


if __name__ == "__main__":
    main()
