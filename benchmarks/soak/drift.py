"""Drift of the soak's sampled series from minute 5 on, and the plot of them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

DRIFT_FROM_MIN = 5.0
DRIFT_LIMIT = 0.05


def fit_drift(samples: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Drift of one series from minute 5 on: last vs first, and the least-squares rise over the span."""
    points = [(s["minute"], s[key]) for s in samples if s["minute"] >= DRIFT_FROM_MIN and s.get(key) is not None]
    if len(points) < 2:
        return {"points": len(points), "end_vs_start": None, "fitted": None}
    xs, ys = [p[0] for p in points], [float(p[1]) for p in points]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    at_start = my + slope * (xs[0] - mx)
    rise = slope * (xs[-1] - xs[0])
    return {
        "points": n,
        "from_minute": xs[0], "to_minute": xs[-1],
        "start": ys[0], "end": ys[-1],
        "end_vs_start": round(ys[-1] / ys[0] - 1, 4) if ys[0] else None,
        "fitted": round(rise / at_start, 4) if at_start else None,
        "slope_per_minute": round(slope, 4),
    }


def steady_samples(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The samples taken with the steady state's llama contexts: from minute 5, the set of contexts held by most
    samples (a sample without a record of them, from an older server, counts as any)."""
    late = [tuple(s["contexts"]) for s in samples if s["minute"] >= DRIFT_FROM_MIN and s.get("contexts")]
    if not late:
        return list(samples)
    steady = Counter(late).most_common(1)[0][0]
    return [s for s in samples if not s.get("contexts") or tuple(s["contexts"]) == steady]


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = results["samples"]
    minutes = [s["minute"] for s in samples]
    fig, axes = plt.subplots(5, 1, figsize=(8, 11), sharex=True)
    for ax, (key, label) in zip(axes, [("rss_mb", "resident memory (MB)"), ("fds", "open file descriptors"),
                                       ("threads", "threads"), ("p95_ms", "completion p95 (ms)")], strict=False):
        ax.plot(minutes, [s[key] for s in samples], marker="o", markersize=3)
        ax.axvline(DRIFT_FROM_MIN, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    split = axes[-1]  # where resident memory lives, so that a rise can be placed
    for key, label in [("anonymousMb", "anonymous"), ("fileMb", "file-backed (model)"),
                       ("heapInUseMb", "C heap in use"), ("heapFreeMb", "C heap free"),
                       ("pythonTracedMb", "Python traced")]:
        if any(key in s for s in samples):
            split.plot(minutes, [s.get(key) for s in samples], marker=".", markersize=3, label=label)
    split.axvline(DRIFT_FROM_MIN, color="grey", linestyle=":", linewidth=1)
    split.set_ylabel("MB")
    split.legend(fontsize=7, loc="upper left")
    split.grid(alpha=0.3)
    axes[-1].set_xlabel("minute")
    title = f"soak: {results['minutes_run']:g} min, {results['requests']} completions, {results['explanations']} explanations"
    if results["shorter_than_an_hour"]:
        title += " (shorter than the 1 h the issue asks for)"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
