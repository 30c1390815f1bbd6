"""The Engine protocol: what the services need from a text generator, embedded or remote."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import msgspec

StopReason = Literal["eos", "length", "stop", "deadline", "cancelled", "error"]
FimStyle = Literal["psm", "spm", "none"]


class EngineError(Exception):
    """Generation failed in a way the user should hear about (one line)."""


class EngineUnavailable(EngineError):
    """The engine cannot serve right now (model not loaded, remote server down)."""


class SpecialToken(msgspec.Struct, frozen=True):
    """A control token in a prompt: its text (for text-based remote servers) and id (for the embedded engine)."""

    text: str
    id: int


PromptPiece = str | SpecialToken


class ModelInfo(msgspec.Struct, kw_only=True):
    """What the engine learned about the model from its metadata and vocabulary."""

    name: str
    family: str  # llama, mistral, qwen2, codellama, starcoder, ...
    architecture: str
    fim_style: FimStyle = "none"
    fim_prefix: SpecialToken | None = None
    fim_suffix: SpecialToken | None = None
    fim_middle: SpecialToken | None = None
    repo_name: SpecialToken | None = None
    file_sep: SpecialToken | None = None
    chat_template: str | None = None
    bos: str = ""
    eos: str = ""
    context_length: int = 0
    path: str = ""

    @property
    def has_fim(self) -> bool:
        return self.fim_style != "none" and self.fim_prefix is not None and self.fim_suffix is not None


class Timings(msgspec.Struct, kw_only=True):
    prompt_tokens: int = 0
    tokens_evaluated: int = 0  # prompt tokens decoded by this call
    tokens_reused: int = 0  # prompt tokens already in the KV cache
    tokens_generated: int = 0
    prefill_ms: float = 0.0
    decode_ms: float = 0.0
    total_ms: float = 0.0


class GenerationResult(msgspec.Struct, kw_only=True):
    text: str
    stop_reason: StopReason
    timings: Timings
    # Per generated token: (where its text ends in ``text``, its log-probability under the model), for engines
    # that see the logits (the embedded one); empty otherwise. The completion's confidence comes from these.
    token_logprobs: list[tuple[int, float]] = msgspec.field(default_factory=list)


class CancelToken:
    """Set from any thread; the token loop checks it after every token."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""  # why the server cancelled it ("" when the client did)

    def cancel(self, reason: str = "") -> None:
        if reason and not self._event.is_set():
            self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class GenerationRequest:
    """One generation. ``prompt`` mixes text and control tokens; the engine tokenizes the text itself."""

    prompt: Sequence[PromptPiece]
    max_tokens: int = 32
    stop: Sequence[str] = ()
    deadline: float | None = None  # time.monotonic() value; None means no deadline
    cancel: CancelToken | None = None
    # Called with the text generated so far after each token; returns True to stop (shape rules).
    should_stop: Callable[[str], bool] | None = None
    on_text: Callable[[str], None] | None = None  # streaming: the whole text so far
    temperature: float = 0.0
    repeat_penalty: float = 1.0
    add_bos: bool = True
    # "prepare": prefill only, at idle priority (a waiting completion preempts it between batches); "glance": a
    # completion from a small prompt in the engine's small context of its own, so that the full prompt's KV state
    # (being prefilled in the background) survives it
    # "read-ahead": an explanation's prompt prefilled into the explanation context while the cursor rests in a
    # function, at idle priority like "prepare" (stopped by any completion), so the explanation starts at once
    purpose: Literal["complete", "chat", "prepare", "glance", "read-ahead"] = "complete"
    # Token healing (engine/healing.py): take back the end of the typed word and let the model spell it out again
    # (engines that see the logits; the answer still starts after the prompt)
    heal: bool = False
    label: str = field(default="")
    document: str = ""  # the file the prompt is about (the remote audit log records it)
    # Filled while generating by engines that see the logits: (end of the token's text in the text so far, the
    # token's log-probability), so a caller can judge a partial answer at its deadline too.
    token_logprobs: list[tuple[int, float]] = field(default_factory=list)

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.cancelled

    def interruption(self) -> StopReason | None:
        """Why generation must stop now, checked after every token: cancelled, past the deadline, or None."""
        if self.cancelled():
            return "cancelled"
        if self.expired():
            return "deadline"
        return None

    def check_text(self, text: str, stops: Sequence[str]) -> tuple[str, bool]:
        """The text generated so far cut at the first of ``stops``, and whether generation ends there (a stop string,
        or ``should_stop``); ``on_text`` sees a text that goes on. One rule for the local and the remote engines."""
        stop_at = find_stop(text, stops)
        if stop_at is not None:
            return text[:stop_at], True
        if self.on_text is not None:
            self.on_text(text)
        return text, self.should_stop is not None and self.should_stop(text)


def find_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the first of ``stops`` (empty ones ignored) starts in ``text``, or None."""
    found = [p for p in (text.find(s) for s in stops if s) if p >= 0]
    return min(found) if found else None


def common_prefix_length(a: Sequence[object], b: Sequence[object]) -> int:
    """How many leading items two sequences share: tokens already in a KV cache, characters of a suggestion that
    match what the user typed."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class ChatMessage(msgspec.Struct):
    role: Literal["system", "user", "assistant"]
    content: str


def token_counts(t: Timings | EngineCounters | None) -> dict[str, float]:
    """Token and time counters on the wire (camelCase), for stats and --json output."""
    if t is None:
        return {"tokensEvaluated": 0, "tokensReused": 0, "tokensGenerated": 0, "prefillMs": 0.0, "decodeMs": 0.0}
    return {
        "tokensEvaluated": t.tokens_evaluated,
        "tokensReused": t.tokens_reused,
        "tokensGenerated": t.tokens_generated,
        "prefillMs": round(t.prefill_ms, 1),
        "decodeMs": round(t.decode_ms, 1),
    }


class EngineCounters(msgspec.Struct, kw_only=True):
    calls: int = 0
    tokens_evaluated: int = 0
    tokens_reused: int = 0
    tokens_generated: int = 0
    prefill_ms: float = 0.0
    decode_ms: float = 0.0

    def add(self, t: Timings) -> None:
        self.calls += 1
        self.tokens_evaluated += t.tokens_evaluated
        self.tokens_reused += t.tokens_reused
        self.tokens_generated += t.tokens_generated
        self.prefill_ms += t.prefill_ms
        self.decode_ms += t.decode_ms


class PromptCost(msgspec.Struct, frozen=True):
    """How much of a prompt the engine's KV cache already holds: what planning a request needs to know."""

    prompt_tokens: int
    cached_tokens: int

    @property
    def new_tokens(self) -> int:
        return max(0, self.prompt_tokens - self.cached_tokens)


class Engine(Protocol):
    """A text generator. ``generate`` and ``chat`` block; services run them in a worker thread."""

    info: ModelInfo
    counters: EngineCounters

    def tokenize(self, text: str) -> list[int]: ...

    def count_tokens(self, text: str) -> int: ...

    def generate(self, request: GenerationRequest) -> GenerationResult: ...

    def chat_prompt(self, messages: Sequence[ChatMessage]) -> list[PromptPiece]: ...

    def close(self) -> None: ...
