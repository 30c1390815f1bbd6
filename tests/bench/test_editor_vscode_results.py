"""The committed VS Code editor benchmark results (benchmarks/results/editor-vscode.json) come from committed code,
hold both editors on every repeated keystroke, and every reading was trusted (the line showed what was typed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "editor-vscode.json"


def test_vscode_results_are_complete_and_from_committed_code() -> None:
    if not RESULTS.is_file():
        pytest.skip("no VS Code editor benchmark results committed yet")
    r = json.loads(RESULTS.read_text())
    assert r["provenance"]["dirty"] is False, r["provenance"]
    keys = r["config"]["repeat"] * sum(p["keystrokes"] for p in r["passages"])
    assert set(r["rows"]) == ({"vscode", "neovim"} if r["config"]["neovim_row"] else {"vscode"})
    for name, row in r["rows"].items():
        s = row["summary"]["all"]
        assert s["keystrokes"] == keys, name
        assert s["untrusted"] == 0, name
        assert len(row["runs"]) == r["config"]["repeat"], name
        assert all(run["model_used"] for run in row["runs"]), name
