"""``codehearth eval`` on the two offline models, through the real command line and completion service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codehearth.cli import main
from codehearth.models.registry import Registry

pytestmark = pytest.mark.model

FIM_MODEL = "qwen2.5-coder-0.5b-instruct"
PREFIX_MODEL = "smollm2-135m-instruct"

# Lines whose rest is settled by the code around them (the names, the next lines), which a model that sees the
# text after the cursor can finish and a prefix-only model has to guess.
SHAPES = '''import math


class Rectangle:
    def __init__(self, width, height):
        self.width = width
        self.height = height

    def area(self):
        return self.width * self.height

    def perimeter(self):
        return 2 * (self.width + self.height)


class Circle:
    def __init__(self, radius):
        self.radius = radius

    def area(self):
        return math.pi * self.radius ** 2

    def perimeter(self):
        return 2 * math.pi * self.radius


def total_area(shapes):
    return sum(shape.area() for shape in shapes)


def largest(shapes):
    return max(shapes, key=lambda shape: shape.area())
'''


@pytest.fixture
def fixture_repo(tmp_path: Path) -> Path:
    root = tmp_path / "shapes"
    root.mkdir()
    (root / "shapes.py").write_text(SHAPES)
    (root / ".codehearth.toml").write_text("[context]\nbudgetTokens = 384\n")  # small prompts keep it quick
    return root


def test_eval_compares_the_two_offline_models(fixture_repo: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry()
    for model in (FIM_MODEL, PREFIX_MODEL):
        if not registry.path(model).exists():
            pytest.skip(f"{model} is not pulled")
    monkeypatch.setenv("CODEHEARTH_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    code = main(["eval", str(fixture_repo), "--models", f"{PREFIX_MODEL},{FIM_MODEL}", "--budget-ms", "20000",
                 "--tasks", "6", "--kinds", "mid-line", "--seed", "1", "--out", str(out), "--no-progress"])
    assert code == 0
    assert (out / "report.md").exists() and (out / "results.json").exists() and (out / "results.jsonl").exists()
    results = json.loads((out / "results.json").read_text())
    assert results["complete"] is True and results["tasks"] == 6 and results["task_kinds"] == {"mid-line": 6}
    rows = {r["model"]: r for r in results["results"]}
    assert set(rows) == {FIM_MODEL, PREFIX_MODEL}
    for model, r in rows.items():
        assert r["tasks"] == 6 and r["budget_ms"] == 20000
        assert 0 < r["latency_p50_ms"] <= r["latency_p95_ms"]
        assert 0.0 <= r["exact"] <= 1.0 and 0.0 <= r["shown"] <= 1.0
        assert r["prompt_tokens_per_s"] > 0
        run = results["models"][model]
        assert run["load_ms"] > 0 and run["peak_rss_mb"] > 50
    assert results["models"][FIM_MODEL]["fim"] == "psm" and results["models"][PREFIX_MODEL]["fim"] == "none"
    assert rows[FIM_MODEL]["exact"] > rows[PREFIX_MODEL]["exact"]
    assert rows[FIM_MODEL]["useful_chars"] > rows[PREFIX_MODEL]["useful_chars"]
    report = (out / "report.md").read_text()
    assert f"| {FIM_MODEL} | 20000 ms | 6 |" in report
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in report
    else:
        assert (out / "latency-vs-useful.png").stat().st_size > 1000 and (out / "per-kind.png").exists()
