"""Command line: serve, complete, explain, context, index, models, doctor, settings-schema, eval."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from codehearth import __version__
from codehearth.config import Settings, cache_dir, merge_settings
from codehearth.models.registry import ModelError, Registry, describe, models_dir

log = logging.getLogger("codehearth.cli")


def _out(text: str = "", stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(text + "\n")
    (stream or sys.stdout).flush()


def _location(spec: str, want_col: bool) -> tuple[Path, int, int]:
    """FILE:LINE[:COL], 1-based as compilers print them."""
    parts = spec.rsplit(":", 2 if want_col else 1)
    try:
        if want_col:
            if len(parts) != 3:
                raise ValueError
            return Path(parts[0]), int(parts[1]), int(parts[2])
        return Path(parts[0]), int(parts[1]), 1
    except ValueError:
        raise SystemExit(f"codehearth: expected FILE:LINE{':COL' if want_col else ''}, got {spec!r}") from None


def _settings(args: argparse.Namespace, root: Path) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "model", None):
        overrides["model"] = args.model
    if getattr(args, "gpu_layers", None) is not None:
        overrides["engine"] = {"nGpuLayers": args.gpu_layers}
    settings, problems = merge_settings([root], overrides)
    for problem in problems:
        _out(f"codehearth: {problem}", sys.stderr)
    return settings


def _read_source(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SystemExit(f"codehearth: cannot read {path}: {exc.strerror}") from None
    if b"\x00" in data[:8192]:
        raise SystemExit(f"codehearth: {path} looks like a binary file")
    return data.decode("utf-8", errors="replace")


def _assistant(settings: Settings, root: Path) -> Any:
    from codehearth.app import Assistant

    assistant = Assistant(roots=[root], settings=settings)
    assistant.apply_settings(settings)
    if assistant.load_engine() is None:
        raise SystemExit(f"codehearth: {assistant.engine_error}")
    return assistant


def _doc_and_point(assistant: Any, path: Path, line: int, col: int) -> tuple[Any, Any]:
    from codehearth.context.document import Point

    doc = assistant.open_document(path.resolve().as_uri(), _read_source(path))
    row = min(max(line - 1, 0), max(doc.line_count - 1, 0))
    text = doc.line(row)
    char = min(max(col - 1, 0), len(text))
    return doc, Point(row, len(text[:char].encode("utf-8")))


def cmd_complete(args: argparse.Namespace) -> int:
    from codehearth.engine.base import token_counts

    path, line, col = _location(args.location, want_col=True)
    root = _root_for(path)
    settings = _settings(args, root)
    settings.latency_budget_ms = args.budget_ms
    assistant = _assistant(settings, root)
    doc, point = _doc_and_point(assistant, path, line, col)
    started = time.monotonic()
    suggestion = asyncio.run(assistant.completions.complete(doc, point))
    total = (time.monotonic() - started) * 1000
    t = suggestion.timings
    timings = {
        "totalMs": round(total, 1),
        "promptTokens": t.prompt_tokens if t else 0,
        **token_counts(t),
        "source": suggestion.source,
    }
    if args.json:
        _out(json.dumps({"text": suggestion.text, "timings": timings}))
    else:
        _out(suggestion.text if suggestion.text else f"(no suggestion: {suggestion.reason or 'empty'})")
        _out(" ".join(f"{k}={v}" for k, v in timings.items()), sys.stderr)
    assistant.shutdown()
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from codehearth.explain.service import ExplainError

    path, line, _ = _location(args.location, want_col=False)
    root = _root_for(path)
    settings = _settings(args, root)
    assistant = _assistant(settings, root)
    doc, point = _doc_and_point(assistant, path, line, 1)
    # Put the point on the line's first non-blank character, inside the function's body or header.
    text = doc.line(point.row)
    point = type(point)(point.row, len(text) - len(text.lstrip()))

    def show(delta: str) -> None:
        sys.stdout.write(delta)
        sys.stdout.flush()

    try:
        result = asyncio.run(assistant.explanations.explain(doc, point, on_chunk=show))
    except ExplainError as exc:
        _out(f"codehearth: {exc}", sys.stderr)
        return 1
    finally:
        assistant.shutdown()
    _out()
    rate = result.chunks / (result.total_ms / 1000) if result.total_ms else 0.0
    _out(
        f"function={result.function} cached={result.cached} firstChunkMs={result.first_chunk_ms:.0f} "
        f"totalMs={result.total_ms:.0f} chunks={result.chunks} chunksPerSecond={rate:.1f}",
        sys.stderr,
    )
    return 0


def cmd_context(args: argparse.Namespace) -> int:
    from codehearth.context.commands import run_context

    path, line, col = _location(args.location, want_col=True)
    root = _root_for(path)
    settings = _settings(args, root)
    count = _token_counter(settings, args.model)
    return run_context(path, line, col, args.json, args.budget, settings.context, count, cache_dir() / "index",
                       sys.stdout)


def _token_counter(settings: Settings, model: str | None) -> Any:
    """The model's tokenizer when the model is available (vocab only, no weights), else an estimate."""
    try:
        from llama_cpp import Llama

        path = Registry(directory=models_dir(settings.model_dir)).resolve(model or settings.model_id())
        llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
        return lambda text: len(llm.tokenize(text.encode("utf-8"), add_bos=False)) if text else 0
    except (ModelError, ValueError, RuntimeError, OSError):
        _out("codehearth: model not available; counting tokens as characters / 3", sys.stderr)
        return lambda text: len(text) // 3 + (1 if text else 0)


def cmd_index(args: argparse.Namespace) -> int:
    from codehearth.context.commands import run_index

    root = Path(args.path).resolve()
    settings = _settings(args, root)
    return run_index(root, cache_dir() / "index", settings.context, sys.stdout)


def cmd_models(args: argparse.Namespace) -> int:
    registry = Registry(directory=models_dir(args.dir or ""))
    if args.action == "recommend":
        from codehearth.models.recommend import run

        return run(_settings(args, Path.cwd()), registry.directory, args.json, args.measure)
    try:
        if args.action == "list":
            rows = [describe(e, registry) for e in registry.entries()]
            if args.json:
                _out(json.dumps(rows, indent=2))
            else:
                default = registry.manifest.default
                for row in rows:
                    mark = "*" if row["id"] == default else " "
                    have = "downloaded" if row["present"] else "-"
                    _out(f"{mark} {row['id']:<30} {row['family']:<9} fim={row['fim']:<5} {have:<11} {row['use']}")
            return 0
        if not args.id:
            raise SystemExit("codehearth: models pull|path|verify need a model ID")
        if args.action == "path":
            _out(str(registry.path(args.id)))
            return 0
        if args.action == "verify":
            digest = registry.verify(args.id)
            _out(f"{args.id}: ok sha256={digest}")
            return 0
        path = _pull_with_progress(registry, args.id, args.force)
        _out(str(path))
        return 0
    except ModelError as exc:
        _out(f"codehearth: {exc}", sys.stderr)
        return 2


def _pull_with_progress(registry: Registry, model_id: str, force: bool) -> Path:
    from tqdm import tqdm

    entry = registry.entry(model_id)
    with tqdm(total=entry.size or None, unit="B", unit_scale=True, desc=entry.id, file=sys.stderr) as bar:
        last = 0

        def progress(done: int, total: int) -> None:
            nonlocal last
            bar.update(done - last)
            last = done

        return registry.pull(model_id, progress=progress, force=force)


def cmd_doctor(args: argparse.Namespace) -> int:
    from codehearth.engine.build_info import system_info
    from codehearth.feedback.recorder import store_path

    settings, problems = merge_settings([Path.cwd()])
    registry = Registry(directory=models_dir(settings.model_dir))
    report: dict[str, Any] = {
        "codehearth": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "llamaCpp": system_info(),
        "modelsDir": str(registry.directory),
        "cacheDir": str(cache_dir()),
        "acceptanceStats": f"{store_path(cache_dir())}{'' if settings.record_acceptance else ' (recording off)'}",
        "settingsProblems": [str(p) for p in problems],
    }
    from codehearth.models.recommend import choices_for_doctor, completion_model

    report["roles"] = choices_for_doctor(settings, registry)
    model: dict[str, Any] = {"id": completion_model(settings, registry)}
    try:
        from codehearth.engine.llama import LlamaEngine

        path = registry.resolve(model["id"])
        model["path"] = str(path)
        engine = LlamaEngine(path, settings.engine)
        info = engine.info
        model.update(name=info.name, family=info.family, architecture=info.architecture, fim=info.fim_style,
                     chatTemplate=bool(info.chat_template), repoTokens=info.file_sep is not None)
        # measured at load (or read back from the cache of this machine's calibrations)
        model["threads"] = engine.threads
        if engine.thread_trials:
            model["threadTrialsKeystrokeMs"] = engine.thread_trials
        if engine.speed is not None:
            report["speed"] = engine.speed.describe()
        engine.close()
    except ModelError as exc:
        model["error"] = str(exc)
    report["model"] = model
    if args.json:
        _out(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            if isinstance(value, dict):
                _out(f"{key}:")
                for k, v in value.items():
                    _out(f"  {k}: {v}")
            else:
                _out(f"{key}: {value}")
    return 0 if "error" not in model else 1


def cmd_stats(args: argparse.Namespace) -> int:
    from codehearth.feedback.commands import run_stats
    from codehearth.feedback.recorder import store_path

    return run_stats(store_path(cache_dir()), args.days, args.json, args.erase, sys.stdout)


def cmd_schema(args: argparse.Namespace) -> int:
    from codehearth.config import settings_schema

    _out(json.dumps(settings_schema(), indent=2))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from codehearth.lsp.server import serve
    from codehearth.memory import start_tracing_if_asked

    start_tracing_if_asked()  # before anything is allocated, so that growth is measured from the start

    return serve(tcp=args.tcp, allow_remote=args.allow_remote)


def cmd_demo(args: argparse.Namespace) -> int:
    from codehearth.demo import main as demo_main

    return demo_main(budget_ms=args.budget_ms)


def _root_for(path: Path) -> Path:
    """The workspace of a file: the nearest folder above it holding .git, else its own folder."""
    resolved = path.resolve()
    for parent in [resolved.parent, *resolved.parents]:
        if (parent / ".git").exists():
            return parent
    return resolved.parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codehearth", description="A local code assistant over LSP.")
    parser.add_argument("--version", action="version", version=f"codehearth {__version__}")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the language server (stdio by default)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio (loopback only by default)")
    p.add_argument("--allow-remote", action="store_true",
                   help="let --tcp listen beyond loopback; clients must then send $CODEHEARTH_TCP_TOKEN as "
                        "initializationOptions.tcpToken")
    p.add_argument("--stdio", action="store_true", help="use stdio (the default; accepted for editor configs)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("complete", help="complete at FILE:LINE:COL (1-based)")
    p.add_argument("location")
    p.add_argument("--model", help="model id or path to a .gguf file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--budget-ms", type=int, default=5000, help="latency budget (default 5000 ms)")
    p.add_argument("--gpu-layers", type=int)
    p.set_defaults(func=cmd_complete)

    p = sub.add_parser("explain", help="explain the function at FILE:LINE, streamed")
    p.add_argument("location")
    p.add_argument("--model")
    p.add_argument("--gpu-layers", type=int)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("context", help="show the prompt context assembled at FILE:LINE:COL")
    p.add_argument("location")
    p.add_argument("--json", action="store_true")
    p.add_argument("--budget", type=int)
    p.add_argument("--model")
    p.set_defaults(func=cmd_context)

    p = sub.add_parser("index", help="build or refresh the workspace index")
    p.add_argument("path", nargs="?", default=".")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("models", help="list, pull, locate, verify and recommend models")
    p.add_argument("action", choices=["list", "pull", "path", "verify", "recommend"])
    p.add_argument("id", nargs="?")
    p.add_argument("--json", action="store_true")
    p.add_argument("--force", action="store_true", help="pull again even if present")
    p.add_argument("--dir", help="models folder (default: CODEHEARTH_MODELS_DIR or the user cache)")
    p.add_argument("--measure", action="store_true", help="recommend: measure the downloaded models first")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("doctor", help="report the installation: Python, llama.cpp, GPU, model, caches")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("demo", help="a scripted editor session against the real server")
    p.add_argument("--budget-ms", type=int, default=None, help="latencyBudgetMs (default: the setting's default)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("stats", help="local acceptance statistics of the suggestions (kept on this machine only)")
    p.add_argument("--days", type=float, help="only the last N days (default: all)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--erase", action="store_true", help="delete every recorded suggestion")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("settings-schema", help="print the JSON schema of the settings")
    p.set_defaults(func=cmd_schema)

    from codehearth.evaluate.cli import add_parser as add_eval_parser

    add_eval_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The log gets its own duplicate of fd 2: llama-cpp-python points fd 2 at /dev/null while a model loads, and
    # lines other threads log meanwhile would vanish (codehearth.stdio).
    from codehearth.stdio import private_stderr

    logging.basicConfig(level=args.log_level.upper(), stream=private_stderr(), format="%(name)s: %(message)s")
    if args.command == "serve":
        logging.getLogger("codehearth").setLevel(logging.INFO)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
