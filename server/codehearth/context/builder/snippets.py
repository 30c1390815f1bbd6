"""Repository snippets for a prompt: definitions of the names used near the cursor, similar chunks from
recently opened or edited files, and the enclosing scope's header when it is above the prefix window."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

import msgspec
import tree_sitter as ts

from codehearth.context.document import Document, Point
from codehearth.context.index import looks_secret
from codehearth.context.symbols import go_receiver_type, identifiers_in, node_text
from codehearth.logonce import log_once

from .budget import TokenBudget
from .paths import resolved_path
from .receivers import SELF_NAMES, receivers
from .render import snippet_header
from .resolve import Resolver
from .sections import Snippet

log = logging.getLogger(__name__)

NEAR_LINES_ABOVE = 40  # "near the cursor": this many lines above…
NEAR_LINES_BELOW = 8  # …and below, or the enclosing function when it is larger
NEAR_LINE_CHARS = 2_000  # of each line near the cursor, only so many characters are scanned for receivers
SIMILAR_WINDOW = 12  # lines per chunk for similar-chunk retrieval
SIMILAR_STRIDE = 6
SIMILAR_MIN_SCORE = 0.2
MAX_SNIPPETS = 12  # definitions + similar chunks + scope, per prompt


class _Noted(msgspec.Struct):
    doc: Document
    stamp: tuple[int, int] = (-1, -1)  # (version, size) the windows were computed for
    windows: list[tuple[int, int, int]] = msgspec.field(default_factory=list)  # (start, end, distinct names)
    postings: dict[str, list[int]] = msgspec.field(default_factory=dict)  # name -> window ids


def near_text(doc: Document, point: Point) -> str:
    """The lines near the cursor, each cut to a bounded window (around the cursor on its own line)."""
    parts: list[str] = []
    for r in range(max(0, point.row - NEAR_LINES_ABOVE), min(doc.line_count, point.row + NEAR_LINES_BELOW)):
        line = doc.line(r)
        if len(line) > NEAR_LINE_CHARS:
            if r == point.row:
                col = len(doc.line_bytes(r)[: point.column].decode("utf-8", "replace"))
                lo = max(0, col - NEAR_LINE_CHARS * 3 // 4)
                line = line[lo : lo + NEAR_LINE_CHARS]
            else:
                line = line[:NEAR_LINE_CHARS]
        parts.append(line)
    return "\n".join(parts)


class SnippetFinder:
    """Finds snippets within a token limit; remembers recent documents for similar chunks."""

    def __init__(self, resolver: Resolver, budget: TokenBudget) -> None:
        self.resolver = resolver
        self.budget = budget
        self._recent: OrderedDict[str, _Noted] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------ documents
    def note(self, doc: Document, limit: int) -> None:
        with self._lock:
            noted = self._recent.pop(doc.uri, None)
            if noted is None or noted.doc is not doc:
                noted = _Noted(doc=doc)
            self._recent[doc.uri] = noted
            while len(self._recent) > limit:
                self._recent.popitem(last=False)

    def forget(self, uri: str) -> None:
        with self._lock:
            self._recent.pop(uri, None)

    # ---------------------------------------------------------------- names
    def near_names(self, doc: Document, point: Point) -> tuple[list[str], set[str]]:
        """Names used near the cursor, nearest first: calls, then other identifiers."""
        row = point.row
        lo = max(0, row - NEAR_LINES_ABOVE)
        hi = min(doc.line_count - 1, row + NEAR_LINES_BELOW)
        fn = doc.enclosing_function(point) if doc.tree is not None else None
        if fn is not None:
            lo, hi = min(lo, fn.start.row), max(hi, min(fn.end.row, row + NEAR_LINES_BELOW))
            lo = max(lo, row - 4 * NEAR_LINES_ABOVE)
        # names on the current line first, then by distance from the cursor
        by_row: dict[str, int] = {}
        for name, r in doc.identifiers_between(Point(lo, 0), Point(hi + 1, 0)):
            dist = abs(r - row) * 2 + (1 if r > row else 0)
            if name not in by_row or dist < by_row[name]:
                by_row[name] = dist
        called = set(doc.called_names_between(Point(lo, 0), Point(hi + 1, 0))) if doc.line_count else set()
        # calls rank before plain identifiers at the same distance
        ordered = sorted(by_row, key=lambda n: (by_row[n], 0 if n in called else 1))
        if doc.tree is None:  # line-based: keywords look like identifiers
            ordered = [n for n in ordered if n not in _KEYWORDS]
        return [n for n in ordered if len(n) > 1], called

    def _own_names(self, doc: Document, point: Point) -> set[str]:
        """Names that are the cursor's own scopes (no point defining f inside f)."""
        try:
            return set(doc.container_names(point))
        except Exception as exc:  # no scope names: a definition of the cursor's own function may be quoted
            log_once(log, f"finding the scopes at the cursor in {doc.uri}", exc)
            return set()

    def _enclosing_method(self, doc: Document, point: Point) -> str | None:
        """The name of the method the cursor is in, where a bare call cannot reach it (not Java, not C++)."""
        if doc.tree is None or doc.language in ("java", "cpp"):
            return None
        try:
            fn = doc.enclosing_function(point)
        except Exception as exc:
            log_once(log, f"finding the method at the cursor in {doc.uri}", exc)
            return None
        return fn.name if fn is not None and fn.kind == "method" else None

    # ------------------------------------------------------------- snippets
    def find(self, doc: Document, point: Point, limit: int, visible: tuple[int, int]) -> list[Snippet]:
        """Definitions (in a stable order: by place) then similar chunks, within ``limit`` tokens."""
        if limit <= 0:
            return []
        chosen: list[tuple[int, Snippet, tuple[str, int]]] = []
        charged: set[str] = set()  # paths whose header (file separator + path) is already counted
        used = 0
        seen: set[tuple[str, int]] = set()
        resolver = self.resolver
        if resolver.index is not None:
            imports = resolver.import_map(doc)
            names, called = self.near_names(doc, point)
            found = receivers(near_text(doc, point))
            if doc.language == "go":
                _add_go_receiver_type(doc, point, found)
            at_cursor = receivers(doc.line(point.row)[:NEAR_LINE_CHARS])  # name -> receivers on the cursor's line
            own = self._own_names(doc, point)
            method = self._enclosing_method(doc, point)
            for order, name in enumerate(names[:80]):
                if used >= limit or len(chosen) >= MAX_SNIPPETS - 3:
                    break
                if (
                    name in own
                    and name not in imports
                    and not (found.get(name, set()) - SELF_NAMES)
                    and not (name == method and not found.get(name))  # decode() in method decode: another one
                ):
                    continue  # the function we are in: no point defining f inside f
                is_called = name in called or name in found
                focus = frozenset(at_cursor.get(name, ()))
                for d in resolver.resolve(name, doc, imports, found, visible, called=is_called, focus=focus):
                    if len(chosen) >= MAX_SNIPPETS - 3:  # room for 2 similar chunks and the scope
                        break
                    key = (d.path, d.start_line)
                    if key in seen:
                        continue
                    rel = resolver.rel(d.path)
                    header = 0 if rel in charged else self.budget.tokens(snippet_header(rel, doc.language))
                    rendered = resolver.definition_text(
                        d, min(limit - used - header, max(limit // 2, 1)), self.budget
                    )
                    if rendered is None:
                        continue
                    text, n = rendered
                    if used + n + header > limit:
                        continue
                    seen.add(key)
                    charged.add(rel)
                    used += n + header
                    label = f"definition {d.container + '.' if d.container else ''}{d.name}"
                    chosen.append((order, Snippet(label, rel, text, n), key))
        # stable order: definitions by place, not by distance to the cursor (KV cache reuse)
        chosen.sort(key=lambda t: t[2])
        out = [s for _o, s, _k in chosen]
        out.extend(self._similar(doc, point, limit - used, seen, charged))
        return out

    def _similar(
        self, doc: Document, point: Point, limit: int, seen: set[tuple[str, int]], charged: set[str]
    ) -> list[Snippet]:
        if limit <= 0:
            return []
        lo = max(0, point.row - SIMILAR_WINDOW + 1)
        query_text = (
            "\n".join(doc.line(r) for r in range(lo, point.row)) + "\n" + doc.line(point.row)[: point.column]
        )
        query = frozenset(identifiers_in(query_text[-20_000:]))
        if len(query) < 3:
            return []
        with self._lock:
            noted = [n for uri, n in self._recent.items() if uri != doc.uri]
        best: list[tuple[float, str, int, int, Document]] = []
        for item in noted:
            other = item.doc
            if looks_secret(other.source):
                continue  # a private key pasted into an open buffer
            stamp = (other.version, len(other.source))
            if item.stamp != stamp:
                item.windows, item.postings = _windows(other)
                item.stamp = stamp
            counts: dict[int, int] = {}
            for name in query:
                for wid in item.postings.get(name, ()):
                    counts[wid] = counts.get(wid, 0) + 1
            for wid, inter in counts.items():
                start, end, size = item.windows[wid]
                score = inter / (len(query) + size - inter)
                if score >= SIMILAR_MIN_SCORE:
                    best.append((score, other.uri, start, end, other))
        best.sort(key=lambda t: (-t[0], t[1], t[2]))
        out: list[Snippet] = []
        used = 0
        taken: list[tuple[str, int, int]] = []
        for _score, uri, start, end, other in best[:8]:
            if any(u == uri and s < end and start < e for u, s, e in taken):
                continue
            path = resolved_path(other.path) if other.path is not None else uri
            if any(p == path and start <= line < end for p, line in seen):
                continue
            text = "".join(other.line(r) + "\n" for r in range(start, end))
            rel = self.resolver.rel(path) if other.path is not None else uri
            header = 0 if rel in charged else self.budget.tokens(snippet_header(rel, doc.language))
            n = self.budget.fits(text, limit - used - header)
            if n is None:
                continue
            used += n + header
            charged.add(rel)
            taken.append((uri, start, end))
            label = f"similar lines {start + 1}-{end}"
            out.append(Snippet(label, rel, text, n))
            if len(out) >= 2:
                break
        return out

    def scope(self, doc: Document, start_row: int, path: str, limit: int) -> Snippet | None:
        """The headers of the scopes the prefix window's first line is in, when they start above it.

        Of the window's first line, not of the cursor: it depends only on where the window starts, so it stays
        the same while the user types (it is in front of the window in the prompt), and it is always true.
        """
        if start_row <= 0 or start_row >= doc.line_count or doc.tree is None:
            return None
        line = doc.line_bytes(start_row)
        fn = doc.enclosing_function(Point(start_row, len(line) - len(line.lstrip())))
        if fn is None or fn.start.row >= start_row:
            return None
        first_line = doc.line(fn.start.row)
        header = (fn.header + "\n" if fn.header else "") + first_line + "\n"
        n = self.budget.fits(header, limit)
        if n is None:
            return None
        return Snippet("scope", path, header, n)




def _add_go_receiver_type(doc: Document, point: Point, found: dict[str, set[str]]) -> None:
    """Inside ``func (p *parser) f()``, ``p.next(`` is a call on a ``parser``: add the type to ``p``'s calls."""
    tree = doc.tree
    if tree is None:
        return
    try:
        node: ts.Node | None = tree.root_node.descendant_for_point_range(point, point)
    except Exception as exc:
        log_once(log, "finding the node at the cursor", exc)
        return
    while node is not None and node.type != "method_declaration":
        node = node.parent
    if node is None:
        return
    receiver = node.child_by_field_name("receiver")
    param = next((c for c in receiver.named_children if c.type == "parameter_declaration"), None) if receiver else None
    name = param.child_by_field_name("name") if param is not None else None
    typ = go_receiver_type(node, doc.source)
    if name is None or not typ:
        return
    var = node_text(name, doc.source)
    for receivers_of_call in found.values():
        if var in receivers_of_call:
            receivers_of_call.add(typ)


def _windows(doc: Document) -> tuple[list[tuple[int, int, int]], dict[str, list[int]]]:
    """Sliding line windows of a document and an inverted index name -> windows."""
    windows: list[tuple[int, int, int]] = []
    postings: dict[str, list[int]] = {}
    count = min(doc.line_count, 20_000)
    start = 0
    while start < count:
        end = min(count, start + SIMILAR_WINDOW)
        text = "\n".join(doc.line(r)[:2000] for r in range(start, end))
        names = set(identifiers_in(text))
        if len(names) >= 3:
            wid = len(windows)
            windows.append((start, end, len(names)))
            for name in names:
                postings.setdefault(name, []).append(wid)
        if end >= count:
            break
        start += SIMILAR_STRIDE
    return windows, postings


_KEYWORDS = frozenset(
    [
        "and",
        "as",
        "assert",
        "async",
        "await",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "def",
        "del",
        "elif",
        "else",
        "enum",
        "except",
        "export",
        "extends",
        "false",
        "final",
        "finally",
        "fn",
        "for",
        "from",
        "func",
        "function",
        "go",
        "if",
        "impl",
        "import",
        "in",
        "interface",
        "is",
        "lambda",
        "let",
        "match",
        "mod",
        "mut",
        "new",
        "nil",
        "none",
        "not",
        "null",
        "or",
        "package",
        "pass",
        "private",
        "protected",
        "pub",
        "public",
        "raise",
        "return",
        "self",
        "static",
        "struct",
        "super",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "type",
        "typeof",
        "use",
        "var",
        "void",
        "while",
        "with",
        "yield",
        "None",
        "True",
        "False",
        "int",
        "str",
        "bool",
        "float",
        "bytes",
        "dict",
        "list",
        "set",
        "tuple",
        "object",
        "len",
        "print",
        "range",
        "isinstance",
    ]
)
