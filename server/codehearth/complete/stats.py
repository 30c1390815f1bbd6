"""Counters of the completion service for ``codehearth/stats``: answers by source, latency, plans, background."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codehearth.complete.service import Suggestion

CACHE_SOURCES = ("typed-through", "in-flight", "lru", "prefetched")


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

    def record(self, suggestion: Suggestion) -> None:
        self.requests += 1
        self.sources[suggestion.source] += 1
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
            },
        }
