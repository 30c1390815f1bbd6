"""Scoring of the useful-characters replay: a suggestion counts at budget B only if it came within B ms (+ transport)
and is worth the common prefix of its first line and the true rest of the line, after the same post-processing for
every row."""

from __future__ import annotations

from typing import Any

from benchmarks.common import shown_text, summary
from benchmarks.latency.keystrokes import Answer, Keystroke
from codehearth.engine.base import common_prefix_length

TRANSPORT_MS = 20.0


def worth(suggestion: str, truth: str) -> int:
    first = suggestion.split("\n", 1)[0]
    return common_prefix_length(first, truth)


def shown(answer: Answer, key: Keystroke) -> str:
    """The same post-processing for every row (``benchmarks.common.shown_text``)."""
    return shown_text(answer.text, key.line_prefix, "line")


def score(keys: list[Keystroke], answers: list[Answer], budget_ms: float) -> dict[str, Any]:
    useful = 0
    shown_count = 0
    exact = 0
    for key, ans in zip(keys, answers, strict=False):  # a time-boxed replay answers a prefix of the keystrokes
        text = shown(ans, key)
        if ans.latency_ms is None or ans.latency_ms > budget_ms + TRANSPORT_MS or not text.strip():
            continue
        shown_count += 1
        useful += worth(text, key.truth)
        if key.truth.strip() and text.rstrip() == key.truth.rstrip():
            exact += 1
    n = len(keys)
    return {"useful_chars_per_keystroke": round(useful / n, 3) if n else 0.0, "useful_chars": useful,
            "shown_share": round(shown_count / n, 3) if n else 0.0,
            "exact_rest_of_line": round(exact / n, 3) if n else 0.0}


def latency_summary(answers: list[Answer]) -> dict[str, Any]:
    return summary([a.latency_ms for a in answers if a.latency_ms is not None])


def records(answers: list[Answer], keys: list[Keystroke] | None = None) -> list[dict[str, Any]]:
    """The results file's per-request entries of a row: time, raw text, what was shown, and where it came from."""
    out = []
    for i, a in enumerate(answers):
        entry: dict[str, Any] = {"ms": a.latency_ms, "text": a.text[:120]}
        if keys is not None and i < len(keys):
            entry["shown"] = shown(a, keys[i])[:120]
        out.append({**entry, **a.extra})
    return out


def source_counts(answers: list[Answer]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for a in answers:
        name = str(a.extra.get("source") or "unknown")
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))
