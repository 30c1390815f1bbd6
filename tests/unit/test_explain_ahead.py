"""Explanations read ahead: when the cursor rests in a function, its explanation prompt is prefilled into the
explanation context at idle priority, so "Explain this function" starts from it (issue 22). Token counts only."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from tests.fakes import CachingFakeEngine

from codehearth.config import ContextSettings, ExplainSettings, Settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.engine.base import ChatMessage, EngineUnavailable, PromptPiece
from codehearth.explain.service import ExplainError, ExplainService

SOURCE = '''def area(r):
    """The area of a circle of radius r."""
    return 3.14159 * r * r


def volume(r):
    return 4 / 3 * 3.14159 * r ** 3
'''


def service(engine: CachingFakeEngine, read_ahead_ms: int = 5) -> ExplainService:
    settings = Settings(explain=ExplainSettings(read_ahead_ms=read_ahead_ms))
    builder = ContextBuilder(None, ContextSettings(), lambda s: len(s) // 3 + 1)
    return ExplainService(settings, builder, lambda: engine, cache_dir=None)


async def read(engine: CachingFakeEngine, purpose: str, count: int = 1) -> None:
    for _ in range(2000):
        if sum(p == purpose for p, _, _ in engine.log) >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"no {purpose} call: {engine.log}")


async def test_a_rested_cursor_reads_the_prompt_and_the_explanation_continues_from_it() -> None:
    engine = CachingFakeEngine(["It computes the area of a circle."])
    svc = service(engine)
    doc = Document("file:///t/shapes.py", SOURCE, "python")
    svc.rest_at(doc, Point(2, 8))
    await read(engine, "read-ahead")
    purpose, ahead, reason = engine.log[0]
    assert (purpose, reason) == ("read-ahead", "length") and ahead.tokens_evaluated == ahead.prompt_tokens
    explanation = await svc.explain(doc, Point(2, 8))
    assert explanation.text == "It computes the area of a circle." and svc.read_ahead_hits == 1
    purpose, asked, _ = engine.log[-1]
    assert purpose == "chat" and asked.tokens_evaluated == 1  # the last prompt token, for its logits
    svc.close()


async def test_resting_again_in_the_same_function_reads_nothing_more() -> None:
    engine = CachingFakeEngine()
    svc = service(engine)
    doc = Document("file:///t/shapes.py", SOURCE, "python")
    svc.rest_at(doc, Point(2, 8))
    await read(engine, "read-ahead")
    svc.rest_at(doc, Point(1, 6))
    await asyncio.sleep(0.05)
    assert svc.read_aheads == 1
    svc.rest_at(doc, Point(6, 8))  # another function: its prompt is read
    await read(engine, "read-ahead", 2)
    assert svc.read_aheads == 2
    svc.close()


async def test_read_ahead_off_and_outside_a_function_reads_nothing() -> None:
    engine = CachingFakeEngine()
    off = service(engine, read_ahead_ms=0)
    doc = Document("file:///t/shapes.py", SOURCE, "python")
    off.rest_at(doc, Point(2, 8))
    on = service(engine)
    on.rest_at(doc, Point(4, 0))  # between the functions
    await asyncio.sleep(0.05)
    assert engine.log == [] and off.read_aheads == on.read_aheads == 0
    off.close()
    on.close()


class UnloadedEngine(CachingFakeEngine):
    """A model a reload closed after the service chose the engine: tokenizing says so."""

    def chat_prompt(self, messages: list[ChatMessage]) -> list[PromptPiece]:
        raise EngineUnavailable("the model was unloaded")


async def test_a_model_unloaded_before_the_prompt_is_tokenized_is_said_not_an_internal_error(caplog: Any) -> None:
    engine = UnloadedEngine()
    svc = service(engine)
    doc = Document("file:///t/shapes.py", SOURCE, "python")
    with caplog.at_level(logging.ERROR):
        svc.rest_at(doc, Point(2, 8))  # the read-ahead gives up quietly; the next rest reads again
        await asyncio.sleep(0.1)
    assert svc.read_aheads == 0 and not [r for r in caplog.records if r.levelno >= logging.ERROR]
    with pytest.raises(ExplainError, match=r"^the model was unloaded$"):
        await svc.explain(doc, Point(2, 8))
    assert not svc._active  # nothing left behind to block later read-aheads
    svc.close()
