"""LSP <-> domain conversions. The one place that knows about UTF-16 code units.

Domain positions are :class:`Point` (row, UTF-8 byte column), as tree-sitter counts. LSP positions count in
the negotiated encoding: UTF-8 bytes, UTF-16 code units (the default) or UTF-32 code points.
"""

from __future__ import annotations

from lsprotocol import types

from codehearth.context.document import Document, Point

UTF8 = types.PositionEncodingKind.Utf8
UTF16 = types.PositionEncodingKind.Utf16
UTF32 = types.PositionEncodingKind.Utf32


def clean_text(text: str) -> str:
    """Lone surrogates (invalid in UTF-8, possible in JSON) become U+FFFD, one character each."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def column_to_bytes(line: str, character: int, encoding: str) -> int:
    """An LSP column on ``line`` -> UTF-8 byte column, clamped to the line's end (as the spec asks)."""
    if character <= 0:
        return 0
    if encoding == UTF8:
        raw = line.encode("utf-8")
        column = min(character, len(raw))
        # Never split a character: back up to its first byte.
        while column > 0 and column < len(raw) and (raw[column] & 0xC0) == 0x80:
            column -= 1
        return column
    units = 0
    byte_col = 0
    for ch in line:
        width = 2 if (encoding == UTF16 and ord(ch) > 0xFFFF) else 1
        if units + width > character:
            break
        units += width
        byte_col += len(ch.encode("utf-8"))
    return byte_col


def bytes_to_column(line: str, byte_col: int, encoding: str) -> int:
    """A UTF-8 byte column on ``line`` -> LSP column in the negotiated encoding."""
    raw = line.encode("utf-8")
    head = raw[: max(0, byte_col)].decode("utf-8", errors="ignore")
    if encoding == UTF8:
        return len(head.encode("utf-8"))
    if encoding == UTF16:
        return len(head.encode("utf-16-le")) // 2
    return len(head)


def to_point(doc: Document, position: types.Position, encoding: str) -> Point:
    """Clamp past-the-end lines to the document's end, past-the-end columns to the line's end."""
    if position.line >= doc.line_count:
        last = max(0, doc.line_count - 1)
        return Point(last, len(doc.line(last).encode("utf-8")))
    line = doc.line(position.line)
    return Point(position.line, column_to_bytes(line, position.character, encoding))


def in_range(doc: Document, position: types.Position) -> bool:
    return 0 <= position.line < doc.line_count or (position.line == doc.line_count and position.character == 0)


def to_position(doc: Document, point: Point, encoding: str) -> types.Position:
    return types.Position(line=point.row, character=bytes_to_column(doc.line(point.row), point.column, encoding))


def apply_change(doc: Document, change: types.TextDocumentContentChangeEvent, encoding: str) -> None:
    if isinstance(change, types.TextDocumentContentChangePartial):
        start = to_point(doc, change.range.start, encoding)
        end = to_point(doc, change.range.end, encoding)
        if end < start:
            start, end = end, start
        doc.apply_edit(start, end, clean_text(change.text))
    else:
        doc.set_text(clean_text(change.text))
