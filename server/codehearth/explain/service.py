"""The explanation service: "Explain this function", streamed, cached on disk, never in a completion's way."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from codehearth import threads
from codehearth.config import Settings
from codehearth.context.builder import ContextBuilder, ExplainContext
from codehearth.context.builder.paths import resolved_path
from codehearth.context.document import Document, Point
from codehearth.engine.base import CancelToken, ChatMessage, Engine, EngineError, GenerationRequest, Timings

log = logging.getLogger(__name__)

PROMPT_VERSION = "1"
SYSTEM_PROMPT = (
    "You are a senior software engineer helping a colleague read code. Explain clearly and briefly what the "
    "given function does: its purpose, its inputs and result, notable side effects and edge cases. Do not "
    "repeat the code. Answer in a few short paragraphs or bullet points."
)


class ExplainError(Exception):
    """The explanation cannot be made (no function here, no model): a one-line message for the user."""


class Explanation(msgspec.Struct, kw_only=True):
    text: str
    cached: bool
    function: str
    first_chunk_ms: float = 0.0
    total_ms: float = 0.0
    chunks: int = 0
    stop_reason: str = ""
    timings: Timings | None = None


def explain_messages(
    ctx: ExplainContext, path: str, language: str | None, source_path: Callable[[str], str] = str
) -> list[ChatMessage]:
    """``source_path``: how a callee's file is named (the service names it as the workspace does, see
    ``ExplainService._source_path``); its line is 1-based, as editors show it (Definition's is 0-based)."""
    parts = [f"File: {path}" + (f" ({language})" if language else "")]
    if ctx.header.strip():
        parts.append(f"It is defined inside:\n```\n{ctx.header.rstrip()}\n```")
    if ctx.callees:
        defs = "\n\n".join(
            f"# {source_path(d.path)}:{d.start_line + 1}\n{(d.text or d.signature).rstrip()}" for d in ctx.callees
        )
        parts.append(f"Definitions of functions it calls:\n```\n{defs}\n```")
    cut = " (cut to fit; the rest of the body is omitted)" if ctx.truncated else ""
    parts.append(f"The function{cut}:\n```{language or ''}\n{ctx.function.text.rstrip()}\n```")
    parts.append(f"Explain what `{ctx.function.name}` does.")
    return [ChatMessage("system", SYSTEM_PROMPT), ChatMessage("user", "\n\n".join(parts))]


class ExplainService:
    def __init__(
        self,
        settings: Settings,
        builder: ContextBuilder,
        engine: Callable[[], Engine | None],
        cache_dir: Path | None,
        executor: concurrent.futures.Executor | None = None,
        wait_engine: Callable[[Callable[[str], None] | None], Awaitable[Engine]] | None = None,
    ) -> None:
        self.settings = settings
        self.builder = builder
        self._engine = engine
        self._wait_engine = wait_engine  # waits while the model loads (with progress); raises if loading failed
        self._executor = executor or concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="explain")
        self._cache = _open_cache(cache_dir)
        self._active: set[CancelToken] = set()  # the loop's (see codehearth.threads)
        self._owner = threads.owner()
        self._tasks: set[asyncio.Task[None]] = set()  # read-aheads, kept until done
        # Reading ahead (the loop's): the explanation prompt of the function the cursor rests in, prefilled
        self._rest: asyncio.TimerHandle | None = None
        self._ahead: tuple[str, CancelToken] | None = None  # (cache key, its cancel token) of the read-ahead
        self.read_aheads = 0  # started
        self.read_ahead_hits = 0  # explanations whose prompt a read-ahead had (begun to) read

    def rest_at(self, doc: Document, point: Point) -> None:
        """The cursor is at ``point`` (a code action asked there): once it has rested ``explain.readAheadMs`` in a
        function, read that function's explanation prompt into the explanation context at idle priority (any
        completion stops it), so the code action's first chunk comes at once. The same place again only re-arms."""
        delay = self.settings.explain.read_ahead_ms
        if delay <= 0:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (command line use)
            return
        threads.check_owner(self._owner, "explanation service")
        if self._rest is not None:
            self._rest.cancel()
        self._rest = loop.call_later(delay / 1000, lambda: self._keep(loop.create_task(self._read_ahead(doc, point))))

    def _keep(self, task: asyncio.Task[None]) -> None:
        """Hold the task until it is done (the loop keeps only a weak reference); a failure is logged."""
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("explanation read-ahead failed: %s", exc, exc_info=exc)

    async def _read_ahead(self, doc: Document, point: Point) -> None:
        self._rest = None
        engine = self._engine()
        # Only where it pays and harms nothing: an embedded engine (it shows its KV cache) with the explanations'
        # own context; never while an explanation runs (it has the context).
        if (engine is None or not hasattr(engine, "prompt_cost") or self._active
                or not self.settings.engine.separate_explain_context):
            return
        try:
            ctx = self.find_function(doc, point)
        except (ValueError, RuntimeError) as exc:
            log.debug("read-ahead: no function: %s", exc)
            return
        if ctx is None:
            return
        key = self._cache_key(ctx, engine)
        if (self._ahead is not None and self._ahead[0] == key) or self._cache_get(key) is not None:
            return  # read already (or being read), or answered from the disk cache at once anyway
        if self._ahead is not None:
            self._ahead[1].cancel()
        try:
            prompt = engine.chat_prompt(self._messages(ctx, doc))
        except EngineError as exc:  # unloaded by a reload since it was chosen: the next rest reads again
            log.debug("read-ahead: %s", exc)
            return
        cancel = CancelToken()
        self._ahead = (key, cancel)
        request = GenerationRequest(
            prompt=prompt, max_tokens=0, cancel=cancel, purpose="read-ahead", document=doc.uri, add_bos=False)
        self.read_aheads += 1
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._executor, engine.generate, request)
        except EngineError as exc:
            log.debug("read-ahead failed: %s", exc)
            result = None
        if result is None or result.stop_reason != "length":
            if self._ahead is not None and self._ahead[1] is cancel:
                self._ahead = None  # stopped by a completion: the next rest reads it again
        else:
            log.debug("read ahead: the explanation prompt of %s (%d tokens evaluated)", ctx.function.name,
                      result.timings.tokens_evaluated)

    def find_function(self, doc: Document, point: Point) -> ExplainContext | None:
        return self.builder.explain_context(doc, point, self.settings.explain.budget_tokens)

    async def explain(
        self,
        doc: Document,
        point: Point,
        on_chunk: Callable[[str], None] | None = None,
        cancel: CancelToken | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> Explanation:
        started = time.monotonic()
        ctx = self.find_function(doc, point)
        if ctx is None:
            raise ExplainError("no function or method at this position")
        engine = self._engine()
        if engine is None and self._wait_engine is not None:
            try:
                engine = await self._wait_engine(on_wait)
            except EngineError as exc:
                raise ExplainError(str(exc)) from exc
        if engine is None:
            raise ExplainError("the model is not loaded yet")
        key = self._cache_key(ctx, engine)
        if self._ahead is not None:
            if self._ahead[0] == key:
                self.read_ahead_hits += 1  # its prompt is in the context, or being read: this continues from it
            else:
                self._ahead[1].cancel()  # another function: the executor is this explanation's now
            self._ahead = None
        hit = self._cache_get(key)
        if hit is not None:
            if on_chunk is not None:
                on_chunk(hit)
            ms = (time.monotonic() - started) * 1000
            return Explanation(text=hit, cached=True, function=ctx.function.name, first_chunk_ms=ms, total_ms=ms,
                               chunks=1, stop_reason="cached")

        loop = asyncio.get_running_loop()
        sent = 0
        chunks = 0
        first_chunk_ms = 0.0

        def deliver(text: str) -> None:
            nonlocal sent, chunks, first_chunk_ms
            if len(text) <= sent:
                return
            delta, sent = text[sent:], len(text)
            chunks += 1
            if chunks == 1:
                first_chunk_ms = (time.monotonic() - started) * 1000
            if on_chunk is not None:
                on_chunk(delta)

        cancel = cancel or CancelToken()
        try:
            prompt = engine.chat_prompt(self._messages(ctx, doc))  # tokenizes: the model must still be loaded
        except EngineError as exc:  # a reload unloaded it since it was chosen: said, not an internal error
            raise ExplainError(str(exc)) from exc
        self._active.add(cancel)
        request = GenerationRequest(
            prompt=prompt,
            max_tokens=self.settings.explain.max_tokens,
            cancel=cancel,
            on_text=lambda text: _call_in(loop, deliver, text.strip()),  # small models open with blank lines
            purpose="chat",
            document=doc.uri,
            add_bos=False,  # the chat template writes its own BOS where the model wants one
            repeat_penalty=1.15,
        )
        try:
            result = await loop.run_in_executor(self._executor, engine.generate, request)
        except asyncio.CancelledError:
            if cancel is not None:
                cancel.cancel()
            raise
        except EngineError as exc:
            raise ExplainError(str(exc)) from exc
        finally:
            self._active.discard(cancel)
        await asyncio.sleep(0)  # let queued chunk deliveries run before the final one
        text = result.text.strip()
        deliver(text)
        if result.stop_reason in ("eos", "length", "stop") and text:
            self._cache_set(key, text)
        return Explanation(
            text=text,
            cached=False,
            function=ctx.function.name,
            first_chunk_ms=first_chunk_ms,
            total_ms=(time.monotonic() - started) * 1000,
            chunks=chunks,
            stop_reason=result.stop_reason,
            timings=result.timings,
        )

    def _messages(self, ctx: ExplainContext, doc: Document) -> list[ChatMessage]:
        """The prompt, the same for a read-ahead and the explanation that continues from it."""
        return explain_messages(ctx, self._display_path(doc), doc.language, lambda p: self._source_path(p, doc))

    def _display_path(self, doc: Document) -> str:
        if doc.path is None:
            return doc.uri
        return self._relative(resolved_path(doc.path)) or doc.path.name

    def _source_path(self, path: str, doc: Document) -> str:
        """A callee's file as the prompt names it: workspace-relative, like the document's own "File:" line and
        the completion prompts (the index holds absolute paths: the user's folders cost ~10-20 prompt tokens per
        callee, read before the first chunk, and told the model nothing)."""
        if doc.path is not None and resolved_path(path) == resolved_path(doc.path):
            return self._display_path(doc)
        return self._relative(path) or path

    def _relative(self, path: str) -> str | None:
        index = self.builder.index
        rel = index.relpath(path) if index is not None else None
        return rel if rel is not None and not os.path.isabs(rel) else None

    @staticmethod
    def _cache_key(ctx: ExplainContext, engine: Engine) -> str:
        digest = hashlib.sha256()
        for part in (PROMPT_VERSION, engine.info.name, engine.info.path, ctx.header, ctx.function.text):
            digest.update(part.encode("utf-8", errors="surrogatepass"))
            digest.update(b"\x00")
        return "explain:" + digest.hexdigest()

    def _cache_get(self, key: str) -> str | None:
        if self._cache is None:
            return None
        try:
            value = self._cache.get(key)
        except Exception:  # a corrupted cache must cost a regeneration, not the feature
            log.warning("explanation cache unreadable", exc_info=True)
            return None
        return value if isinstance(value, str) else None

    def _cache_set(self, key: str, text: str) -> None:
        if self._cache is None:
            return
        try:
            self._cache.set(key, text)
        except Exception:
            log.warning("explanation cache not writable", exc_info=True)

    def cancel_all(self, reason: str = "") -> None:
        """Stop every running explanation; ``reason``: the server's own (a reload), told to the client."""
        threads.check_owner(self._owner, "explanation service")
        for token in list(self._active):
            token.cancel(reason)
        if self._rest is not None:
            self._rest.cancel()
            self._rest = None
        if self._ahead is not None:  # a reload empties the context: what was read ahead is gone
            self._ahead[1].cancel()
            self._ahead = None

    def close(self) -> None:
        self.cancel_all()
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._cache is not None:
            self._cache.close()


def _call_in(loop: asyncio.AbstractEventLoop, fn: Callable[[str], None], text: str) -> None:
    loop.call_soon_threadsafe(fn, text)


def _open_cache(cache_dir: Path | None):  # type: ignore[no-untyped-def]
    if cache_dir is None:
        return None
    import diskcache

    try:
        return diskcache.Cache(str(cache_dir / "explanations"), size_limit=64 * 1024 * 1024)
    except Exception:
        log.warning("cannot open the explanation cache in %s", cache_dir, exc_info=True)
        return None
