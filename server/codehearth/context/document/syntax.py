"""A document's tree-sitter tree, edited and re-parsed incrementally.

Buffers over :data:`MAX_PARSE_BYTES` and languages without a grammar have no tree (callers work line by
line). A parse that runs past its budget (a grammar that loops, see :mod:`codehearth.context.parsing`)
leaves the document without a tree, and the next :data:`PARSE_RETRY_EDITS` edits do not try again, so
typing through such text does not spend a budget on every keystroke.
"""

from __future__ import annotations

import logging

import tree_sitter as ts

from .. import languages, parsing
from .text import TextEdit

log = logging.getLogger(__name__)

MAX_PARSE_BYTES = 1_000_000  # larger buffers are handled line by line (parsing 5 MB takes seconds)
PARSE_RETRY_EDITS = 8


class SyntaxTree:
    def __init__(self, language: str | None, label: str) -> None:
        self.language = language
        self.label = label  # for logs
        self.tree: ts.Tree | None = None
        self._parser: ts.Parser | None = None
        self._skip_parses = 0

    def frozen_copy(self) -> SyntaxTree:
        """A copy for another thread: ``tree.copy()`` (the loop goes on editing its own tree), no parser."""
        other = SyntaxTree(self.language, self.label)
        other.tree = self.tree.copy() if self.tree is not None else None
        other._skip_parses = 1 << 30  # a snapshot never parses
        return other

    def reset(self, source: bytes) -> None:
        """A full parse of ``source``."""
        self.tree = None
        self._parse(source, None)

    def edit(self, edit: TextEdit, source: bytes) -> None:
        """``source`` is the buffer after ``edit``: edit the old tree and re-parse only what changed."""
        tree = self.tree
        self.tree = None
        if tree is not None and len(source) <= MAX_PARSE_BYTES:
            tree.edit(
                start_byte=edit.start_byte,
                old_end_byte=edit.old_end_byte,
                new_end_byte=edit.new_end_byte,
                start_point=edit.start_point,
                old_end_point=edit.old_end_point,
                new_end_point=edit.new_end_point,
            )
        else:
            tree = None
        self._parse(source, tree)

    def _parse(self, source: bytes, old: ts.Tree | None) -> None:
        if self.language is None or len(source) > MAX_PARSE_BYTES:
            return
        if self._skip_parses > 0:
            self._skip_parses -= 1
            return
        if self._parser is None:
            self._parser = languages.new_parser(self.language)
            if self._parser is None:
                return
        try:
            self.tree = parsing.parse(self._parser, source, old, language=self.language)
        except Exception as exc:  # never let a parser problem break editing
            log.warning("parse of %s failed: %s", self.label, exc)
            self.tree = None
            return
        if self.tree is None:
            log.warning("parse of %s ran past its budget; no syntax tree for the next %d edits",
                        self.label, PARSE_RETRY_EDITS)
            self._skip_parses = PARSE_RETRY_EDITS
