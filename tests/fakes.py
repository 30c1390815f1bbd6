"""A fake engine fed from a queue, for fast unit tests of the logic around the model (like llm's MockModel).

It honours the parts of the Engine protocol the services rely on: streaming, stop conditions, cancellation
and deadlines checked after every token, counters. The real model is used in the tests that matter.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Sequence
from typing import Any

from codehearth.engine.base import (
    ChatMessage,
    EngineCounters,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    PromptCost,
    PromptPiece,
    StopReason,
    Timings,
    common_prefix_length,
)
from codehearth.engine.speed import SpeedFigures, SpeedModel
from codehearth.engine.templates import prompt_text


class FakeEngine:
    def __init__(self, outputs: Sequence[str] = (), token_seconds: float = 0.0, chars_per_token: int = 2) -> None:
        self.info = ModelInfo(name="fake", family="llama", architecture="llama", chat_template=None)
        self.counters = EngineCounters()
        self.outputs: collections.deque[str] = collections.deque(outputs)
        self.default_output = "pass"
        self.token_seconds = token_seconds
        self.chars_per_token = chars_per_token
        self.prompts: list[str] = []
        self.calls = 0
        # Live, while generate runs on another thread: a test can see generation go on or stop
        self.tokens_generated = 0
        self.stop_reasons: list[StopReason] = []  # one per finished generate call
        # The log-probability the fake reports for every token of an output (by output text), default -0.1
        self.logprobs: dict[str, float] = {}
        self.default_logprob = -0.1

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def count_tokens(self, text: str) -> int:
        return len(text) // 3 + (1 if text else 0)

    def chat_prompt(self, messages: Sequence[ChatMessage]) -> list[PromptPiece]:
        return ["\n".join(f"{m.role}: {m.content}" for m in messages) + "\nassistant:"]

    def generate(self, request: GenerationRequest) -> GenerationResult:
        self.calls += 1
        prompt = prompt_text(request.prompt)
        self.prompts.append(prompt)
        output = self.outputs.popleft() if self.outputs else self.default_output
        text = ""
        reason: StopReason = "eos"
        n = 0
        for i in range(0, len(output), self.chars_per_token):
            interrupted = request.interruption()
            if interrupted is not None:
                reason = interrupted
                break
            if n >= request.max_tokens:
                reason = "length"
                break
            if self.token_seconds:
                time.sleep(self.token_seconds)
            text += output[i : i + self.chars_per_token]
            n += 1
            self.tokens_generated += 1
            request.token_logprobs.append((len(text), self.logprobs.get(output, self.default_logprob)))
            if request.on_text:
                request.on_text(text)
            if request.should_stop and request.should_stop(text):
                reason = "stop"
                break
        timings = Timings(prompt_tokens=len(prompt), tokens_evaluated=len(prompt), tokens_generated=n)
        self.counters.add(timings)
        self.stop_reasons.append(reason)
        return GenerationResult(text=text, stop_reason=reason, timings=timings,
                                token_logprobs=list(request.token_logprobs))

    def close(self) -> None:
        pass


class CachingFakeEngine(FakeEngine):
    """A fake that keeps a KV cache of prompt tokens (one per character) and declares fixed speed figures, so
    the planner, background prefill and continuation after a deadline can be tested by token counts.

    ``chunk`` tokens are evaluated between interruption checks; ``before_chunk`` (if set) runs before each one,
    e.g. to hold a background prefill until the test lets it go on.
    """

    def __init__(self, outputs: Sequence[str] = (), figures: SpeedFigures | None = None, chunk: int = 8,
                 glance_tokens: int = 0, second_context: bool = False, **kwargs: Any) -> None:
        super().__init__(outputs, **kwargs)
        # A second completion context (kv2), chosen per call as the embedded engine chooses (choose_context)
        self.second_context = second_context
        self.kv2: list[int] = []
        self.last_request = 0
        self.contexts_used: list[int] = []  # which main context each non-glance call used (0: kv, 1: kv2)
        self.chat_kv: list[int] = []  # the explanations' own context (chat and read-ahead)
        # A glance context of this many tokens (0: none), with its own cache, like the embedded engine's.
        self.glance_tokens = glance_tokens
        self.glance_kv: list[int] = []
        self.speed = SpeedModel(figures or SpeedFigures(prompt_tokens_per_s=1e6, generated_tokens_per_s=1e6,
                                                        source="fixed"))
        self.kv: list[int] = []
        self.chunk = chunk
        self.before_chunk: Callable[[GenerationRequest, int], None] | None = None
        self.log: list[tuple[str, Timings, StopReason]] = []  # (purpose, timings, stop reason) per call

    def _tokens(self, request_prompt: Sequence[PromptPiece]) -> list[int]:
        return [ord(c) for c in prompt_text(request_prompt)]

    def prompt_cost(self, pieces: Sequence[PromptPiece], add_bos: bool = True) -> PromptCost:
        tokens = self._tokens(pieces)
        held = max(common_prefix_length(kv, tokens) for kv in self._mains())
        return PromptCost(prompt_tokens=len(tokens), cached_tokens=held)

    def _mains(self) -> list[list[int]]:
        return [self.kv, self.kv2] if self.second_context else [self.kv]

    def glance_cost(self, pieces: Sequence[PromptPiece]) -> PromptCost | None:
        tokens = self._tokens(pieces)
        if len(tokens) >= self.glance_tokens:
            return None
        return PromptCost(prompt_tokens=len(tokens), cached_tokens=common_prefix_length(self.glance_kv, tokens))

    def generate(self, request: GenerationRequest) -> GenerationResult:
        glance = request.purpose == "glance"  # the glance's own cache; the main one stays as it is
        chat = request.purpose in ("chat", "read-ahead")
        tokens = self._tokens(request.prompt)
        main = 0
        if chat:
            keep = min(common_prefix_length(self.chat_kv, tokens), max(0, len(tokens) - 1))
            del self.chat_kv[keep:]
            return self._evaluate(request, tokens, self.chat_kv, keep)
        if not glance:
            from codehearth.engine.llama import choose_context

            main = choose_context(self._mains(), tokens, self.last_request, request.purpose)
            self.contexts_used.append(main)
            if request.purpose == "complete":
                self.last_request = main
        cache = self.glance_kv if glance else self._mains()[main]
        keep = min(common_prefix_length(cache, tokens), max(0, len(tokens) - 1))
        cache = cache[:keep]
        if glance:
            self.glance_kv = cache
        elif main == 0:
            self.kv = cache
        else:
            self.kv2 = cache
        return self._evaluate(request, tokens, cache, keep)

    def _evaluate(self, request: GenerationRequest, tokens: list[int], cache: list[int],
                  keep: int) -> GenerationResult:
        """Prefill ``tokens[keep:]`` into ``cache`` (in place), then generate unless the request only prefills."""
        evaluated = 0
        reason: StopReason | None = None
        pending = tokens[keep:]
        index = 0
        while pending:
            reason = request.interruption()
            if reason is not None:
                break
            if self.before_chunk is not None:
                self.before_chunk(request, index)
                reason = request.interruption()
                if reason is not None:
                    break
            chunk, pending = pending[: self.chunk], pending[self.chunk :]
            cache += chunk  # what was evaluated stays in the cache, however the request ends
            evaluated += len(chunk)
            index += 1
        timings = Timings(prompt_tokens=len(tokens), tokens_evaluated=evaluated, tokens_reused=keep)
        if reason is not None or request.purpose in ("prepare", "read-ahead"):
            stop: StopReason = reason or "length"
            self.log.append((request.purpose, timings, stop))
            self.counters.add(timings)
            return GenerationResult(text="", stop_reason=stop, timings=timings)
        result = super().generate(request)
        result.timings.prompt_tokens = len(tokens)
        result.timings.tokens_evaluated = evaluated
        result.timings.tokens_reused = keep
        self.log.append((request.purpose, result.timings, result.stop_reason))
        return result


