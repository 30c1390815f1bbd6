"""Scoring one answer against the hidden text, and summarising many.

A suggestion is *shown* when it is not empty and arrived within the budget (the service answers by its deadline;
``GRACE_MS`` absorbs the event loop's scheduling after it). It is worth its *useful characters*: the length of the
common prefix of the suggestion and the hidden text, what a user accepting it would keep. *Exact* compares the
first line of both (trailing blanks ignored).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from codehearth.engine.base import common_prefix_length

GRACE_MS = 50.0


class TaskResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One model's answer to one task at one budget: a line of results.jsonl."""

    key: str
    model: str
    budget_ms: int
    task_id: str
    kind: str
    language: str
    suggestion: str
    latency_ms: float
    shown: bool
    useful_chars: int
    exact: bool
    hidden_chars: int
    source: str = ""
    reason: str = ""
    tokens_evaluated: int = 0
    tokens_generated: int = 0
    prefill_ms: float = 0.0
    decode_ms: float = 0.0


def result_key(model: str, budget_ms: int, task_id: str) -> str:
    return f"{model}|{budget_ms}|{task_id}"


def common_prefix(a: str, b: str) -> int:
    return common_prefix_length(a, b)


def first_line(text: str) -> str:
    return text.split("\n", 1)[0].rstrip()


def score(suggestion: str, hidden: str, latency_ms: float, budget_ms: int) -> tuple[bool, int, bool]:
    """(shown, useful characters, exact first line) of one answer."""
    shown = bool(suggestion.strip()) and latency_ms <= budget_ms + GRACE_MS
    if not shown:
        return False, 0, False
    useful = common_prefix(suggestion, hidden)
    exact = first_line(suggestion) == first_line(hidden) and bool(first_line(hidden))
    return True, useful, exact


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], 1)


def summarise(rows: Iterable[TaskResult]) -> dict[str, Any]:
    """The headline numbers of a set of answers (one model, one budget, maybe one kind or language)."""
    items = list(rows)
    n = len(items)
    if not n:
        return {"tasks": 0}
    latencies = [r.latency_ms for r in items]
    hidden = sum(r.hidden_chars for r in items)
    useful = sum(r.useful_chars for r in items)
    return {
        "tasks": n,
        "useful_chars": round(useful / n, 2),
        "useful_share": round(useful / hidden, 4) if hidden else None,
        "exact": round(sum(r.exact for r in items) / n, 4),
        "shown": round(sum(r.shown for r in items) / n, 4),
        "latency_p50_ms": percentile(latencies, 0.5),
        "latency_p95_ms": percentile(latencies, 0.95),
    }


def token_rates(rows: Iterable[TaskResult]) -> dict[str, float | None]:
    """Prompt and generation tokens per second over the engine's own timings of these requests."""
    items = list(rows)
    evaluated = sum(r.tokens_evaluated for r in items)
    generated = sum(r.tokens_generated for r in items)
    prefill = sum(r.prefill_ms for r in items)
    decode = sum(r.decode_ms for r in items)
    return {
        "prompt_tokens_per_s": round(evaluated / prefill * 1000, 1) if prefill > 0 else None,
        "generated_tokens_per_s": round(generated / decode * 1000, 1) if decode > 0 else None,
        "prompt_tokens_mean": round(evaluated / len(items), 1) if items else None,
    }
