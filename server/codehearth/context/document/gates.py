"""Questions the completion gates ask about a position: an empty block just opened? inside a string?

Answered from the tree where there is one, line by line otherwise (no grammar, a buffer too large to parse,
or a tree in error around the position).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol

import tree_sitter as ts

from .. import languages
from .text import Point, TextBuffer

_BLOCK_KEYWORDS = re.compile(
    r"^\s*(async\s+def|def|class|if|elif|else|for|async\s+for|while|with|async\s+with|try|except|finally|match|case)\b"
)


def opens_empty_block(buf: TextBuffer, language: str | None, point: Point) -> bool:
    """On a blank line right after a block opener whose body is still empty."""
    row = point.row
    if buf.line(row).strip():
        return False
    prev = row - 1
    while prev >= 0 and not buf.line(prev).strip():
        prev -= 1
    if prev < 0:
        return False
    opener = _strip_trailing_comment(buf.line(prev), language).rstrip()
    indent = _indent(buf.line(prev))
    brace = opener.endswith(("{", "(", "["))
    colon = opener.endswith(":") and (language in languages.INDENT_LANGUAGES or language is None)
    if colon and language is not None and not _BLOCK_KEYWORDS.match(opener):
        # a multi-line signature ending in "):" (def f(\n a,\n):) still opens a block
        colon = opener.lstrip().startswith(")") or opener.rstrip(":").rstrip().endswith(")")
    if not (brace or colon):
        return False
    nxt = row + 1
    while nxt < buf.line_count and not buf.line(nxt).strip():
        nxt += 1
    if nxt >= buf.line_count:
        return True
    following = buf.line(nxt)
    if brace:
        return following.strip()[:1] in ("}", ")", "]") and _indent(following) <= indent
    return _indent(following) <= indent


class Lines(Protocol):
    def line_bytes(self, row: int) -> bytes: ...


@dataclass(frozen=True)
class TextKind:
    """What kind of text the cursor is in: ``code``; prose (``comment``, ``docstring``, ``multiline-string``),
    where a completion is written as prose; or a one-line ``string`` literal. ``closer``: what ends the prose
    (the docstring's closing quotes, ``*/``), where a suggestion must stop."""

    kind: Literal["code", "comment", "docstring", "multiline-string", "string"]
    closer: str = ""

    @property
    def prose(self) -> bool:
        return self.kind in ("comment", "docstring", "multiline-string")


CODE = TextKind("code")
_QUOTE = re.compile(r"""^[A-Za-z]*("{3}|'{3}|"|'|`|\[=*\[)""")


def text_kind(tree: ts.Tree | None, lines: Lines, language: str | None, point: Point) -> TextKind:
    """The kind of text at ``point`` (the questions behind ``in_string_literal``, answered once)."""
    point = Point(*point)
    if tree is not None:
        p = (point.row, point.column)
        node: ts.Node | None = tree.root_node.descendant_for_point_range(p, p)
        saw_error = False
        while node is not None:
            if node.type in languages.COMMENT_NODE_TYPES:
                text = node.text.decode("utf-8", "replace") if node.text is not None else ""
                return TextKind("comment", "*/" if text.startswith("/*") else "")
            if node.type in ("interpolation", "template_substitution", "format_expression"):
                return CODE
            if node.type in languages.STRING_NODE_TYPES and node.start_point < p < node.end_point:
                if node.type in ("string_content", "string_fragment", "escape_sequence"):
                    node = node.parent
                    continue
                return _string_kind(node, language)
            if node.is_error or node.has_error:
                saw_error = True
            node = node.parent
        if not saw_error:
            return CODE
    before = lines.line_bytes(point.row)[: point.column].decode("utf-8", "replace")
    quote = _open_quote(before, language)
    if quote in ('"""', "'''"):
        return TextKind("docstring", quote)  # an unterminated triple quote is most likely a docstring being written
    if quote:
        return TextKind("string", quote)
    if _comment_start(before, language) >= 0:
        return TextKind("comment")
    return CODE


def _string_kind(node: ts.Node, language: str | None) -> TextKind:
    text = node.text.decode("utf-8", "replace") if node.text is not None else ""
    match = _QUOTE.match(text)
    opener = match.group(1) if match else ""
    closer = {"[[": "]]", "[=[": "]=]"}.get(opener, opener)
    if _is_docstring(node, language):
        return TextKind("docstring", closer)
    if node.start_point[0] != node.end_point[0] or opener in ('"""', "'''", "`"):
        return TextKind("multiline-string", closer)
    return TextKind("string", closer)


def in_string_literal(tree: ts.Tree | None, buf: TextBuffer, language: str | None, point: Point) -> bool:
    """Inside a string literal that is not a docstring (comments are not strings)."""
    # the line-based fallback never says "multiline-string"; the tree does for `…` and multi-line literals
    return text_kind(tree, buf, language, point).kind in ("string", "multiline-string")


def _is_docstring(node: ts.Node, language: str | None) -> bool:
    if language != "python":
        return False
    if node.parent is not None and node.parent.type == "concatenated_string":
        node = node.parent
    stmt = node.parent
    if stmt is None or stmt.type != "expression_statement" or stmt.named_child_count != 1:
        return False
    block = stmt.parent
    if block is None:
        return False
    first = block.named_children[0] if block.named_child_count else None
    if first is None or first.id != stmt.id:
        # attribute docstrings (a string right after an assignment) are documentation too
        prev = stmt.prev_named_sibling
        return prev is not None and prev.type == "expression_statement" and block.type in ("block", "module")
    return block.type == "module" or (
        block.parent is not None and block.parent.type in ("function_definition", "class_definition")
    )


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _strip_trailing_comment(line: str, language: str | None) -> str:
    marker = "#" if language in ("python", None) else "//"
    if marker in line and not _line_in_string(line[: line.index(marker)], language):
        return line[: line.index(marker)]
    return line


def _line_in_string(before: str, language: str | None) -> bool:
    """Line-based guess: is the end of ``before`` inside a quote opened on this line?"""
    quote = _open_quote(before, language)
    # an unterminated triple quote is most likely a docstring being written: not a "string" for gating
    return bool(quote) and quote not in ('"""', "'''")


def _comment_start(before: str, language: str | None) -> int:
    """Where a line comment starts in ``before`` (outside quotes), or -1."""
    marker = "#" if language in ("python", None) else "//"
    start = 0
    while True:
        at = before.find(marker, start)
        if at < 0 or not _open_quote(before[:at], language):
            return at
        start = at + 1


def _open_quote(before: str, language: str | None) -> str:
    """The quote still open at the end of ``before`` (a line), or ""."""
    quote = ""
    i = 0
    n = len(before)
    comment = "#" if language in ("python", None) else "//"
    while i < n:
        ch = before[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if before.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
        else:
            if before.startswith(comment, i):
                return ""
            if ch in "\"'`":
                triple = before[i : i + 3]
                if triple in ('"""', "'''"):
                    quote = triple
                    i += 3
                    continue
                if ch == "'" and language in ("rust",) and i + 2 < n and before[i + 2] != "'":
                    i += 1  # a lifetime, not a char literal
                    continue
                quote = ch
        i += 1
    return quote
