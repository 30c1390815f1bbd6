"""Using the budget: an answer from a smaller prompt keeps the full prompt's prefill going in the engine's second
completion context, so later requests climb back up the shrink ladder (issue 22). Token counts, no wall clock."""

from __future__ import annotations

from tests.fakes import CachingFakeEngine
from tests.unit.test_adaptive_service import LONG_END, LONG_SOURCE, doc_with, service, settle

from codehearth.context.document import Point
from codehearth.engine.llama import choose_context
from codehearth.engine.speed import SpeedFigures


def test_a_request_takes_the_context_holding_most_of_its_prompt() -> None:
    small, full = [1, 2, 3, 4], [9, 9, 9, 9, 9, 9]
    assert choose_context([small, full], [1, 2, 3, 4, 5], 1, "complete") == 0
    assert choose_context([small, full], [9, 9, 9, 9, 9, 9, 7], 0, "complete") == 1
    assert choose_context([[], []], [1, 2], 1, "complete") == 1  # a tie: the last request's


def test_a_background_prefill_spares_the_last_requests_state() -> None:
    small = [1, 2, 3, 4]
    # The full prompt shares nothing with the request's state: it goes to the other context.
    assert choose_context([small, []], [9, 9, 9], 0, "prepare") == 1
    # Its own earlier progress in the other context is continued there.
    assert choose_context([small, [9, 9]], [9, 9, 9], 0, "prepare") == 1
    # Continuing the last request's own prompt destroys nothing: it stays there.
    assert choose_context([small, [9, 9]], [1, 2, 3, 4, 5, 6], 0, "prepare") == 0


async def test_an_answer_from_a_smaller_prompt_reads_the_full_one_behind_it_and_the_next_request_climbs() -> None:
    # No prompt but the smallest rung's can be read in 2 s (see the prefetch test in test_adaptive_service).
    figures = SpeedFigures(prompt_tokens_per_s=200.0, generated_tokens_per_s=1000.0, source="fixed")
    engine = CachingFakeEngine(["x * 2\n", "x + 3\n"], figures=figures, second_context=True)
    svc = service(engine, glance_when_behind=False)
    doc = doc_with(LONG_SOURCE)
    first = await svc.complete(doc, LONG_END)
    assert (first.text, first.plan) == ("x * 2", "smaller") and first.rung > 0
    await settle(svc, engine, 2)
    (asked, _, _), (climb, prefilled, reason) = engine.log
    assert (asked, climb, reason) == ("complete", "prepare", "length")
    assert engine.contexts_used == [0, 1]  # the full prompt went to the second context, the first kept its state
    assert prefilled.tokens_evaluated == prefilled.prompt_tokens
    # The next keystroke: the full prompt is in the second context, so the request is planned at rung 0.
    doc.apply_edit(LONG_END, LONG_END, "y")
    second = await svc.complete(doc, Point(LONG_END.row, LONG_END.column + 1))
    assert (second.plan, second.rung) == ("prepared", 0)
    assert engine.contexts_used[-1] == 1 and second.timings is not None and second.timings.tokens_evaluated <= 4
    assert svc.stats.planning()["rungs"] == {str(first.rung): 1, "0": 1}


async def test_without_a_second_context_a_smaller_answer_prefetches_as_before() -> None:
    figures = SpeedFigures(prompt_tokens_per_s=200.0, generated_tokens_per_s=1000.0, source="fixed")
    engine = CachingFakeEngine(["x * 2\n", " + 1\n"], figures=figures)
    svc = service(engine, glance_when_behind=False)
    first = await svc.complete(doc_with(LONG_SOURCE), LONG_END)
    assert first.plan == "smaller"
    await settle(svc, engine, 2)
    assert [purpose for purpose, _, _ in engine.log] == ["complete", "complete"]  # the prefetch
