"""``codehearth eval``: its arguments and its output on the terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from codehearth.config import merge_settings


def _csv_ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds like 1000,3000, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"budgets must be positive milliseconds, got {text!r}")
    return sorted(dict.fromkeys(values))


def _csv(text: str) -> list[str]:
    values = [x.strip() for x in text.split(",") if x.strip()]
    if not values:
        raise argparse.ArgumentTypeError("expected at least one model")
    return list(dict.fromkeys(values))


def _kinds(text: str) -> list[str]:
    from codehearth.evaluate.tasks import KINDS

    values = _csv(text)
    unknown = [v for v in values if v not in KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown task kind {unknown[0]!r} (known: {', '.join(KINDS)})")
    return values


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="compare models on this repository and machine",
        description="Mine completion tasks from a repository and run each model through codehearth's own "
        "completion path; writes report.md, results.json and plots, and resumes an interrupted run.",
    )
    p.add_argument("path", nargs="?", default=".", help="the repository (default: the current folder)")
    p.add_argument("--models", type=_csv, required=True, help="model ids or .gguf paths, comma-separated")
    p.add_argument("--budget-ms", type=_csv_ints, default=[1000], help="latency budgets, e.g. 500,1000,3000")
    p.add_argument("--tasks", type=int, default=40, help="how many tasks to mine (default 40)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kinds", type=_kinds, default=None,
                   help="task kinds to mine (default all: mid-line,line-start,block,cross-file)")
    p.add_argument("--out", help="folder for the report and the resumable results (default: the user cache)")
    p.add_argument("--from-stats", nargs="?", const="", default=None, metavar="FILE",
                   help="weight task kinds by your local acceptance statistics (default: the store in the user cache; "
                   "or a store file, or the JSON of `codehearth stats --json`)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def cmd_eval(args: argparse.Namespace) -> int:
    from codehearth.evaluate.pipeline import default_out_dir, evaluate
    from codehearth.evaluate.report import terminal_table
    from codehearth.evaluate.tasks import KINDS
    from codehearth.evaluate.weights import StatsError, load_profile

    root = Path(args.path).resolve()
    if not root.is_dir():
        _err(f"codehearth eval: {root} is not a folder")
        return 2
    if args.tasks <= 0:
        _err("codehearth eval: --tasks must be positive")
        return 2
    profile = None
    if args.from_stats is not None:
        try:
            profile = load_profile(Path(args.from_stats) if args.from_stats else None)
        except StatsError as exc:
            _err(f"codehearth eval: {exc}")
            return 2
    settings, problems = merge_settings([root])
    for problem in problems:
        _err(f"codehearth: {problem}")
    out = Path(args.out).resolve() if args.out else default_out_dir(root)

    def announce(tasks: list[Any]) -> None:
        _err(f"codehearth eval: {len(tasks)} tasks from {root}; results in {out}")

    run = evaluate(root, args.models, args.budget_ms, args.tasks, args.seed, out, settings, profile,
                   kinds=args.kinds or KINDS, progress=not args.no_progress, on_tasks=announce)
    if not run.tasks:
        _err(f"codehearth eval: no tasks found in {root} (no source files the index allows?)")
    sys.stdout.write(terminal_table(run.results) + "\n")
    rec = run.results.get("from_stats")
    if rec and rec.get("best"):
        sys.stdout.write(f"for you (--from-stats, {rec['budget_ms']} ms): {rec['best']}\n")
    for model, error in run.outcome.errors.items():
        _err(f"codehearth eval: {model} did not run: {error}")
    if run.plot_message:
        _err(f"codehearth eval: {run.plot_message}")
    _err(f"codehearth eval: wrote {', '.join(str(p) for p in run.files)}")
    if run.outcome.interrupted:
        _err("codehearth eval: interrupted; what finished is kept, run the same command again to resume")
        return 130
    return 1 if run.outcome.errors and len(run.outcome.errors) == len(args.models) else 0
