"""Do completions keep their latency and their KV cache while an explanation streams?

Types a line character by character through the completion service on the real default model, once alone and
once while explanations stream continuously in the background, and reports latency percentiles and the share of
prompt tokens reused from the KV cache. Run: python -m benchmarks.priority.explain_priority
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import add_allow_dirty, begin_results, write_results_file
from codehearth.app import Assistant
from codehearth.config import Settings
from codehearth.context.document import Point

SOURCE = '''import math


def circle_area(radius):
    """Return the area of a circle."""
    return math.pi * radius ** 2


def describe(radius):
    area = circle_area(radius)
    return '''
TYPED = "round(area / (2 * math.pi * radius), 3) if radius else 0.0"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], 1)


async def type_line(assistant: Assistant, uri: str) -> dict[str, object]:
    assistant.completions._lru.clear()  # each phase starts cold: no answers remembered from the previous one
    doc = assistant.open_document(uri, SOURCE, "python")
    row = SOURCE.count("\n")
    col = len(SOURCE.split("\n")[-1])
    evaluated = reused = 0
    latencies: list[float] = []
    model_latencies: list[float] = []
    sources: dict[str, int] = {}
    for ch in TYPED:
        doc.apply_edit(Point(row, col), Point(row, col), ch)
        col += 1
        suggestion = await assistant.completions.complete(doc, Point(row, col))
        latencies.append(suggestion.latency_ms)
        if suggestion.source == "model":
            model_latencies.append(suggestion.latency_ms)
        sources[suggestion.source] = sources.get(suggestion.source, 0) + 1
        if suggestion.timings is not None:  # this completion's own tokens (the engine's counters add explanations)
            evaluated += suggestion.timings.tokens_evaluated
            reused += suggestion.timings.tokens_reused
    assistant.close_document(uri)
    return {
        "requests": len(latencies),
        "p50_ms": pct(latencies, 0.5),
        "p95_ms": pct(latencies, 0.95),
        "mean_ms": round(statistics.fmean(latencies), 1),
        "model_answered_p50_ms": pct(model_latencies, 0.5) if model_latencies else None,
        "model_answered_p95_ms": pct(model_latencies, 0.95) if model_latencies else None,
        "tokens_evaluated": evaluated,
        "tokens_reused": reused,
        "reuse_share": round(reused / max(1, reused + evaluated), 3),
        "sources": sources,
    }


async def main() -> None:
    workspace = Path(tempfile.mkdtemp(prefix="priority-"))
    (workspace / "geo.py").write_text(SOURCE)
    settings = Settings(latency_budget_ms=2000, model="smollm2-135m-instruct")  # one model, both contexts
    assistant = Assistant(roots=[workspace], settings=settings, data_dir=workspace / ".cache")
    assistant.apply_settings(settings)
    assert assistant.load_engine() is not None
    uri = (workspace / "geo.py").as_uri()
    await type_line(assistant, uri)  # warm-up: load both contexts' first pages
    alone = await type_line(assistant, uri + "?alone")

    stop = asyncio.Event()
    explained = {"explanations": 0, "chunks": 0}

    async def explain_forever() -> None:
        doc = assistant.open_document(uri + "?explain", SOURCE, "python")
        n = 0
        while not stop.is_set():
            n += 1
            # A different function text each time, so the disk cache never answers.
            doc.set_text(SOURCE.replace("circle_area(radius):", f"circle_area(radius, _v{n}=0):"))
            result = await assistant.explanations.explain(doc, Point(4, 4))
            explained["explanations"] += 1
            explained["chunks"] += result.chunks

    streaming = asyncio.ensure_future(explain_forever())
    await asyncio.sleep(1.0)
    during = await type_line(assistant, uri + "?during")
    stop.set()
    await streaming
    assistant.shutdown()
    report = {
        "model": settings.model_id(),
        "threads": os.cpu_count(),
        "load_average": os.getloadavg(),
        "alone": alone,
        "while_explaining": during,
        "explanations_during_run": explained,
        "design": "explanations run in a second llama context (weights shared through mmap); the decode gate "
        "lets a waiting completion go first between explanation tokens",
    }
    text = json.dumps(report, indent=2)
    print(text)
    out = Path(__file__).resolve().parents[1] / "results" / "explain_priority.json"
    write_results_file(out, text + "\n")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    add_allow_dirty(parser)
    begin_results(parser.parse_args().allow_dirty)  # before the model loads: its calibration goes to a temp folder
    t0 = time.monotonic()
    asyncio.run(main())
    print(f"took {time.monotonic() - t0:.0f} s")
