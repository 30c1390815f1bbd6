"""The committed editor benchmark results (benchmarks/results/editor.json) are physically possible and complete:
no row's model answer beats the floor, both cadences and the llama.vim baseline are there, from committed code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from benchmarks.editor import bounds

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "editor.json"


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    if not RESULTS.is_file():
        pytest.skip("no editor benchmark results committed yet")
    return dict(json.loads(RESULTS.read_text()))


def test_no_row_beats_the_floor(results: dict[str, Any]) -> None:
    floor = results["floor"]
    checked = 0
    for cadence, c in results["cadences"].items():
        for name, row in c["rows"].items():
            checked_row = floor["rows"][f"{cadence}/{name}"]
            rates = floor["rates"][checked_row.get("rates_key", checked_row["model"])]  # the row's own threads
            if row["kind"] == "codehearth":
                answers = [{"ms": a["ms"], "generated": a["generated"]} for a in row["answers"]
                           if a["source"] == "model"]
            else:
                answers = [{"ms": t["prompt_ms"] + t["gen_ms"], "generated": t["generated"]}
                           for t in row["server_tasks"]]
            verdict = bounds.floor_check(answers, rates)  # recomputed, not read from the file
            assert verdict["below_floor"] == 0, (cadence, name, verdict)
            checked += verdict["answers"]
    assert checked > 0
    assert floor["rows_beating_floor"] == []


def test_both_cadences_rows_and_baseline(results: dict[str, Any]) -> None:
    assert sorted(results["cadences"]) == ["150", "250"]
    assert sum(p["keystrokes"] for p in results["passages"]) >= 600
    for c in results["cadences"].values():
        kinds = {row["kind"] for row in c["rows"].values()}
        assert {"codehearth", "llama.vim"} <= kinds
        assert "defaults" in c["rows"]
        for row in c["rows"].values():
            assert row["summary"]["all"]["keystrokes"] == sum(p["keystrokes"] for p in results["passages"])
            assert row["share_of_ceiling"] is not None
    assert results["ceiling"]["best"] in ("ours_full_prompt", "llama_server_prompt")


def test_from_committed_code(results: dict[str, Any]) -> None:
    assert "+dirty" not in results["git_commit"]
