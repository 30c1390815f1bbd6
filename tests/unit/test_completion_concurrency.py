"""The completion service under overlapping events, with a fake engine: a reload during a request (S1), a document
closed while its prompt is built (S2), a stuck planning job, background tasks kept until done."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from tests.fakes import CachingFakeEngine, FakeEngine

from codehearth.complete import background
from codehearth.complete.service import CompletionService
from codehearth.config import ContextSettings, Settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.engine.base import EngineUnavailable, GenerationResult

URI = "file:///t/double.py"
SOURCE = "def double(x):\n    return "
END = Point(1, 11)


def service(engine: Any, budget_ms: int = 2000) -> CompletionService:
    settings = Settings(latency_budget_ms=budget_ms, keep_generating_ms=0)
    builder = ContextBuilder(None, ContextSettings(), lambda s: len(s) // 3 + 1)
    return CompletionService(settings, builder, lambda: engine)


def hold_planning(svc: CompletionService, times: int = 1) -> tuple[threading.Event, threading.Event]:
    """The next ``times`` prompt preparations wait for ``release``; ``started`` is set when the first begins."""
    started, release = threading.Event(), threading.Event()
    real = svc._prepare
    left = [times]

    def prepare(*args: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            started.set()
            release.wait(30)
        return real(*args)

    svc._prepare = prepare  # type: ignore[method-assign]
    return started, release


async def test_a_document_closed_while_its_prompt_is_built_gets_nothing() -> None:
    engine = FakeEngine(["x * 2\n"])
    svc = service(engine)
    started, release = hold_planning(svc)
    request = asyncio.ensure_future(svc.complete(Document(URI, SOURCE, "python"), END))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
    svc.forget(URI)  # didClose while the planning thread builds the prompt
    release.set()
    answer = await request
    assert (answer.text, answer.source) == ("", "superseded")
    assert engine.calls == 0  # no generation started for a closed document
    assert URI not in svc._seq  # forget() prunes the per-document counter


async def test_an_answer_is_not_sent_for_a_document_closed_while_it_generated() -> None:
    engine = FakeEngine(["x * 2 and a long tail\n"], token_seconds=0.02)
    svc = service(engine, budget_ms=3000)
    request = asyncio.ensure_future(svc.complete(Document(URI, SOURCE, "python"), END))
    while engine.calls == 0:
        await asyncio.sleep(0.01)
    svc.forget(URI)
    answer = await request
    assert (answer.text, answer.source) == ("", "superseded")


async def test_a_prefill_that_fails_because_the_model_was_unloaded_is_no_plan_not_an_error() -> None:
    svc = service(CachingFakeEngine(["x * 2\n"]))
    loop = asyncio.get_running_loop()
    for exc in (EngineUnavailable("the model was unloaded"), EngineUnavailable("prompt of 370 tokens does not fit")):
        prefill: asyncio.Future[GenerationResult] = loop.create_future()
        prefill.set_exception(exc)
        replanned = await svc._after_prefill(prefill, svc._engine(), None, loop.time() + 1.0)  # type: ignore[arg-type]
        assert replanned is None


async def test_a_stuck_planning_job_does_not_hold_up_the_next_request() -> None:
    engine = FakeEngine(["x * 2\n", "x + x\n"])
    svc = service(engine, budget_ms=300)
    started, release = hold_planning(svc)
    doc = Document(URI, SOURCE, "python")
    first = await svc.complete(doc, END)
    assert (first.text, first.reason) == ("", "deadline while building the prompt")
    assert started.is_set() and not release.is_set()  # the first job is still stuck on the old planning thread
    second = await svc.complete(doc, END)
    assert (second.text, second.source) == ("x * 2", "model")
    assert svc.planners_replaced == 1
    release.set()
    svc.close()


async def test_background_tasks_are_kept_until_done() -> None:
    engine = CachingFakeEngine(["x * 2\n", "\n"])
    svc = service(engine)
    doc = Document(URI, SOURCE, "python")
    svc.background.prefetch(doc, END, "x * 2")
    tasks = set(svc.background._tasks)
    assert len(tasks) == 1
    await asyncio.gather(*tasks)
    assert svc.background._tasks == set()


async def test_a_failing_background_task_is_logged_with_its_traceback(caplog: Any) -> None:
    svc = service(CachingFakeEngine([]))

    async def broken() -> None:
        raise ZeroDivisionError("boom")

    svc.background._spawn(asyncio.get_running_loop(), broken())
    await asyncio.sleep(0.01)
    records = [r for r in caplog.records if r.getMessage() == "background work failed: boom"]
    assert len(records) == 1 and records[0].exc_info is not None
    assert svc.background._tasks == set()


async def test_background_prompts_failing_on_an_unloaded_model_end_quietly(caplog: Any) -> None:
    # Found by the stress: a reload unloads the model while the planning thread builds a background prompt.
    engine = CachingFakeEngine(["x * 2\n"])

    def unloaded(*args: Any, **kwargs: Any) -> Any:
        raise EngineUnavailable("the model was unloaded")

    engine.prompt_cost = unloaded  # type: ignore[method-assign]
    engine.tokenize = unloaded  # type: ignore[method-assign]
    svc = service(engine)
    doc = Document(URI, SOURCE, "python")
    await svc.background._paused(doc, END)
    svc._seq[URI] = 1  # the prefetch's request is the newest for its document
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(background, "prompt_pieces", unloaded)  # tokenizing the prompt with the unloaded model
        await svc.background._prefetch(engine, doc.snapshot(), END, "x * 2", 0)
    assert svc.stats.prepares == 0 and svc.stats.prefetches == 0
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
