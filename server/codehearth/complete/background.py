"""Work while the user pauses, at idle priority: any real request stops it between batches.

- After an edit that invalidates the cached prompt (Enter, a new line, a jump to another place, an edit in another
  file), once the user has paused for ``pauseMs``, prefill the prompt the next request will most likely need (the
  one at the edit's end). A file just opened waits for its first edit or request: the cursor is not known. A plan that finds no time for a request prefills its prompt here too, so the
  next request continues from the KV state instead of starting over.
- After a suggestion is shown, generate the one that follows it as if it were accepted, so Tab, Tab does not wait.
- After an answer the budget cut short (a glance, or nothing: the full prompt could not be read in time), generate
  from the full prompt once its prefill is done and tell the client it is ready, if the user has not moved on.

Everything here runs on the event loop, which owns this state (see :mod:`codehearth.threads`); prompts are
built on the planning thread from a document snapshot, and every task started here is kept until it is done.

Only engines that show their KV cache (``prompt_cost``: the embedded one) get this: for a remote server the work
would be spent on a cache we cannot see.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from codehearth import threads
from codehearth.complete.generation import Anchor, Generation, cursor_context, offset_of, opens_block
from codehearth.complete.planner import Plan
from codehearth.complete.postprocess import CursorContext, Shape
from codehearth.complete.preparing import Prepared, prompt_key
from codehearth.complete.prompting import build_context, prompt_pieces, refresh_snippets
from codehearth.context.document import Document, Point
from codehearth.engine.base import (
    CancelToken,
    Engine,
    EngineError,
    GenerationRequest,
    GenerationResult,
    PromptPiece,
)
from codehearth.engine.templates import prompt_text

if TYPE_CHECKING:
    from codehearth.complete.service import CompletionService

log = logging.getLogger(__name__)

MIN_PREPARE_TOKENS = 16  # a cached prompt missing fewer tokens than this is cheap to catch up on the request
PREFETCH_BOX_S = 10.0  # a prefetch that has not finished by then is not worth its CPU


def _common(a: str, b: str) -> int:
    """Length of the common prefix of two prompts, in characters (what a KV cache can reuse).

    Not ``os.path.commonpath``: prompts are not paths, and one starting with "/" (a ``// path`` header) against
    one that does not raised "Can't mix absolute and relative paths" while building the prompt.
    """
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]; slice comparisons run in C
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


class Background:
    def __init__(self, service: CompletionService) -> None:
        self.service = service
        self._prepare_cancel: CancelToken | None = None
        self._prepared_text = ""  # the prompt last prefilled in the background
        self._request_text = ""  # the prompt of the last real request
        self._prefetched: dict[str, Generation] = {}
        self._pause: asyncio.TimerHandle | None = None
        self._last_edit: tuple[str, int, int] | None = None  # uri, row, line count
        self._tasks: set[asyncio.Task[None]] = set()  # kept until done (the loop holds only weak references)
        self._owner = threads.owner()

    def _spawn(self, loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, None]) -> None:
        task = loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("background work failed: %s", exc, exc_info=exc)

    def _engine(self) -> Engine | None:
        engine = self.service._engine()
        return engine if engine is not None and hasattr(engine, "prompt_cost") else None

    # -- prefill the next prompt ------------------------------------------------------------------

    def prepare(self, engine: Engine, pieces: list[PromptPiece]) -> asyncio.Future[GenerationResult] | None:
        """Prefill ``pieces`` into the KV cache at idle priority (the decode gate lets any completion go first)."""
        if not hasattr(engine, "prompt_cost"):
            return None
        threads.check_owner(self._owner, "background work")
        if self._prepare_cancel is not None:
            self._prepare_cancel.cancel()
        cancel = self._prepare_cancel = CancelToken()
        stats = self.service.stats
        stats.prepares += 1
        self._prepared_text = prompt_text(pieces)
        request = GenerationRequest(prompt=pieces, max_tokens=0, cancel=cancel, purpose="prepare",
                                    deadline=time.monotonic() + PREFETCH_BOX_S)
        future = asyncio.get_running_loop().run_in_executor(self.service._executor, engine.generate, request)

        def done(f: asyncio.Future[GenerationResult]) -> None:
            if f.cancelled() or f.exception() is not None:
                return
            result = f.result()
            stats.prepared_tokens += result.timings.tokens_evaluated
            if result.stop_reason == "cancelled":
                stats.prepares_preempted += 1
            log.debug("background prefill: %d tokens evaluated (%s)", result.timings.tokens_evaluated,
                      result.stop_reason)

        future.add_done_callback(done)
        return future

    def was_prepared(self, pieces: list[PromptPiece]) -> bool:
        """Whether the KV cache's hold on this prompt comes from a background prefill rather than the last
        request (the prepared prompt shares more of it)."""
        if not self._prepared_text:
            return False
        text = prompt_text(pieces)
        return _common(text, self._prepared_text) > _common(text, self._request_text)

    def note_request(self, pieces: list[PromptPiece]) -> None:
        self._request_text = prompt_text(pieces)

    # -- pauses -----------------------------------------------------------------------------------

    def note_edit(self, doc: Document, cursor: Point | None) -> None:
        settings = self.service.settings
        if not settings.prepare_while_paused:
            return
        if cursor is None:
            # Opened (or replaced whole): where the user will type is unknown until the first edit or request,
            # and a guess would evict the KV state of the file they came from.
            self._last_edit = None
            return
        last, self._last_edit = self._last_edit, (doc.uri, cursor.row, doc.line_count)
        # Typing within a line keeps the prompt's front: the request itself catches up on a few tokens.
        if last is not None and last == (doc.uri, cursor.row, doc.line_count):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (command line use): nothing runs in the background
            return
        threads.check_owner(self._owner, "background work")
        if self._pause is not None:
            self._pause.cancel()
        self._pause = loop.call_later(settings.pause_ms / 1000, lambda: self._spawn(loop, self._paused(doc, cursor)))

    async def _paused(self, doc: Document, point: Point) -> None:
        self._pause = None
        engine = self._engine()
        if engine is None or self.service._running:
            return
        snap = doc.snapshot()  # the planning thread reads this revision; the loop goes on editing ``doc``

        def build() -> list[PromptPiece] | None:
            at = snap.clamp(point)
            refresh_snippets(self.service.builder, snap, at)
            context = build_context(self.service.builder, snap, at, self.service.settings.context.budget_tokens, 0)
            if context is None:
                return None
            pieces = prompt_pieces(engine, context)
            cost = engine.prompt_cost(pieces)  # type: ignore[attr-defined]
            return pieces if cost.new_tokens >= MIN_PREPARE_TOKENS else None

        try:
            pieces = await asyncio.get_running_loop().run_in_executor(self.service._planning.executor, build)
        except (EngineError, RuntimeError, ValueError, OSError) as exc:  # EngineUnavailable: a reload
            log.debug("background prompt failed: %s", exc)
            return
        # A request or another edit came meanwhile: the request warms the cache itself, the edit starts over.
        if pieces is None or self.service._running or doc.revision != snap.revision:
            return
        self.prepare(engine, pieces)

    # -- the suggestion after the one shown ---------------------------------------------------------

    def prefetched(self, uri: str) -> Generation | None:
        return self._prefetched.get(uri)

    def adopt(self, gen: Generation) -> None:
        """A request joined a prefetch: it is a real generation now, no longer stopped by other requests."""
        if self._prefetched.get(gen.uri) is gen:
            del self._prefetched[gen.uri]
        gen.background = False
        if gen.done:
            self.service._recent[gen.uri] = gen
        else:
            self.service._running[gen.uri] = gen

    def prefetch(self, doc: Document, point: Point, shown: str, rung: int = 0) -> None:
        """Generate, in the background, what follows ``shown`` once the user accepts it, from the prompt at
        ``rung`` of the shrink ladder: the one whose KV state the shown suggestion's request left. (Built from the
        full prompt after requests at a smaller rung, it evicted their state and every next request read its whole
        prompt again: Qwen2.5-Coder-0.5B at 3000 ms on the useful-characters replay, 18,711 prompt tokens evaluated
        before, 1,227 after.)"""
        engine = self._engine()
        if engine is None or not shown or not self.service.settings.prefetch_next:
            return
        threads.check_owner(self._owner, "background work")
        self._spawn(asyncio.get_running_loop(), self._prefetch(engine, doc.snapshot(), point, shown, rung))

    async def _prefetch(self, engine: Engine, doc: Document, point: Point, shown: str, rung: int) -> None:
        """``doc``: a snapshot of the document at the shown suggestion's request."""
        service = self.service
        seq = service._seq[doc.uri]

        def build() -> tuple[Anchor, CursorContext, Shape, list[PromptPiece], str] | None:
            text = doc.text
            offset = offset_of(doc, point)
            accepted = text[:offset] + shown + text[offset:]
            end = offset + len(shown)
            after = Document(doc.uri, accepted, language=doc.language, path=doc.path)
            at = after.point_at(len(accepted[:end].encode("utf-8")))
            context = build_context(service.builder, after, at, service.settings.context.budget_tokens, rung)
            if context is None:
                return None
            pieces = prompt_pieces(engine, context)
            shape: Shape = "block" if opens_block(after, at) else "line"
            return Anchor.of_text(accepted, end), cursor_context(after, at), shape, pieces, prompt_key(pieces, shape)

        try:
            built = await asyncio.get_running_loop().run_in_executor(service._planning.executor, build)
        except (EngineError, RuntimeError, ValueError, OSError) as exc:  # EngineUnavailable: a reload
            log.debug("prefetch prompt failed: %s", exc)
            return
        if built is None or service._seq[doc.uri] != seq or service._running:
            return  # the user moved on: a real request is what matters now
        anchor, cursor, shape, pieces, key = built
        gen = Generation(uri=doc.uri, anchor=anchor, shape=shape, cursor=cursor, prompt_key=key,
                         cut=service.settings.deadline_cut, background=True, rung=rung)
        old = self._prefetched.pop(doc.uri, None)
        if old is not None:
            old.cancel.cancel()
        self._prefetched[doc.uri] = gen
        service.stats.prefetches += 1
        service._start(engine, gen, pieces, time.monotonic() + PREFETCH_BOX_S)

    # -- the suggestion the budget could not give --------------------------------------------------------

    def answer_late(self, doc: Document, anchor: Anchor, prepared: Prepared,
                    prefill: asyncio.Future[GenerationResult] | None, shown: str,
                    ready: Callable[[], None] | None) -> None:
        """A request was answered with less than its full prompt (a glance, nothing, or a smaller rung) because the
        full prompt did not fit the budget (a cold file on a slow machine). Once ``prefill`` has read the full
        prompt, generate from it; when that suggestion is ready, differs from ``shown`` and passes the confidence
        gate, call ``ready`` (the client asks again and gets it at once) -- unless the user moved on meanwhile: a
        newer request for the document, or an edit."""
        if prefill is None or ready is None or not self.service.settings.late_suggestions:
            return
        threads.check_owner(self._owner, "background work")
        moved_on = self._moved_on(doc)
        self._spawn(asyncio.get_running_loop(), self._late(doc, anchor, prepared, prefill, shown, ready, moved_on))

    def offer_when_done(self, doc: Document, gen: Generation, shown: str, ready: Callable[[], None] | None) -> None:
        """The deadline cut a generation that goes on (``keepGeneratingMs``): offer its whole suggestion when done."""
        if ready is None or not self.service.settings.late_suggestions:
            return
        threads.check_owner(self._owner, "background work")
        self._spawn(asyncio.get_running_loop(), self._offer(gen, shown, ready, self._moved_on(doc)))

    def _moved_on(self, doc: Document) -> Callable[[], bool]:
        """Whether, since now, a newer request for ``doc`` came or it was edited."""
        seq, ticket, revision = self.service._seq, self.service._seq.get(doc.uri), doc.revision
        return lambda: seq.get(doc.uri) != ticket or doc.revision != revision

    async def _late(self, doc: Document, anchor: Anchor, prepared: Prepared, prefill: asyncio.Future[GenerationResult],
                    shown: str, ready: Callable[[], None], moved_on: Callable[[], bool]) -> None:
        service = self.service
        try:
            prefilled = await asyncio.shield(prefill)  # closing the server cancels this wait, not the engine's work
        except (EngineError, RuntimeError, ValueError, OSError) as exc:  # EngineUnavailable: a reload
            log.debug("no late suggestion: the prefill failed: %s", exc)
            return
        engine = self._engine()
        # Preempted: a real request came, and it is what matters now.
        if prefilled.stop_reason == "cancelled" or moved_on() or doc.uri in service._running or engine is None:
            return
        pieces = prepared.full_pieces
        plan = Plan(kind="prepared", rung=0, held_suffix=prepared.full_holds[0],
                    held_definitions=prepared.full_holds[1])
        gen = Generation(uri=doc.uri, anchor=anchor, shape=prepared.shape, cursor=prepared.cursor,
                         prompt_key=prompt_key(pieces, prepared.shape), cut=service.settings.deadline_cut, plan=plan)
        service._running[doc.uri] = gen  # a request at this place joins it; any other one cancels it
        service.stats.late_started += 1
        service._start(engine, gen, pieces, time.monotonic() + PREFETCH_BOX_S)
        await self._offer(gen, shown, ready, moved_on)

    async def _offer(self, gen: Generation, shown: str, ready: Callable[[], None],
                     moved_on: Callable[[], bool]) -> None:
        while not gen.done:
            gen.changed.clear()
            await gen.changed.wait()
        text = gen.suggestion_after("")
        if gen.error or gen.cancel.cancelled or not text or text == shown or moved_on():
            return  # cancelled: a request elsewhere took the engine, and what it wrote is only part of a suggestion
        if self.service.hides(gen.confidence_after("", text)):
            return
        self.service.stats.late_ready += 1
        ready()

    # -- stopping ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """A real request: background prefill and unfinished prefetches give way (between batches)."""
        threads.check_owner(self._owner, "background work")
        if self._prepare_cancel is not None:
            self._prepare_cancel.cancel()
            self._prepare_cancel = None
        if self._pause is not None:
            self._pause.cancel()
            self._pause = None
        for uri, gen in list(self._prefetched.items()):
            if not gen.done:
                gen.cancel.cancel()
                del self._prefetched[uri]

    def forget(self, uri: str) -> None:
        threads.check_owner(self._owner, "background work")
        gen = self._prefetched.pop(uri, None)
        if gen is not None:
            gen.cancel.cancel()
        if self._last_edit is not None and self._last_edit[0] == uri:
            self._last_edit = None

    def close(self) -> None:
        self.stop()
        for gen in self._prefetched.values():
            gen.cancel.cancel()
        self._prefetched.clear()
        for task in list(self._tasks):
            task.cancel()
