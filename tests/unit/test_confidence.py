"""The confidence of a suggestion from the model's token log-probabilities, and the gate that hides unlikely ones."""

from __future__ import annotations

import math

import numpy as np
from tests.fakes import FakeEngine

from codehearth.complete.confidence import Confidence, below, first_line_span, span_confidence
from codehearth.complete.service import CompletionService
from codehearth.config import ContextSettings, Settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.engine.llama import token_logprob

SOURCE = "def double(x):\n    return "
END = Point(1, 11)


def service(engine: FakeEngine, **settings: object) -> CompletionService:
    builder = ContextBuilder(None, ContextSettings(), lambda s: len(s) // 3 + 1)
    return CompletionService(Settings(latency_budget_ms=2000, keep_generating_ms=0, **settings), builder,  # type: ignore[arg-type]
                             lambda: engine)


def test_span_takes_the_tokens_that_overlap_it() -> None:
    logprobs = [(2, -0.5), (4, -2.0), (6, -0.1), (9, -3.0)]  # tokens "ab" "cd" "ef" "\ngh"
    c = span_confidence(logprobs, 0, 6)
    assert c == Confidence(min_logprob=-2.0, mean_logprob=(-0.5 - 2.0 - 0.1) / 3, tokens=3, first_logprob=-0.5)
    assert span_confidence(logprobs, 3, 5) == Confidence(min_logprob=-2.0, mean_logprob=-1.05, tokens=2,
                                                         first_logprob=-2.0)
    assert span_confidence(logprobs, 4, 4) is None
    assert span_confidence([], 0, 5) is None


def test_first_line_span_skips_leading_blank_space_and_ends_with_the_shown_line() -> None:
    assert first_line_span("\n    return x\n", "return x") == (5, 13)
    assert first_line_span("foo(a))", "foo(a)") == (0, 6)  # post-processing cut the stray bracket


def test_gate_needs_a_threshold_and_a_confidence() -> None:
    low = Confidence(min_logprob=-3.0, mean_logprob=-0.5, tokens=4)
    assert below(low, -1.0, "min") and not below(low, -1.0, "mean")
    assert not below(low, 0.0, "min")  # 0: the gate is off
    assert not below(None, -1.0, "min")


def test_the_first_measure_judges_the_first_token_alone() -> None:
    # A line whose start the model was sure of and whose end it guessed: still useful up to the guess.
    sure_start = span_confidence([(6, -0.05), (9, -3.0)], 0, 9)
    assert sure_start is not None and sure_start.value("first") == -0.05
    assert not below(sure_start, -1.0, "first") and below(sure_start, -1.0, "min")
    # A line whose very first token was a guess: not one character of it is likely right.
    guessed_start = span_confidence([(3, -2.5), (9, -0.01)], 0, 9)
    assert guessed_start is not None and below(guessed_start, -1.0, "first")


def test_token_logprob_is_the_log_softmax_of_the_token() -> None:
    logits = np.array([1.0, 3.0, -2.0, 0.5], dtype=np.float32)
    expected = 3.0 - math.log(sum(math.exp(v) for v in logits.tolist()))
    assert abs(token_logprob(logits, 1) - expected) < 1e-6


async def test_every_model_answer_carries_its_confidence() -> None:
    engine = FakeEngine(["x * 2\n\ndef other():"])
    engine.default_logprob = -0.25
    s = await service(engine).complete(Document("file:///t/d.py", SOURCE, "python"), END)
    assert s.text == "x * 2"
    assert s.confidence == Confidence(min_logprob=-0.25, mean_logprob=-0.25, tokens=3,  # "x ", "* ", "2\n"
                                      first_logprob=-0.25)
    assert not s.hidden


async def test_a_suggestion_below_min_confidence_is_hidden_and_counted() -> None:
    engine = FakeEngine(["x * 2\n", "x + x\n"])
    engine.logprobs = {"x * 2\n": -2.5}
    svc = service(engine, min_confidence=-1.0)
    doc = Document("file:///t/d.py", SOURCE, "python")
    hidden = await svc.complete(doc, END)
    assert (hidden.text, hidden.hidden, hidden.reason) == ("", True, "low confidence")
    assert hidden.confidence is not None and hidden.confidence.min_logprob == -2.5
    doc.apply_edit(END, END, " ")
    shown = await svc.complete(doc, Point(1, 12))
    assert shown.text == "x + x" and not shown.hidden
    assert svc.stats.hidden_by_confidence == 1
    records = svc.stats.answers_since(0)
    assert [(r["hidden"], r["minLogprob"], r["source"]) for r in records] == [(True, -2.5, "model"),
                                                                          (False, -0.1, "model")]
    assert records[0]["text"] == "" and records[1]["text"] == "x + x"


async def test_typed_through_confidence_covers_only_what_is_left() -> None:
    engine = FakeEngine(["x * 2\n"], chars_per_token=1)
    svc = service(engine, min_confidence=-1.0, confidence_measure="min")
    doc = Document("file:///t/d.py", SOURCE, "python")
    first = await svc.complete(doc, END)
    assert first.text == "x * 2" and first.confidence is not None and first.confidence.tokens == 5
    doc.apply_edit(END, END, "x * ")
    again = await svc.complete(doc, Point(1, 15))
    assert again.source == "typed-through" and again.text == "2"
    assert again.confidence is not None and again.confidence.tokens == 1


async def test_stats_count_model_answers_by_rung() -> None:
    engine = FakeEngine(["x * 2\n"])
    svc = service(engine)
    await svc.complete(Document("file:///t/d.py", SOURCE, "python"), END)
    # a fake engine has no speed: the request is unplanned and uses the full prompt (rung 0)
    assert svc.stats.planning()["rungs"] == {"0": 1}
