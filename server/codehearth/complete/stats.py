"""Counters of the completion service for ``codehearth/stats``: answers by source, latency, plans, background."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codehearth.complete.suggestion import Suggestion

CACHE_SOURCES = ("typed-through", "in-flight", "lru", "prefetched")
ANSWER_RECORDS = 5000  # per-answer records kept for codehearth/stats (a benchmark reads them after its run)


class Stats:
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
        self.plans: collections.Counter[str] = collections.Counter()  # plan kind -> requests
        self.abandoned = 0  # requests answered at the deadline while their prompt was still being built
        # background work while the user pauses
        self.prepares = 0
        self.prepares_preempted = 0
        self.prepared_tokens = 0
        self.prefetches = 0
        self.prefetch_hits = 0
        # answers the budget cut short: full-prompt suggestions generated after them, and those the client was told of
        self.late_started = 0
        self.late_ready = 0
        # what the model answered, and with what: answers by prompt rung, hidden by the confidence gate, and one
        # record per answer (source, plan, rung, what the prompt held, confidence, text) for the benchmarks
        self.hidden_by_confidence = 0
        self.rungs: collections.Counter[str] = collections.Counter()
        self.answers: collections.deque[dict[str, Any]] = collections.deque(maxlen=ANSWER_RECORDS)
        self.answer_seq = 0

    def record(self, suggestion: Suggestion) -> None:
        self.requests += 1
        # an empty answer is not counted as the model's (issue 21): it gets a name of its own
        self.sources["empty" if suggestion.source == "model" and not suggestion.text else suggestion.source] += 1
        if suggestion.source in CACHE_SOURCES:
            self.answered_from_cache += 1
        elif suggestion.source == "superseded":
            self.superseded += 1
        elif suggestion.source == "cancelled":
            self.cancelled += 1
        elif suggestion.source == "skipped":
            self.skipped += 1
        if suggestion.source == "prefetched":
            self.prefetch_hits += 1
        if suggestion.plan:
            self.plans[suggestion.plan] += 1
        if suggestion.hidden:
            self.hidden_by_confidence += 1
        if suggestion.source not in ("skipped", "unavailable", "superseded", "cancelled"):
            self._record_answer(suggestion)
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

    def planning(self) -> dict[str, Any]:
        return {
            "plans": dict(self.plans),
            "abandoned": self.abandoned,
            "background": {
                "prepares": self.prepares,
                "preempted": self.prepares_preempted,
                "preparedTokens": self.prepared_tokens,
                "prefetches": self.prefetches,
                "prefetchHits": self.prefetch_hits,
                "lateStarted": self.late_started,
                "lateReady": self.late_ready,
            },
            "rungs": dict(self.rungs),  # model answers by prompt rung ("0": the full prompt, "glance")
            "hiddenByConfidence": self.hidden_by_confidence,
            "answerSeq": self.answer_seq,
        }

    def _record_answer(self, suggestion: Suggestion) -> None:
        if suggestion.plan == "glance":
            rung = "glance"
        elif suggestion.rung >= 0:
            rung = str(suggestion.rung)
        else:
            rung = "unknown"
        if suggestion.source == "model" and (suggestion.text or suggestion.hidden):
            self.rungs[rung] += 1
        self.answer_seq += 1
        confidence = suggestion.confidence
        self.answers.append({
            "seq": self.answer_seq,
            "source": suggestion.source,
            "plan": suggestion.plan,
            "rung": rung,
            "heldSuffix": suggestion.held_suffix,
            "heldDefinitions": suggestion.held_definitions,
            "latencyMs": suggestion.latency_ms,
            "text": suggestion.text,
            "hidden": suggestion.hidden,
            "reason": suggestion.reason,
            **(confidence.as_wire() if confidence is not None else {}),
        })

    def answers_since(self, since: int) -> list[dict[str, Any]]:
        """The per-answer records after sequence number ``since`` (``codehearth/stats`` with ``answersSince``)."""
        return [a for a in self.answers if a["seq"] > since]
