"""Turning the stored answers into results.json, report.md and the terminal table.

Only answers to the current task set, models and budgets count, so a store that also holds an older run (another
seed, another task count) reports exactly this run.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codehearth import __version__
from codehearth.evaluate.scoring import TaskResult, result_key, summarise, token_rates
from codehearth.evaluate.store import ResultStore
from codehearth.evaluate.tasks import KINDS, Task


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import llama_cpp

        llama = str(llama_cpp.__version__)
    except Exception:  # pragma: no cover - not installed
        llama = "not installed"
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": sys.version.split()[0], "llama_cpp_python": llama, "codehearth": __version__,
            "loadavg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}


def build_results(
    root: Path,
    tasks: Sequence[Task],
    models: Sequence[str],
    budgets: Sequence[int],
    store: ResultStore,
    seed: int,
    complete: bool,
    context_tokens: int | None = None,
) -> dict[str, Any]:
    rows_out: list[dict[str, Any]] = []
    for model in models:
        for budget in budgets:
            rows = rows_of(store, tasks, model, budget)
            if not rows:
                continue
            rows_out.append({
                "model": model,
                "budget_ms": budget,
                **summarise(rows),
                **token_rates(rows),
                "by_kind": {k: summarise(r for r in rows if r.kind == k) for k in KINDS
                            if any(r.kind == k for r in rows)},
                "by_language": {lang: summarise(r for r in rows if r.language == lang)
                                for lang in sorted({r.language for r in rows})},
            })
    runs = {m: store.models[m] for m in models if m in store.models}
    return {
        "repository": str(root),
        "repository_name": root.name,
        "seed": seed,
        "tasks": len(tasks),
        "task_kinds": dict(Counter(t.kind for t in tasks)),
        "task_languages": dict(Counter(t.language for t in tasks)),
        "models": {m: {"load_ms": r.load_ms, "peak_rss_mb": r.peak_rss_mb, "name": r.name, "fim": r.fim,
                       **({"error": r.error} if r.error else {})} for m, r in runs.items()},
        "budgets_ms": list(budgets),
        "context_budget_tokens": context_tokens,
        "complete": complete,
        "results": rows_out,
        "machine": machine(),
        "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):.0f}%"


def _num(x: Any, digits: int = 1) -> str:
    return "-" if x is None else f"{float(x):.{digits}f}"


HEADLINE = ("model", "budget", "tasks", "useful chars", "exact", "shown", "p50 ms", "p95 ms", "load s", "peak MB",
            "prompt tok/s", "gen tok/s")


def headline_rows(results: dict[str, Any]) -> list[list[str]]:
    out = []
    for r in results["results"]:
        run = results["models"].get(r["model"], {})
        out.append([
            r["model"], f"{r['budget_ms']} ms", str(r["tasks"]), _num(r["useful_chars"]), _pct(r["exact"]),
            _pct(r["shown"]), _num(r["latency_p50_ms"], 0), _num(r["latency_p95_ms"], 0),
            _num(run["load_ms"] / 1000 if run.get("load_ms") is not None else None),
            _num(run.get("peak_rss_mb"), 0), _num(r["prompt_tokens_per_s"]), _num(r["generated_tokens_per_s"]),
        ])
    return out


def terminal_table(results: dict[str, Any]) -> str:
    rows = [list(HEADLINE), *headline_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADLINE))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(row) + " |" for row in rows)]


def _breakdown(results: dict[str, Any], field: str, label: str) -> list[str]:
    keys: list[str] = []
    for r in results["results"]:
        keys += [k for k in r[field] if k not in keys]
    header = ["model", "budget", *(f"{k} ({label})" for k in keys)]
    rows = []
    for r in results["results"]:
        cells = []
        for k in keys:
            s = r[field].get(k)
            cells.append("-" if not s or not s.get("tasks") else
                         f"{_num(s['useful_chars'])} / {_pct(s['exact'])} / {_pct(s['shown'])} (n={s['tasks']})")
        rows.append([r["model"], f"{r['budget_ms']} ms", *cells])
    return _md_table(header, rows)


def _reading(results: dict[str, Any]) -> list[str]:
    """What the prompt speed means for a fresh position: reading a whole context budget before the first token."""
    tokens = results.get("context_budget_tokens")
    if not tokens:
        return []
    lines = []
    for model in dict.fromkeys(r["model"] for r in results["results"]):
        rates = [r["prompt_tokens_per_s"] for r in results["results"] if r["model"] == model
                 and r["prompt_tokens_per_s"]]
        if rates:
            rate = max(rates)
            lines.append(f"- {model}: prompt evaluation {rate:.0f} tokens/s here, so a fresh position with a full "
                         f"{tokens}-token context needs about {tokens / rate:.1f} s before its first token.")
    if not lines:
        return []
    return ["## Reading it", "",
            "Each task is one request at a new position, as when the user moves the cursor there: the model's KV "
            "cache holds the previous task's prompt, so most of the prompt is read again (typing on at the same "
            "place reuses it and is much faster).", "", *lines, ""]


def markdown(results: dict[str, Any], plots: Sequence[str], note: str = "") -> str:
    m = results["machine"]
    kinds = ", ".join(f"{k} {n}" for k, n in results["task_kinds"].items())
    langs = ", ".join(f"{k} {n}" for k, n in results["task_languages"].items())
    out = [
        f"# codehearth eval: {results['repository_name']}",
        "",
        f"{results['tasks']} tasks (seed {results['seed']}; {kinds}; {langs}), "
        f"budgets {', '.join(str(b) for b in results['budgets_ms'])} ms, written {results['written_utc']}"
        + ("" if results["complete"] else " — **incomplete run** (interrupted; rerun to resume)") + ".",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, Python {m['python']}, "
        f"llama-cpp-python {m['llama_cpp_python']}, load average when written {m['loadavg']}.",
        "",
        "Every task went through codehearth's own completion service (context builder, prompt layout, latency "
        "budget, post-processing), one model loaded at a time. *Useful chars*: the common prefix of the suggestion "
        "and the hidden text, per task (0 when nothing was shown in time). *Exact*: the first line matches. "
        "*Shown*: a suggestion arrived within the budget. Token rates are the engine's own timings.",
        "",
        *_md_table(HEADLINE, headline_rows(results)),
        "",
        "## Per task kind (useful chars / exact / shown)",
        "",
        *_breakdown(results, "by_kind", "kind"),
        "",
        "## Per language (useful chars / exact / shown)",
        "",
        *_breakdown(results, "by_language", "language"),
        "",
    ]
    out += _reading(results)
    rec = results.get("from_stats")
    if rec:
        out += ["## For this user (`--from-stats`)", ""]
        weights = ", ".join(f"{k} {100 * w:.0f}%" for k, w in rec["weights"].items())
        tolerated = "unknown" if rec["tolerated_ms"] is None else f"{rec['tolerated_ms']:.0f} ms"
        out += [f"Weights from {rec['source'] or 'the acceptance statistics'}: {weights}; tolerated latency "
                f"(p90 of accepted suggestions): {tolerated}; compared at the {rec.get('budget_ms')} ms budget.", ""]
        out += _md_table(["model", "expected accepted chars per suggestion"],
                         [[r["model"], _num(r["expected_accepted_chars"], 2)] for r in rec["ranking"]])
        if rec.get("best"):
            out += ["", f"**{rec['best']}** would have given this user the most accepted characters within "
                        f"{tolerated}."]
        out.append("")
    errors = {k: v["error"] for k, v in results["models"].items() if v.get("error")}
    if errors:
        out += ["## Models that did not run", "", *(f"- {k}: {v}" for k, v in errors.items()), ""]
    if plots:
        out += ["## Plots", "", *(f"![{Path(p).stem}]({Path(p).name})" for p in plots), ""]
    if note:
        out += [note, ""]
    return "\n".join(out)


def write_outputs(results: dict[str, Any], out: Path, plots: Sequence[str], note: str = "") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "results.json"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path = out / "report.md"
    md_path.write_text(markdown(results, plots, note))
    return [md_path, json_path]


def rows_of(store: ResultStore, tasks: Sequence[Task], model: str, budget: int) -> list[TaskResult]:
    return [store.results[k] for t in tasks if (k := result_key(model, budget, t.id)) in store.results]
