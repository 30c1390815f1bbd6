"""The concurrency stress (benchmarks/reliability/stress.py) in CI: two minutes of the real server over stdio with
the real default model and the thread-ownership debug mode on, while it is typed into, reloaded by settings and by
its model file being replaced, 1,000 workspace files come and go, explanations start and are cancelled, and
requests are cancelled in storms."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.reliability.stress import run_stress

pytestmark = pytest.mark.model

SECONDS = 120
FILES = 1000


def test_everything_at_once_keeps_every_answer_sound(default_model: Path, tmp_path: Path) -> None:
    result = run_stress(SECONDS, seed=23, work=tmp_path, files=FILES)
    assert result["problems"] == []
    assert (result["unanswered"], result["internal_errors"], result["stale"], result["null_id_errors"]) == (0, 0, 0, 0)
    assert result["alive_at_end"] and result["exit_code"] == 0
    assert (result["files_created"], result["files_deleted"]) == (FILES, FILES)
    # What the run went through (so a run that did not get there cannot pass): reloads from settings and from the
    # replaced model file, cancelled explanations, cancel storms, closes, and suggestions with text.
    assert result["settings_changes"] >= 8 and result["model_replacements"] >= 4
    assert result["reloads"] >= result["model_replacements"]
    assert result["explain_cancels"] >= 1 and result["storms"] >= 1 and result["closes"] >= 1
    assert result["suggestions_with_text"] >= 1
    assert any("engine.nCtx: 16 is too small" in message for message in result["pop_ups"])
