"""How sure the model was of a suggestion: the log-probabilities of the tokens it wrote for the first line shown.

The engine records, per generated token, where its text ends and its log-probability. A suggestion's confidence is
taken over the tokens that make up the first line it shows (what a person reads first and what Tab accepts): the
lowest of them (one unlikely token is where a wrong guess usually starts), their mean, and the first token's (tried
because a ghost text with no character right has a wrong first token; on the editor benchmark it picked out wrong
ghost text worse than the mean, benchmarks/results/editor-confidence-first-150.md, so the mean is the default). The
completion service hides a suggestion whose confidence is below ``minConfidence`` (a log-probability; 0 turns the
gate off).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import msgspec

ConfidenceMeasure = Literal["min", "mean", "first"]


class Confidence(msgspec.Struct, frozen=True):
    min_logprob: float
    mean_logprob: float
    tokens: int
    first_logprob: float = 0.0

    def value(self, measure: ConfidenceMeasure) -> float:
        if measure == "first":
            return self.first_logprob
        return self.min_logprob if measure == "min" else self.mean_logprob

    def as_wire(self) -> dict[str, float]:
        return {"minLogprob": round(self.min_logprob, 4), "meanLogprob": round(self.mean_logprob, 4),
                "firstLogprob": round(self.first_logprob, 4), "tokens": self.tokens}


def span_confidence(logprobs: Sequence[tuple[int, float]], start: int, end: int) -> Confidence | None:
    """The confidence over the tokens whose text overlaps ``[start, end)`` of the engine's output (``logprobs``:
    (end of the token's text, its log-probability) in order); None when no token does (e.g. an engine that reports
    no log-probabilities)."""
    if end <= start:
        return None
    picked: list[float] = []
    token_start = 0
    for token_end, logprob in logprobs:
        begins, token_start = token_start, token_end
        if token_end <= start:
            continue
        if begins >= end:
            break
        if math.isfinite(logprob):
            picked.append(logprob)
        else:
            picked.append(-100.0)
    if not picked:
        return None
    return Confidence(min_logprob=min(picked), mean_logprob=sum(picked) / len(picked), tokens=len(picked),
                      first_logprob=picked[0])


def first_line_span(raw_rest: str, shown: str) -> tuple[int, int]:
    """Where, in ``raw_rest`` (the output after what is already typed), the first line of ``shown`` lies: its
    leading blank space and newlines skipped, as long as the shown first line (post-processing may have cut it)."""
    stripped = raw_rest.lstrip(" \t\n")
    lead = len(raw_rest) - len(stripped)
    first_shown = shown.lstrip(" \t\n").split("\n", 1)[0]
    first_raw = stripped.split("\n", 1)[0]
    return lead, lead + min(len(first_raw), max(1, len(first_shown)))


def below(confidence: Confidence | None, threshold: float, measure: ConfidenceMeasure) -> bool:
    """Whether the gate hides a suggestion: only with a threshold set (below 0) and a confidence known."""
    return threshold < 0 and confidence is not None and confidence.value(measure) < threshold
