"""editor.md from editor.json: one table per cadence, the split and class breakdowns, the floor and the ceiling."""

from __future__ import annotations

from typing import Any


def _f(v: Any, pct: bool = False) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.0f}%" if pct else f"{v:g}"


OLD_DEFAULT_BUDGET_MS = 400  # results written before the benchmark recorded the default: it was 400 until issue 22


def default_budget(result: dict[str, Any]) -> str:
    """The budget a row without one ran with: the tree's default, as the results recorded it."""
    return f"default {result.get('config', {}).get('default_budget_ms', OLD_DEFAULT_BUDGET_MS)} ms"


def _row_label(name: str, row: dict[str, Any], result: dict[str, Any]) -> str:
    if row["kind"] == "codehearth":
        model = row.get("model_used") or row.get("model") or "auto"
        budget = f"{row['budget_ms']} ms" if row.get("budget_ms") else default_budget(result)
        return f"codehearth {name} ({model}, {budget})"
    if row["kind"] == "llama.vim":
        return "llama.vim (the real plugin)"
    return "llama.vim replica (Python)"


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    out = [
        "# Editor benchmark: what a person sees in Neovim at typing speed",
        "",
        f"`{r['command']}` — commit `{r['git_commit']}`, {r['started']} → {r.get('finished', '?')}.",
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
        f"load at start {m.get('loadavg_start', '?')}, at end {m.get('loadavg_end', '?')}; {r.get('threads')} threads "
        "for every engine (ours, llama-server, llama-bench).",
        f"Passages: {len(r['passages'])} ({sum(p['keystrokes'] for p in r['passages'])} keystrokes: "
        + ", ".join(f"{p['name']} {p['split']} {p['keystrokes']}" for p in r["passages"])
        + f"); Enter and a {r['config']['pause_ms']} ms pause at each line end; rows interleaved passage by "
        "passage. llama.vim " + str(r["config"].get("llama_vim_commit")) + ", llama-server preset `"
        + " ".join(r["config"]["llama_server_preset"]) + "`.",
        "",
        "useful/key: visible useful characters per keystroke (common prefix of the ghost text's first line and the "
        "rest of the line typed next); shown: keystrokes with ghost text; wrong: shown with no character right; "
        "exact: the first line is the rest of the line; saved/100: keystrokes a simulated Tab would save per 100 "
        "keystrokes (at the first exact keystroke of a line; what is typed does not change); ceiling: useful/key "
        "as a share of the better ceiling; suffix+defs: model answers whose prompt held the suffix and the "
        "definitions.",
        "",
    ]
    for cadence, c in r["cadences"].items():
        out += [f"## {cadence} ms a character (load {c['load_start']} → {c['load_end']})", "",
                "| row | useful/key | shown | wrong | exact | saved/100 | ceiling | test split useful/key | "
                "model answers | suffix+defs | floor |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, row in c["rows"].items():
            s = row["summary"]["all"]
            t = row["summary"]["test"]
            prompts = row.get("prompts", {})
            fl = r.get("floor", {}).get("rows", {}).get(f"{cadence}/{name}", {})
            answers = prompts.get("model_answers", len(row.get("server_tasks", [])))
            out.append(
                f"| {_row_label(name, row, r)} | {_f(s.get('useful_per_keystroke'))} | {_f(s.get('shown_share'), True)} "
                f"| {_f(s.get('wrong_share'), True)} | {_f(s.get('exact_share'), True)} | "
                f"{_f(s.get('saved_per_100'))} | {_f(row.get('share_of_ceiling'), True)} | "
                f"{_f(t.get('useful_per_keystroke'))} | {answers} | "
                f"{_f(prompts.get('suffix_and_definitions_share'), True)} | "
                f"{'BEATS' if fl.get('beats_floor') else 'ok'} ({fl.get('answers', 0)}, min ×{fl.get('min_ratio')}) |")
        out += ["", "By class (useful/key · wrong):", "",
                "| row | code | string | comment |", "|---|---|---|---|"]
        for name, row in c["rows"].items():
            cls = row["summary"]["by_class"]
            out.append(f"| {_row_label(name, row, r)} | " + " | ".join(
                f"{_f(cls[k].get('useful_per_keystroke'))} · {_f(cls[k].get('wrong_share'), True)} "
                f"({cls[k].get('keystrokes', 0)})" for k in ("code", "string", "comment")) + " |")
        out.append("")
    if "ceiling" in r:
        ce = r["ceiling"]
        out += ["## Ceiling (same model, no time limit, every "
                f"{ce['stride']}th keystroke of each passage, request then wait)", "",
                "| prompt | useful/key | shown | wrong | exact | seconds |", "|---|---|---|---|---|---|"]
        for k in ("ours_full_prompt", "llama_server_prompt"):
            s = ce[k]["summary"]["all"]
            out.append(f"| {k.replace('_', ' ')}{' (best)' if ce['best'] == k else ''} | "
                       f"{_f(s.get('useful_per_keystroke'))} | {_f(s.get('shown_share'), True)} | "
                       f"{_f(s.get('wrong_share'), True)} | {_f(s.get('exact_share'), True)} | {ce[k]['seconds']} |")
        out.append("")
    if "floor" in r:
        fl = r["floor"]
        out += ["## Floor", "",
                "Per model answer: one token to evaluate plus its generated tokens at llama-bench's rates "
                "(same build as llama-server, same threads): " + "; ".join(
                    f"{k} {v['prompt_tokens_per_s']} prompt / {v['generated_tokens_per_s']} generated tokens/s"
                    for k, v in fl["rates"].items()) + ". Rows beating it: "
                + (", ".join(fl.get("rows_beating_floor", [])) or "none") + ".", ""]
    return "\n".join(out) + "\n"
