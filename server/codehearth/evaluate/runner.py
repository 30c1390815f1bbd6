"""Running the tasks through the real completion service, one model loaded at a time.

Each model gets an ``Assistant`` built as the language server builds it (settings, engine factory, workspace index,
context builder, prompt layout, budget, post-processing), then every task is a document opened with the hidden text
taken out, one completion request at the cursor, and the document closed again, as an editor would do it. The
service answers by the budget's deadline; the generation it left running is cancelled and waited for before the next
task, so one task's tail never delays the next one, and the engine's counters then hold that request's tokens.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from codehearth.app import Assistant, EngineFactory, make_engine
from codehearth.complete.service import CompletionService
from codehearth.config import Settings
from codehearth.engine.base import Engine, EngineCounters
from codehearth.evaluate import memory
from codehearth.evaluate.scoring import TaskResult, result_key, score
from codehearth.evaluate.store import ModelRun, ResultStore
from codehearth.evaluate.tasks import Task, read_source

log = logging.getLogger(__name__)



class StopEval(Exception):
    """Raised by a result hook to stop the run as Ctrl-C would (tests use it to interrupt after k tasks)."""


@dataclass
class RunOutcome:
    ran: int = 0  # tasks answered in this run
    skipped: int = 0  # tasks found in the store from an earlier run
    interrupted: bool = False
    errors: dict[str, str] = field(default_factory=dict)  # model -> why it could not run


def settings_for_model(base: Settings, model: str) -> Settings:
    """The settings with one model swapped in: the embedded model's id or path, or the remote server's model name."""
    if base.engine.kind == "embedded":
        return msgspec.structs.replace(base, model=model)
    return msgspec.structs.replace(base, model=model, engine=msgspec.structs.replace(base.engine, model=model))


class _Progress:
    """A tqdm bar with an ETA on stderr; silent when tqdm is missing or the caller wants no bar."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar: Any = None
        if enabled and total:
            try:
                import sys

                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="task", file=sys.stderr, dynamic_ncols=True)
            except ImportError:  # pragma: no cover - tqdm is a dependency
                self.bar = None

    def describe(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description(text)

    def step(self, row: TaskResult) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{row.latency_ms:.0f} ms {'✓' if row.exact else ''}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_eval(
    root: Path,
    tasks: Sequence[Task],
    models: Sequence[str],
    budgets: Sequence[int],
    store: ResultStore,
    base_settings: Settings,
    engine_factory: EngineFactory = make_engine,
    data_dir: Path | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
    progress: bool = True,
) -> RunOutcome:
    """Answer every (model, budget, task) not yet in the store; Ctrl-C (or StopEval) keeps what finished."""
    outcome = RunOutcome()
    sources = {t.path: read_source(root / t.path) for t in tasks}
    plan: dict[str, list[tuple[int, Task]]] = {}
    for model in models:
        todo = [(b, t) for b in budgets for t in tasks if not store.has(result_key(model, b, t.id))]
        outcome.skipped += len(budgets) * len(tasks) - len(todo)
        plan[model] = todo
    bar = _Progress(sum(len(v) for v in plan.values()), progress)
    try:
        for model in models:
            if not plan[model]:
                continue
            bar.describe(f"{model} loading")
            try:
                _run_model(root, model, plan[model], sources, store, base_settings, engine_factory,
                                          data_dir, on_result, bar, outcome)
            except (KeyboardInterrupt, StopEval):
                outcome.interrupted = True
                break
    finally:
        bar.close()
    return outcome


def _run_model(
    root: Path,
    model: str,
    items: list[tuple[int, Task]],
    sources: dict[str, str],
    store: ResultStore,
    base_settings: Settings,
    engine_factory: EngineFactory,
    data_dir: Path | None,
    on_result: Callable[[TaskResult], None] | None,
    bar: _Progress,
    outcome: RunOutcome,
) -> None:
    settings = settings_for_model(base_settings, model)
    assistant = Assistant(roots=[root], settings=settings, engine_factory=engine_factory, data_dir=data_dir)
    assistant.apply_settings(settings)
    memory.reset_peak()
    engine: Engine | None = None
    load_ms: float | None = None
    try:  # Ctrl-C while loading or indexing still unloads the model and records what was measured
        started = time.monotonic()
        engine = assistant.load_engine()
        load_ms = round((time.monotonic() - started) * 1000, 1)
        if engine is None:
            outcome.errors[model] = assistant.engine_error
            store.add_model(ModelRun(model=model, error=assistant.engine_error))
            return
        assistant.start_index().result()
        worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="eval-complete")
        assistant.completions.close()

        def answered(row: TaskResult) -> None:
            store.add(row)
            outcome.ran += 1
            bar.step(row)
            if on_result is not None:
                on_result(row)

        asyncio.run(_answer_all(assistant, engine, worker, model, items, sources, answered, bar))
    finally:
        if engine is not None:
            store.add_model(ModelRun(model=model, load_ms=load_ms, peak_rss_mb=memory.peak_rss_mb(),
                                     name=engine.info.name, fim=engine.info.fim_style))
        assistant.shutdown()


async def _answer_all(
    assistant: Assistant,
    engine: Engine,
    worker: concurrent.futures.Executor,
    model: str,
    items: list[tuple[int, Task]],
    sources: dict[str, str],
    answered: Callable[[TaskResult], None],
    bar: _Progress,
) -> None:
    root = assistant.roots[0]
    current_budget = -1
    for version, (budget, task) in enumerate(items, 1):
        if budget != current_budget:
            # The service as app.py builds it, with a worker we can wait on between tasks; a fresh one per budget
            # so that its cache of finished answers never serves a task again at another budget.
            assistant.settings.latency_budget_ms = budget
            assistant.completions = CompletionService(assistant.settings, assistant.builder, assistant.engine,
                                                      worker)
            current_budget = budget
            bar.describe(f"{model} @{budget} ms")
        masked = task.masked_text(sources[task.path])
        uri = (root / task.path).as_uri()
        doc = assistant.open_document(uri, masked, version=version)
        before = _snapshot(engine.counters)
        try:
            suggestion = await assistant.completions.complete(doc, task.point(masked))
        finally:
            assistant.close_document(uri)  # cancels what is still generating for it
            await asyncio.wrap_future(worker.submit(lambda: None))
        used = _delta(before, engine.counters)
        shown, useful, exact = score(suggestion.text, task.hidden, suggestion.latency_ms, budget)
        answered(TaskResult(
            key=result_key(model, budget, task.id), model=model, budget_ms=budget, task_id=task.id,
            kind=task.kind, language=task.language, suggestion=suggestion.text,
            latency_ms=round(suggestion.latency_ms, 1), shown=shown, useful_chars=useful, exact=exact,
            hidden_chars=len(task.hidden), source=suggestion.source, reason=suggestion.reason,
            tokens_evaluated=used.tokens_evaluated, tokens_generated=used.tokens_generated,
            prefill_ms=round(used.prefill_ms, 1), decode_ms=round(used.decode_ms, 1),
        ))


def _snapshot(c: EngineCounters) -> EngineCounters:
    return msgspec.structs.replace(c)


def _delta(before: EngineCounters, after: EngineCounters) -> EngineCounters:
    return EngineCounters(
        calls=after.calls - before.calls,
        tokens_evaluated=after.tokens_evaluated - before.tokens_evaluated,
        tokens_reused=after.tokens_reused - before.tokens_reused,
        tokens_generated=after.tokens_generated - before.tokens_generated,
        prefill_ms=after.prefill_ms - before.prefill_ms,
        decode_ms=after.decode_ms - before.decode_ms,
    )
