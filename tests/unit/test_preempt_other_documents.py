"""The engine decodes one thing at a time, and the person is where their last request came from: a request that needs
the engine cancels what still generates for another document (the rest of a line past its deadline, a late
suggestion) instead of waiting behind it, and nothing cut short that way is offered later. Seen as HumanEval tasks
typed back to back scoring 23% where the same tasks after a rest scored 35% (each task is a new file). Fake engine,
exact texts, no clock."""

from __future__ import annotations

import threading
import time

from tests.fakes import CachingFakeEngine
from tests.unit.test_adaptive_service import END, SOURCE, doc_with, service
from tests.unit.test_late_suggestions import Calls, background_done

from codehearth.context.document import Document
from codehearth.engine.base import GenerationRequest, GenerationResult, StopReason, Timings


class FirstHoldsUntilStopped(CachingFakeEngine):
    """The first generation writes "value + oth" and then goes on (holds) until it is interrupted or released; later
    ones answer "y + 1" at once."""

    def __init__(self) -> None:
        super().__init__(["y + 1\n"])
        self.release = threading.Event()
        self.first_stopped: StopReason | None = None

    def generate(self, request: GenerationRequest) -> GenerationResult:
        if self.first_stopped is not None or request.purpose != "complete":
            return super().generate(request)
        assert request.on_text is not None
        request.on_text("value + oth")
        reason: StopReason | None = None
        while reason is None and not self.release.is_set():
            time.sleep(0.005)
            reason = request.interruption()
        self.first_stopped = reason or "eos"
        return GenerationResult(text="value + oth", stop_reason=self.first_stopped, timings=Timings())


async def test_a_request_in_another_document_takes_the_engine_from_a_generation_past_its_answer() -> None:
    engine = FirstHoldsUntilStopped()
    svc = service(engine, latency_budget_ms=300, keep_generating_ms=5000, prefetch_next=False)
    ready = Calls()
    first = await svc.complete(doc_with(), END, on_late=ready)
    assert first.text == "value +"  # the finished words at the deadline; the generation goes on behind the answer
    other = Document("file:///t/other.py", SOURCE, "python")
    answer = await svc.complete(other, END)
    assert (answer.text, answer.source) == ("y + 1", "model")
    assert engine.first_stopped == "cancelled"
    await background_done(svc)
    assert ready.count == 0 and svc.stats.late_ready == 0  # what it wrote before it was stopped is not offered


async def test_a_request_in_the_same_document_at_its_place_still_joins_it() -> None:
    engine = FirstHoldsUntilStopped()
    svc = service(engine, latency_budget_ms=300, keep_generating_ms=5000, prefetch_next=False)
    doc = doc_with()
    first = await svc.complete(doc, END)
    assert first.text == "value +"
    engine.release.set()
    again = await svc.complete(doc, END)
    assert (again.text, again.source) == ("value + oth", "in-flight")
    assert engine.first_stopped == "eos"
