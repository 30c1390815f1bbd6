"""A text buffer with an incrementally re-parsed tree-sitter tree.

Positions are :class:`Point` ``(row, column)`` with the column counted in UTF-8 bytes, 0-based,
as tree-sitter counts them. The LSP layer converts UTF-16 positions before calling in. Documents over
:data:`MAX_PARSE_BYTES`, languages without a grammar, and text a grammar cannot parse within its budget
have no tree; everything still works line by line.

Modules, by concern: ``text`` (bytes, line table, position conversion), ``syntax`` (incremental
tree-sitter parsing), ``scopes`` (enclosing functions and containers), ``gates`` (the completion gates'
questions), ``names`` (identifiers and calls in a range), ``buffer`` (:class:`Document`, tying them together).
"""

from .buffer import SYMBOLS_MAX_STALE_EDITS, SYMBOLS_MAX_STALE_S, Document
from .scopes import FunctionSpan
from .syntax import MAX_PARSE_BYTES, PARSE_RETRY_EDITS
from .text import Point, TextBuffer, TextEdit

__all__ = [
    "MAX_PARSE_BYTES",
    "PARSE_RETRY_EDITS",
    "SYMBOLS_MAX_STALE_EDITS",
    "SYMBOLS_MAX_STALE_S",
    "Document",
    "FunctionSpan",
    "Point",
    "TextBuffer",
    "TextEdit",
]
