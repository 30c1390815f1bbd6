"""One eval from start to end: mine the tasks, run the models, write the report (whatever finished)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codehearth.app import EngineFactory, make_engine
from codehearth.config import Settings, cache_dir
from codehearth.context.index import WorkspaceIndex
from codehearth.evaluate.plots import write_plots
from codehearth.evaluate.report import build_results, write_outputs
from codehearth.evaluate.runner import RunOutcome, run_eval
from codehearth.evaluate.scoring import TaskResult
from codehearth.evaluate.store import ResultStore
from codehearth.evaluate.tasks import KINDS, Task, TaskKind, mine_tasks
from codehearth.evaluate.weights import AcceptanceProfile, recommend


@dataclass
class EvalRun:
    tasks: list[Task]
    outcome: RunOutcome
    results: dict[str, Any]
    files: list[Path]
    plot_message: str


def default_out_dir(root: Path) -> Path:
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:8]
    return cache_dir() / "eval" / f"{root.resolve().name}-{digest}"


def collect_tasks(
    root: Path, settings: Settings, count: int, seed: int, data_dir: Path | None = None,
    kinds: Sequence[TaskKind] = KINDS,
) -> list[Task]:
    index = WorkspaceIndex([root], (data_dir or cache_dir()) / "index", settings.context)
    try:
        index.scan()
        return mine_tasks(index, count, seed, kinds)
    finally:
        index.close()


def evaluate(
    root: Path,
    models: Sequence[str],
    budgets: Sequence[int],
    count: int,
    seed: int,
    out: Path,
    settings: Settings,
    profile: AcceptanceProfile | None = None,
    engine_factory: EngineFactory = make_engine,
    data_dir: Path | None = None,
    kinds: Sequence[TaskKind] = KINDS,
    on_result: Callable[[TaskResult], None] | None = None,
    progress: bool = True,
    on_tasks: Callable[[list[Task]], None] | None = None,
) -> EvalRun:
    root = root.resolve()
    tasks = collect_tasks(root, settings, count, seed, data_dir, kinds)
    if on_tasks is not None:
        on_tasks(tasks)
    store = ResultStore(out)
    try:
        outcome = run_eval(root, tasks, models, budgets, store, settings, engine_factory, data_dir, on_result,
                           progress)
        complete = not outcome.interrupted
        results = build_results(root, tasks, models, budgets, store, seed, complete,
                                context_tokens=settings.context.budget_tokens)
    finally:
        store.close()
    if profile is not None:
        results["from_stats"] = recommend(results["results"], profile)
    plots, message = write_plots(results, out)
    files = write_outputs(results, out, plots, note=message)
    return EvalRun(tasks, outcome, results, [*files, *(Path(p) for p in plots)], message)
