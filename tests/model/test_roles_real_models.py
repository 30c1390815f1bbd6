"""Two roles with the real offline pair: SmolLM2-135M and Qwen2.5-Coder-0.5B side by side, or one file twice.

`auto` is fed fixed speed figures (a slow and a fast machine), so the choice does not depend on how busy this
machine is; everything after the choice is real: llama.cpp loads the files, completes and explains.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from codehearth.app import Assistant
from codehearth.config import EngineSettings, ExplainSettings, Settings
from codehearth.context.document import Point
from codehearth.engine.speed import SpeedFigures
from codehearth.models.registry import ModelEntry, Registry

pytestmark = pytest.mark.model

SMOL = "smollm2-135m-instruct"
QWEN = "qwen2.5-coder-0.5b-instruct"
SOURCE = '''def total_value(items):
    """Return the value of all items in stock."""
    total = 0.0
    for item in items:
        total += item.price * item.quantity
    return total


def names(items):
    return [item.name for item in '''


def machine(rates: dict[str, tuple[float, float]]):  # type: ignore[no-untyped-def]
    def lookup(entry: ModelEntry, path: Path) -> SpeedFigures | None:
        r = rates.get(entry.id)
        return SpeedFigures(prompt_tokens_per_s=r[0], generated_tokens_per_s=r[1], source="fixed") if r else None

    return lookup


SLOW = machine({SMOL: (800.0, 90.0), QWEN: (250.0, 18.0)})
FAST = machine({SMOL: (6000.0, 400.0), QWEN: (2500.0, 120.0)})


@pytest.fixture(scope="module")
def pair() -> Path:
    registry = Registry()
    for model_id in (SMOL, QWEN):
        if not registry.is_present(model_id):
            pytest.skip(f"{model_id} is not downloaded (make model)")
    return registry.directory


def make(pair: Path, tmp_path: Path, lookup, **extra: object) -> Assistant:  # type: ignore[no-untyped-def]
    settings = Settings(model_dir=str(pair), latency_budget_ms=400, explain_first_chunk_ms=4000,
                        max_tokens_single_line=8, engine=EngineSettings(n_ctx=1024),
                        explain=ExplainSettings(max_tokens=12), **extra)  # type: ignore[arg-type]
    a = Assistant(settings=settings, data_dir=tmp_path / "cache", speed_lookup=lookup)
    a.apply_settings(settings)
    return a


def relaxed(a: Assistant) -> None:
    """After the choice (made at latencyBudgetMs 400), let this busy machine finish a completion."""
    a.apply_settings(msgspec.structs.replace(a.settings, latency_budget_ms=20000))


END = Point(9, len(SOURCE.splitlines()[9]))


def resident_kb() -> tuple[int, int]:
    """(anonymous, file-backed) resident kB of this process: a second mapping of the same file pages shows in the
    second figure even though the page cache holds them once (VmRSS counts every mapping)."""
    rollup = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":")
        rollup[key] = int(value.split()[0])
    return rollup["Anonymous"], rollup["Rss"] - rollup["Anonymous"]


def mappings_of(path: str) -> int:
    """How many separate mmaps of this file the process holds (adjacent segments of one map count once)."""
    starts = set()
    ends: set[str] = set()
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith(path):
            start, end = line.split()[0].split("-")
            if start not in ends:
                starts.add(start)
            ends.add(end)
    return len(starts)


def test_slow_machine_two_files_side_by_side_complete_and_explain(pair: Path, tmp_path: Path) -> None:
    a = make(pair, tmp_path, SLOW)
    assert a.load_engine() is not None
    status = a.models_status()
    assert status["completion"]["model"] == SMOL and status["explanation"]["model"] == QWEN
    assert "typical keystroke 143 ms" in status["completion"]["reason"]
    assert a.engine() is not a.explain_engine()
    assert a.engine().info.fim_style == "none" and a.explain_engine().info.fim_style == "psm"  # type: ignore[union-attr]
    relaxed(a)
    doc = a.open_document((tmp_path / "inv.py").as_uri(), SOURCE, "python")
    suggestion = asyncio.run(a.completions.complete(doc, END))
    assert suggestion.source == "model" and suggestion.text.strip()
    explanation = asyncio.run(a.explanations.explain(doc, Point(2, 4)))
    assert explanation.function == "total_value" and explanation.text and explanation.timings is not None
    assert explanation.timings.tokens_generated == 12
    a.shutdown()


def test_fast_machine_one_file_for_both_roles_is_mapped_once(pair: Path, tmp_path: Path) -> None:
    a = make(pair, tmp_path, FAST)
    a.load_engine()
    status = a.models_status()
    assert status["completion"]["model"] == QWEN and status["explanation"]["model"] == QWEN
    assert a.engine() is a.explain_engine()
    path = str(Registry(directory=pair).path(QWEN))
    size_kb = Path(path).stat().st_size // 1024
    relaxed(a)
    doc = a.open_document((tmp_path / "inv.py").as_uri(), SOURCE, "python")
    asyncio.run(a.completions.complete(doc, END))  # the completion context touches the weights
    anon_before, file_before = resident_kb()
    explanation = asyncio.run(a.explanations.explain(doc, Point(2, 4)))  # a second context on the same weights
    anon_after, file_after = resident_kb()
    assert explanation.text and explanation.timings is not None and explanation.timings.tokens_generated == 12
    assert mappings_of(path) == 1
    # A second load of the file would map it again (+462 MB file-backed) and add its own vocabulary and repacked
    # weights (+96 MB anonymous); a second context adds its KV cache and compute buffers (about 23 MB).
    assert file_after - file_before < size_kb // 20, f"file-backed resident grew {file_after - file_before} kB"
    assert anon_after - anon_before < size_kb // 8, f"anonymous resident grew {anon_after - anon_before} kB"
    a.shutdown()
