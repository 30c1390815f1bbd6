"""A text buffer with an incrementally re-parsed tree-sitter tree.

Positions are :class:`Point` ``(row, column)`` with the column counted in UTF-8 bytes, 0-based,
as tree-sitter counts them. The LSP layer converts UTF-16 positions before calling in.

The buffer is kept as UTF-8 bytes plus a table of line starts, so an edit costs one splice and a
shift of the line table (linear, never quadratic, even for a 5 MB single-line file). Documents over
:data:`MAX_PARSE_BYTES` and languages without a grammar have no tree; everything still works
line by line.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import NamedTuple

import msgspec
import tree_sitter as ts

from . import languages
from .symbols import FileSymbols, called_names_in, called_names_in_text, container_name, extract_symbols

log = logging.getLogger(__name__)

MAX_PARSE_BYTES = 1_000_000
SYMBOLS_MAX_STALE_EDITS = 40
SYMBOLS_MAX_STALE_S = 2.0  # larger buffers are handled line by line (parsing 5 MB takes seconds)


class Point(NamedTuple):
    row: int
    column: int  # UTF-8 bytes, 0-based


class FunctionSpan(msgspec.Struct):
    name: str
    kind: str  # "function" | "method"
    start: Point
    end: Point
    text: str
    header: str  # signature lines of the enclosing containers (class, impl, namespace), or ""


_BLOCK_KEYWORDS = re.compile(
    r"^\s*(async\s+def|def|class|if|elif|else|for|async\s+for|while|with|async\s+with|try|except|finally|match|case)\b"
)


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
        self._parser: ts.Parser | None = None
        self._tree: ts.Tree | None = None
        self._bytes = b""
        self._line_starts: list[int] = [0]
        self._text: str | None = ""
        self._symbols: FileSymbols | None = None
        self._stale_symbols: FileSymbols | None = None
        self._stale_at = 0.0
        self._edits_since_symbols = 0
        self.last_edit: Point | None = None  # where the last incremental edit ended (the cursor, most likely)
        self.set_text(text)

    # ----------------------------------------------------------------- text
    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self._bytes.decode("utf-8", "replace")
        return self._text

    @property
    def source(self) -> bytes:
        """The buffer as UTF-8 bytes (what the tree was parsed from)."""
        return self._bytes

    @property
    def tree(self) -> ts.Tree | None:
        return self._tree

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
        import bisect

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

    # ---------------------------------------------------------------- edits
    def set_text(self, text: str) -> None:
        """Replace the whole buffer (full parse)."""
        try:
            self._bytes = text.encode("utf-8")
            self._text = text
        except UnicodeEncodeError:  # lone surrogates: keep a valid buffer
            self._bytes = text.encode("utf-8", "replace")
            self._text = None
        self._line_starts = _line_starts(self._bytes)
        self._symbols = None
        self._stale_symbols = None
        self._tree = None
        self.last_edit = None
        self._reparse(None)

    def apply_edit(self, start: Point, end: Point, new_text: str) -> None:
        """Replace ``[start, end)`` with ``new_text``; the tree is edited and re-parsed incrementally."""
        start_byte = self.offset(Point(*start))
        end_byte = self.offset(Point(*end))
        if end_byte < start_byte:
            raise ValueError(f"edit range end {tuple(end)} before start {tuple(start)}")
        start_pt = self.point_at(start_byte)
        old_end_pt = self.point_at(end_byte)
        new = new_text.encode("utf-8", "replace")
        self._bytes = self._bytes[:start_byte] + new + self._bytes[end_byte:]
        self._text = None
        self._symbols = None
        self._edits_since_symbols += 1
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
        self.last_edit = new_end_pt
        tree = self._tree
        if tree is not None and len(self._bytes) <= MAX_PARSE_BYTES:
            tree.edit(
                start_byte=start_byte,
                old_end_byte=end_byte,
                new_end_byte=start_byte + len(new),
                start_point=start_pt,
                old_end_point=old_end_pt,
                new_end_point=new_end_pt,
            )
            self._reparse(tree)
        else:
            self._tree = None
            self._reparse(None)

    def _reparse(self, old: ts.Tree | None) -> None:
        if self.language is None or len(self._bytes) > MAX_PARSE_BYTES:
            self._tree = None
            return
        if self._parser is None:
            self._parser = languages.new_parser(self.language)
            if self._parser is None:
                return
        try:
            self._tree = (
                self._parser.parse(self._bytes, old) if old is not None else self._parser.parse(self._bytes)
            )
        except Exception as exc:  # never let a parser problem break editing
            log.warning("parse of %s failed: %s", self.uri, exc)
            self._tree = None

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
            self._symbols = extract_symbols(
                self._tree, self._bytes, self.language, str(self.path or self.uri)
            )
            self._stale_symbols = self._symbols
            self._stale_at = time.monotonic()
            self._edits_since_symbols = 0
        return self._symbols

    def _scopes_at(self, point: Point) -> list[tuple[str, ts.Node]]:
        """Scope nodes (``scope.function`` / ``scope.class``) containing the point, outermost first."""
        if self._tree is None:
            return []
        cursor = languages.query_cursor(self.language, "scopes")
        if cursor is None:
            return []
        p = (point.row, point.column)
        cursor.set_point_range((point.row, max(0, point.column - 1)), (point.row, point.column + 1))
        found: dict[int, tuple[str, ts.Node]] = {}
        for name, nodes in cursor.captures(self._tree.root_node).items():
            for node in nodes:
                if node.start_point <= p <= node.end_point:
                    found[node.id] = (name, node)
        return sorted(found.values(), key=lambda item: (item[1].start_byte, -item[1].end_byte))

    def _function_name(self, node: ts.Node) -> str:
        name = node.child_by_field_name("name")
        if name is not None:
            return self._node_text(name)
        decl = node.child_by_field_name("declarator")
        while decl is not None:  # C / C++: unwrap pointer / reference / function declarators
            if decl.type in ("identifier", "field_identifier", "destructor_name", "operator_name"):
                return self._node_text(decl)
            if decl.type == "qualified_identifier":
                inner = decl.child_by_field_name("name")
                return self._node_text(inner) if inner is not None else self._node_text(decl)
            nxt = decl.child_by_field_name("declarator")
            if nxt is None:
                nxt = next((c for c in decl.named_children if "declarator" in c.type), None)
            decl = nxt
        return ""

    def _node_text(self, node: ts.Node) -> str:
        return self._bytes[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def _header_of(self, node: ts.Node) -> str:
        start = self._bytes.rfind(b"\n", 0, node.start_byte) + 1
        body = node.child_by_field_name("body")
        if body is not None and body.start_byte > node.start_byte:
            text = self._bytes[start : body.start_byte].decode("utf-8", "replace").rstrip()
            if body.type in (
                "declaration_list",
                "class_body",
                "field_declaration_list",
                "interface_body",
                "enum_body",
                "object_type",
            ) and not text.endswith("{"):
                text += " {"
            return text
        end = self._bytes.find(b"\n", node.start_byte)
        end = len(self._bytes) if end < 0 else end
        return self._bytes[start:end].decode("utf-8", "replace").rstrip()

    def enclosing_function(self, point: Point) -> FunctionSpan | None:
        """The innermost named function or method containing the point."""
        scopes = self._scopes_at(Point(*point))
        target_index = -1
        name = ""
        for i in range(len(scopes) - 1, -1, -1):
            kind, node = scopes[i]
            if kind != "scope.function":
                continue
            name = self._function_name(node)
            if name:
                target_index = i
                break
        if target_index < 0:
            return None
        _, node = scopes[target_index]
        containers = [n for _, n in scopes[:target_index]]
        span = node
        if span.type == "variable_declarator" and span.parent is not None:
            span = span.parent  # `const f = () => {...}`
        if span.parent is not None and span.parent.type in ("decorated_definition", "export_statement"):
            span = span.parent
        line_start = self._bytes.rfind(b"\n", 0, span.start_byte) + 1
        is_method = bool(scopes[:target_index]) and scopes[target_index - 1][0] == "scope.class"
        if node.type in ("method_declaration", "method_definition") or (
            node.type == "function_definition"
            and node.parent is not None
            and node.parent.type == "field_declaration_list"
        ):
            is_method = True
        header = "\n".join(self._header_of(c) for c in containers)
        return FunctionSpan(
            name=name,
            kind="method" if is_method else "function",
            start=Point(*span.start_point),
            end=Point(*span.end_point),
            text=self._bytes[line_start : span.end_byte].decode("utf-8", "replace"),
            header=header,
        )

    def container_names(self, point: Point) -> list[str]:
        """Names of the scopes around a point, outermost first (classes and functions)."""
        return [container_name(n, self._bytes) or self._function_name(n) for _, n in self._scopes_at(point)]

    def opens_empty_block(self, point: Point) -> bool:
        """On a blank line right after a block opener whose body is still empty."""
        row = point.row
        if self.line(row).strip():
            return False
        prev = row - 1
        while prev >= 0 and not self.line(prev).strip():
            prev -= 1
        if prev < 0:
            return False
        opener = _strip_trailing_comment(self.line(prev), self.language).rstrip()
        indent = _indent(self.line(prev))
        brace = opener.endswith(("{", "(", "["))
        colon = opener.endswith(":") and (
            self.language in languages.INDENT_LANGUAGES or self.language is None
        )
        if colon and self.language is not None and not _BLOCK_KEYWORDS.match(opener):
            # a multi-line signature ending in "):" (def f(\n a,\n):) still opens a block
            colon = opener.lstrip().startswith(")") or opener.rstrip(":").rstrip().endswith(")")
        if not (brace or colon):
            return False
        nxt = row + 1
        while nxt < self.line_count and not self.line(nxt).strip():
            nxt += 1
        if nxt >= self.line_count:
            return True
        following = self.line(nxt)
        if brace:
            return following.strip()[:1] in ("}", ")", "]") and _indent(following) <= indent
        return _indent(following) <= indent

    def in_string_literal(self, point: Point) -> bool:
        """Inside a string literal that is not a docstring (comments are not strings)."""
        point = Point(*point)
        tree = self._tree
        if tree is not None:
            p = (point.row, point.column)
            node: ts.Node | None = tree.root_node.descendant_for_point_range(p, p)
            saw_error = False
            while node is not None:
                if node.type in languages.COMMENT_NODE_TYPES:
                    return False
                if node.type in ("interpolation", "template_substitution", "format_expression"):
                    return False
                if node.type in languages.STRING_NODE_TYPES and node.start_point < p < node.end_point:
                    if node.type in ("string_content", "string_fragment", "escape_sequence"):
                        node = node.parent
                        continue
                    return not self._is_docstring(node)
                if node.is_error or node.has_error:
                    saw_error = True
                node = node.parent
            if not saw_error:
                return False
        return _line_in_string(
            self.line_bytes(point.row)[: point.column].decode("utf-8", "replace"), self.language
        )

    def _is_docstring(self, node: ts.Node) -> bool:
        if self.language != "python":
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
            return (
                prev is not None and prev.type == "expression_statement" and block.type in ("block", "module")
            )
        return block.type == "module" or (
            block.parent is not None and block.parent.type in ("function_definition", "class_definition")
        )

    def called_names(self, span: FunctionSpan) -> list[str]:
        """Names called inside the span, in order of first appearance, unique."""
        if self._tree is not None and self.language is not None:
            return called_names_in(
                self._tree,
                self.language,
                (span.start.row, span.start.column),
                (span.end.row, span.end.column),
                self._bytes,
            )
        return called_names_in_text(span.text)

    def identifiers_between(self, start: Point, end: Point, limit: int = 20_000) -> list[tuple[str, int]]:
        """(name, row) of identifiers in code between two points (not in comments or strings)."""
        if self._tree is None:
            out: list[tuple[str, int]] = []
            for r in range(start.row, min(end.row + 1, self.line_count)):
                out.extend((name, r) for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", self.line(r)[:4000]))
            return out[:limit]
        lo_b = self.offset(self.clamp(start))
        hi_b = self.offset(self.clamp(end)) if end.row < self.line_count else len(self._bytes)
        found: list[tuple[str, int]] = []
        stack = [self._tree.root_node]
        while stack and len(found) < limit:
            node = stack.pop()
            if node.end_byte < lo_b or node.start_byte > hi_b:
                continue
            kind = node.type
            if kind in languages.COMMENT_NODE_TYPES or kind in languages.STRING_NODE_TYPES:
                continue
            if node.child_count == 0:
                if kind.endswith("identifier") or kind == "constant":
                    found.append((self._node_text(node), node.start_point.row))
                continue
            stack.extend(reversed(node.children))
        return found

    def called_names_between(self, start: Point, end: Point) -> list[str]:
        if self._tree is not None and self.language is not None:
            return called_names_in(
                self._tree, self.language, (start.row, start.column), (end.row, end.column), self._bytes
            )
        lo = self.offset(self.clamp(start))
        hi = self.offset(self.clamp(end))
        return called_names_in_text(self._bytes[lo:hi].decode("utf-8", "replace"))


def _line_starts(data: bytes) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer(b"\n", data))
    return starts


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _strip_trailing_comment(line: str, language: str | None) -> str:
    marker = "#" if language in ("python", None) else "//"
    if marker in line and not _line_in_string(line[: line.index(marker)], language):
        return line[: line.index(marker)]
    return line


def _line_in_string(before: str, language: str | None) -> bool:
    """Line-based guess: is the end of ``before`` inside a quote opened on this line?"""
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
                return False
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
    # an unterminated triple quote is most likely a docstring being written: not a "string" for gating
    return bool(quote) and quote not in ('"""', "'''")
