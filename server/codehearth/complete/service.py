"""The completion service: one keystroke's way from a position to a suggestion (DESIGN.md §2).

It knows documents, positions and the engine, never LSP. Per document there is at most one running
generation; a request either joins it (same position, or the user typed what it had suggested) or supersedes it.
Every request is answered by its deadline with whole lines or nothing; the generation may go on afterwards so
that the next request finds more text ready.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from codehearth.complete.postprocess import (
    CursorContext,
    Shape,
    block_shape_stop,
    complete_lines,
    indentation,
    line_shape_stop,
    postprocess,
)
from codehearth.config import Settings
from codehearth.context.builder import ContextBuilder, PromptContext
from codehearth.context.document import Document, Point
from codehearth.engine.base import (
    CancelToken,
    Engine,
    EngineError,
    EngineUnavailable,
    GenerationRequest,
    GenerationResult,
    Timings,
)
from codehearth.engine.templates import OtherFile, fim_prompt, prompt_text

log = logging.getLogger(__name__)

Source = Literal["model", "typed-through", "in-flight", "lru", "skipped", "unavailable", "superseded", "cancelled"]
WINDOW_CHARS = 4000  # how much text around the cursor identifies a position for reuse
LRU_SIZE = 256


class Suggestion(msgspec.Struct, kw_only=True):
    text: str
    source: Source
    latency_ms: float
    timings: Timings | None = None
    reason: str = ""


@dataclass
class _Anchor:
    """The text around the cursor when a generation started; typing through it is recognised from this."""

    offset: int
    before: str
    after: str

    @classmethod
    def of(cls, doc: Document, offset: int) -> _Anchor:
        text = doc.text
        return cls(offset, text[max(0, offset - WINDOW_CHARS) : offset], text[offset : offset + WINDOW_CHARS])

    def typed_since(self, newer: _Anchor) -> str | None:
        """What was typed at the anchor to get to ``newer``, or None if the document changed otherwise."""
        typed_len = newer.offset - self.offset
        if typed_len < 0 or newer.after != self.after:
            return None
        typed = newer.before[len(newer.before) - typed_len :] if typed_len else ""
        head = newer.before[: len(newer.before) - typed_len]
        overlap = min(len(head), len(self.before))
        if head[len(head) - overlap :] != self.before[len(self.before) - overlap :]:
            return None
        return typed


@dataclass
class _Generation:
    uri: str
    anchor: _Anchor
    shape: Shape
    cursor: CursorContext
    prompt_key: str
    cancel: CancelToken = field(default_factory=CancelToken)
    text: str = ""
    done: bool = False
    result: GenerationResult | None = None
    error: str = ""
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stream_tokens: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)

    def suggestion_after(self, typed: str) -> str | None:
        """The processed suggestion for a user who typed ``typed`` past the anchor, if it still fits."""
        raw = self.text
        if not raw.startswith(typed):
            return None
        rest = raw[len(typed) :]
        # Accepting whole lines of a multi-line suggestion moves the cursor to a later line of it.
        typed_lines = (self.cursor.line_prefix + typed).split("\n")
        above = [line for line in typed_lines[:-1] if line.strip()]
        ctx = CursorContext(
            line_prefix=typed_lines[-1],
            line_suffix=self.cursor.line_suffix,
            next_lines=self.cursor.next_lines,
            previous_line=above[-1] if above else self.cursor.previous_line,
            indent_unit=self.cursor.indent_unit,
        )
        if not self.done:
            rest = complete_lines(rest, self.shape)
            if not rest:
                return ""
        return postprocess(rest, self.shape, ctx)


class Stats:
    """Counters for ``codehearth/stats``."""

    def __init__(self) -> None:
        self.requests = 0
        self.answered_from_cache = 0
        self.cancelled = 0
        self.superseded = 0
        self.skipped = 0
        self.empty = 0
        self.errors = 0
        self.latencies: collections.deque[float] = collections.deque(maxlen=500)
        self.sources: collections.Counter[str] = collections.Counter()
        self.last_latency_ms = 0.0

    def record(self, suggestion: Suggestion) -> None:
        self.requests += 1
        self.sources[suggestion.source] += 1
        if suggestion.source in ("typed-through", "in-flight", "lru"):
            self.answered_from_cache += 1
        elif suggestion.source == "superseded":
            self.superseded += 1
        elif suggestion.source == "cancelled":
            self.cancelled += 1
        elif suggestion.source == "skipped":
            self.skipped += 1
        if not suggestion.text:
            self.empty += 1
        self.latencies.append(suggestion.latency_ms)
        self.last_latency_ms = suggestion.latency_ms

    def percentiles(self) -> dict[str, float]:
        values = sorted(self.latencies)
        if not values:
            return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "count": 0}

        def pick(q: float) -> float:
            return round(values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))], 1)

        return {"p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99), "count": len(values)}


ChunkSink = Callable[[str, str, bool], None]  # (stream token, text so far, done)


class CompletionService:
    def __init__(
        self,
        settings: Settings,
        builder: ContextBuilder,
        engine: Callable[[], Engine | None],
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self.settings = settings
        self.builder = builder
        self._engine = engine
        self._executor = executor or concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="complete")
        self._running: dict[str, _Generation] = {}
        self._recent: dict[str, _Generation] = {}  # last finished generation per document
        self._lru: collections.OrderedDict[str, str] = collections.OrderedDict()
        self.stats = Stats()
        self.chunk_sink: ChunkSink | None = None
        self._outage = ""  # the reason the engine was last unavailable, until it answers again

    # -- the request ------------------------------------------------------------------------------

    async def complete(
        self, doc: Document, point: Point, arrived: float | None = None, stream_token: str | None = None
    ) -> Suggestion:
        arrived = arrived if arrived is not None else time.monotonic()
        deadline = arrived + self.settings.latency_budget_ms / 1000
        try:
            suggestion = await self._complete(doc, point, arrived, deadline, stream_token)
        except asyncio.CancelledError:
            self.stats.record(Suggestion(text="", source="cancelled", latency_ms=_ms_since(arrived)))
            raise
        self.stats.record(suggestion)
        return suggestion

    async def _complete(
        self, doc: Document, point: Point, arrived: float, deadline: float, stream_token: str | None
    ) -> Suggestion:
        def answer(text: str, source: Source, reason: str = "", timings: Timings | None = None) -> Suggestion:
            return Suggestion(text=text, source=source, latency_ms=_ms_since(arrived), reason=reason, timings=timings)

        skip = self._skip_reason(doc, point)
        if skip:
            return answer("", "skipped", skip)
        offset = _offset_of(doc, point)
        anchor = _Anchor.of(doc, offset)

        # 1. Join the running or last generation when the user is at its position or typed what it suggested.
        for gen in (self._running.get(doc.uri), self._recent.get(doc.uri)):
            if gen is None:
                continue
            typed = gen.anchor.typed_since(anchor)
            if typed is None or (typed and not gen.text.startswith(typed)):
                continue
            if gen.done:
                text = gen.suggestion_after(typed)
                if text:
                    return answer(text, "typed-through" if typed else "in-flight")
                continue
            if stream_token:
                gen.stream_tokens.add(stream_token)
            text = await self._wait(gen, typed, deadline)
            if text is not None:
                return answer(text, "typed-through" if typed else "in-flight")

        engine = self._engine()
        if engine is None:
            return answer("", "unavailable", "model not ready")

        # 2. A new generation supersedes the old one for this document (its waiter answers empty).
        old = self._running.pop(doc.uri, None)
        if old is not None:
            old.cancel.cancel()
        if self.settings.debounce_ms > 0:
            await asyncio.sleep(self.settings.debounce_ms / 1000)
            if self._running.get(doc.uri) is not None:
                return answer("", "superseded")
        context = self.builder.build(doc, point, self.settings.context.budget_tokens)
        cursor = _cursor_context(doc, point)
        shape: Shape = "block" if _opens_block(doc, point) else "line"
        pieces = fim_prompt(
            engine.info,
            prefix=context.prefix,
            suffix=context.suffix,
            middle_start=context.line_prefix,
            path=context.path,
            language=context.language,
            other_files=[OtherFile(s.path, s.text) for s in context.snippets],
        )
        key = prompt_text(pieces) + "\x00" + shape
        cached = self._lru.get(key)
        if cached is not None:
            self._lru.move_to_end(key)
            text = postprocess(cached, shape, cursor)
            return answer(text, "lru")

        gen = _Generation(uri=doc.uri, anchor=anchor, shape=shape, cursor=cursor, prompt_key=key)
        if stream_token:
            gen.stream_tokens.add(stream_token)
        self._running[doc.uri] = gen
        self._start(engine, gen, pieces, context, deadline)
        text = await self._wait(gen, "", deadline)
        if gen.cancel.cancelled and self._running.get(doc.uri) is not gen:
            return answer("", "superseded")
        timings = gen.result.timings if gen.result is not None else None
        if gen.error:
            return answer("", "model", gen.error, timings)
        return answer(text or "", "model", timings=timings)

    async def _wait(self, gen: _Generation, typed: str, deadline: float) -> str | None:
        """Wait for the generation to finish or the deadline; the answer is whole lines or nothing."""
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

    def _start(
        self, engine: Engine, gen: _Generation, pieces: list, context: PromptContext, deadline: float
    ) -> None:
        loop = asyncio.get_running_loop()
        keep_going = deadline + self.settings.keep_generating_ms / 1000
        base_indent = indentation(gen.cursor.line_prefix) if not gen.cursor.line_prefix.strip() else (
            indentation(gen.cursor.previous_line)
        )
        max_tokens = (
            self.settings.max_tokens_multi_line if gen.shape == "block" else self.settings.max_tokens_single_line
        )

        def should_stop(text: str) -> bool:
            if gen.shape == "line":
                return line_shape_stop(text if gen.cursor.line_prefix.strip() else text.lstrip("\n"))
            return block_shape_stop(text, base_indent)

        def on_text(text: str) -> None:
            loop.call_soon_threadsafe(self._grow, gen, text)

        request = GenerationRequest(
            prompt=pieces,
            max_tokens=max_tokens,
            deadline=keep_going,
            cancel=gen.cancel,
            should_stop=should_stop,
            on_text=on_text,
            purpose="complete",
            stop=_stops_for(engine),
            document=gen.uri,
        )
        future = loop.run_in_executor(self._executor, engine.generate, request)
        future.add_done_callback(lambda f: self._finish(gen, f))

    def _grow(self, gen: _Generation, text: str) -> None:
        gen.text = text
        gen.changed.set()
        self._send_chunks(gen, done=False)

    def _finish(self, gen: _Generation, future: asyncio.Future[GenerationResult]) -> None:
        try:
            result = future.result()
            gen.result = result
            gen.text = result.text
            if result.stop_reason in ("eos", "stop", "length"):
                self._remember(gen.prompt_key, result.text)
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
        if not gen.cancel.cancelled:
            self._recent[gen.uri] = gen
        self._send_chunks(gen, done=True)

    def _send_chunks(self, gen: _Generation, done: bool) -> None:
        if self.chunk_sink is None or not gen.stream_tokens:
            return
        text = gen.suggestion_after("") or ""
        if not done and not text:
            raw = gen.text if gen.shape == "block" else gen.text.split("\n", 1)[0]
            text = raw.rstrip()
        for token in list(gen.stream_tokens):
            self.chunk_sink(token, text, done)

    def _remember(self, key: str, text: str) -> None:
        self._lru[key] = text
        self._lru.move_to_end(key)
        while len(self._lru) > LRU_SIZE:
            self._lru.popitem(last=False)

    # -- gates ------------------------------------------------------------------------------------

    def _skip_reason(self, doc: Document, point: Point) -> str:
        if not self.settings.language_enabled(doc.language):
            return f"completions disabled for {doc.language}"
        line = doc.line(point.row)
        right = line.encode("utf-8")[point.column :].decode("utf-8", errors="ignore")
        if len(right.strip()) > 40 and not _only_closers(right):
            return "long text right of the cursor"
        if doc.in_string_literal(point):
            return "inside a string literal"
        return ""

    def forget(self, uri: str) -> None:
        gen = self._running.pop(uri, None)
        if gen is not None:
            gen.cancel.cancel()
        self._recent.pop(uri, None)

    def cancel_all(self) -> None:
        for gen in list(self._running.values()):
            gen.cancel.cancel()
        self._running.clear()

    def close(self) -> None:
        """Stop generating and wait for the worker, so the model is never freed under a running decode."""
        self.cancel_all()
        self._executor.shutdown(wait=True, cancel_futures=True)


def _only_closers(text: str) -> bool:
    return all(ch in ")]}'\"`;:, \t" for ch in text)


def _stops_for(engine: Engine) -> list[str]:
    info = engine.info
    stops = [t.text for t in (info.file_sep, info.repo_name, info.fim_prefix, info.fim_suffix) if t is not None]
    return [s for s in stops if s]


def _opens_block(doc: Document, point: Point) -> bool:
    try:
        return doc.opens_empty_block(point)
    except Exception:  # a grammar quirk must never break completion
        log.debug("opens_empty_block failed", exc_info=True)
        return False


def _offset_of(doc: Document, point: Point) -> int:
    """Character offset of a point (column in UTF-8 bytes) in the document's text."""
    text = doc.text
    offset = 0
    for _ in range(point.row):
        nl = text.find("\n", offset)
        if nl < 0:
            return len(text)
        offset = nl + 1
    line = doc.line(point.row)
    col_chars = len(line.encode("utf-8")[: point.column].decode("utf-8", errors="ignore"))
    return offset + col_chars


def _cursor_context(doc: Document, point: Point) -> CursorContext:
    line = doc.line(point.row)
    raw = line.encode("utf-8")
    prefix = raw[: point.column].decode("utf-8", errors="ignore")
    suffix = raw[point.column :].decode("utf-8", errors="ignore")
    next_lines = tuple(doc.line(r) for r in range(point.row + 1, min(doc.line_count, point.row + 6)))
    previous = ""
    for r in range(point.row - 1, max(-1, point.row - 50), -1):
        if doc.line(r).strip():
            previous = doc.line(r)
            break
    unit = "\t" if previous.startswith("\t") else "    "
    return CursorContext(prefix, suffix, next_lines, previous, unit)


def _ms_since(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 2)
