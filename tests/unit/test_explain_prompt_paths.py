"""The explanation prompt names files as the workspace does (issue 22): the callees' definitions were headed by the
index's absolute paths, ~10-20 prompt tokens each that the model reads before the first chunk and that say
nothing (and the user's folders), while completion prompts use workspace-relative paths."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fakes import CachingFakeEngine

from codehearth.config import ContextSettings, ExplainSettings, Settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.context.index import WorkspaceIndex
from codehearth.explain.service import ExplainService

SHAPES = "def area(r):\n    return 3.14159 * r * r\n"
REPORT = """from geo.shapes import area


def double(x):
    return 2 * x


def total(radii):
    s = 0
    for r in radii:
        s += area(r)
    return double(s)
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[WorkspaceIndex, Path]]:
    root = tmp_path / "proj"
    (root / "geo").mkdir(parents=True)
    (root / "geo" / "shapes.py").write_text(SHAPES)
    (root / "geo" / "report.py").write_text(REPORT)
    index = WorkspaceIndex([root], tmp_path / "cache", ContextSettings(index_workers=1))
    index.scan()
    yield index, root
    index.close()


def service(engine: CachingFakeEngine, index: WorkspaceIndex | None) -> ExplainService:
    settings = Settings(explain=ExplainSettings(read_ahead_ms=5))
    builder = ContextBuilder(index, ContextSettings(index_workers=1), lambda s: len(s) // 3 + 1)
    return ExplainService(settings, builder, lambda: engine, cache_dir=None)


def document(path: Path) -> Document:
    return Document(path.as_uri(), path.read_text(), "python", path=path)


async def test_callees_and_the_file_are_named_relative_to_the_workspace(workspace) -> None:
    index, root = workspace
    engine = CachingFakeEngine(["It sums the areas."])
    svc = service(engine, index)
    doc = document(root / "geo" / "report.py")
    await svc.explain(doc, Point(9, 4))
    prompt = engine.prompts[-1]
    assert "File: geo/report.py (python)\n" in prompt
    assert "# geo/shapes.py:1\ndef area(r):\n    return 3.14159 * r * r\n" in prompt
    assert "# geo/report.py:4\ndef double(x):\n    return 2 * x\n" in prompt
    assert str(root) not in prompt
    svc.close()


async def test_the_read_ahead_reads_the_prompt_the_explanation_then_uses(workspace) -> None:
    index, root = workspace
    engine = CachingFakeEngine(["It sums the areas."])
    svc = service(engine, index)
    doc = document(root / "geo" / "report.py")
    svc.rest_at(doc, Point(9, 4))
    for _ in range(2000):
        if engine.log:
            break
        await asyncio.sleep(0.005)
    purpose, ahead, reason = engine.log[0]
    assert (purpose, reason) == ("read-ahead", "length") and ahead.tokens_evaluated == ahead.prompt_tokens
    await svc.explain(doc, Point(9, 4))
    purpose, asked, _ = engine.log[-1]
    assert purpose == "chat" and asked.prompt_tokens == ahead.prompt_tokens and asked.tokens_evaluated == 1
    assert svc.read_ahead_hits == 1
    svc.close()


async def test_without_an_index_the_file_keeps_its_name(tmp_path: Path) -> None:
    path = tmp_path / "shapes.py"
    path.write_text(SHAPES)
    engine = CachingFakeEngine(["It computes an area."])
    svc = service(engine, None)
    await svc.explain(document(path), Point(1, 4))
    assert "File: shapes.py (python)\n" in engine.prompts[-1]
    svc.close()
