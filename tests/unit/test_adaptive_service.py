"""The completion service plans each request against the engine's speed, works while the user pauses and keeps
what a deadline cut: tested by token counts with a fake engine that keeps a KV cache (no wall-clock thresholds)."""

from __future__ import annotations

import asyncio
import threading
import time

from tests.fakes import CachingFakeEngine

from codehearth.complete.service import CompletionService
from codehearth.config import ContextSettings, Settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.engine.base import GenerationRequest, GenerationResult, Timings
from codehearth.engine.speed import SpeedFigures

SOURCE = "import os\n\n\ndef double(x):\n    return \n"
END = Point(4, 11)
# Slow enough that the fake's prompt (hundreds of one-character tokens) can never be prefilled in a 2 s budget,
# fast enough that a few new tokens and a suggestion fit easily.
SLOW = SpeedFigures(prompt_tokens_per_s=5.0, generated_tokens_per_s=1000.0, source="fixed")


def service(engine: CachingFakeEngine, **settings: object) -> CompletionService:
    values: dict[str, object] = {"latency_budget_ms": 2000, "keep_generating_ms": 0, "pause_ms": 10, **settings}
    builder = ContextBuilder(None, ContextSettings(), lambda s: len(s) // 3 + 1)
    return CompletionService(Settings(**values), builder, lambda: engine)  # type: ignore[arg-type]


def doc_with(text: str = SOURCE) -> Document:
    return Document("file:///t/double.py", text, "python")


async def settle(svc: CompletionService, engine: CachingFakeEngine, calls: int) -> None:
    """Until the engine has seen ``calls`` calls (background work runs on the service's worker thread)."""
    for _ in range(2000):
        if len(engine.log) >= calls:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"engine saw {len(engine.log)} calls, expected {calls}")


async def test_no_prefill_is_started_that_cannot_finish_and_the_prompt_is_prepared_instead() -> None:
    engine = CachingFakeEngine(["x * 2\n"], figures=SLOW)
    svc = service(engine, latency_budget_ms=300)
    doc = doc_with()
    release = threading.Event()
    engine.before_chunk = lambda request, index: release.wait(10)  # the prefill outlasts this request
    first = await svc.complete(doc, END)
    assert (first.text, first.plan, first.reason) == ("", "none", "no plan fits the time left")
    assert first.source == "no-plan" and svc.stats.sources["model"] == 0  # not counted as the model's answer
    release.set()
    await settle(svc, engine, 1)
    purpose, timings, reason = engine.log[0]
    assert (purpose, reason) == ("prepare", "length")  # the whole prompt, in the background
    assert timings.tokens_evaluated == timings.prompt_tokens
    # The same position again: the prompt is in the cache, the plan says so, the model answers.
    second = await svc.complete(doc, END)
    assert (second.text, second.plan, second.source) == ("x * 2", "prepared", "model")
    assert second.timings is not None and second.timings.tokens_evaluated == 1  # the last token, for its logits
    assert svc.stats.plans["none"] == 1 and svc.stats.plans["prepared"] == 1 and svc.stats.prepares == 1


async def test_a_background_prefill_done_before_the_deadline_still_answers_the_request() -> None:
    # The figures say the prompt cannot be prefilled in time; the prefill (in the background) is quicker than
    # feared and ends before the deadline: the same request gets its suggestion from the prepared state.
    engine = CachingFakeEngine(["x * 2\n"], figures=SLOW)
    svc = service(engine)
    answer = await svc.complete(doc_with(), END)
    assert (answer.text, answer.plan) == ("x * 2", "prepared")
    assert [entry[0] for entry in engine.log] == ["prepare", "complete"]
    assert answer.timings is not None and answer.timings.tokens_evaluated == 1


async def test_a_real_request_preempts_a_background_prefill_between_batches_and_continues_from_it() -> None:
    engine = CachingFakeEngine(["x * 2\n"], figures=SLOW, chunk=16)
    svc = service(engine)
    doc = doc_with()
    release = threading.Event()
    batches: list[int] = []

    def hold_after_two(request: GenerationRequest, index: int) -> None:
        if request.purpose == "prepare":
            batches.append(index)
            if index == 2:
                release.wait(5)

    engine.before_chunk = hold_after_two
    await svc.complete(doc, END)  # plan "none": the background prefill starts
    for _ in range(1000):
        if len(batches) == 3:
            break
        await asyncio.sleep(0.005)
    assert batches == [0, 1, 2]
    # A real request arrives while the third batch is about to run: the prefill stops there.
    svc.settings.latency_budget_ms = 600_000  # now everything fits: the request generates
    request = asyncio.ensure_future(svc.complete(doc, END))
    await asyncio.sleep(0.05)
    release.set()
    answer = await request
    prepare = engine.log[0]
    assert (prepare[0], prepare[2]) == ("prepare", "cancelled")
    assert prepare[1].tokens_evaluated == 32  # two batches of 16, kept in the cache
    assert answer.timings is not None and answer.timings.tokens_reused == 32
    assert answer.text == "x * 2" and svc.stats.prepares_preempted == 1


async def test_work_cut_by_a_deadline_is_kept_for_the_next_request() -> None:
    # The figures claim a fast machine, the engine is slow: the plan starts a prefill the deadline then cuts.
    engine = CachingFakeEngine(["x * 2\n"], chunk=16)
    svc = service(engine, latency_budget_ms=1000)
    doc = doc_with()
    cut_after = threading.Event()

    def slow_chunks(request: GenerationRequest, index: int) -> None:
        if index == 3:
            while not request.expired():  # the fourth batch never starts before the deadline
                cut_after.wait(0.01)

    engine.before_chunk = slow_chunks
    first = await svc.complete(doc, END)
    await settle(svc, engine, 1)
    _, cut, reason = engine.log[0]
    assert (first.text, reason, cut.tokens_evaluated) == ("", "deadline", 48)
    engine.before_chunk = None
    second = await svc.complete(doc, END)
    assert second.timings is not None and second.timings.tokens_reused == 48
    assert second.timings.tokens_evaluated == second.timings.prompt_tokens - 48
    assert second.text == "x * 2"


# A file with many lines above the cursor: no prompt of the ladder (one fake token per character) can be read in 2 s
# at 100 tokens/s, the few lines right above the cursor can.
LONG_SOURCE = "".join(f"def handler_{i}(request):\n    return request.get({i})\n\n" for i in range(30)) + \
    "def double(x):\n    return \n"
LONG_END = Point(LONG_SOURCE.count("\n") - 1, 11)
BEHIND = SpeedFigures(prompt_tokens_per_s=100.0, generated_tokens_per_s=1000.0, source="fixed")


def hold_first_prefill_until_preempted(engine: CachingFakeEngine) -> None:
    """The first background prefill cannot finish: its first batch waits until a request preempts it."""
    prefills: list[GenerationRequest] = []

    def hold(request: GenerationRequest, index: int) -> None:
        if request.purpose == "prepare" and (not prefills or prefills[0] is request):
            prefills[:1] = [request]
            for _ in range(2000):
                if request.cancelled():
                    return
                time.sleep(0.005)

    engine.before_chunk = hold


async def test_when_no_prompt_fits_a_glance_answers_and_the_full_prompt_is_prefilled_behind_it() -> None:
    engine = CachingFakeEngine(["x * 2\n"], figures=BEHIND, glance_tokens=256)
    svc = service(engine, prefetch_next=False)  # only the prefills and the glance
    doc = doc_with(LONG_SOURCE)
    hold_first_prefill_until_preempted(engine)
    first = await svc.complete(doc, LONG_END)
    assert (first.text, first.plan, first.source) == ("x * 2", "glance", "model")
    await settle(svc, engine, 3)
    # the prefill went first and was preempted, the glance took the end of the budget, the prefill went on
    (held, _, held_end), (glance, glanced, _), (prepare, prepared, prepare_end) = engine.log
    assert (held, held_end, glance, prepare, prepare_end) == ("prepare", "cancelled", "glance", "prepare", "length")
    assert glanced.prompt_tokens < 256 < prepared.prompt_tokens
    # each in its own cache: the glance did not evict the full prompt, which is now read whole
    assert len(engine.glance_kv) == glanced.prompt_tokens
    assert prepared.tokens_evaluated == prepared.prompt_tokens == len(engine.kv)
    # the next keystroke finds the full prompt ready: a few new tokens, the model answers from it
    doc.apply_edit(LONG_END, LONG_END, "y")
    second = await svc.complete(doc, Point(LONG_END.row, LONG_END.column + 1))
    assert second.plan == "prepared" and engine.log[-1][0] == "complete"
    assert second.timings is not None and second.timings.tokens_evaluated == 1
    assert svc.stats.plans["glance"] == 1 and svc.stats.plans["prepared"] == 1


async def test_a_prefill_that_ends_before_the_glance_is_due_answers_from_the_full_prompt() -> None:
    engine = CachingFakeEngine(["x * 2\n"], figures=BEHIND, glance_tokens=256)
    svc = service(engine, prefetch_next=False)
    answer = await svc.complete(doc_with(LONG_SOURCE), LONG_END)  # the fake's prefill is quicker than feared
    assert (answer.text, answer.plan) == ("x * 2", "prepared")
    assert [entry[0] for entry in engine.log] == ["prepare", "complete"]
    assert engine.glance_kv == [] and svc.stats.plans["glance"] == 0


async def test_without_glances_a_request_that_fits_nothing_answers_empty() -> None:
    engine = CachingFakeEngine(["x * 2\n"], figures=BEHIND, glance_tokens=256)
    svc = service(engine, glance_when_behind=False)
    release = threading.Event()
    engine.before_chunk = lambda request, index: release.wait(10)  # the prefill outlasts this request
    first = await svc.complete(doc_with(LONG_SOURCE), LONG_END)
    release.set()
    assert (first.text, first.plan) == ("", "none")
    await settle(svc, engine, 1)
    assert [entry[0] for entry in engine.log] == ["prepare"]


async def test_a_prompt_too_long_for_the_glance_context_is_no_glance() -> None:
    engine = CachingFakeEngine(["x * 2\n"], figures=BEHIND, glance_tokens=8)
    svc = service(engine)
    release = threading.Event()
    engine.before_chunk = lambda request, index: release.wait(10)
    first = await svc.complete(doc_with(LONG_SOURCE), LONG_END)
    release.set()
    assert (first.text, first.plan) == ("", "none")


async def test_after_enter_the_next_prompt_is_prefilled_while_the_user_pauses() -> None:
    engine = CachingFakeEngine(["x * 2\n"])
    svc = service(engine)
    doc = doc_with()
    doc.apply_edit(Point(4, 11), Point(4, 11), "x\n    ")  # Enter: a new line
    svc.note_edit(doc, doc.last_edit)
    await settle(svc, engine, 1)
    purpose, _timings, reason = engine.log[0]
    assert (purpose, reason) == ("prepare", "length")
    request = await svc.complete(doc, Point(5, 4))
    assert request.timings is not None and request.timings.tokens_evaluated == 1
    assert request.plan == "prepared"


async def test_typing_within_a_line_starts_no_background_work() -> None:
    engine = CachingFakeEngine(["x * 2\n"])
    svc = service(engine)
    doc = doc_with()
    doc.apply_edit(END, END, "x")
    svc.note_edit(doc, doc.last_edit)  # the first edit seen: a place the cache does not hold
    await settle(svc, engine, 1)
    doc.apply_edit(Point(4, 12), Point(4, 12), " ")
    svc.note_edit(doc, doc.last_edit)  # same line, same line count
    await asyncio.sleep(0.1)
    assert len(engine.log) == 1 and svc.stats.prepares == 1


async def test_tab_tab_the_suggestion_after_the_accepted_one_is_ready() -> None:
    engine = CachingFakeEngine(["x * 2\n", " + 1\n"])
    svc = service(engine)
    doc = doc_with()
    first = await svc.complete(doc, END)
    assert first.text == "x * 2"
    await settle(svc, engine, 2)  # the prefetch, as if accepted
    assert engine.log[1][0] == "complete" and svc.stats.prefetches == 1
    doc.apply_edit(END, END, first.text)  # Tab: the editor inserts the suggestion
    calls = engine.calls
    second = await svc.complete(doc, Point(4, 16))
    assert second.source == "prefetched" and engine.calls == calls
    assert svc.stats.prefetch_hits == 1


async def test_the_prefetch_after_a_smaller_prompt_continues_its_kv_state_instead_of_evicting_it() -> None:
    # No prompt but the smallest rung's (the last lines above the cursor, 214 tokens) can be read in 2 s.
    figures = SpeedFigures(prompt_tokens_per_s=200.0, generated_tokens_per_s=1000.0, source="fixed")
    engine = CachingFakeEngine(["x * 2\n", " + 1\n", "x + 3\n"], figures=figures)
    svc = service(engine, glance_when_behind=False)
    doc = doc_with(LONG_SOURCE)
    first = await svc.complete(doc, LONG_END)
    assert (first.text, first.plan) == ("x * 2", "smaller")
    await settle(svc, engine, 2)
    (_, asked, _), (prefetch, prefetched, _) = engine.log
    # The prefetch is the request's rung with the suggestion accepted: only the accepted text is new. (Built from
    # the full prompt, it read a prefix window starting much higher up, and left the cache holding a prompt no
    # request could afford.)
    assert prefetch == "complete" and prefetched.tokens_reused >= asked.prompt_tokens - 1
    assert prefetched.tokens_evaluated <= len(first.text) + 1
    # The next keystroke, not the suggestion: its request still finds its rung's prompt in the cache.
    doc.apply_edit(LONG_END, LONG_END, "y")
    second = await svc.complete(doc, Point(LONG_END.row, LONG_END.column + 1))
    assert second.plan == "smaller" and second.timings is not None
    assert second.timings.tokens_evaluated <= 4 and second.timings.tokens_reused >= asked.prompt_tokens - 2


async def test_a_real_request_elsewhere_cancels_an_unfinished_prefetch() -> None:
    engine = CachingFakeEngine(["x * 2\n", "0\n", "7\n"])
    svc = service(engine)
    doc = doc_with()
    hold = threading.Event()

    def hold_prefetch(request: GenerationRequest, index: int) -> None:
        if len(engine.log) == 1:  # the second call: the prefetch
            hold.wait(5)

    await svc.complete(doc, END)
    engine.before_chunk = hold_prefetch
    await asyncio.sleep(0.1)
    doc.apply_edit(END, END, "-")  # not what was suggested
    request = asyncio.ensure_future(svc.complete(doc, Point(4, 12)))
    await asyncio.sleep(0.05)
    hold.set()
    engine.before_chunk = None
    answer = await request
    assert engine.log[1][2] == "cancelled" and answer.source == "model"


async def test_a_huge_debounce_still_answers_by_the_deadline() -> None:
    engine = CachingFakeEngine(["x * 2\n"])
    svc = service(engine, debounce_ms=10**7, latency_budget_ms=2000)
    answer = await asyncio.wait_for(svc.complete(doc_with(), END), 60)  # a hang fails here, not a slow machine
    assert answer.source == "model" and answer.text == "x * 2"


async def test_a_prompt_that_cannot_be_built_by_the_deadline_is_abandoned_and_the_loop_stays_free() -> None:
    engine = CachingFakeEngine(["x * 2\n"])
    svc = service(engine, latency_budget_ms=200)
    release = threading.Event()
    real_build = svc.builder.build

    def stuck_build(*args: object, **kwargs: object) -> object:
        release.wait(10)
        return real_build(*args, **kwargs)  # type: ignore[arg-type]

    svc.builder.build = stuck_build  # type: ignore[method-assign]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not release.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    tick = asyncio.ensure_future(ticker())
    answer = await asyncio.wait_for(svc.complete(doc_with(), END), 30)
    release.set()
    await tick
    assert (answer.text, answer.reason, answer.source) == ("", "deadline while building the prompt", "deadline")
    assert dict(svc.stats.sources) == {"deadline": 1}
    assert svc.stats.abandoned == 1 and ticks > 1  # the event loop kept running while the prompt was built


async def test_partial_suggestion_at_the_deadline_cuts_at_a_word() -> None:
    class Slow(CachingFakeEngine):
        """Streams part of a line, then holds until the test has its answer: the line never finishes in time."""

        release = threading.Event()

        def generate(self, request: GenerationRequest) -> GenerationResult:
            assert request.on_text is not None
            request.on_text("value + oth")
            self.release.wait(10)
            return GenerationResult(text="value + oth", stop_reason="deadline", timings=Timings())

    for cut, expected in (("word", "value +"), ("line", "")):
        engine = Slow(["value + other\n"])
        engine.release = threading.Event()
        answer = await service(engine, latency_budget_ms=1000, deadline_cut=cut).complete(doc_with(), END)
        engine.release.set()
        assert answer.text == expected, cut
