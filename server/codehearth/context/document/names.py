"""Identifiers and called names in a range of a document (comments and strings left out)."""

from __future__ import annotations

import re

import tree_sitter as ts

from .. import languages
from ..symbols import called_names_in, called_names_in_text
from .scopes import node_text
from .text import Point, TextBuffer


def identifiers_between(
    tree: ts.Tree | None, buf: TextBuffer, start: Point, end: Point, limit: int = 20_000
) -> list[tuple[str, int]]:
    """(name, row) of identifiers in code between two points (not in comments or strings)."""
    if tree is None:
        out: list[tuple[str, int]] = []
        for r in range(start.row, min(end.row + 1, buf.line_count)):
            out.extend((name, r) for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", buf.line(r)[:4000]))
        return out[:limit]
    source = buf.data
    lo_b = buf.offset(buf.clamp(start))
    hi_b = buf.offset(buf.clamp(end)) if end.row < buf.line_count else len(source)
    found: list[tuple[str, int]] = []
    stack = [tree.root_node]
    while stack and len(found) < limit:
        node = stack.pop()
        if node.end_byte < lo_b or node.start_byte > hi_b:
            continue
        kind = node.type
        if kind in languages.COMMENT_NODE_TYPES or (kind in languages.STRING_NODE_TYPES and kind != "template_string"):
            continue  # a template string's text is skipped, not its `${substitutions}` (code)
        if node.child_count == 0:
            if kind.endswith("identifier") or kind == "constant":
                found.append((node_text(node, source), node.start_point.row))
            continue
        stack.extend(reversed(node.children))
    return found


def called_names_between(
    tree: ts.Tree | None, buf: TextBuffer, language: str | None, start: Point, end: Point
) -> list[str]:
    """Names called between two points, in order of first appearance, unique."""
    if tree is not None and language is not None:
        return called_names_in(tree, language, (start.row, start.column), (end.row, end.column), buf.data)
    lo = buf.offset(buf.clamp(start))
    hi = buf.offset(buf.clamp(end))
    return called_names_in_text(buf.data[lo:hi].decode("utf-8", "replace"))
