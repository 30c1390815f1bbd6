"""Acceptance statistics: rates, accepted characters and latency per model, language and task kind.

:func:`acceptance_summary` is the one entry point other code uses (``codehearth stats`` and
``codehearth eval --from-stats``). Its JSON (camelCase) has ``kinds`` with ``shown``/``accepted``/``acceptedChars``
and ``toleratedMs``, the shape of the evaluation's acceptance profile.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import msgspec

from codehearth.feedback.store import Row, Store

DAY_S = 86400.0


class Latency(msgspec.Struct, kw_only=True, rename="camel"):
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None


class Counts(msgspec.Struct, kw_only=True, rename="camel"):
    shown: int = 0
    accepted: int = 0  # suggestions of which the user kept something (whole or partly)
    fully_accepted: int = 0
    partially_accepted: int = 0
    dismissed: int = 0
    accepted_chars: int = 0
    acceptance_rate: float = 0.0  # accepted / shown
    accepted_chars_per_suggestion: float = 0.0  # accepted_chars / shown
    mean_length: float = 0.0
    latency_ms: Latency = msgspec.field(default_factory=Latency)
    accepted_latency_p90_ms: float | None = None


class Group(Counts, kw_only=True):
    model: str = ""
    language: str = ""


class AcceptanceSummary(msgspec.Struct, kw_only=True, rename="camel"):
    store: str = ""
    days: float | None = None
    total: Counts = msgspec.field(default_factory=Counts)
    groups: list[Group] = msgspec.field(default_factory=list)  # per model and language
    models: dict[str, Counts] = msgspec.field(default_factory=dict)
    languages: dict[str, Counts] = msgspec.field(default_factory=dict)
    kinds: dict[str, Counts] = msgspec.field(default_factory=dict)
    tolerated_ms: float | None = None  # p90 latency of the suggestions the user accepted


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))], 1)


def count(rows: Iterable[Row], into: Counts | None = None) -> Counts:
    rows = list(rows)
    c = into or Counts()
    c.shown = len(rows)
    c.accepted = sum(1 for r in rows if r.accepted_chars > 0 or r.outcome == "accepted")
    c.fully_accepted = sum(1 for r in rows if r.outcome == "accepted")
    c.partially_accepted = sum(1 for r in rows if r.outcome == "partial")
    c.dismissed = sum(1 for r in rows if r.outcome == "dismissed")
    c.accepted_chars = sum(r.accepted_chars for r in rows)
    if rows:
        c.acceptance_rate = round(c.accepted / c.shown, 4)
        c.accepted_chars_per_suggestion = round(c.accepted_chars / c.shown, 2)
        c.mean_length = round(sum(r.length for r in rows) / c.shown, 1)
    latencies = [r.latency_ms for r in rows]
    c.latency_ms = Latency(p50=percentile(latencies, 50), p90=percentile(latencies, 90), p95=percentile(latencies, 95))
    c.accepted_latency_p90_ms = percentile(
        [r.latency_ms for r in rows if r.accepted_chars > 0 or r.outcome == "accepted"], 90
    )
    return c


def summarize(rows: list[Row], store: str = "", days: float | None = None) -> AcceptanceSummary:
    def by(key: str) -> dict[str, Counts]:
        keys = sorted({getattr(r, key) for r in rows})
        return {k: count(r for r in rows if getattr(r, key) == k) for k in keys}

    pairs = sorted({(r.model, r.language) for r in rows})
    groups = [count([r for r in rows if (r.model, r.language) == p], Group(model=p[0], language=p[1])) for p in pairs]
    total = count(rows)
    return AcceptanceSummary(
        store=store,
        days=days,
        total=total,
        groups=[g for g in groups if isinstance(g, Group)],
        models=by("model"),
        languages=by("language"),
        kinds=by("kind"),
        tolerated_ms=total.accepted_latency_p90_ms,
    )


def acceptance_summary(days: float | None = None, path: Path | None = None) -> AcceptanceSummary:
    """The user's acceptance statistics of the last ``days`` days (all when None) from the store at ``path``
    (default: the user cache). Empty counts when nothing was recorded."""
    if path is None:
        from codehearth.config import cache_dir
        from codehearth.feedback.recorder import store_path

        path = store_path(cache_dir())
    since = time.time() - days * DAY_S if days is not None else None
    store = Store(path)
    try:
        return summarize(store.rows(since), str(path), days)
    finally:
        store.close()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def write_table(summary: AcceptanceSummary, out: TextIO) -> None:
    span = f"last {summary.days:g} days" if summary.days is not None else "all time"
    out.write(f"acceptance statistics ({span}), kept on this machine in {summary.store}\n")
    if not summary.total.shown:
        out.write("no suggestions recorded yet\n")
        return
    head = f"{'model':<28} {'language':<12} {'shown':>6} {'accepted':>8} {'rate':>6} {'chars/sugg':>10} " \
           f"{'p50 ms':>7} {'p95 ms':>7}\n"
    out.write(head)
    rows: list[tuple[str, str, Counts]] = [(g.model, g.language, g) for g in summary.groups]
    rows.append(("(all)", "", summary.total))
    for model, language, c in rows:
        out.write(
            f"{model[:28]:<28} {language[:12]:<12} {c.shown:>6} {c.accepted:>8} {c.acceptance_rate:>6.0%} "
            f"{c.accepted_chars_per_suggestion:>10.1f} {_ms(c.latency_ms.p50):>7} {_ms(c.latency_ms.p95):>7}\n"
        )
    kinds = ", ".join(f"{k} {c.accepted}/{c.shown} ({c.accepted_chars} chars)" for k, c in summary.kinds.items())
    out.write(f"accepted by task kind: {kinds}\n")
    t = summary.total
    out.write(
        f"whole {t.fully_accepted}, partly {t.partially_accepted}, dismissed {t.dismissed}; "
        f"accepted suggestions came within {_ms(summary.tolerated_ms)} ms (p90)\n"
    )
