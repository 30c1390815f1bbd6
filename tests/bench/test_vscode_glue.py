"""The VS Code benchmark's glue (benchmarks/vscode/glue.py): the driver's spec types exactly the passage, and its
readings come back as the editor benchmark's readings, judged by the same scoring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from benchmarks.editor import passages, scoring
from benchmarks.vscode import glue


def _passage() -> passages.Passage:
    lines = ["def f(x):", "    if x:", "        return 1"]
    p = passages.Passage("m.py:3-5", "m.py", 3, lines, "test")
    p.keys = passages.keys_of(lines, 3, {})
    return p


def _replay(spec_passage: dict[str, Any]) -> list[str]:
    """The lines the driver's keys produce: the first indentation, characters, Enter plus the next indentation."""
    lines = [spec_passage["indent"]]
    for key in spec_passage["keys"]:
        if key["char"] == "\n":
            lines.append(key["nextIndent"])
        else:
            lines[-1] += key["char"]
    return lines


def test_spec_types_the_passage_back_at_its_row(tmp_path: Path) -> None:
    p = _passage()
    (tmp_path / "m.py").write_text('"""A module."""\n\n\nx = 1\n')
    spec = glue.spec([p], tmp_path, 150, 1000, {"codehearth.logLevel": "debug"})
    (sp,) = spec["passages"]
    assert _replay(sp) == p.lines
    assert (sp["row"], sp["module"], sp["shows"]) == (2, "m.py", '"""A')
    assert spec["cadenceMs"] == 150 and spec["workspace"] == str(tmp_path)


def test_readings_are_scored_like_the_neovim_benchmark() -> None:
    p = _passage()
    typed = glue.typed_before(p)
    assert typed[0] == "" and typed[len("def f(x):")] == "def f(x):" and typed[len("def f(x):") + 1] == "    "
    seen = []
    for i, line in enumerate(typed):
        first = "def f(x):" if i == 0 else ""  # a right ghost text before the first key, nothing after
        seen.append({"index": i, "first": first, "below": [], "line": line, "focused": True, "t": i * 0.15})
    seen[5]["line"] = "def g"  # the DOM showed something else: not trusted
    got = glue.readings([p], {"passages": [{"name": p.name, "readings": seen}]})
    assert [r["rest"] for r in got[:2]] == ["def f(x):", "ef f(x):"]
    summary = scoring.summarise(got)
    assert summary["keystrokes"] == len(p.keys)
    assert summary["useful_chars"] == len("def f(x):") and summary["exact_share"] > 0
    assert summary["saved_per_100"] == round(100 * (len("def f(x):") - 1) / len(p.keys), 1)
    assert summary["untrusted"] == 1


def test_missing_or_short_readings_fail_loudly() -> None:
    p = _passage()
    with pytest.raises(ValueError, match="typed no"):
        glue.readings([p], {"passages": []})
    with pytest.raises(ValueError, match="readings for"):
        glue.readings([p], {"passages": [{"name": p.name, "readings": []}]})


def test_repeats_count_each_lines_saving_once_per_repeat() -> None:
    p = _passage()
    exact = [{"index": i, "first": "def f(x):" if i == 0 else "", "below": [], "line": line, "focused": True,
              "t": 0.0} for i, line in enumerate(glue.typed_before(p))]
    blank = [{**r, "first": ""} for r in exact]
    runs = [{"model_used": "m", "answers": [{"source": "model"}], "readings": glue.readings([p], {"passages": [
        {"name": p.name, "readings": seen}]})} for seen in (exact, blank, exact)]
    got = glue.combine(runs)
    n = len(p.keys)
    assert got["summary"]["all"]["keystrokes"] == 3 * n
    assert got["summary"]["all"]["saved_per_100"] == round(100 * 2 * (len("def f(x):") - 1) / (3 * n), 1)
    assert got["spread"]["useful_per_keystroke"] == [0.0, round(len("def f(x):") / n, 3)]
    assert [r["answers_by_source"] for r in got["runs"]] == [{"model": 1}] * 3
    assert got["model_used"] == "m" and "readings" not in got["runs"][0]
