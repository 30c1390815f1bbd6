"""The text of a document: UTF-8 bytes, a table of line starts, and position conversion.

Positions are :class:`Point` ``(row, column)`` with the column counted in UTF-8 bytes, 0-based, as
tree-sitter counts them. An edit costs one splice and a shift of the line table (linear, never quadratic,
even for a 5 MB single-line file), and reports itself in tree-sitter's terms (:class:`TextEdit`).
"""

from __future__ import annotations

import bisect
import re
from typing import NamedTuple


class Point(NamedTuple):
    row: int
    column: int  # UTF-8 bytes, 0-based


class TextEdit(NamedTuple):
    """One splice, with the arguments ``tree_sitter.Tree.edit`` takes."""

    start_byte: int
    old_end_byte: int
    new_end_byte: int
    start_point: Point
    old_end_point: Point
    new_end_point: Point


class TextBuffer:
    """UTF-8 bytes plus the byte offset of every line start."""

    def __init__(self, text: str = "") -> None:
        self._bytes = b""
        self._line_starts: list[int] = [0]
        self._text: str | None = ""
        self.replace(text)

    @property
    def data(self) -> bytes:
        return self._bytes

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self._bytes.decode("utf-8", "replace")
        return self._text

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def line(self, row: int) -> str:
        """Line ``row`` without its line ending; "" past the end."""
        return self.line_bytes(row).decode("utf-8", "replace")

    def line_bytes(self, row: int) -> bytes:
        if row < 0 or row >= len(self._line_starts):
            return b""
        start = self._line_starts[row]
        if row + 1 < len(self._line_starts):
            end = self._line_starts[row + 1] - 1
        else:
            end = len(self._bytes)
        data = self._bytes[start:end]
        return data[:-1] if data.endswith(b"\r") else data

    def offset(self, point: Point) -> int:
        """Byte offset of a point; ValueError when it is outside the buffer or splits a character."""
        row, col = point
        if row == len(self._line_starts) and col == 0:
            return len(self._bytes)  # one past the last line: the end of the buffer
        if row < 0 or row >= len(self._line_starts) or col < 0:
            raise ValueError(f"position {tuple(point)} outside the document ({len(self._line_starts)} lines)")
        start = self._line_starts[row]
        end = self._line_starts[row + 1] - 1 if row + 1 < len(self._line_starts) else len(self._bytes)
        if col > end - start:
            raise ValueError(f"column {col} past the end of line {row} ({end - start} bytes)")
        off = start + col
        if off < len(self._bytes) and 0x80 <= self._bytes[off] < 0xC0:
            raise ValueError(f"position {tuple(point)} splits a UTF-8 character")
        return off

    def point_at(self, offset: int) -> Point:
        """The point of a byte offset (binary search over the line table)."""
        offset = max(0, min(offset, len(self._bytes)))
        row = bisect.bisect_right(self._line_starts, offset) - 1
        return Point(row, offset - self._line_starts[row])

    def clamp(self, point: Point) -> Point:
        """The nearest valid point (inside the buffer, on a character boundary)."""
        row = min(max(point.row, 0), len(self._line_starts) - 1)
        line = self.line_bytes(row)
        col = min(max(point.column, 0), len(line))
        while 0 < col < len(line) and 0x80 <= line[col] < 0xC0:
            col -= 1
        return Point(row, col)

    def copy(self) -> TextBuffer:
        """A copy that shares the bytes and the line table: both are replaced, never changed in place."""
        other = TextBuffer.__new__(TextBuffer)
        other._bytes, other._line_starts, other._text = self._bytes, self._line_starts, self._text
        return other

    def replace(self, text: str) -> None:
        """Replace the whole text."""
        try:
            self._bytes = text.encode("utf-8")
            self._text = text
        except UnicodeEncodeError:  # lone surrogates: keep a valid buffer
            self._bytes = text.encode("utf-8", "replace")
            self._text = None
        self._line_starts = _line_starts(self._bytes)

    def splice(self, start: Point, end: Point, new_text: str) -> TextEdit:
        """Replace ``[start, end)`` with ``new_text``; ValueError (nothing changed) on a bad range."""
        start_byte = self.offset(Point(*start))
        end_byte = self.offset(Point(*end))
        if end_byte < start_byte:
            raise ValueError(f"edit range end {tuple(end)} before start {tuple(start)}")
        start_pt = self.point_at(start_byte)
        old_end_pt = self.point_at(end_byte)
        new = new_text.encode("utf-8", "replace")
        self._bytes = self._bytes[:start_byte] + new + self._bytes[end_byte:]
        self._text = None
        delta = len(new) - (end_byte - start_byte)
        # line table: lines up to the start row are unchanged; new lines in the insert; the rest shift
        head = self._line_starts[: start_pt.row + 1]
        inserted = [start_byte + m.end() for m in re.finditer(b"\n", new)]
        tail_rows = self._line_starts[old_end_pt.row + 1 :]
        self._line_starts = head + inserted + [s + delta for s in tail_rows]
        nl = new.count(b"\n")
        if nl:
            new_end_pt = Point(start_pt.row + nl, len(new) - new.rfind(b"\n") - 1)
        else:
            new_end_pt = Point(start_pt.row, start_pt.column + len(new))
        return TextEdit(start_byte, end_byte, start_byte + len(new), start_pt, old_end_pt, new_end_pt)


def _line_starts(data: bytes) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer(b"\n", data))
    return starts
