"""Every task the server starts is referenced until it is done (the event loop keeps only weak references, and
an unreferenced task's failure surfaces only as "Task exception was never retrieved")."""

from __future__ import annotations

import asyncio

from tests.fakes import CachingFakeEngine

from codehearth.config import ContextSettings, ExplainSettings, Settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.explain.service import ExplainService

SOURCE = "def area(r):\n    return 3.14159 * r * r\n"


async def test_an_explanation_read_ahead_is_held_until_done() -> None:
    engine = CachingFakeEngine()
    settings = Settings(explain=ExplainSettings(read_ahead_ms=1))
    svc = ExplainService(settings, ContextBuilder(None, ContextSettings(), len), lambda: engine, cache_dir=None)
    svc.rest_at(Document("file:///t/a.py", SOURCE, "python"), Point(1, 8))
    while not svc._tasks:
        await asyncio.sleep(0.001)
    (task,) = svc._tasks
    await task
    assert svc._tasks == set() and [p for p, _, _ in engine.log] == ["read-ahead"]
    svc.close()
