"""What a completion request answers: the suggestion, where it came from and what its prompt held."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from codehearth.complete.confidence import Confidence
from codehearth.engine.base import Timings

Source = Literal[
    "model", "typed-through", "in-flight", "lru", "prefetched", "skipped", "unavailable", "superseded", "cancelled",
    # empty answers the model never made: the deadline came while the prompt was built, the prompt or the generation
    # failed, or no plan fitted the time left
    "deadline", "error", "no-plan",
]


class Suggestion(msgspec.Struct, kw_only=True):
    text: str
    source: Source
    latency_ms: float
    timings: Timings | None = None
    reason: str = ""
    plan: str = ""  # the kind of plan the request was answered with (model answers only)
    # The model's confidence in the first line of the text (or of the hidden text when ``hidden``); None when
    # the engine reports no log-probabilities
    confidence: Confidence | None = None
    hidden: bool = False  # the confidence gate (``minConfidence``) hid the text
    rung: int = -1  # the shrink-ladder rung of the prompt that produced it (-1: not known)
    held_suffix: bool = False  # its prompt held lines below the cursor's line
    held_definitions: bool = False  # its prompt held repository snippets (definitions of the names used)


ChunkSink = Callable[[str, str, bool], None]  # (stream token, text so far, done)
