"""What a streaming client is sent (``codehearth/completionChunk``): the suggestion from that request's own cursor on,
through the same confidence gate as an answer. A chunk is what the Neovim plugin draws, so a chunk that is off by
what the user typed, or one the gate would have hidden, is wrong ghost text on screen (both were seen in the editor
benchmark). Fake engine, exact texts, no clock."""

from __future__ import annotations

import asyncio
import threading

from tests.fakes import CachingFakeEngine
from tests.unit.test_adaptive_service import END, doc_with, service
from tests.unit.test_late_suggestions import background_done

from codehearth.context.document import Point
from codehearth.engine.base import GenerationRequest, GenerationResult, Timings

Chunk = tuple[str, str, bool]


class HeldMidLine(CachingFakeEngine):
    """Writes "value + oth" (one token per character, each at ``logprob``), then holds until the test lets it finish
    the line."""

    def __init__(self, logprob: float = -0.1) -> None:
        super().__init__(["value + other\n"])
        self.release = threading.Event()
        self.logprob = logprob

    def generate(self, request: GenerationRequest) -> GenerationResult:
        assert request.on_text is not None
        for end in range(1, len("value + oth") + 1):
            request.token_logprobs.append((end, self.logprob))
        request.on_text("value + oth")
        self.release.wait(10)
        request.token_logprobs.extend([(12, self.logprob), (13, self.logprob), (14, self.logprob)])
        return GenerationResult(text="value + other\n", stop_reason="eos", timings=Timings(),
                                token_logprobs=list(request.token_logprobs))


async def last_chunk_done(chunks: list[Chunk], token: str) -> None:
    for _ in range(2000):  # the generation ends on the worker thread
        if any(t == token and done for t, _, done in chunks):
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"no last chunk for {token}: {chunks}")


async def test_a_request_that_joins_after_typing_is_streamed_from_its_own_cursor() -> None:
    engine = HeldMidLine()
    svc = service(engine, latency_budget_ms=300, keep_generating_ms=5000, prefetch_next=False)
    chunks: list[Chunk] = []
    svc.chunk_sink = lambda token, text, done: chunks.append((token, text, done))
    doc = doc_with()
    first = await svc.complete(doc, END, stream_token="t1")
    assert (first.text, first.source) == ("value +", "model")  # the finished words, at the deadline
    assert chunks == [("t1", "value +", False)]  # the finished words of the line being written

    doc.apply_edit(END, END, "val")  # the user types on while the line is still being written
    joined = asyncio.create_task(svc.complete(doc, Point(END.row, END.column + 3), stream_token="t2"))
    for _ in range(200):
        if any(t == "t2" for t, _, _ in chunks):
            break
        await asyncio.sleep(0.005)
    assert [c for c in chunks if c[0] == "t2"] == [("t2", "ue +", False)]  # at once, from its own cursor

    engine.release.set()
    answer = await joined
    await last_chunk_done(chunks, "t2")
    await background_done(svc)
    assert (answer.text, answer.source) == ("ue + other", "typed-through")
    assert [c for c in chunks if c[0] == "t2"][-1] == ("t2", "ue + other", True)
    assert [c for c in chunks if c[0] == "t1"][-1] == ("t1", "value + other", True)


async def test_a_suggestion_below_the_gate_is_streamed_empty() -> None:
    engine = HeldMidLine(logprob=-2.5)
    svc = service(engine, latency_budget_ms=300, keep_generating_ms=5000, prefetch_next=False, min_confidence=-1.0)
    chunks: list[Chunk] = []
    svc.chunk_sink = lambda token, text, done: chunks.append((token, text, done))
    first = await svc.complete(doc_with(), END, stream_token="t1")
    assert (first.text, first.hidden, first.reason) == ("", True, "low confidence")
    engine.release.set()
    await last_chunk_done(chunks, "t1")
    await background_done(svc)
    assert chunks and all(text == "" for _, text, _ in chunks)
    assert chunks[-1] == ("t1", "", True)


async def test_the_gate_off_streams_the_same_suggestion() -> None:
    engine = HeldMidLine(logprob=-2.5)
    svc = service(engine, latency_budget_ms=300, keep_generating_ms=5000, prefetch_next=False, min_confidence=0.0)
    chunks: list[Chunk] = []
    svc.chunk_sink = lambda token, text, done: chunks.append((token, text, done))
    first = await svc.complete(doc_with(), END, stream_token="t1")
    assert first.text == "value +"
    engine.release.set()
    await last_chunk_done(chunks, "t1")
    await background_done(svc)
    assert chunks[0] == ("t1", "value +", False) and chunks[-1] == ("t1", "value + other", True)
