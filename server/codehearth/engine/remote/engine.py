"""The remote engine: a shared llama.cpp server or any OpenAI-compatible server, behind the same ``Engine`` protocol.

Two dialects over one HTTP client (httpx, connections reused):

- ``llama-server`` (llama.cpp's own server): ``/infill`` for FIM models, with the repository snippets in
  ``input_extra``, the text above and left of the cursor in ``input_prefix``/``input_suffix`` and the typed part of
  the cursor's line in ``prompt`` (llama.cpp's ``format_infill`` appends it to the prefix, before the suffix token,
  unlike our own layout, which puts it after the middle token: so the server re-evaluates the suffix when the typed
  part changes, and its model never sees a half-typed word inside the middle); ``/completion`` for prefix-only
  models; ``/health`` and ``/props`` at start-up; ``/v1/chat/completions`` for explanations (the server applies the
  model's template).
- ``openai`` (vLLM, TGI, llama-cpp-python's server, ...): ``/v1/completions`` with our FIM prompt as text when the
  model has FIM tokens (plain prefix otherwise), ``/v1/chat/completions`` for explanations; both streamed (SSE).

Generation streams like the embedded engine: ``on_text`` after every chunk, ``stop``/``should_stop``/cancellation/
deadline checked after every chunk (``streaming``). A circuit breaker turns a dead server into an immediate
``EngineUnavailable`` (the reason is in :meth:`RemoteEngine.status`) and probes it again every few seconds
(``health``), so completions recover by themselves when it returns.

This module composes the parts: ``connection`` (the HTTP client), ``discovery`` (what the server runs, at start-up),
``health``, ``streaming``, ``redact`` and ``audit`` (every prompt redacted and recorded before it leaves).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import httpx

from codehearth.config import EngineSettings, Settings
from codehearth.engine.base import (
    ChatMessage,
    EngineCounters,
    EngineError,
    EngineUnavailable,
    GenerationRequest,
    GenerationResult,
    PromptPiece,
    SpecialToken,
    Timings,
)
from codehearth.engine.remote.audit import AuditLog, AuditRecord, audit_path
from codehearth.engine.remote.breaker import CircuitBreaker
from codehearth.engine.remote.connection import Connection, describe
from codehearth.engine.remote.discovery import discover
from codehearth.engine.remote.health import check_breaker
from codehearth.engine.remote.redact import prompt_of, redact, redact_body
from codehearth.engine.remote.streaming import Streamer
from codehearth.engine.remote.wire import (
    SUFFIX_PARAM_TOKENS,
    Dialect,
    RemoteKind,
    chat_body,
    completion_body,
    decode_chat,
    encode_chat,
    infill_body,
    infill_parts,
    openai_completion_body,
    openai_suffix_body,
)
from codehearth.engine.templates import prompt_text

STARTUP_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)  # back-off for idempotent start-up calls only


class RemoteEngine:
    """A llama.cpp server or an OpenAI-compatible server behind the ``Engine`` protocol."""

    def __init__(
        self,
        settings: EngineSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if settings.kind not in ("llama-server", "openai"):
            raise EngineError(f"engine.kind {settings.kind!r} is not a remote engine")
        self.kind: RemoteKind = settings.kind
        self.settings = settings
        self._conn = Connection(settings, self.kind, transport)
        self.base_url = self._conn.base_url
        self.api_key_env = settings.api_key_env
        self.timeout_s = self._conn.timeout_s
        self._client = self._conn.client
        self.breaker = breaker or CircuitBreaker()
        self._streamer = Streamer(self._conn, self.breaker)
        self.counters = EngineCounters()
        self.audit = AuditLog(audit_path(settings), full_prompt=settings.audit_full_prompt)
        try:
            found = discover(self._conn, settings, STARTUP_RETRY_DELAYS)
        except BaseException:
            self.close()
            raise
        self.info = found.info
        self.model = found.model
        self._tokenizer = found.tokenizer
        self._chars_per_token = found.chars_per_token

    # -- status ----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.base_url,
            "model": self.model,
            "state": "unavailable" if self.breaker.is_open else "ok",
            "error": self.breaker.reason,
        }

    @property
    def redactions(self) -> int:
        """Secrets replaced in outgoing prompts since start-up (``codehearth/stats``)."""
        return self.audit.redactions

    @property
    def unavailable_reason(self) -> str | None:
        return self.breaker.reason

    # -- tokens ----------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        if self._tokenizer is None:
            raise EngineError(f"the server at {self.base_url} offers no tokenizer endpoint")
        try:
            return self._tokenizer(redact(text)[0])
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"tokenize failed at {self.base_url}: {describe(exc)}") from exc

    def count_tokens(self, text: str) -> int:
        """An estimate from the calibrated ratio: the context builder counts often, a round trip each is too slow."""
        return math.ceil(len(text) / self._chars_per_token) if text else 0

    # -- generation ------------------------------------------------------------------------------

    def chat_prompt(self, messages: Sequence[ChatMessage]) -> list[PromptPiece]:
        return [encode_chat(messages)]

    def generate(self, request: GenerationRequest) -> GenerationResult:
        check_breaker(self._conn, self.breaker)
        start = time.monotonic()
        if request.cancelled():
            return GenerationResult(text="", stop_reason="cancelled", timings=Timings())
        if request.expired():
            return GenerationResult(text="", stop_reason="deadline", timings=Timings())
        path, body, dialect = self._route(request)
        if self.settings.extra_body:
            body = {**body, **self.settings.extra_body}
        body, found = redact_body(body)  # after extra_body: nothing reaches the wire unredacted
        record = AuditRecord(engine=self.base_url, kind=self.kind, model=self.model, purpose=request.purpose,
                             endpoint=path, document=request.document, prompt=prompt_of(body),
                             redactions=dict(found))
        record.prompt_tokens = self.count_tokens(record.prompt)  # replaced by the server's count when it has one
        try:
            result = self._streamer.run(path, body, dialect, request, start)
        except EngineError as exc:
            record.outcome, record.error = "error", str(exc)
            raise
        else:
            if result.stop_reason in ("cancelled", "deadline"):
                record.outcome = result.stop_reason
            record.prompt_tokens = result.timings.prompt_tokens or record.prompt_tokens
            record.completion_tokens = result.timings.tokens_generated
            record.completion_bytes = len(result.text.encode("utf-8", "surrogatepass"))
        finally:
            self.audit.write(record)
        self.counters.add(result.timings)
        return result

    def _route(self, request: GenerationRequest) -> tuple[str, dict[str, Any], Dialect]:
        messages = decode_chat(request.prompt) if request.purpose == "chat" else None
        if messages is not None:
            return "/v1/chat/completions", chat_body(self.model, messages, request, self.kind), "openai-chat"
        text = prompt_text(request.prompt)
        if self.kind == "llama-server":
            fim = self.info.fim_prefix
            if (request.purpose == "complete" and self.info.has_fim and self.info.fim_style == "psm"
                    and any(isinstance(p, SpecialToken) and fim is not None and p.text == fim.text
                            for p in request.prompt)):
                return "/infill", infill_body(infill_parts(request.prompt, self.info), request), "llama"
            return "/completion", completion_body(text, request), "llama"
        prefix_token = self.info.fim_prefix
        if (request.purpose == "complete" and prefix_token is not None
                and prefix_token.text == SUFFIX_PARAM_TOKENS["prefix"].text):
            parts = infill_parts(request.prompt, self.info)
            return "/v1/completions", openai_suffix_body(self.model, parts, request), "openai-text"
        return "/v1/completions", openai_completion_body(self.model, text, request), "openai-text"

    def close(self) -> None:
        self._streamer.close()
        self._conn.close()


def make_remote_engine(settings: Settings | EngineSettings, **kwargs: Any) -> RemoteEngine:
    """The remote engine ``engine.kind`` asks for; one-line ``EngineError``/``EngineUnavailable`` when it cannot start."""
    engine_settings = settings.engine if isinstance(settings, Settings) else settings
    return RemoteEngine(engine_settings, **kwargs)
