"""The completion service: one keystroke's way from a position to a suggestion (DESIGN.md §2).

It knows documents, positions and the engine, never LSP. Per document there is at most one running
generation; a request either joins it (same position, or the user typed what it had suggested) or supersedes it.
Each request is planned against the engine's measured speed (``planner``) and answered by its deadline with
the finished words of the line (``deadlineCut`` "word", the default) or whole lines or nothing ("line"); the generation may go
on afterwards so that the next request finds more text ready. Work while the user pauses is in ``background``.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Literal, TypeVar

from codehearth import threads
from codehearth.complete.background import Background
from codehearth.complete.confidence import Confidence, below
from codehearth.complete.generation import Anchor, Generation, offset_of, skip_reason
from codehearth.complete.planner import MIN_USEFUL_TOKENS, Plan, affordable_tokens
from codehearth.complete.planning_thread import PlanningThread
from codehearth.complete.postprocess import block_shape_stop, indentation, line_shape_stop, postprocess
from codehearth.complete.preparing import Prepared, max_tokens, prepare_request, prompt_key
from codehearth.complete.prompting import without_typed_indent
from codehearth.complete.stats import Stats
from codehearth.complete.suggestion import ChunkSink, Source, Suggestion
from codehearth.config import Settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.engine.base import (
    Engine,
    EngineError,
    EngineUnavailable,
    GenerationRequest,
    GenerationResult,
    PromptPiece,
    Timings,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

LRU_SIZE = 256
DEBOUNCE_SHARE = 0.5  # a debounce never takes more than this share of the time left before the deadline
GLANCE_HANDOVER_MS = 100.0  # a preempted background prefill ends its batch (~0.1 s of work) before a glance starts
# A generation rate measured too low (a calibration in a moment of load) makes every plan "none", and with no
# generation nothing measures the rate again: the server stayed silent for good (editor benchmark, 821 keystrokes,
# 0 answers). So when the prompt is ready and only the generation rate says no, a request still generates (plan
# "probe") if no generation started for this long; its timings correct the estimate (a truly slow machine pays
# one short generation per interval).
PROBE_INTERVAL_S = 10.0


class CompletionService:
    def __init__(
        self,
        settings: Settings,
        builder: ContextBuilder,
        engine: Callable[[], Engine | None],
        executor: concurrent.futures.Executor | None = None,
        clock: Callable[[], float] = time.monotonic,
        probe_clock: Callable[[], float] = time.monotonic,  # the probe's rate limit (tests advance it by hand)
    ) -> None:
        self.settings = settings
        self.builder = builder
        self._engine = engine
        self._clock = clock
        self._probe_clock = probe_clock
        self._generated_at = float("-inf")  # when the last generation for a request started (probe_clock)
        # Generations (and background prefills) run on one thread; prompts are built and planned on another,
        # so neither the event loop nor a prompt waits behind a decode.
        self._executor = executor or concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="complete")
        self._planning = PlanningThread()
        self._running: dict[str, Generation] = {}
        self._recent: dict[str, Generation] = {}  # last finished generation per document
        # prompt key -> (the model's text, its confidence)
        self._lru: collections.OrderedDict[str, tuple[str, Confidence | None]] = collections.OrderedDict()
        # The newest request's ticket per document (newest wins); forget() drops it, so a request for a closed
        # document loses too. Tickets come from one counter: a reopened document never reuses an old one.
        self._seq: collections.Counter[str] = collections.Counter()
        self._tickets = 0
        self._owner = threads.owner()  # the event loop's thread (see codehearth.threads)
        self.stats = Stats()
        self.chunk_sink: ChunkSink | None = None
        self._outage = ""  # the reason the engine was last unavailable, until it answers again
        self.background = Background(self)

    # -- the request ------------------------------------------------------------------------------

    async def complete(
        self, doc: Document, point: Point, arrived: float | None = None, stream_token: str | None = None,
        on_late: Callable[[], None] | None = None,
    ) -> Suggestion:
        """``on_late``: called (on the loop) when an answer the budget cut short has a better one ready here."""
        arrived = arrived if arrived is not None else time.monotonic()
        deadline = arrived + self.settings.latency_budget_ms / 1000
        threads.check_owner(self._owner, "completion service")
        self._tickets += 1
        mine = self._seq[doc.uri] = self._tickets
        try:
            suggestion = await self._complete(doc, point, arrived, deadline, stream_token, on_late)
        except asyncio.CancelledError:
            self.stats.record(Suggestion(text="", source="cancelled", latency_ms=_ms_since(arrived)))
            raise
        if suggestion.text and self._seq.get(doc.uri) != mine:
            # A newer request for this document, or its close, came while this one was answered: the newest wins
            # and a closed document gets nothing (a suggestion for text the editor no longer shows).
            reason = "document closed" if doc.uri not in self._seq else "a newer request"
            suggestion = Suggestion(text="", source="superseded", latency_ms=suggestion.latency_ms, reason=reason)
        self.stats.record(suggestion)
        return suggestion

    async def _complete(
        self, doc: Document, point: Point, arrived: float, deadline: float, stream_token: str | None,
        on_late: Callable[[], None] | None,
    ) -> Suggestion:
        def answer(text: str, source: Source, reason: str = "", timings: Timings | None = None,
                   plan: Plan | None = None, gen: Generation | None = None, typed: str = "",
                   confidence: Confidence | None = None) -> Suggestion:
            if gen is not None and text:
                confidence = gen.confidence_after(typed, text)
            hidden = bool(text) and self.hides(confidence)
            if hidden:
                reason = "low confidence"
                log.debug("hidden (confidence %s): %r", confidence, text)
            made = plan if plan is not None else (gen.plan if gen is not None else None)
            return Suggestion(text="" if hidden else text, source=source, latency_ms=_ms_since(arrived),
                              reason=reason, timings=timings, plan=plan.kind if plan is not None else "",
                              confidence=confidence, hidden=hidden, rung=made.rung if made is not None else -1,
                              held_suffix=made.held_suffix if made is not None else False,
                              held_definitions=made.held_definitions if made is not None else False)

        skip = skip_reason(doc, point, self.settings.language_enabled(doc.language), self.settings.one_line_strings)
        if skip:
            return answer("", "skipped", skip)
        offset = offset_of(doc, point)
        anchor = Anchor.of(doc, offset)
        mine = self._seq[doc.uri]  # the ticket complete() just gave this request

        # 1. Join the running, last or prefetched generation when the user is at its position or typed what it
        # suggested (a prefetch is the suggestion after the one shown, ready for Tab, Tab).
        candidates = [(self._running.get(doc.uri), False), (self._recent.get(doc.uri), False),
                      (self.background.prefetched(doc.uri), True)]
        for gen, prefetched in candidates:
            if gen is None:
                continue
            typed = gen.anchor.typed_since(anchor)
            if typed is None or (typed and not gen.text.startswith(typed)):
                continue
            source: Source = "prefetched" if prefetched else ("typed-through" if typed else "in-flight")
            if gen.done:
                text = gen.suggestion_after(typed)
                if text:
                    shown = answer(text, source, gen=gen, typed=typed)
                    if prefetched and shown.text:  # Tab, Tab: this one was ready; get the one after it ready too
                        self.background.adopt(gen)
                        self.background.prefetch(doc, point, text, gen.rung)
                    return shown
                continue
            if prefetched:
                self.background.adopt(gen)
            if stream_token:
                gen.stream_tokens[stream_token] = typed
                if len(gen.text) > len(typed):
                    self._send_chunk(gen, stream_token, typed, done=False)  # what it has so far, at once
            text = await self._wait(gen, typed, deadline)
            if text is not None:
                return answer(text, source, gen=gen, typed=typed)

        engine = self._engine()
        if engine is None:
            return answer("", "unavailable", "model not ready")

        # 2. A new generation supersedes the old one for this document (its waiter answers empty), and whatever still
        # generates for another document (a late suggestion, the rest of a line past its deadline): the person is
        # here now, and the engine decodes one thing at a time. Background work yields to a real request.
        self.cancel_all()
        if self.settings.debounce_ms > 0:
            # The debounce is part of the budget, never past it: a long one is cut to a share of what is left.
            left = max(0.0, deadline - time.monotonic())
            await asyncio.sleep(min(self.settings.debounce_ms / 1000, left * DEBOUNCE_SHARE))
            if self._seq[doc.uri] != mine:
                return answer("", "superseded")

        # 3. Build and plan the prompt off the event loop; a request that cannot get its prompt by the deadline
        # is answered empty and its preparation abandoned.
        try:
            # The planning thread gets an immutable snapshot; the loop goes on editing the document.
            snapshot = doc.snapshot()
            prepared = await self._off_loop(self._prepare, engine, snapshot, point, deadline)
            doc.adopt_symbols(snapshot)
        except TimeoutError:
            self.stats.abandoned += 1
            return answer("", "deadline", "deadline while building the prompt")
        except (EngineError, RuntimeError, ValueError, OSError) as exc:
            log.error("building the prompt failed: %s", exc)
            self.stats.errors += 1
            return answer("", "error", f"prompt: {exc}")
        if self._seq[doc.uri] != mine:
            return answer("", "superseded")
        plan = prepared.plan
        log.debug("plan for %s:%d:%d: %s", doc.uri, point.row, point.column, plan.describe())
        cached = self._lru.get(prepared.key)
        if cached is not None:
            self._lru.move_to_end(prepared.key)
            cached_text, cached_confidence = cached
            return answer(postprocess(cached_text, prepared.shape, prepared.cursor), "lru",
                          confidence=cached_confidence)
        if plan.kind == "glance":
            # Measured on the 169-keystroke replay: a glance at once, then the full prompt's prefill only in the
            # gap before the next keystroke, starved the prefill (Qwen2.5-Coder-0.5B at 1000 ms: 4.41 useful
            # characters per keystroke vs 5.33 without glances). So the prefill goes first, and the glance only
            # takes the end of the budget it needs; should the prefill end before that, the full prompt answers.
            glance_at = deadline - (plan.estimate_ms + GLANCE_HANDOVER_MS) / 1000
            if glance_at > time.monotonic():  # else a batch begun now would only delay the glance
                prefill = self.background.prepare(engine, prepared.full_pieces)
                replanned = None
                if prefill is not None:
                    replanned = await self._after_prefill(prefill, engine, prepared, deadline, wait_until=glance_at)
                if self._seq[doc.uri] != mine:
                    return answer("", "superseded", plan=plan)
                if replanned is not None:
                    prepared, plan = replanned
                else:
                    self.background.stop()  # the prefill keeps what it evaluated, and continues behind the glance
        if plan.kind == "none":
            # Nothing useful fits: no generation is started. The full prompt is prefilled in the background
            # instead (any later request preempts it and continues from the KV state it reached); should it be
            # done before the deadline with time left for a short suggestion, this request still gets one.
            prefill = self.background.prepare(engine, prepared.full_pieces)
            probe = self._probe_clock() - self._generated_at >= PROBE_INTERVAL_S
            replanned = await self._after_prefill(prefill, engine, prepared, deadline, probe=probe) if prefill else None
            if self._seq[doc.uri] != mine:
                return answer("", "superseded", plan=plan)
            if replanned is None:
                self.background.answer_late(doc, anchor, prepared, prefill, "", on_late)
                return answer("", "no-plan", "no plan fits the time left", plan=plan)
            prepared, plan = replanned

        # A glance leaves the main context to the full prompt's prefill: what follows it is built on that.
        rung = 0 if plan.kind == "glance" else plan.rung
        gen = Generation(uri=doc.uri, anchor=anchor, shape=prepared.shape, cursor=prepared.cursor,
                         prompt_key=prepared.key, cut=self.settings.deadline_cut, plan=plan, rung=rung)
        if stream_token:
            gen.stream_tokens[stream_token] = ""
        self._running[doc.uri] = gen
        behind = None
        if plan.kind == "glance":
            # A short suggestion from the lines above, in the glance context; the full prompt's prefill goes on
            # behind it (queued on the worker thread), so a later request finds it ready.
            self._start(engine, gen, prepared.pieces, deadline, purpose="glance")
            behind = self.background.prepare(engine, prepared.full_pieces)  # queued behind the glance
        else:
            self.background.note_request(prepared.pieces)
            self._start(engine, gen, prepared.pieces, deadline)
        text = await self._wait(gen, "", deadline)
        if gen.cancel.cancelled and self._running.get(doc.uri) is not gen:
            return answer("", "superseded", plan=plan)
        timings = gen.result.timings if gen.result is not None else None
        if gen.error:
            return answer("", "error", gen.error, timings, plan)
        shown = answer(text or "", "model", timings=timings, plan=plan, gen=gen)
        if _climbs(engine, plan):
            # Answered from a smaller prompt: the full one is read behind it, in the engine's second context, so a
            # later request climbs back up the ladder (before, requests settled on the smallest rung: 120 of 121
            # answers at latencyBudgetMs 3000 on the held-out replay). It yields to every request.
            behind = self.background.prepare(engine, prepared.full_pieces)
        elif shown.text and gen.done:
            self.background.prefetch(doc, point, shown.text, gen.rung)
        # Less than the model would say with time: its better suggestion is offered when ready.
        if behind is not None:
            self.background.answer_late(doc, anchor, prepared, behind, shown.text, on_late)
        elif not gen.done and not stream_token:  # a streaming client sees the rest in chunks
            self.background.offer_when_done(doc, gen, shown.text, on_late)
        return shown

    async def _after_prefill(self, prefill: asyncio.Future[GenerationResult], engine: Engine, prepared: Prepared,
                             deadline: float, wait_until: float | None = None,
                             probe: bool = False) -> tuple[Prepared, Plan] | None:
        """Wait (at most until ``wait_until``, by default the deadline) for a background prefill of the full
        prompt; then the plan for it, if a short suggestion still fits by the deadline (with ``probe``, a "probe"
        plan even if the generation rate says it does not: see PROBE_INTERVAL_S)."""
        until = deadline if wait_until is None else wait_until
        # The prefill's own failure (the model unloaded by a reload: EngineUnavailable) is this request's "no
        # plan", never its error: it is read from the future below.
        with contextlib.suppress(TimeoutError, EngineError, RuntimeError, ValueError, OSError):
            await asyncio.wait_for(asyncio.shield(prefill), max(0.0, until - time.monotonic()))
        if not prefill.done() or prefill.cancelled() or prefill.exception() is not None:
            return None
        if prefill.result().stop_reason == "cancelled":
            return None
        speed = getattr(engine, "speed", None)
        cost_of = getattr(engine, "prompt_cost", None)
        if speed is None or cost_of is None:
            return None
        pieces = prepared.full_pieces
        try:
            cost = await self._off_loop(cost_of, pieces, deadline)
        except (TimeoutError, EngineError, RuntimeError, ValueError, OSError) as exc:
            log.debug("no plan after the prefill: %s", exc)
            return None
        figures = speed.figures(self.settings.context.budget_tokens)
        left = (deadline - time.monotonic()) * 1000
        tokens = affordable_tokens(figures, cost.new_tokens, left)
        kind: Literal["prepared", "probe"] = "prepared"
        if tokens < MIN_USEFUL_TOKENS:
            if not probe or left <= 0:
                return None
            kind, tokens = "probe", MIN_USEFUL_TOKENS
        plan = Plan(kind=kind, rung=0, prompt_tokens=cost.prompt_tokens, new_tokens=cost.new_tokens,
                    expected_tokens=tokens, remaining_ms=round(left, 1), held_suffix=prepared.full_holds[0],
                    held_definitions=prepared.full_holds[1])
        return Prepared(prepared.cursor, prepared.shape, pieces, prompt_key(pieces, prepared.shape), plan, pieces,
                        prepared.full_holds), plan

    async def _off_loop(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run ``fn`` on the planning thread; give up waiting at the deadline (the last argument)."""
        return await self._planning.run(fn, *args)

    @property
    def planners_replaced(self) -> int:
        return self._planning.replaced

    def _prepare(self, engine: Engine, doc: Document, point: Point, deadline: float) -> Prepared:
        """In the planning thread (see ``preparing``)."""
        return prepare_request(self.settings, self.builder, engine, doc, point,
                               lambda: (deadline - self._clock()) * 1000, self.background.was_prepared)

    async def _wait(self, gen: Generation, typed: str, deadline: float) -> str | None:
        """Wait for the generation to finish or the deadline; the answer is what ``deadlineCut`` lets through."""
        while not gen.done and not gen.cancel.cancelled:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            gen.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gen.changed.wait(), remaining)
        if gen.cancel.cancelled and not gen.done:
            return ""
        return gen.suggestion_after(typed)

    def _start(self, engine: Engine, gen: Generation, pieces: list[PromptPiece], deadline: float | None,
               purpose: Literal["complete", "glance"] = "complete") -> None:
        loop = asyncio.get_running_loop()
        if purpose == "complete":  # measured by the engine (a glance's own context is not)
            self._generated_at = self._probe_clock()
        keep_going = deadline + self.settings.keep_generating_ms / 1000 if deadline is not None else None
        if purpose == "glance":
            keep_going = deadline  # the background prefill of the full prompt waits behind it: no keep-going
        base_indent = indentation(gen.cursor.line_prefix) if not gen.cursor.line_prefix.strip() else (
            indentation(gen.cursor.previous_line)
        )

        def should_stop(text: str) -> bool:
            if gen.shape == "line":
                return line_shape_stop(text if gen.cursor.line_prefix.strip() else text.lstrip("\n"))
            return block_shape_stop(text, base_indent)

        def on_text(text: str) -> None:
            loop.call_soon_threadsafe(self._grow, gen, text)

        request = GenerationRequest(
            token_logprobs=gen.logprobs,
            prompt=pieces,
            max_tokens=max_tokens(self.settings, gen.shape),
            deadline=keep_going,
            cancel=gen.cancel,
            should_stop=should_stop,
            on_text=on_text,
            purpose=purpose,
            stop=_stops_for(engine),
            document=gen.uri,
            heal=self.settings.token_healing,
        )
        future = loop.run_in_executor(self._executor, engine.generate, request)
        future.add_done_callback(lambda f: self._finish(gen, f))

    def _grow(self, gen: Generation, text: str) -> None:
        gen.text = without_typed_indent(text, gen.cursor.line_prefix)
        gen.raw_shift = len(text) - len(gen.text)
        gen.changed.set()
        self._send_chunks(gen, done=False)

    def _finish(self, gen: Generation, future: asyncio.Future[GenerationResult]) -> None:
        threads.check_owner(self._owner, "completion service")
        try:
            result = future.result()
            gen.result = result
            gen.text = without_typed_indent(result.text, gen.cursor.line_prefix)
            gen.raw_shift = len(result.text) - len(gen.text)
            if result.stop_reason in ("eos", "stop", "length"):
                first = postprocess(gen.text, gen.shape, gen.cursor)
                self._remember(gen.prompt_key, gen.text, gen.confidence_after("", first))
            if self._outage:
                log.warning("completions available again")
                self._outage = ""
        except EngineUnavailable as exc:  # e.g. a remote server that is down: logged once per outage
            gen.error = str(exc)
            self.stats.errors += 1
            if self._outage != gen.error:
                log.warning("completions unavailable: %s", exc)
            self._outage = gen.error
        except (EngineError, RuntimeError, ValueError, OSError) as exc:
            log.error("completion failed: %s", exc)
            gen.error = str(exc)
            self.stats.errors += 1
        except asyncio.CancelledError:
            gen.error = "cancelled"
        gen.done = True
        gen.changed.set()
        if self._running.get(gen.uri) is gen:
            del self._running[gen.uri]
        if not gen.cancel.cancelled and not gen.background:
            self._recent[gen.uri] = gen
        self._send_chunks(gen, done=True)

    def _send_chunks(self, gen: Generation, done: bool) -> None:
        for token, typed in list(gen.stream_tokens.items()):
            self._send_chunk(gen, token, typed, done)

    def _send_chunk(self, gen: Generation, token: str, typed: str, done: bool) -> None:
        """Stream a request what the generation suggests from that request's cursor on (its user may have typed
        part of it since the generation began), through the same confidence gate as an answer: a chunk is what the
        client shows, so one the gate would hide is sent empty (the client takes down what it showed)."""
        if self.chunk_sink is None:
            return
        text = gen.suggestion_after(typed) or ""
        if not done and not text and gen.text.startswith(typed):
            rest = gen.text[len(typed):]
            text = (rest if gen.shape == "block" else rest.split("\n", 1)[0]).rstrip()  # the line being written
        if text and self.hides(gen.confidence_after(typed, text)):
            text = ""
        self.chunk_sink(token, text, done)

    def _remember(self, key: str, text: str, confidence: Confidence | None) -> None:
        self._lru[key] = (text, confidence)
        self._lru.move_to_end(key)
        while len(self._lru) > LRU_SIZE:
            self._lru.popitem(last=False)

    # -- edits and gates --------------------------------------------------------------------------

    def note_edit(self, doc: Document, cursor: Point | None) -> None:
        """An edit happened (``cursor``: where it ended); background work may start when the user pauses."""
        self.background.note_edit(doc, cursor)

    def forget(self, uri: str) -> None:
        threads.check_owner(self._owner, "completion service")
        self._seq.pop(uri, None)  # a request still building its prompt for this document answers empty
        gen = self._running.pop(uri, None)
        if gen is not None:
            gen.cancel.cancel()
        self._recent.pop(uri, None)
        self.background.forget(uri)

    def hides(self, confidence: Confidence | None) -> bool:
        """Whether the confidence gate (``minConfidence``) hides a suggestion of this confidence: answers, streamed
        chunks and late suggestions alike."""
        return below(confidence, self.settings.min_confidence, self.settings.confidence_measure)

    def cancel_all(self) -> None:
        threads.check_owner(self._owner, "completion service")
        for gen in list(self._running.values()):
            gen.cancel.cancel()
        self._running.clear()
        self.background.stop()

    def close(self) -> None:
        """Stop generating and wait for the worker, so the model is never freed under a running decode."""
        self.cancel_all()
        self.background.close()
        self._planning.close()  # a prompt still being built must not hold up exit for long
        self._executor.shutdown(wait=True, cancel_futures=True)


def _climbs(engine: Engine, plan: Plan) -> bool:
    """An answer from a smaller rung, by an engine with a second completion context to read the full prompt in."""
    return bool(getattr(engine, "second_context", False)) and plan.rung > 0 and plan.kind not in ("glance", "none")


def _stops_for(engine: Engine) -> list[str]:
    info = engine.info
    stops = [t.text for t in (info.file_sep, info.repo_name, info.fim_prefix, info.fim_suffix) if t is not None]
    return [s for s in stops if s]


def _ms_since(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 2)
