"""``--from-stats``: weight the task kinds by what this user accepts, within the latency they tolerate.

The input is the user's local acceptance statistics reduced to an ``AcceptanceProfile``: per task kind, how many
suggestions were shown and accepted and how many characters were kept, and the latency of accepted suggestions.
It comes from the statistics store in the user cache (``codehearth.feedback.acceptance_summary``, the same numbers
``codehearth stats`` prints), from another store file, or from a JSON file of that shape (``codehearth stats
--json`` writes one). The editor cannot tell a cross-file call line from any other line start, so the statistics
have no ``cross-file`` kind and that kind shares the ``line-start`` weight.
A kind's weight is its share of the accepted characters (of the accepted suggestions when no characters were
recorded; equal weights when nothing was accepted). The tolerated latency is the 90th percentile of the latency of
accepted suggestions: the user has shown they wait that long for a suggestion they take.

A model's *expected accepted characters* at a budget is the weighted sum over kinds of its useful characters per
task of that kind. The recommendation is the model with the most of them at the largest budget within the
tolerated latency (the smallest budget when even that is slower than the user's habit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from codehearth.evaluate.tasks import KINDS


class KindCounts(msgspec.Struct, kw_only=True, rename="camel"):
    shown: int = 0
    accepted: int = 0
    accepted_chars: int = 0


class AcceptanceProfile(msgspec.Struct, kw_only=True, rename="camel"):
    kinds: dict[str, KindCounts] = msgspec.field(default_factory=dict)
    tolerated_ms: float | None = None  # p90 latency of accepted suggestions
    source: str = ""

    def weights(self) -> dict[str, float]:
        def counts(kind: str) -> KindCounts:
            return self.kinds.get("line-start" if kind == "cross-file" and kind not in self.kinds else kind,
                                  KindCounts())

        chars = {k: counts(k).accepted_chars for k in KINDS}
        total = sum(chars.values())
        if not total:
            chars = {k: counts(k).accepted for k in KINDS}
            total = sum(chars.values())
        if not total:
            return {k: round(1 / len(KINDS), 4) for k in KINDS}
        return {k: round(v / total, 4) for k, v in chars.items()}


class StatsError(Exception):
    pass


def load_profile(path: Path | None = None, days: float | None = None) -> AcceptanceProfile:
    """The profile from the user's statistics store (``path`` None), another store file, or a JSON file."""
    if path is not None and path.suffix.lower() == ".json":
        return _load_json(path)
    try:
        from codehearth.feedback.stats import acceptance_summary
    except ImportError:
        raise StatsError("this build keeps no acceptance statistics; pass a JSON profile (FILE.json)") from None
    if path is not None and not path.exists():
        raise StatsError(f"no acceptance statistics at {path}")
    summary = acceptance_summary(days, path)
    try:
        profile = msgspec.convert(msgspec.to_builtins(summary), AcceptanceProfile)
    except msgspec.ValidationError as exc:
        raise StatsError(f"acceptance statistics in an unexpected shape: {exc}") from None
    profile.kinds = {k: v for k, v in profile.kinds.items() if k in KINDS}
    if not any(c.shown for c in profile.kinds.values()):
        raise StatsError(f"no suggestions recorded yet in {getattr(summary, 'store', '') or 'the statistics'}; "
                         "use the editor for a while (or pass a JSON profile)")
    profile.source = str(getattr(summary, "store", "") or path or "the acceptance statistics")
    return profile


def _load_json(path: Path) -> AcceptanceProfile:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise StatsError(f"cannot read acceptance statistics {path}: {exc.strerror}") from None
    try:
        profile = msgspec.json.decode(raw, type=AcceptanceProfile)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StatsError(f"{path} is not an acceptance profile: {exc}") from None
    unknown = sorted(set(profile.kinds) - set(KINDS))
    if unknown:
        raise StatsError(f"{path}: unknown task kinds {', '.join(unknown)} (known: {', '.join(KINDS)})")
    profile.source = str(path)
    return profile


def recommend(results: list[dict[str, Any]], profile: AcceptanceProfile) -> dict[str, Any]:
    """Expected accepted characters per model at the tolerated budget, best first."""
    weights = profile.weights()
    budgets = sorted({int(r["budget_ms"]) for r in results})
    if not budgets:
        return {"weights": weights, "tolerated_ms": profile.tolerated_ms, "ranking": []}
    fitting = [b for b in budgets if profile.tolerated_ms is None or b <= profile.tolerated_ms]
    budget = max(fitting) if fitting else min(budgets)
    ranking = []
    for r in results:
        if int(r["budget_ms"]) != budget:
            continue
        by_kind = r.get("by_kind", {})
        expected = sum(w * float(by_kind.get(k, {}).get("useful_chars") or 0.0) for k, w in weights.items())
        ranking.append({"model": r["model"], "expected_accepted_chars": round(expected, 2)})
    ranking.sort(key=lambda x: -x["expected_accepted_chars"])
    return {
        "weights": weights,
        "tolerated_ms": profile.tolerated_ms,
        "budget_ms": budget,
        "ranking": ranking,
        "best": ranking[0]["model"] if ranking else None,
        "source": profile.source,
    }


def profile_json_example() -> str:
    example = AcceptanceProfile(
        kinds={"mid-line": KindCounts(shown=120, accepted=40, accepted_chars=900),
               "line-start": KindCounts(shown=80, accepted=12, accepted_chars=310)},
        tolerated_ms=700,
    )
    return json.dumps(msgspec.to_builtins(example), indent=2)
