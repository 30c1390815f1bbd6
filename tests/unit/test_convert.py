"""UTF-16 / UTF-8 / UTF-32 position conversion on non-ASCII text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types

from codehearth.context.document import Document, Point
from codehearth.lsp import convert

LINE = "a😀b漢e\u0301z"  # emoji (2 UTF-16 units, 4 bytes), CJK (3 bytes), e + combining acute


@pytest.mark.parametrize(
    ("encoding", "character", "byte_col"),
    [
        (convert.UTF16, 0, 0),
        (convert.UTF16, 1, 1),
        (convert.UTF16, 3, 5),  # after the emoji
        (convert.UTF16, 2, 1),  # inside the surrogate pair: stays before the emoji
        (convert.UTF16, 4, 6),  # after b
        (convert.UTF16, 5, 9),  # after 漢
        (convert.UTF16, 7, 12),  # after e + combining mark
        (convert.UTF32, 2, 5),
        (convert.UTF8, 5, 5),
        (convert.UTF8, 3, 1),  # inside the emoji's bytes: backs up to its start
        (convert.UTF16, 99, len(LINE.encode())),  # past the end: clamped
    ],
)
def test_column_to_bytes(encoding: str, character: int, byte_col: int) -> None:
    assert convert.column_to_bytes(LINE, character, encoding) == byte_col


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=30), st.data())
def test_round_trip(line: str, data: st.DataObject) -> None:
    for encoding in (convert.UTF8, convert.UTF16, convert.UTF32):
        n_chars = data.draw(st.integers(0, len(line)))
        byte_col = len(line[:n_chars].encode())
        col = convert.bytes_to_column(line, byte_col, encoding)
        assert convert.column_to_bytes(line, col, encoding) == byte_col


def test_incremental_change_with_utf16_positions() -> None:
    doc = Document("file:///t.py", f"x = '{LINE}'\n", "python")
    # Replace the CJK character (UTF-16 columns 9..10 on line 0: x = ' is 5 units, a=1, 😀=2, b=1).
    change = types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(0, 9), types.Position(0, 10)), text="字"
    )
    convert.apply_change(doc, change, convert.UTF16)
    assert doc.text == "x = 'a😀b字e\u0301z'\n"


def test_positions_past_the_end_are_clamped() -> None:
    doc = Document("file:///t.py", "ab\ncd", "python")
    assert convert.to_point(doc, types.Position(9, 9), convert.UTF16) == Point(1, 2)
    assert not convert.in_range(doc, types.Position(5, 0))


def test_lone_surrogates_become_replacement_characters() -> None:
    assert convert.clean_text("a\ud800b") == "a\ufffdb"
    assert convert.clean_text("ok😀") == "ok😀"
