"""PNG plots of an eval: useful characters against latency per model, and per task kind.

matplotlib comes with the ``bench`` extra; without it the report is written all the same and says so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MISSING = "plots skipped: matplotlib is not installed (pip install 'codehearth[bench]')"


def write_plots(results: dict[str, Any], out: Path) -> tuple[list[str], str]:
    """(files written, a message when none could be)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], MISSING
    rows = results["results"]
    if not rows:
        return [], "plots skipped: no results yet"
    out.mkdir(parents=True, exist_ok=True)
    models = list(dict.fromkeys(r["model"] for r in rows))
    budgets = sorted({r["budget_ms"] for r in rows})
    files: list[str] = []

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model in models:
        mine = sorted((r for r in rows if r["model"] == model), key=lambda r: r["budget_ms"])
        xs = [r["latency_p50_ms"] or 0 for r in mine]
        ys = [r["useful_chars"] for r in mine]
        ax.plot(xs, ys, marker="o", label=model)
        for r, x, y in zip(mine, xs, ys, strict=True):
            ax.annotate(f"{r['budget_ms']} ms", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("latency p50 (ms)")
    ax.set_ylabel("useful characters per task")
    ax.set_title(f"{results['repository_name']}: usefulness against latency (budgets annotated)")
    ax.grid(alpha=0.3)
    ax.legend()
    path = out / "latency-vs-useful.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(str(path))

    kinds = list(dict.fromkeys(k for r in rows for k in r["by_kind"]))
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.5 * len(budgets), 4), squeeze=False, sharey=True)
    width = 0.8 / max(1, len(models))
    for ax, budget in zip(axes[0], budgets, strict=True):
        for i, model in enumerate(models):
            r = next((r for r in rows if r["model"] == model and r["budget_ms"] == budget), None)
            values = [(r["by_kind"].get(k) or {}).get("useful_chars") or 0 if r else 0 for k in kinds]
            ax.bar([j + i * width for j in range(len(kinds))], values, width, label=model)
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(kinds))], kinds, fontsize=8)
        ax.set_title(f"budget {budget} ms")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("useful characters per task")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"{results['repository_name']}: per task kind")
    fig.tight_layout()
    path = out / "per-kind.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(str(path))
    return files, ""
