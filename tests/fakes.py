"""A fake engine fed from a queue, for fast unit tests of the logic around the model (like llm's MockModel).

It honours the parts of the Engine protocol the services rely on: streaming, stop conditions, cancellation
and deadlines checked after every token, counters. The real model is used in the tests that matter.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence

from codehearth.engine.base import (
    ChatMessage,
    EngineCounters,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    PromptPiece,
    StopReason,
    Timings,
)
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
            if request.on_text:
                request.on_text(text)
            if request.should_stop and request.should_stop(text):
                reason = "stop"
                break
        timings = Timings(prompt_tokens=len(prompt), tokens_evaluated=len(prompt), tokens_generated=n)
        self.counters.add(timings)
        return GenerationResult(text=text, stop_reason=reason, timings=timings)

    def close(self) -> None:
        pass
