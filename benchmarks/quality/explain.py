"""Explanation quality and speed of each available instruct model, through the real server over stdio.

    python -m benchmarks.quality.explain [--functions 30] [--models a,b] [--box-s 1800] [--out benchmarks/results]

30 functions and methods of CPython's ``ipaddress`` module (used by no test and no other benchmark; Google-style
docstrings that describe the parameters and the result), selected by a fixed rule (``explain_tasks``), have their
docstrings removed; the stripped module is the only file of a fresh workspace. For each instruct model the
registry offers for explanations and finds present, one ``codehearth serve`` (a private cache, so no explanation
comes from the disk cache; ``completionModel`` and ``explanationModel`` set to that model, no background completion
work) is driven as an editor drives it: open the file, run ``codehearth.explain`` at the first statement of each
function in turn and collect the ``codehearth/explainChunk`` notifications. Reported per model: time to first
chunk, chunks/s and tokens/s while streaming, total time, and the faithfulness checks of ``faithfulness``.
Writes ``explain.json`` and ``explain.md`` (``explain-smoke.*`` with fewer than 30 functions).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from benchmarks.common import (
    ROOT,
    STDLIB,
    add_allow_dirty,
    begin_results,
    machine_info,
    pct,
    write_results_file,
)
from benchmarks.quality.explain_tasks import MIN_CODE_LINES, Task, build_tasks
from benchmarks.quality.faithfulness import Check, check, known_words, summarize

MODULE = "ipaddress.py"
FUNCTIONS = 30
BOX_S = 1800.0  # per model; a model that runs out of time answers fewer functions and says so
EXPLAIN_TIMEOUT_S = 600.0
SERVER = [sys.executable, "-m", "codehearth", "serve"]


def available_models() -> list[str]:
    """Instruct models the manifest offers for explanations whose files are present."""
    from codehearth.models.registry import Registry

    registry = Registry()
    return [e.id for e in registry.entries()
            if e.kind == "instruct" and "explanation" in e.quality and registry.is_present(e.id)]


def _get(params: Any, key: str) -> Any:
    return params.get(key) if isinstance(params, dict) else getattr(params, key, None)


def stats_requester(client: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    """Ignores the client's codehearth/status notifications and returns a codehearth/stats request (its keys as
    the server wrote them once keep_raw_results is on); both explanation benchmarks drive the server this way."""
    from benchmarks.latency.lsp_driver import to_dict

    @client.feature("codehearth/status")
    def _status(params: Any) -> None:
        pass

    async def stats() -> dict[str, Any]:
        return dict(to_dict(await client.protocol.send_request_async("codehearth/stats", None)))

    return stats


async def initialize(client: Any, workspace: Path, settings: dict[str, Any]) -> None:
    """initialize and initialized as VS Code would, without work-done progress, on one workspace folder."""
    from lsprotocol import types
    from pytest_lsp import client_capabilities

    caps = client_capabilities("visual-studio-code")
    caps.window.work_done_progress = False  # type: ignore[union-attr]
    params = types.InitializeParams(
        capabilities=caps, process_id=os.getpid(), root_uri=workspace.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")],
        initialization_options=settings)
    client.capabilities = params.capabilities
    await client.initialize_async(params)
    client.initialized(types.InitializedParams())


def measure(sent: float, answered: float, chunks: list[tuple[float, str]], tokens: int | None) -> dict[str, Any]:
    """Timings of one explanation from the client's clock: the non-empty chunks and when they arrived."""
    times = [t for t, text in chunks if text]
    first = times[0] if times else None
    stream_s = (times[-1] - times[0]) if len(times) > 1 else 0.0
    return {
        "first_chunk_ms": round((first - sent) * 1000, 1) if first is not None else None,
        "total_ms": round((answered - sent) * 1000, 1),
        "chunks": len(times),
        "tokens": tokens,
        "stream_s": round(stream_s, 3),
    }


def speed_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Percentiles of first chunk and total time; rates while streaming as (n - 1) over the time from the first chunk
    to the last, summed over explanations (the first chunk is the end of the wait, not part of the stream)."""
    ok = [r for r in records if r.get("error") is None]
    streamed = [r for r in ok if r["chunks"] > 1 and r["stream_s"] > 0]
    stream_s = sum(r["stream_s"] for r in streamed)
    with_tokens = [r for r in streamed if r["tokens"]]
    token_s = sum(r["stream_s"] for r in with_tokens)
    firsts = [r["first_chunk_ms"] for r in ok if r["first_chunk_ms"] is not None]
    totals = [r["total_ms"] for r in ok]
    return {
        "answered": len(ok),
        "errors": len(records) - len(ok),
        "first_chunk_ms": {"p50": pct(firsts, 0.5), "p95": pct(firsts, 0.95)},
        "total_ms": {"p50": pct(totals, 0.5), "p95": pct(totals, 0.95)},
        "total_s": round(sum(totals) / 1000, 1),
        "chunks_per_s": round(sum(r["chunks"] - 1 for r in streamed) / stream_s, 2) if stream_s else None,
        "tokens_per_s": round(sum(r["tokens"] - 1 for r in with_tokens) / token_s, 2) if token_s else None,
        "chunks_mean": round(sum(r["chunks"] for r in ok) / len(ok), 1) if ok else None,
        "tokens_mean": round(sum(r["tokens"] for r in ok if r["tokens"]) / len(ok), 1) if ok else None,
        "prompt_tokens_evaluated_p50": pct([r["tokens_evaluated"] for r in ok if "tokens_evaluated" in r], 0.5),
    }


async def explain_model(model: str, stripped: str, tasks: list[Task], known: set[str], work: Path,
                        box_s: float) -> dict[str, Any]:
    from lsprotocol import types
    from pytest_lsp import ClientServerConfig, LanguageClient

    from benchmarks.latency.lsp_driver import keep_raw_results
    from benchmarks.reliability.client import server_env

    workspace = work / "ws"
    workspace.mkdir(parents=True, exist_ok=True)
    path = workspace / MODULE
    path.write_text(stripped, encoding="utf-8")
    uri = path.as_uri()
    cache = work / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    config = ClientServerConfig(server_command=SERVER, server_env=server_env(cache))
    client = cast(LanguageClient, await config.start())  # its default client factory
    keep_raw_results(client)  # codehearth/stats with its keys as the server wrote them
    chunks: dict[str, list[tuple[float, str]]] = {}

    @client.feature("codehearth/explainChunk")
    def _chunk(params: Any) -> None:
        chunks.setdefault(str(_get(params, "id")), []).append((time.monotonic(), str(_get(params, "text") or "")))

    stats = stats_requester(client)

    records: list[dict[str, Any]] = []
    checks: list[Check] = []
    stopped_by_box = False
    load_s: float | None = None
    served_by: Any = None
    try:
        t0 = time.monotonic()
        # The explanation alone: no prefill of completion prompts beside it.
        await initialize(client, workspace, {"completionModel": model, "explanationModel": model,
                                             "prepareWhilePaused": False, "prefetchNext": False})
        state: dict[str, Any] = {}
        while time.monotonic() < t0 + 600:
            state = await stats()
            if state["state"] in ("ready", "error"):
                break
            await asyncio.sleep(0.2)
        if state.get("state") != "ready":
            raise RuntimeError(f"{model} did not load: {state.get('error')}")
        load_s = round(time.monotonic() - t0, 1)
        served_by = (state.get("models") or {}).get("explanation")
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=1, text=stripped)))
        started = time.monotonic()
        for n, task in enumerate(tasks):
            if time.monotonic() - started > box_s:
                stopped_by_box = True
                break
            stream_id = f"f{n}"
            before = await stats()
            sent = time.monotonic()
            record: dict[str, Any] = {"function": task.qualname, "params": task.params}
            try:
                result = await asyncio.wait_for(client.workspace_execute_command_async(types.ExecuteCommandParams(
                    command="codehearth.explain",
                    arguments=[uri, {"line": task.line, "character": task.character}, {"id": stream_id}])),
                    EXPLAIN_TIMEOUT_S)
                answered = time.monotonic()
                await asyncio.sleep(0.05)  # the final (done) notification may trail the response
                after = await stats()
                text = str(_get(result, "text") or "")
                generated = after.get("tokensGenerated", 0) - before.get("tokensGenerated", 0)
                record.update(measure(sent, answered, chunks.get(stream_id, []), generated or None))
                # prompt tokens the model had to evaluate (the rest came from its KV cache): the wait before chunk 1
                record["tokens_evaluated"] = after.get("tokensEvaluated", 0) - before.get("tokensEvaluated", 0)
                record.update(cached=bool(_get(result, "cached")), error=None, text=text)
                outcome = check(text, task.params, task.returns_value, task.return_description,
                                task.returned_names, known, task.arity)
                checks.append(outcome)
                record["check"] = outcome.as_dict()
            except Exception as exc:  # one failed explanation is a result, not the end of the run
                record.update(error=f"{type(exc).__name__}: {exc}"[:300], total_ms=round(
                    (time.monotonic() - sent) * 1000, 1))
            records.append(record)
            print(json.dumps({"model": model, **{k: v for k, v in record.items() if k not in ("text", "params")}}),
                  flush=True)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_session(), 15)
        with contextlib.suppress(Exception):
            await client.stop()
    return {
        "model": model,
        "served_by": served_by,
        "load_s": load_s,
        "functions_asked": len(records),
        "stopped_by_box": stopped_by_box,
        "speed": speed_summary(records),
        "faithfulness": summarize(checks),
        "explanations": records,
    }


def run_explain(models: list[str] | None, functions: int, work: Path, box_s: float = BOX_S) -> dict[str, Any]:
    """Every model in turn, each in its own server; the results as one dictionary (also run.py's phase value)."""
    source = (STDLIB / MODULE).read_text(encoding="utf-8")
    stripped, tasks = build_tasks(source, functions)
    known = known_words(source)
    chosen = models if models is not None else available_models()
    results: dict[str, Any] = {
        "module": f"stdlib {MODULE} (Python {sys.version.split()[0]})",
        "selection": f"functions and methods in source order with a docstring, >=1 parameter besides self/cls, "
                     f"no dunder, >={MIN_CODE_LINES} code lines after the docstring; the first {functions}",
        "functions": [{"name": t.qualname, "params": t.params, "line": t.line + 1, "arity": list(t.arity),
                       "return_description": t.return_description, "returned_names": t.returned_names}
                      for t in tasks],
        "settings": {"completionModel": "<model>", "explanationModel": "<model>", "prepareWhilePaused": False,
                     "prefetchNext": False, "box_s_per_model": box_s},
        "models": {},
    }
    for model in chosen:
        results["models"][model] = asyncio.run(
            explain_model(model, stripped, tasks, known, work / model.replace("/", "_"), box_s))
    return results


def _v(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _share(value: Any) -> str:
    return "–" if value is None else f"{value:.0%}"


def markdown(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    out = [
        f"# Explanations: {len(results['functions'])} functions of {results['module']}",
        "",
        f"`{results.get('command', '')}` — {m.get('started_utc', '')}, commit `{m.get('git_commit', '')}`, "
        f"{m.get('cpu', '')}, {m.get('cores', '')} cores, load average at start {m.get('loadavg_start')}"
        + (f"; checks applied again {results['rescored_utc']}." if results.get("rescored_utc") else "."),
        "",
        "Faithful: the share of explanations that pass every check (all parameters named, the result described, "
        "no invented identifiers, no wrong parameter count; see benchmarks/README.md). Rates are measured while streaming (first chunk to "
        "last); times on the client's clock.",
        "",
        "| model | answered | faithful | all params named | params named (mean) | result described | "
        "no invented identifiers | no wrong parameter count | first chunk p50 / p95 (ms) | chunks/s | tokens/s | "
        "total p50 / p95 (s) | all (s) | load (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for model, r in results["models"].items():
        s, f = r["speed"], r["faithfulness"]
        total = s["total_ms"]
        out.append(
            f"| {model} | {s['answered']}/{len(results['functions'])}"
            f"{' (time box)' if r['stopped_by_box'] else ''} | {_share(f['faithful'])} | "
            f"{_share(f['all_params_named'])} | {_share(f['mean_param_share'])} | {_share(f['return_described'])} | "
            f"{_share(f['no_invented_identifiers'])} | {_share(f['no_wrong_parameter_count'])} | "
            f"{_v(s['first_chunk_ms']['p50'])} / "
            f"{_v(s['first_chunk_ms']['p95'])} | {_v(s['chunks_per_s'], 1)} | {_v(s['tokens_per_s'], 1)} | "
            f"{_v(total['p50'] and total['p50'] / 1000, 1)} / {_v(total['p95'] and total['p95'] / 1000, 1)} | "
            f"{_v(s['total_s'], 0)} | {_v(r['load_s'], 1)} |")
    for model, r in results["models"].items():
        out += ["", f"## {model}", "",
                "| function | params named | result | invented identifiers | wrong stated counts | first chunk (ms) | "
                "total (s) | tokens |",
                "|---|---|---|---|---|---:|---:|---:|"]
        for e in r["explanations"]:
            if e.get("error"):
                out.append(f"| `{e['function']}` | error: {e['error'][:80]} | | | | | | |")
                continue
            c = e["check"]
            ret = "n/a" if not c["return_applicable"] else ("yes" if c["return_described"] else "no")
            out.append(
                f"| `{e['function']}` | {len(c['params_named'])}/{len(c['params'])} | {ret} | "
                f"{', '.join(c['invented'][:6]) or '–'} | {', '.join(map(str, c['wrong_counts'])) or '–'} | "
                f"{_v(e['first_chunk_ms'], 0)} | "
                f"{_v(e['total_ms'] / 1000, 1)} | {_v(e['tokens'])} |")
    return "\n".join(out) + "\n"


def rescore(results: dict[str, Any]) -> dict[str, Any]:
    """The checks again on the saved explanations (after a change to the scoring; no model runs)."""
    source = (STDLIB / MODULE).read_text(encoding="utf-8")
    _, tasks = build_tasks(source, len(results["functions"]))
    by_name = {t.qualname: t for t in tasks}
    known = known_words(source)
    for r in results["models"].values():
        checks = []
        for e in r["explanations"]:
            task = by_name[e["function"]]
            if e.get("error") is None:
                outcome = check(e["text"], task.params, task.returns_value, task.return_description,
                                task.returned_names, known, task.arity)
                e["check"] = outcome.as_dict()
                checks.append(outcome)
        r["faithfulness"] = summarize(checks)
        r["speed"] = speed_summary(r["explanations"])
    results["functions"] = [{**f, "arity": list(by_name[f["name"]].arity)} for f in results["functions"]]
    results["rescored_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return results


def write(results: dict[str, Any], out_dir: Path, name: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_results_file(out_dir / f"{name}.json", results)
    write_results_file(out_dir / f"{name}.md", markdown(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--functions", type=int, default=FUNCTIONS, help="how many functions (a smoke: 3)")
    parser.add_argument("--models", default="", help="comma-separated model ids (default: every present one)")
    parser.add_argument("--box-s", type=float, default=BOX_S, help="time box per model, seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--rescore", type=Path, help="score a results file's saved explanations again and rewrite it")
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    begin_results(args.allow_dirty)
    if args.rescore is not None:
        results = rescore(json.loads(args.rescore.read_text()))
        write(results, args.rescore.parent, args.rescore.stem)
        print(json.dumps({m: r["faithfulness"] for m, r in results["models"].items()}, indent=1))
        return 0
    models = [m for m in args.models.split(",") if m] or None
    machine = machine_info()
    work = Path(tempfile.mkdtemp(prefix="codehearth-explain-"))
    t0 = time.monotonic()
    try:
        results = run_explain(models, args.functions, work, args.box_s)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = "python -m benchmarks.quality.explain" + " ".join(
        [""] + [f"--functions {args.functions}"] * (args.functions != FUNCTIONS)
        + [f"--models {args.models}"] * bool(args.models))
    machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results = {"name": "explain", "command": command, "machine": machine, "wall_s": round(time.monotonic() - t0, 1),
               **results}
    name = "explain" if args.functions >= FUNCTIONS else "explain-smoke"
    write(results, args.out, name)
    print(json.dumps({m: {"speed": r["speed"], "faithfulness": r["faithfulness"], "load_s": r["load_s"]}
                      for m, r in results["models"].items()}, indent=1))
    print(f"wrote {args.out / (name + '.json')} and {name}.md", flush=True)
    return 0 if all(r["speed"]["errors"] == 0 for r in results["models"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
