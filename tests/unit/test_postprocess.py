"""Golden tests for completion post-processing: tests/fixtures/postprocess.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from codehearth.complete.postprocess import CursorContext, complete_lines, is_repetitive, postprocess

CURSOR = "█"
CASES = tomllib.loads((Path(__file__).parents[1] / "fixtures" / "postprocess.toml").read_text())["case"]


def cursor_context(source: str, prose: bool = False, closer: str = "") -> CursorContext:
    before, after = source.split(CURSOR)
    line_prefix = before.rsplit("\n", 1)[-1]
    line_suffix, _, below = after.partition("\n")
    above = [line for line in before.split("\n")[:-1] if line.strip()]
    return CursorContext(
        line_prefix=line_prefix,
        line_suffix=line_suffix,
        next_lines=tuple(below.split("\n")[:5]),
        previous_line=above[-1] if above else "",
        prose=prose,
        closer=closer,
    )


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden(case: dict[str, str]) -> None:
    ctx = cursor_context(case["source"], bool(case.get("prose", False)), str(case.get("closer", "")))
    got = postprocess(case["raw"], case["shape"], ctx)  # type: ignore[arg-type]
    assert got == case["expected"]


def test_deadline_answer_is_whole_lines_only() -> None:
    assert complete_lines("foo(bar", "line") == ""
    assert complete_lines("a = 1\n    b = 2\n    c = (", "block") == "a = 1\n    b = 2"


def test_varied_text_is_not_repetitive() -> None:
    assert not is_repetitive("return sorted(set(items), key=len)")


def test_complete_words_cuts_before_the_last_unfinished_word() -> None:
    from codehearth.complete.postprocess import complete_words

    assert complete_words("value + oth", "line") == "value +"
    assert complete_words("value + other(", "line") == "value + other("  # ends in punctuation: all finished
    assert complete_words("va", "line") == ""  # fewer than a few characters: nothing
    assert complete_words("ab cd", "line") == ""  # "ab" is too short once "cd" (maybe unfinished) goes
    assert complete_words("x = 1\ny = fo", "block") == "x = 1\ny ="
    assert complete_words("x = 1\nfo", "block") == "x = 1"


def test_without_typed_indent() -> None:
    from codehearth.complete.prompting import typed_in_prompt, without_typed_indent

    assert typed_in_prompt("    ") == "" and typed_in_prompt("    if") == "    if" and typed_in_prompt("") == ""
    assert without_typed_indent("    if x:", "    ") == "if x:"
    assert without_typed_indent("        y = 1", "    ") == "    y = 1"  # deeper than typed: the rest is suggested
    assert without_typed_indent("  y = 1\n  z", "    ") == "y = 1\n  z"  # shallower: the typed indentation stands
    assert without_typed_indent("  ", "    ") == ""  # a partial indentation while streaming shows nothing yet
    assert without_typed_indent(" x", "    if") == " x"  # text typed on the line: untouched


def test_a_comment_added_to_a_complete_line_of_code_is_dropped() -> None:
    # The editor benchmark's ceiling (Qwen2.5-Coder-0.5B, no time limit): at the end of "if cycle:" and of
    # "def hls_to_rgb(h, l, s):" the model went on with a comment; the person pressed Enter (wrong ghost text).
    def ctx(line_prefix: str, language: str = "python", line_suffix: str = "") -> CursorContext:
        return CursorContext(line_prefix=line_prefix, line_suffix=line_suffix, language=language)

    assert postprocess("  # If there is a cycle, return it", "line", ctx("    if cycle:")) == ""
    assert postprocess("  # comment\n        raise Cycle", "block", ctx("    if cycle:")) == "\n        raise Cycle"
    assert postprocess("  // the sum", "line", ctx("  let x = a + b;", "javascript")) == ""
    assert postprocess(" # one", "line", ctx("    x = 1 ")) == " # one"  # a typed space may announce it
    assert postprocess(" #fff;", "line", ctx("  color:", "css")) == " #fff;"  # not a comment there
    assert postprocess(" x  # why", "line", ctx("    return")) == " x  # why"  # code first: kept
    assert postprocess("  # note", "line", ctx("    x = 1", "")) == "  # note"  # language unknown: kept
