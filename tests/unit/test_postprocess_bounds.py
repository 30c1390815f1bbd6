"""The deadline cut's last-word rule is linear (it was ``re.sub(r"\\w+$")``: quadratic on a long word before a dot)."""

from __future__ import annotations

import pytest

from codehearth.complete.postprocess import complete_words


def test_the_word_still_growing_is_cut() -> None:
    assert complete_words("total = compute(val", "line") == "total = compute("
    assert complete_words("x = 1\ny = some_na", "line") == "x = 1\ny ="
    assert complete_words("naïve_ünïcode", "line") == ""  # one word, still growing: nothing yet


@pytest.mark.timeout(60)
def test_a_megabyte_word_before_a_dot_is_read_once() -> None:
    text = "y" * (1024 * 1024) + "."
    assert complete_words(text, "line") == text  # it ends in a dot: no word is growing
    assert complete_words("abc " + "y" * (1024 * 1024), "line") == "abc"
