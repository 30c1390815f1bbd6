"""The one post-processing every benchmark row gets before scoring (issue 21): benchmarks.common.shown_text."""

from __future__ import annotations

from benchmarks.common import shown_text


def test_a_line_is_its_first_line_without_trailing_space() -> None:
    assert shown_text("x * 2  \nprint(x)", "    return ") == "x * 2"
    assert shown_text("\nreturn x", "return ") == ""  # mid-line: a newline first shows nothing


def test_after_bare_indentation_the_models_own_indentation_goes() -> None:
    # the server's PSM answer after the auto-indent starts with the indentation again: taken off, like llama.vim
    assert shown_text("    return i", "    ") == "return i"
    assert shown_text("return i", "    ") == "return i"  # ours already has none: no change
    assert shown_text("\n    return i", "    ") == "return i"


def test_a_block_stops_at_its_dedent_and_loses_a_stray_shift() -> None:
    text = " total = 0\n     for v in values:\n         total += v\nprint(total)"
    assert shown_text(text, "    ", "block", header_indent=0) == "total = 0\n    for v in values:\n        total += v"
    deeper = "if x:\n        y = 1\n    return y"
    assert shown_text(deeper, "    ", "block", header_indent=0) == deeper  # no leading shift: kept as written
