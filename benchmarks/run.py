"""Run the benchmarks and write the results: JSON, a markdown report and PNG plots.

    python -m benchmarks.run --smoke [--out DIR]     # CI: default model, a few requests and tasks (minutes)
    python -m benchmarks.run --full  [--out DIR]     # make bench: both models, the numbers of the README

Every phase is time-boxed (a phase that runs out of time takes fewer requests or tasks, spread over the run, and
says how many it did), so a loaded machine gives fewer samples, not a run that never ends.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    STDLIB,
    add_allow_dirty,
    begin_results,
    machine_info,
    provenance,
    write_results_file,
)

DEFAULT_MODEL = "smollm2-135m-instruct"
FIM_MODEL = "qwen2.5-coder-0.5b-instruct"

SMOKE: dict[str, Any] = {
    "latency_models": [DEFAULT_MODEL],
    "latency_files": [("textwrap.py", 125, 2)],
    "latency_boxes": {"floor_box_s": 30, "no_reuse_box_s": 20, "llama_box_s": 30},
    "latency_llama_server": True,
    "budget_ms": 5000,
    "context_packages": ["email", "json"],
    "context_max_sites": 10,
    "index_root": "email",
    "index_exclude": [],
    "quality_model": DEFAULT_MODEL,
    "he_line": 2, "he_block": 1, "he_box_s": 90, "he_baseline": True,
    "nextline_sites": 2, "nextline_box_s": 60, "nextline_packages": ["email"],
    "useful_models": [], "useful_budgets": [400, 1000, 3000], "useful_lines": 12,
}
FULL: dict[str, Any] = {
    "latency_models": [DEFAULT_MODEL, FIM_MODEL],
    "latency_files": [("textwrap.py", 125, 6), ("shlex.py", 108, 6), ("json/encoder.py", 191, 6)],
    "latency_boxes": {"floor_box_s": 75, "no_reuse_box_s": 90, "llama_box_s": 150},
    "latency_llama_server": True,
    "budget_ms": 5000,
    "context_packages": ["asyncio", "email", "multiprocessing", "distutils"],
    "context_max_sites": None,
    "index_root": "",  # the whole standard library, test/ included
    "index_exclude": [],
    "quality_model": FIM_MODEL,
    "he_line": 24, "he_block": 16, "he_box_s": 220, "he_baseline": True,
    "nextline_sites": 24, "nextline_box_s": 170, "nextline_packages": ["asyncio", "email", "multiprocessing"],
    # useful characters per keystroke at each budget, ours vs llama.cpp's llama-server (issue 11)
    "useful_models": [FIM_MODEL, DEFAULT_MODEL], "useful_budgets": [400, 1000, 3000], "useful_lines": 12,
    "fuzz_messages": 20_000,  # the protocol fuzz (issue 14); writes results/reliability.json
    # explanation quality and speed of every present instruct model (issue 12); writes results/explain.json + .md
    "explain_functions": 30, "explain_box_s": 1800,
    # what a person sees in a real Neovim, ours vs llama.vim (issue 21); writes results/editor.json + .md.
    # The real llama.vim row needs $LLAMA_VIM_DIR (a snapshot of ggml-org/llama.vim); its Python replica runs always.
    "editor": True,
}


def phase(results: dict[str, Any], name: str, fn: Callable[[], Any], out_dir: Path | None = None) -> Any:
    load_before = [round(x, 2) for x in os.getloadavg()]
    t0 = time.monotonic()
    print(f"== {name} (load {load_before})", flush=True)
    try:
        value = fn()
        error = None
    except Exception as exc:  # one phase failing must not lose the others; the error is in the results
        traceback.print_exc()
        value, error = None, f"{type(exc).__name__}: {exc}"
    results["phases"][name] = {"seconds": round(time.monotonic() - t0, 1), "load_before": load_before,
                               "load_after": [round(x, 2) for x in os.getloadavg()], "error": error}
    if out_dir is not None:  # partial results survive a later phase's crash or an interrupted run
        partial = out_dir / f"{results['name']}.partial.json"
        out_dir.mkdir(parents=True, exist_ok=True)
        write_results_file(partial, {**results, "partial_last_phase": name, "partial_value": value})
    return value


def run(mode: str, out_dir: Path, only: set[str] | None = None) -> dict[str, Any]:
    cfg = SMOKE if mode == "smoke" else FULL
    from codehearth.models.registry import Registry

    registry = Registry()
    for model in {*cfg["latency_models"], cfg["quality_model"]}:
        if not registry.is_present(model):
            print(f"pulling {model}", flush=True)
            registry.pull(model)
    results: dict[str, Any] = {
        "name": mode,
        "command": f"python -m benchmarks.run --{mode}",
        "machine": machine_info(),
        "config": {k: v for k, v in cfg.items()},
        "phases": {},
        "latency": {},
    }
    work = Path(tempfile.mkdtemp(prefix="codehearth-bench-"))
    started = time.monotonic()
    try:
        from benchmarks.context.bench import run_context
        from benchmarks.latency.bench import run_latency
        from benchmarks.quality.humaneval import run_humaneval
        from benchmarks.quality.nextline import run_nextline

        for model in cfg["latency_models"]:
            if only and "latency" not in only:
                break
            results["latency"][model] = phase(results, f"latency {model}", lambda m=model: run_latency(
                m, cfg["latency_files"], work / f"latency-{m}", budget_ms=cfg["budget_ms"],
                llama_server=cfg["latency_llama_server"], **cfg["latency_boxes"]), out_dir)
        if not only or "context" in only:
            index_root = STDLIB / cfg["index_root"] if cfg["index_root"] else STDLIB
            results["context"] = phase(results, "context", lambda: run_context(
                cfg["context_packages"], work / "context", cfg["context_max_sites"], index_root,
                cfg["index_exclude"]), out_dir)
        if not only or "quality" in only:
            results["humaneval"] = phase(results, "humaneval", lambda: run_humaneval(
                cfg["quality_model"], work / "humaneval", line_tasks=cfg["he_line"], block_tasks=cfg["he_block"],
                box_s=cfg["he_box_s"], budget_ms=20000, baseline=cfg["he_baseline"]), out_dir)
            results["nextline"] = phase(results, "nextline", lambda: run_nextline(
                cfg["quality_model"], cfg["nextline_packages"], cfg["nextline_sites"], work / "nextline",
                cfg["nextline_box_s"]), out_dir)
        if (not only or "useful" in only) and cfg["useful_models"]:
            from benchmarks.latency.useful import FILES, run_useful
            from benchmarks.latency.useful import markdown as useful_markdown

            files = [(f, s, cfg["useful_lines"]) for f, s, _ in FILES]
            useful = phase(results, "useful", lambda: run_useful(
                cfg["useful_models"], cfg["useful_budgets"], work / "useful", files), out_dir)
            if useful is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                write_results_file(out_dir / "useful.json", useful)
                write_results_file(out_dir / "useful.md", useful_markdown(useful))
        if cfg.get("fuzz_messages") and (not only or "reliability" in only):
            from benchmarks.reliability.fuzz import run_benchmark as run_fuzz_benchmark

            fuzz = phase(results, "reliability", lambda: run_fuzz_benchmark(cfg["fuzz_messages"], out_dir=out_dir),
                         out_dir)
            if fuzz is not None:
                results["reliability"] = {k: fuzz[k] for k in ("messages", "crashes", "unanswered", "internal_errors",
                                                               "duration_s", "problems")}
        if cfg.get("explain_functions") and (not only or "explain" in only):
            from benchmarks.quality.explain import markdown as explain_markdown
            from benchmarks.quality.explain import run_explain

            explained = phase(results, "explain", lambda: run_explain(
                None, cfg["explain_functions"], work / "explain", cfg["explain_box_s"]), out_dir)
            if explained is not None:
                full = {"name": "explain", "command": f"python -m benchmarks.run --{mode} --only explain",
                        "machine": results["machine"], **explained}
                out_dir.mkdir(parents=True, exist_ok=True)
                write_results_file(out_dir / "explain.json", full)
                write_results_file(out_dir / "explain.md", explain_markdown(full))
                results["explain"] = {model: {k: r[k] for k in ("load_s", "functions_asked", "stopped_by_box",
                                                                "speed", "faithfulness")}
                                      for model, r in explained["models"].items()}
        if cfg.get("editor") and (not only or "editor" in only):
            from benchmarks.editor.__main__ import main as editor_main

            llama_vim = os.environ.get("LLAMA_VIM_DIR")
            code = phase(results, "editor", lambda: editor_main(
                ["--out", str(out_dir), *(["--llama-vim", llama_vim] if llama_vim else []),
                 *(["--allow-dirty"] if provenance()["dirty"] else [])]), out_dir)
            results["editor"] = {"exit_code": code, "results": "editor.json"}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["wall_s"] = round(time.monotonic() - started, 1)
    (out_dir / f"{mode}.partial.json").unlink(missing_ok=True)
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    write(results, out_dir)
    return results


def write(results: dict[str, Any], out_dir: Path) -> None:
    from benchmarks.report import markdown, plots

    out_dir.mkdir(parents=True, exist_ok=True)
    name = results["name"]
    write_results_file(out_dir / f"{name}.json", results)
    images = plots(results, out_dir)
    text = markdown(results, images)
    write_results_file(out_dir / f"{name}.md", text)
    write_results_file(out_dir / "latest.md", text)
    print(f"wrote {out_dir / (name + '.json')}, {out_dir / 'latest.md'} and {len(images)} plots", flush=True)
    readme = ROOT / "benchmarks" / "README.md"
    default_out = (ROOT / "benchmarks" / "results").resolve()
    if name == "full" and out_dir.resolve() == default_out and readme.is_file():
        update_readme(readme, text)


def update_readme(readme: Path, report: str) -> None:
    """Put the latest full report (headings one level down, image paths into results/) into the README."""
    body = []
    for line in report.splitlines()[1:]:
        if line.startswith("#"):
            line = "#" + line
        line = line.replace("](full-", "](results/full-")
        body.append(line)
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    text = readme.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(head + start + "\n" + "\n".join(body).strip() + "\n" + end + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--smoke", action="store_true", help="a few requests and tasks, default model (CI)")
    group.add_argument("--full", action="store_true", help="both models, every benchmark (make bench)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--only", action="append", choices=["latency", "context", "quality", "useful", "reliability", "explain",
                                                   "editor"],
                        help="run only these parts (repeatable)")
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    begin_results(args.allow_dirty)
    mode = "full" if args.full else "smoke"
    results = run(mode, args.out, set(args.only) if args.only else None)
    failed = [name for name, p in results["phases"].items() if p["error"]]
    if failed:
        print(f"phases with errors: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
