"""An answer the budget cut short (nothing, or a glance, because the full prompt could not be read in time) gets the
full prompt's suggestion late: once the background prefill is done the service generates from it and calls the
request's ``on_late`` (the LSP layer turns it into ``codehearth/suggestionReady``); the client asks again at the same
place and gets it at once. Nothing is offered after the user moved on. Fake engine, exact counts, no clock."""

from __future__ import annotations

import asyncio
import threading

from tests.fakes import CachingFakeEngine
from tests.unit.test_adaptive_service import (
    BEHIND,
    END,
    LONG_END,
    LONG_SOURCE,
    SLOW,
    doc_with,
    hold_first_prefill_until_preempted,
    service,
    settle,
)

from codehearth.complete.service import CompletionService
from codehearth.context.document import Document, Point
from codehearth.engine.base import GenerationRequest, GenerationResult, Timings
from codehearth.engine.speed import SpeedFigures


async def background_done(svc: CompletionService) -> None:
    """Until every background task (prefill waits, late generations) has ended."""
    for _ in range(2000):
        if not svc.background._tasks:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{len(svc.background._tasks)} background tasks still running")


class Calls:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def blocked_prefill(engine: CachingFakeEngine) -> threading.Event:
    """The background prefill waits until the test lets it go on (it outlasts the request)."""
    release = threading.Event()
    engine.before_chunk = lambda request, index: release.wait(10)
    return release


async def asked_with_nothing_in_time(engine: CachingFakeEngine, **settings: object
                                     ) -> tuple[CompletionService, Document, threading.Event, Calls]:
    """A request at END answered with no plan while the prefill of its prompt is held (``release`` lets it go on)."""
    svc = service(engine, latency_budget_ms=300, prefetch_next=False, **settings)
    doc = doc_with()
    release = blocked_prefill(engine)
    ready = Calls()
    first = await svc.complete(doc, END, on_late=ready)
    assert (first.text, first.source) == ("", "no-plan") and ready.count == 0
    return svc, doc, release, ready


async def test_an_answer_that_fits_nothing_gets_the_full_prompts_suggestion_late() -> None:
    engine = CachingFakeEngine(["x * 2\n"], figures=SLOW)
    svc, doc, release, ready = await asked_with_nothing_in_time(engine)
    release.set()
    await background_done(svc)
    assert ready.count == 1
    assert [purpose for purpose, _, _ in engine.log] == ["prepare", "complete"]  # generated from the read prompt
    assert (svc.stats.late_started, svc.stats.late_ready) == (1, 1)
    # The client asks again at the same place: the suggestion is there, no new generation.
    again = await svc.complete(doc, END)
    assert (again.text, again.source) == ("x * 2", "in-flight")
    assert len(engine.log) == 2


async def test_a_glance_is_followed_by_the_full_prompts_suggestion() -> None:
    engine = CachingFakeEngine(["x * 2\n", "x + x\n"], figures=BEHIND, glance_tokens=256)
    svc = service(engine, prefetch_next=False)
    doc = doc_with(LONG_SOURCE)
    hold_first_prefill_until_preempted(engine)
    ready = Calls()
    first = await svc.complete(doc, LONG_END, on_late=ready)
    assert (first.text, first.plan) == ("x * 2", "glance")
    await background_done(svc)
    assert ready.count == 1
    assert [purpose for purpose, _, _ in engine.log] == ["prepare", "glance", "prepare", "complete"]
    again = await svc.complete(doc, LONG_END)
    assert (again.text, again.source) == ("x + x", "in-flight")


async def test_nothing_is_offered_after_an_edit() -> None:
    engine = CachingFakeEngine(["x * 2\n"], figures=SLOW)
    svc, doc, release, ready = await asked_with_nothing_in_time(engine, prepare_while_paused=False)
    doc.apply_edit(END, END, "y")  # the user typed on; no request yet
    release.set()
    await background_done(svc)
    assert ready.count == 0 and svc.stats.late_started == 0
    assert [purpose for purpose, _, _ in engine.log] == ["prepare"]


async def test_nothing_is_offered_after_a_newer_request() -> None:
    engine = CachingFakeEngine(["x * 2\n"], figures=SLOW)
    svc, doc, release, ready = await asked_with_nothing_in_time(engine)
    newer = asyncio.ensure_future(svc.complete(doc, Point(3, 4)))  # elsewhere: it preempts the prefill
    await asyncio.sleep(0.05)
    release.set()
    await newer
    await background_done(svc)
    assert ready.count == 0 and svc.stats.late_started == 0


async def test_a_late_suggestion_below_the_confidence_gate_is_not_offered() -> None:
    engine = CachingFakeEngine(["x * 2\n"], figures=SLOW)
    engine.default_logprob = -3.0  # the model is unsure of every token
    svc, _, release, ready = await asked_with_nothing_in_time(engine, min_confidence=-1.0)
    release.set()
    await background_done(svc)
    assert ready.count == 0
    assert (svc.stats.late_started, svc.stats.late_ready) == (1, 0)


async def test_the_setting_turns_it_off() -> None:
    engine = CachingFakeEngine(["x * 2\n"], figures=SLOW)
    svc, _, release, ready = await asked_with_nothing_in_time(engine, late_suggestions=False)
    release.set()
    await settle(svc, engine, 1)  # the prefill, which nothing waits for
    await background_done(svc)
    assert ready.count == 0 and [purpose for purpose, _, _ in engine.log] == ["prepare"]


async def test_an_answer_from_a_smaller_prompt_is_followed_by_the_full_prompts() -> None:
    # Only the smallest rung (the last lines above the cursor) can be read in 2 s; the engine has a second context
    # to read the full prompt in, behind the answer.
    figures = SpeedFigures(prompt_tokens_per_s=200.0, generated_tokens_per_s=1000.0, source="fixed")
    engine = CachingFakeEngine(["x * 2\n", "x + x\n"], figures=figures, second_context=True)
    svc = service(engine, glance_when_behind=False, prefetch_next=False)
    doc = doc_with(LONG_SOURCE)
    ready = Calls()
    first = await svc.complete(doc, LONG_END, on_late=ready)
    assert (first.text, first.plan) == ("x * 2", "smaller")
    await background_done(svc)
    assert ready.count == 1
    assert [purpose for purpose, _, _ in engine.log] == ["complete", "prepare", "complete"]
    again = await svc.complete(doc, LONG_END)
    assert (again.text, again.source) == ("x + x", "in-flight")


class CutByTheDeadline(CachingFakeEngine):
    """Streams part of a line, then holds until the test lets it finish: the deadline cuts it, it goes on."""

    def __init__(self) -> None:
        super().__init__(["value + other\n"])
        self.release = threading.Event()

    def generate(self, request: GenerationRequest) -> GenerationResult:
        assert request.on_text is not None
        request.on_text("value + oth")
        self.release.wait(10)
        return GenerationResult(text="value + other\n", stop_reason="eos", timings=Timings())


async def test_a_generation_the_deadline_cut_is_offered_whole_when_done() -> None:
    engine = CutByTheDeadline()
    svc = service(engine, latency_budget_ms=300, keep_generating_ms=5000, prefetch_next=False)
    doc = doc_with()
    ready = Calls()
    first = await svc.complete(doc, END, on_late=ready)
    assert first.text == "value +" and ready.count == 0  # the finished words, at the deadline
    engine.release.set()
    await background_done(svc)
    assert ready.count == 1 and svc.stats.late_ready == 1
    again = await svc.complete(doc, END)
    assert (again.text, again.source) == ("value + other", "in-flight")


async def test_a_streaming_client_gets_the_rest_in_chunks_not_an_offer() -> None:
    engine = CutByTheDeadline()
    svc = service(engine, latency_budget_ms=300, keep_generating_ms=5000, prefetch_next=False)
    chunks: list[tuple[str, str, bool]] = []
    svc.chunk_sink = lambda token, text, done: chunks.append((token, text, done))
    ready = Calls()
    first = await svc.complete(doc_with(), END, stream_token="t1", on_late=ready)
    assert first.text == "value +"
    engine.release.set()
    await background_done(svc)
    for _ in range(2000):  # the generation ends on the worker thread
        if chunks and chunks[-1][2]:
            break
        await asyncio.sleep(0.005)
    assert ready.count == 0 and chunks[-1] == ("t1", "value + other", True)
