"""One open buffer: its text, language, version and (when a grammar exists) an incrementally re-parsed tree.

The parts live in their own modules: :mod:`.text` (bytes, line table, positions), :mod:`.syntax` (the tree),
:mod:`.scopes` (functions and containers), :mod:`.gates` (empty block, inside a string) and :mod:`.names`
(identifiers and calls in a range). :class:`Document` ties them together and caches the symbols.

A document is owned by the event loop (see :mod:`codehearth.threads`): only the loop edits it or writes its symbol
cache. Another thread works on :meth:`Document.snapshot`, an immutable copy of one revision.
"""

from __future__ import annotations

import time
from pathlib import Path

import tree_sitter as ts

from ... import threads
from .. import languages
from ..symbols import FileSymbols, called_names_in, called_names_in_text, extract_symbols
from . import gates, names, scopes
from .scopes import FunctionSpan
from .syntax import SyntaxTree
from .text import Point, TextBuffer

SYMBOLS_MAX_STALE_EDITS = 40
SYMBOLS_MAX_STALE_S = 2.0


class Document:
    """One open buffer: text, language, version and (when a grammar exists) a syntax tree."""

    def __init__(
        self,
        uri: str,
        text: str,
        language: str | None = None,
        version: int = 0,
        path: Path | None = None,
    ) -> None:
        self.uri = uri
        self.path = path
        if language is None and path is not None:
            language = languages.language_for_path(path)
        self.language = language
        self.version = version
        self._buf = TextBuffer()
        self._syntax = SyntaxTree(language, uri)
        self._symbols: FileSymbols | None = None
        self._stale_symbols: FileSymbols | None = None
        self._stale_at = 0.0
        self._edits_since_symbols = 0
        self.last_edit: Point | None = None  # where the last incremental edit ended (the cursor, most likely)
        self.revision = 0  # counts every change of the text (the client's ``version`` may repeat or be absent)
        self.frozen = False  # a snapshot: no edits; its symbol cache belongs to the thread using it
        self._owner = threads.owner()
        self.set_text(text)

    # ----------------------------------------------------------------- text
    @property
    def text(self) -> str:
        return self._buf.text

    @property
    def source(self) -> bytes:
        """The buffer as UTF-8 bytes (what the tree was parsed from)."""
        return self._buf.data

    @property
    def tree(self) -> ts.Tree | None:
        return self._syntax.tree

    @property
    def line_count(self) -> int:
        return self._buf.line_count

    def line(self, row: int) -> str:
        """Line ``row`` without its line ending; "" past the end."""
        return self._buf.line(row)

    def line_bytes(self, row: int) -> bytes:
        return self._buf.line_bytes(row)

    def offset(self, point: Point) -> int:
        """Byte offset of a point; ValueError when it is outside the buffer or splits a character."""
        return self._buf.offset(point)

    def point_at(self, offset: int) -> Point:
        return self._buf.point_at(offset)

    def clamp(self, point: Point) -> Point:
        """The nearest valid point (inside the buffer, on a character boundary)."""
        return self._buf.clamp(point)

    # ------------------------------------------------------------ snapshots
    def snapshot(self) -> Document:
        """An immutable copy of this revision for another thread: the text (shared: the buffer never changes its
        bytes in place), a copy of the tree (tree-sitter's documented way to use a tree on another thread) and the
        symbols cached so far. Cheap: no copy of the text, no parse."""
        snap = Document.__new__(Document)
        snap.uri, snap.path, snap.language, snap.version = self.uri, self.path, self.language, self.version
        snap._buf = self._buf.copy()
        snap._syntax = self._syntax.frozen_copy()
        snap._symbols, snap._stale_symbols = self._symbols, self._stale_symbols
        snap._stale_at, snap._edits_since_symbols = self._stale_at, self._edits_since_symbols
        snap.last_edit, snap.revision, snap.frozen = self.last_edit, self.revision, True
        snap._owner = self._owner
        return snap

    def adopt_symbols(self, snap: Document) -> None:
        """On the loop: keep the symbols a thread computed into ``snap`` when this document is still at its
        revision (the next request then need not compute them again)."""
        self._check_owner("symbol cache")
        if snap.revision == self.revision and self._symbols is None and snap._symbols is not None:
            self._symbols = self._stale_symbols = snap._symbols
            self._stale_at, self._edits_since_symbols = snap._stale_at, 0

    def _check_owner(self, what: str) -> None:
        if self.frozen:
            if what != "symbol cache":
                raise ValueError(f"a snapshot of {self.uri} cannot be edited")
            return  # a snapshot's own cache: written by the one thread that holds it
        threads.check_owner(self._owner, f"document {self.uri}: {what}")

    # ---------------------------------------------------------------- edits
    def set_text(self, text: str) -> None:
        """Replace the whole buffer (full parse)."""
        self._check_owner("text")
        self.revision += 1
        self._buf.replace(text)
        self._symbols = None
        self._stale_symbols = None
        self.last_edit = None
        self._syntax.reset(self._buf.data)

    def apply_edit(self, start: Point, end: Point, new_text: str) -> None:
        """Replace ``[start, end)`` with ``new_text``; the tree is edited and re-parsed incrementally."""
        self._check_owner("text")
        edit = self._buf.splice(start, end, new_text)
        self.revision += 1
        self._symbols = None
        self._edits_since_symbols += 1
        self.last_edit = edit.new_end_point
        self._syntax.edit(edit, self._buf.data)

    # --------------------------------------------------------------- syntax
    def symbols(self, allow_stale: bool = False) -> FileSymbols:
        """Definitions, imports and exports of this buffer (cached until the next edit).

        Extraction walks the whole tree (tens of ms for a 5,000-line file), so per-keystroke callers
        pass ``allow_stale=True`` and get the last result while it is younger than
        :data:`SYMBOLS_MAX_STALE_EDITS` edits and :data:`SYMBOLS_MAX_STALE_S` seconds.
        """
        if self._symbols is None and allow_stale and self._stale_symbols is not None:
            age = time.monotonic() - self._stale_at
            if self._edits_since_symbols < SYMBOLS_MAX_STALE_EDITS and age < SYMBOLS_MAX_STALE_S:
                return self._stale_symbols
        if self._symbols is None:
            self._check_owner("symbol cache")
            self._symbols = extract_symbols(
                self._syntax.tree, self._buf.data, self.language, str(self.path or self.uri)
            )
            self._stale_symbols = self._symbols
            self._stale_at = time.monotonic()
            self._edits_since_symbols = 0
        return self._symbols

    def enclosing_function(self, point: Point) -> FunctionSpan | None:
        """The innermost named function or method containing the point."""
        return scopes.enclosing_function(self._syntax.tree, self._buf.data, self.language, point)

    def container_names(self, point: Point) -> list[str]:
        """Names of the scopes around a point, outermost first (classes and functions)."""
        return scopes.container_names(self._syntax.tree, self._buf.data, self.language, point)

    def opens_empty_block(self, point: Point) -> bool:
        """On a blank line right after a block opener whose body is still empty."""
        return gates.opens_empty_block(self._buf, self.language, point)

    def in_string_literal(self, point: Point) -> bool:
        """Inside a string literal that is not a docstring (comments are not strings)."""
        return gates.in_string_literal(self._syntax.tree, self._buf, self.language, point)

    def called_names(self, span: FunctionSpan) -> list[str]:
        """Names called inside the span, in order of first appearance, unique."""
        tree = self._syntax.tree
        if tree is not None and self.language is not None:
            return called_names_in(
                tree,
                self.language,
                (span.start.row, span.start.column),
                (span.end.row, span.end.column),
                self._buf.data,
            )
        return called_names_in_text(span.text)

    def identifiers_between(self, start: Point, end: Point, limit: int = 20_000) -> list[tuple[str, int]]:
        """(name, row) of identifiers in code between two points (not in comments or strings)."""
        return names.identifiers_between(self._syntax.tree, self._buf, start, end, limit)

    def called_names_between(self, start: Point, end: Point) -> list[str]:
        return names.called_names_between(self._syntax.tree, self._buf, self.language, start, end)
