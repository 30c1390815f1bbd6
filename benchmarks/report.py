"""The markdown report and the PNG plots of one benchmark run."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _f(value: Any, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float | int):
        return f"{value:.{digits}f}{suffix}"
    return str(value)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _x(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}×"


def headline(results: dict[str, Any]) -> list[str]:
    lines = []
    for model, lat in (results.get("latency") or {}).items():
        if not lat:
            continue
        s = lat["summary"]
        lines.append(
            f"- **{model}**: ours p50 {_f(s['floor']['ours_ms']['p50'])} ms vs floor "
            f"{_f(s['floor']['floor_ms']['p50'])} ms ({_x(s['floor']['ratio_p50'])} at p50, "
            f"{_x(s['floor']['ratio_p95'])} at p95); vs no KV reuse {_x(s['no_reuse']['ratio_p50'])} at p50 "
            f"({s['no_reuse']['matched_requests']} requests); vs llama.cpp server {_x(s['llama_server']['ratio_p50'])}"
            f" at p50, {_x(s['llama_server']['ratio_p95'])} at p95 ({s['llama_server']['matched_requests']} requests)"
        )
    ctx = results.get("context")
    if ctx:
        r = ctx["recall"]["recall"]
        lines.append(f"- **context recall @1024 tokens** ({ctx['recall']['sites']} cross-file call sites): ours "
                     f"{_pct(r['ours']['1024'])}, similarity-only {_pct(r['similarity']['1024'])}, in-file only "
                     f"{_pct(r['in_file']['1024'])}")
    he = results.get("humaneval")
    if he and he.get("ours"):
        same = he.get("ours_on_same_tasks") or he["ours"]
        base = (he.get("llama_server") or {}).get("all", {})
        lines.append(f"- **HumanEval infilling pass@1** ({he['model']}, {same['all']['tasks']} tasks): ours "
                     f"{_pct(same['all']['pass@1'])} vs llama.cpp server {_pct(base.get('pass@1'))}")
    return lines


def markdown(results: dict[str, Any], images: list[str]) -> str:
    m = results["machine"]
    out = [
        f"# codehearth benchmarks ({results['name']})",
        "",
        f"`{results['command']}` — {m['started_utc']}, commit `{m['git_commit']}`, {results.get('wall_s')} s.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m.get('memory_gb')} GB, Python {m['python']}, llama-cpp-python "
        f"{m['llama_cpp_python']}. Load average at start {m['loadavg_start']}, at end {m.get('loadavg_end')} "
        "(other work was running on this machine; timings are noisy).",
        "",
        "## Headlines",
        "",
        *headline(results),
        "",
        "| phase | seconds | load before | load after | error |",
        "|---|---:|---|---|---|",
    ]
    for name, p in results["phases"].items():
        out.append(f"| {name} | {p['seconds']} | {p['load_before']} | {p['load_after']} | {p['error'] or ''} |")
    for model, lat in (results.get("latency") or {}).items():
        if not lat:
            continue
        out += latency_section(model, lat)
    if results.get("context"):
        out += context_section(results["context"])
    if results.get("humaneval"):
        out += humaneval_section(results["humaneval"])
    if results.get("nextline"):
        out += nextline_section(results["nextline"])
    if results.get("explain"):
        out += explain_section(results["explain"])
    if images:
        out += ["", "## Plots", ""] + [f"![{Path(i).stem}]({i})" for i in images]
    return "\n".join(out) + "\n"


def latency_section(model: str, lat: dict[str, Any]) -> list[str]:
    s = lat["summary"]
    e = lat["settings"]["engine"]
    files = ", ".join(f"{f['path']} lines {f['first_line']}–{f['first_line'] + f['lines'] - 1}" for f in lat["files"])
    out = [
        "",
        f"## Latency: {model}",
        "",
        f"Model file `{lat['model_file']}` ({lat['model_bytes'] / 1e6:.0f} MB); engine nCtx {e['nCtx']}, nBatch "
        f"{e['nBatch']}, {lat['settings']['threads']} thread(s) for every engine compared; server latencyBudgetMs "
        f"{lat['settings']['server']['latencyBudgetMs']}, other settings default. Typed: {files} "
        f"(one didChange per character every 30 ms; inlineCompletion after every word and Enter; pauses 150–600 ms, "
        f"up to 6 s at line starts and ends; pending requests cancelled).",
        "",
        f"{s['requests']} requests: {s['model_answered']} answered by the model, {s['from_cache']} from cache, "
        f"{s['superseded']} superseded, {s['cancelled']} cancelled by the client, {s['with_suggestion']} with a "
        f"suggestion shown. Sources: {s['sources']}.",
        "",
        "| | n | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key in (("ours, every answered request (end to end over LSP)", "e2e_ms_all_answered"),
                       ("ours, model-answered requests", "e2e_ms_model")):
        v = s[key]
        out.append(f"| {label} | {v['count']} | {_f(v['p50'], 1)} | {_f(v['p95'], 1)} | {_f(v['p99'], 1)} |")
    for label, key in (("physical floor (engine: new tokens + shown tokens)", "floor"),
                       ("same model, no KV reuse", "no_reuse"), ("llama.cpp server (llama-cpp-python)", "llama_server")):
        b = s[key]
        theirs = b[f"{key}_ms"]
        ours = b["ours_ms"]
        out.append(f"| {label} | {theirs['count']} | {_f(theirs['p50'], 1)} | {_f(theirs['p95'], 1)} | "
                   f"{_f(theirs['p99'], 1)} |")
        out.append(f"| … ours on the same requests | {ours['count']} | {_f(ours['p50'], 1)} | {_f(ours['p95'], 1)} | "
                   f"{_f(ours['p99'], 1)} |")
    out += [
        "",
        "| ours ÷ … | requests | ratio of p50 | ratio of p95 | median per-request ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key in (("floor", "floor"), ("no KV reuse", "no_reuse"), ("llama.cpp server", "llama_server")):
        b = s[key]
        out.append(f"| {label} | {b['matched_requests']} | {_x(b['ratio_p50'])} | {_x(b['ratio_p95'])} | "
                   f"{_x(b['ratio_per_request']['p50'])} |")
    te, tr, tg = s["tokens_evaluated"], s["tokens_reused"], s["tokens_generated"]
    nr = s["no_reuse"].get("tokens_evaluated", {})
    out += [
        "",
        f"Prompt tokens per model-answered request: evaluated p50 {_f(te['p50'])} / p95 {_f(te['p95'])}, reused p50 "
        f"{_f(tr['p50'])}, generated p50 {_f(tg['p50'])} / p95 {_f(tg['p95'])} (totals: {s['tokens_evaluated_total']} "
        f"evaluated, {s['tokens_reused_total']} reused). Without reuse every request evaluates its whole prompt "
        f"(p50 {_f(nr.get('p50'))} tokens). Server stats: {_stats_line(lat['server_stats'])}.",
        "",
        f"Phases: {lat['phases']}",
    ]
    return out


def _stats_line(stats: dict[str, Any]) -> str:
    keys = ("requests", "answeredFromCache", "superseded", "cancelled", "tokensEvaluated", "tokensReused",
            "tokensGenerated", "latencyMs")
    return ", ".join(f"{k} {stats.get(k)}" for k in keys)


def context_section(ctx: dict[str, Any]) -> list[str]:
    rec = ctx["recall"]
    out = [
        "",
        "## Context",
        "",
        f"Recall of the callee's definition (from the right file) in the assembled context, {rec['sites']} "
        f"cross-file call sites of {len(rec['repositories'])} repositories (standard-library packages, each indexed "
        f"as its own workspace: {', '.join(rec['repositories'])}); cursor right after `name(`; tokens counted as "
        f"{rec['token_count']}.",
        "",
        "| retriever | " + " | ".join(f"{b} tokens" for b in rec["budgets"]) + " |",
        "|---|" + "---:|" * len(rec["budgets"]),
    ]
    labels = {"ours": "ours (definitions + imports + similar chunks)", "similarity": "similarity only (Jaccard chunks)",
              "in_file": "in-file only"}
    for kind, label in labels.items():
        out.append(f"| {label} | " + " | ".join(_pct(rec["recall"][kind][str(b)]) for b in rec["budgets"]) + " |")
    out += ["", "| repository | sites | files | ours @512 | ours @1024 | ours @2048 | similarity @1024 | "
            "build p50 ms @1024 | build p95 ms @1024 |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rec["per_repository"]:
        b = r["build_ms"]["1024"]
        out.append(f"| {r['package']} | {r['sites']} | {r['files']} | {_pct(r['recall']['ours']['512'])} | "
                   f"{_pct(r['recall']['ours']['1024'])} | {_pct(r['recall']['ours']['2048'])} | "
                   f"{_pct(r['recall']['similarity']['1024'])} | {_f(b['p50'], 1)} | {_f(b['p95'], 1)} |")
    idx = ctx["index"]
    excluded = ", ".join(idx.get("exclude") or []) or "nothing"
    out += ["", f"Index of `{idx['root']}` (excluded: {excluded}; default index settings), each run in a fresh "
            "process, peak RSS from VmHWM:", "",
            "| run | files | symbols | parsed | seconds | peak RSS MB (main) | peak RSS MB (workers) |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for run in ("cold", "warm"):
        r = idx.get(run) or {}
        if "error" in r:
            out.append(f"| {run} | error: {r['error'][-120:]} | | | | | |")
            continue
        out.append(f"| {run} | {r.get('files')} | {r.get('symbols')} | {r.get('parsed')} | {r.get('seconds')} | "
                   f"{r.get('peak_rss_mb')} | {r.get('workers_peak_rss_mb')} |")
    return out


def humaneval_section(he: dict[str, Any]) -> list[str]:
    out = ["", f"## Quality: HumanEval infilling ({he['model']})", "",
           f"Canonical solutions with one line or one block body masked; ours through the server over LSP "
           f"(latencyBudgetMs {he['latencyBudgetMs']} so that the deadline does not cut answers), the baseline "
           f"through llama.cpp's server with {he.get('llama_server_prompt', '–')}; tests run in a sandboxed "
           f"subprocess ({he['test_timeout_s']} s timeout). {he['tasks_planned']} tasks planned.", "",
           "| | mode | tasks | pass@1 | exact match | edit similarity | latency p50 ms |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for label, key in (("ours", "ours_on_same_tasks" if he.get("ours_on_same_tasks") else "ours"),
                       ("llama.cpp server", "llama_server")):
        agg = he.get(key)
        if not agg:
            continue
        for mode in ("line", "block", "all"):
            a = agg[mode]
            out.append(f"| {label} | {mode} | {a['tasks']} | {_pct(a['pass@1'])} | {_pct(a['exact_match'])} | "
                       f"{_f(a['edit_similarity'], 3)} | {_f(a['latency_ms']['p50'])} |")
    if he.get("llama_server_error"):
        out.append(f"\nllama.cpp server baseline failed: {he['llama_server_error']}")
    return out


def explain_section(ex: dict[str, Any]) -> list[str]:
    out = ["", "## Explanations (30 functions of stdlib ipaddress, docstrings removed; explain.md per function)", "",
           "| model | answered | faithful | all params named | result described | no invented identifiers | "
           "no wrong parameter count | first chunk p50 / p95 ms | chunks/s | tokens/s | total p50 s |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for model, r in ex.items():
        s, f = r["speed"], r["faithfulness"]
        p50 = s["total_ms"]["p50"]
        out.append(f"| {model} | {s['answered']}{' (time box)' if r['stopped_by_box'] else ''} | "
                   f"{_pct(f['faithful'])} | {_pct(f['all_params_named'])} | {_pct(f['return_described'])} | "
                   f"{_pct(f['no_invented_identifiers'])} | {_pct(f.get('no_wrong_parameter_count'))} | "
                   f"{_f(s['first_chunk_ms']['p50'])} / "
                   f"{_f(s['first_chunk_ms']['p95'])} | {_f(s['chunks_per_s'], 1)} | {_f(s['tokens_per_s'], 1)} | "
                   f"{_f(p50 / 1000 if p50 is not None else None, 1)} |")
    return out


def nextline_section(nl: dict[str, Any]) -> list[str]:
    return ["", f"## Quality: repository-level next line ({nl['model']}, {nl['tasks']} call lines, "
            f"{nl['budget_tokens']}-token budget)", "",
            "| context | exact match | edit similarity | prefill+decode p50 ms |", "|---|---:|---:|---:|",
            f"| ours (workspace context) | {_pct(nl['ours']['exact_match'])} | {_f(nl['ours']['edit_similarity'], 3)} "
            f"| {_f(nl['ours']['ms']['p50'])} |",
            f"| in-file only | {_pct(nl['in_file']['exact_match'])} | {_f(nl['in_file']['edit_similarity'], 3)} | "
            f"{_f(nl['in_file']['ms']['p50'])} |"]


def plots(results: dict[str, Any], out_dir: Path) -> list[str]:
    """PNG files written next to the JSON; returns their names (relative to out_dir)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    name = results["name"]
    images: list[str] = []

    def save(fig: Any, file: str) -> None:
        fig.tight_layout()
        fig.savefig(out_dir / file, dpi=90)
        plt.close(fig)
        images.append(file)

    def finish_bars(ax: Any, ticks: list[str], ylabel: str, title: str) -> None:
        ax.set_xticks(range(len(ticks)), ticks)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8)

    for model, lat in (results.get("latency") or {}).items():
        if not lat:
            continue
        rows = [r for r in lat["requests"] if r["source"] == "model" and r["client"] == "answered"
                and r["tokens_evaluated"] is not None]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
        for key, label in (("e2e_ms", "ours (end to end)"), ("floor_ms", "floor"),
                           ("no_reuse_ms", "no KV reuse"), ("llama_server_ms", "llama.cpp server")):
            values = sorted(r[key] for r in rows if r.get(key) is not None)
            if values:
                ax1.plot(values, [(i + 1) / len(values) for i in range(len(values))], label=f"{label} (n={len(values)})")
        ax1.set_xscale("log")
        ax1.set_xlabel("latency per model-answered request (ms, log)")
        ax1.set_ylabel("fraction of requests")
        ax1.set_title(f"{model}: latency CDF")
        ax1.legend(fontsize=8)
        ax1.grid(alpha=0.3)
        xs = list(range(len(rows)))
        ax2.bar(xs, [r["tokens_reused"] for r in rows], label="reused", color="#9ecae1")
        ax2.bar(xs, [r["tokens_evaluated"] for r in rows], bottom=[r["tokens_reused"] for r in rows],
                label="evaluated", color="#e6550d")
        ax2.set_xlabel("model-answered request, in typing order")
        ax2.set_ylabel("prompt tokens")
        ax2.set_title("prompt tokens per request")
        ax2.legend(fontsize=8)
        save(fig, f"{name}-latency-{model}.png")
    ctx = results.get("context")
    if ctx:
        rec = ctx["recall"]
        fig, ax = plt.subplots(figsize=(6.5, 4))
        width = 0.27
        for i, (kind, label) in enumerate((("ours", "ours"), ("similarity", "similarity only"),
                                           ("in_file", "in-file only"))):
            vals = [rec["recall"][kind][str(b)] or 0 for b in rec["budgets"]]
            ax.bar([j + (i - 1) * width for j in range(len(vals))], vals, width, label=label)
        finish_bars(ax, [f"{b} tokens" for b in rec["budgets"]], "recall of the callee's definition",
                    f"cross-file recall, {rec['sites']} call sites")
        save(fig, f"{name}-context-recall.png")
    he = results.get("humaneval")
    if he and he.get("ours"):
        fig, ax = plt.subplots(figsize=(6.5, 4))
        modes = ["line", "block", "all"]
        ours = he.get("ours_on_same_tasks") or he["ours"]
        for i, (agg, label) in enumerate(((ours, "ours"), (he.get("llama_server"), "llama.cpp server"))):
            if not agg:
                continue
            ax.bar([j + (i - 0.5) * 0.38 for j in range(3)], [agg[m]["pass@1"] or 0 for m in modes], 0.38, label=label)
        finish_bars(ax, modes, "pass@1", f"HumanEval infilling, {he['model']}")
        save(fig, f"{name}-humaneval.png")
    return images
