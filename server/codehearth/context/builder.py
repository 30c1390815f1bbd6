"""Prompt assembly under a token budget.

The prompt is, in order (stable parts first so the engine's KV cache survives keystrokes):

1. snippets from other places: definitions of the symbols used near the cursor, resolved through the
   document's imports and the workspace index (signature + first docstring line; the body when it
   fits), similar chunks from recently opened/edited files (Jaccard over sliding line windows), and
   the enclosing scopes' headers when they scrolled out of the prefix window;
2. the file path;
3. the prefix window (whole lines above the cursor), the current line up to the cursor;
4. the suffix (rest of the line and whole lines below).

Every section is counted with the model's tokenizer (``count_tokens``) and the sum never exceeds the
budget. Budget shares are settings (``prefixShare``, ``suffixShare``, ``repoShare``).
"""

from __future__ import annotations

import builtins
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from .document import Document, FunctionSpan, Point
from .index import WorkspaceIndex, is_secret_path, looks_secret
from .symbols import Definition, FileSymbols, Import, identifiers_in

if TYPE_CHECKING:
    from codehearth.config import ContextSettings

log = logging.getLogger(__name__)

MAX_CHARS_PER_TOKEN = 32  # no tokenizer packs more into one token: longer text cannot fit
NEAR_LINES_ABOVE = 40  # "near the cursor": this many lines above…
NEAR_LINES_BELOW = 8  # …and below, or the enclosing function when it is larger
SIMILAR_WINDOW = 12  # lines per chunk for similar-chunk retrieval
SIMILAR_STRIDE = 6
SIMILAR_MIN_SCORE = 0.2
PREFIX_QUANTUM = 8  # the prefix window starts on a multiple of this row (stable across keystrokes)
MAX_CANDIDATES_PER_NAME = 2
MAX_SNIPPETS = 12  # definitions + similar chunks + scope, per prompt


class Snippet(msgspec.Struct):
    label: str
    path: str
    text: str
    tokens: int


class Section(msgspec.Struct):
    label: str
    source: str
    text: str
    tokens: int


class PromptContext(msgspec.Struct):
    path: str
    language: str | None
    snippets: list[Snippet]
    prefix: str
    line_prefix: str
    suffix: str
    sections: list[Section]


class ExplainContext(msgspec.Struct):
    function: FunctionSpan
    header: str
    callees: list[Definition]
    truncated: bool


class _Noted(msgspec.Struct):
    doc: Document
    stamp: tuple[int, int] = (-1, -1)  # (version, size) the windows were computed for
    windows: list[tuple[int, int, int]] = msgspec.field(default_factory=list)  # (start, end, distinct names)
    postings: dict[str, list[int]] = msgspec.field(default_factory=dict)  # name -> window ids


class ContextBuilder:
    """Builds :class:`PromptContext` for completions and :class:`ExplainContext` for explanations."""

    def __init__(
        self,
        index: WorkspaceIndex | None,
        settings: ContextSettings,
        count_tokens: Callable[[str], int],
    ) -> None:
        self.index = index
        self.settings = settings
        self.count_tokens = count_tokens
        self._recent: OrderedDict[str, _Noted] = OrderedDict()
        self._lock = threading.Lock()
        self._own_defs: dict[str, tuple[FileSymbols, list[Definition]]] = {}

    # ------------------------------------------------------------ documents
    def _allowed(self, doc: Document) -> bool:
        if not self.settings.include_secrets and looks_secret(doc.source):
            return False
        if doc.path is None:
            return True  # untitled buffer
        if not self.settings.include_secrets and is_secret_path(doc.path):
            return False
        if self.index is None:
            return True
        return self.index.is_allowed(doc.path)

    def note_document(self, doc: Document) -> None:
        """Remember an opened/edited document for similar-chunk retrieval (allowed files only)."""
        if not self._allowed(doc):
            return
        limit = max(0, int(getattr(self.settings, "similar_files", 8)))
        with self._lock:
            noted = self._recent.pop(doc.uri, None)
            if noted is None or noted.doc is not doc:
                noted = _Noted(doc=doc)
            self._recent[doc.uri] = noted
            while len(self._recent) > limit:
                self._recent.popitem(last=False)

    def forget_document(self, uri: str) -> None:
        with self._lock:
            self._recent.pop(uri, None)
            self._own_defs.pop(uri, None)

    # --------------------------------------------------------------- tokens
    def _tokens(self, text: str) -> int:
        return self.count_tokens(text) if text else 0

    def _fits(self, text: str, limit: int) -> int | None:
        """Token count of ``text`` when it fits in ``limit``, else None (cheap reject on length)."""
        if limit <= 0:
            return None if text else 0
        if len(text) > limit * MAX_CHARS_PER_TOKEN:
            return None
        n = self._tokens(text)
        return n if n <= limit else None

    def _tail_fit(self, text: str, limit: int) -> str:
        """The longest end of ``text`` within ``limit`` tokens, starting at a word boundary."""
        if self._fits(text, limit) is not None:
            return text
        if limit <= 0:
            return ""
        text = text[-limit * MAX_CHARS_PER_TOKEN :]
        lo, hi = 0, len(text)  # find the smallest cut that fits
        while lo < hi:
            mid = (lo + hi) // 2
            if self._tokens(text[mid:]) <= limit:
                hi = mid
            else:
                lo = mid + 1
        cut = lo
        m = re.compile(r"[\s()\[\]{},;:.]").search(text, cut)  # do not start mid-word
        if m is not None and m.start() < len(text):
            cut = m.start()
        return text[cut:]

    def _head_fit(self, text: str, limit: int) -> str:
        """The longest start of ``text`` within ``limit`` tokens, ending at a word boundary."""
        if self._fits(text, limit) is not None:
            return text
        if limit <= 0:
            return ""
        text = text[: limit * MAX_CHARS_PER_TOKEN]
        lo, hi = 0, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._tokens(text[:mid]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        cut = lo
        last = max(text.rfind(c, 0, cut) for c in " \t()[]{},;:.")
        if last > 0:
            cut = last
        return text[:cut]

    # ---------------------------------------------------------------- build
    def _display_path(self, doc: Document) -> str:
        if doc.path is None:
            return doc.uri
        if self.index is not None:
            with_root = self.index.relpath(resolved_path(doc.path))
            if not os.path.isabs(with_root):
                return with_root
        return Path(doc.path).name

    def build(self, doc: Document, point: Point, budget_tokens: int | None = None) -> PromptContext:
        budget = int(budget_tokens if budget_tokens is not None else self.settings.budget_tokens)
        budget = max(0, budget)
        # one token of slack per place where the engine joins two pieces (tokenizers may merge or split
        # across a boundary), so the laid-out prompt stays inside the budget too
        budget -= min(budget // 8, MAX_SNIPPETS + 5)
        path = self._display_path(doc)
        if not self.settings.include_secrets and (
            (doc.path is not None and is_secret_path(doc.path)) or looks_secret(doc.source)
        ):
            # a secret file: nothing of it goes into any prompt
            return PromptContext(
                path=path,
                language=doc.language,
                snippets=[],
                prefix="",
                line_prefix="",
                suffix="",
                sections=[],
            )
        point = doc.clamp(Point(*point))
        row, col = point
        line = doc.line_bytes(row)
        line_prefix_full = line[:col].decode("utf-8", "replace")
        line_suffix_full = line[col:].decode("utf-8", "replace")

        shares = [
            max(0.0, float(s))
            for s in (self.settings.prefix_share, self.settings.suffix_share, self.settings.repo_share)
        ]
        total_share = sum(shares) or 1.0
        if total_share < 1.0:
            total_share = 1.0
        prefix_share, suffix_share, repo_share = (s / total_share for s in shares)

        fitted = self._fits(path, budget // 8)
        if fitted is None:
            path, fitted = "", 0
        path_tokens = fitted
        remaining = budget - path_tokens

        # the current line: the typed part first, it matters most
        line_prefix = self._tail_fit(line_prefix_full, int(remaining * max(prefix_share, 0.25) * 0.5))
        lp_tokens = self._tokens(line_prefix)
        remaining -= lp_tokens

        # suffix: rest of the line, then whole lines below
        suffix_limit = min(remaining, int(budget * suffix_share))
        suffix, suffix_tokens, suffix_end_row = self._suffix(doc, row, line_suffix_full, suffix_limit)
        remaining -= suffix_tokens

        # the prefix window's lines (computed first to know what is already visible)
        repo_limit = min(remaining, int(budget * repo_share))
        prefix_limit_guess = remaining - repo_limit
        start_guess = self._prefix_start(doc, row, prefix_limit_guess)

        visible = (start_guess, suffix_end_row)
        snippets = self._snippets(doc, point, repo_limit, visible)
        snippet_tokens = sum(s.tokens for s in snippets)
        remaining -= snippet_tokens

        # scope headers that scroll out of the prefix window (reserved before the prefix takes the rest)
        scope: Snippet | None = None
        scope_header = 0
        if doc.tree is not None:
            guess = self._prefix_start(doc, row, remaining)
            if guess > 0:
                if path not in {sn.path for sn in snippets}:
                    scope_header = self._tokens(snippet_header(path, doc.language))
                scope = self._scope_snippet(
                    doc, point, guess, path, min(remaining, max(budget // 8, 1)) - scope_header
                )
                if scope is not None:
                    remaining -= scope.tokens + scope_header

        # lines above only join a complete line prefix (else the window would not be contiguous)
        start = self._prefix_start(doc, row, remaining) if line_prefix == line_prefix_full else row
        prefix = "".join(doc.line(r) + "\n" for r in range(start, row))
        prefix_tokens = self._tokens(prefix)
        while prefix_tokens > remaining and prefix:  # tokenizers are not additive: trim until it fits
            prefix = prefix.split("\n", 1)[1] if "\n" in prefix else ""
            start += 1
            prefix_tokens = self._tokens(prefix)
        remaining -= prefix_tokens
        if scope is not None:
            fn_start = scope_start_row(doc, point)
            if fn_start is not None and fn_start >= start:  # the header is in the window after all
                remaining += scope.tokens + scope_header
                scope = None
            else:
                snippets.append(scope)

        # leftover (top of the file reached): give it to the suffix, whole lines only
        if (
            remaining > 0
            and suffix_end_row >= row
            and suffix_end_row < doc.line_count - 1
            and suffix.endswith("\n")
        ):
            more, _n, _end = self._suffix_lines(doc, suffix_end_row + 1, remaining, suffix)
            if more:
                extended = suffix + more
                extended_tokens = self._tokens(extended)
                while extended_tokens > suffix_tokens + remaining and extended != suffix:
                    extended = extended[: extended.rstrip("\n").rfind("\n") + 1]
                    extended_tokens = self._tokens(extended)
                if len(extended) >= len(suffix):
                    remaining -= extended_tokens - suffix_tokens
                    suffix, suffix_tokens = extended, extended_tokens

        sections = [Section(s.label, s.path, s.text, s.tokens) for s in snippets]
        if path:
            sections.append(Section("path", path, path, path_tokens))
        sections.append(Section("prefix", path, prefix, prefix_tokens))
        sections.append(Section("line_prefix", path, line_prefix, lp_tokens))
        sections.append(Section("suffix", path, suffix, suffix_tokens))
        return PromptContext(
            path=path,
            language=doc.language,
            snippets=snippets,
            prefix=prefix,
            line_prefix=line_prefix,
            suffix=suffix,
            sections=sections,
        )

    def _prefix_start(self, doc: Document, row: int, limit: int) -> int:
        """First row of the prefix window: whole lines above ``row`` within ``limit`` tokens."""
        used = 0
        start = row
        r = row - 1
        while r >= 0:
            text = doc.line(r) + "\n"
            n = self._fits(text, limit - used)
            if n is None:
                break
            used += n
            start = r
            r -= 1
        if start > 0:
            # stable across keystrokes: start on a multiple of PREFIX_QUANTUM (never more lines)
            quantized = -(-start // PREFIX_QUANTUM) * PREFIX_QUANTUM
            if quantized < row:
                start = quantized
        return start

    def _suffix(self, doc: Document, row: int, rest: str, limit: int) -> tuple[str, int, int]:
        first = self._head_fit(rest, limit)
        if first != rest:
            return first, self._tokens(first), row - 1  # the line is not complete: nothing may follow
        text = rest + "\n" if row + 1 < doc.line_count else rest
        if self._fits(text, limit) is None:
            return rest, self._tokens(rest), row - 1
        used = self._tokens(text)
        more, _n, end_row = self._suffix_lines(doc, row + 1, limit - used, text)
        text += more
        n = self._tokens(text)
        while n > limit and "\n" in text.rstrip("\n"):
            text = text[: text.rstrip("\n").rfind("\n") + 1]
            end_row -= 1
            n = self._tokens(text)
        return text, n, end_row

    def _suffix_lines(self, doc: Document, first_row: int, limit: int, _before: str) -> tuple[str, int, int]:
        parts: list[str] = []
        used = 0
        end_row = first_row - 1
        r = first_row
        while r < doc.line_count and used < limit:
            text = doc.line(r) + ("\n" if r + 1 < doc.line_count else "")
            n = self._fits(text, limit - used)
            if n is None:
                break
            parts.append(text)
            used += n
            end_row = r
            r += 1
        return "".join(parts), used, end_row

    # ------------------------------------------------------------- snippets
    def _near_names(self, doc: Document, point: Point) -> tuple[list[str], set[str]]:
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

    def _import_map(self, doc: Document) -> dict[str, tuple[str, str]]:
        """Local name -> (module source, imported name or "") from the document's imports."""
        out: dict[str, tuple[str, str]] = {}
        try:
            imports: list[Import] = doc.symbols(allow_stale=True).imports
        except Exception:
            return out
        for imp in imports:
            if imp.name:
                name = imp.name.split(" as ")[0].strip()
                local = imp.alias or name.split(".")[-1]
                out[local] = (imp.source, name)
            elif imp.alias:
                out[imp.alias] = (imp.source, "")
            else:
                out[imp.source] = (imp.source, "")
                if doc.language == "python":  # `import a.b` binds `a`
                    head = imp.source.split(".")[0]
                    out.setdefault(head, (head, ""))
                else:
                    out.setdefault(imp.source.rstrip("/").split("/")[-1], (imp.source, ""))
        return out

    def _module_files(self, doc: Document, source: str) -> set[str]:
        """Files an import source may refer to (through the index's module keys)."""
        if self.index is None or not source:
            return set()
        key = source
        if doc.path is not None and (source.startswith(".")):
            base = Path(resolved_path(doc.path)).parent
            if doc.language == "python":
                dots = len(source) - len(source.lstrip("."))
                rest = source[dots:]
                for _ in range(dots - 1):
                    base = base.parent
                target = base / rest.replace(".", "/") if rest else base
            else:
                target = Path(os.path.normpath(base / source))
            rel = self.index.relpath(target)
            key = rel
        key = re.sub(r"\.(py|pyi|js|jsx|mjs|cjs|ts|tsx|h|hpp|hh|go|rs|java)$", "", key)
        key = key.replace("::", ".").replace("/", ".").replace("\\", ".")
        for prefix in ("crate.", "self.", "super.", "@/"):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        parts = [p for p in key.split(".") if p and p != "*"]
        if doc.language == "python" and not source.startswith("."):
            return self.index.files_for_module(".".join(parts))  # absolute: the whole dotted name
        for i in range(len(parts)):
            files = self.index.files_for_module(".".join(parts[i:]))
            if files:
                return files
        return set()

    def _resolve(
        self,
        name: str,
        doc: Document,
        imports: dict[str, tuple[str, str]],
        receivers: dict[str, set[str]],
        visible: tuple[int, int] | None,
        called: bool = True,
    ) -> list[Definition]:
        """Where ``name`` (used in ``doc``) is defined: the document itself, its imports, the index."""
        if self.index is None:
            return []
        doc_path = resolved_path(doc.path) if doc.path is not None else ""
        preferred: set[str] = set()
        if name in imports:
            source, imported = imports[name]
            preferred |= self._module_files(doc, source)
            if imported and imported != name:
                preferred |= self._module_files(doc, _join_module(source, imported))
            preferred.discard(doc_path)
        name_receivers = receivers.get(name, set())
        own = [d for d in self._doc_definitions(doc) if d.name == name]
        if own and not preferred:
            # defined in this very file: that is the one (unless it is already in the window)
            own = [d for d in own if visible is None or d.start_line > visible[1] or d.end_line < visible[0]]
            if name_receivers:  # obj.name(): a method of ours only through self / this / the class
                own = [
                    d
                    for d in own
                    if d.container and (name_receivers & _SELF_NAMES or d.container in name_receivers)
                ]
            elif doc.language not in _IMPLICIT_THIS:
                own = [d for d in own if not d.container]
            if own or not name_receivers:
                return own[:MAX_CANDIDATES_PER_NAME]
            # other.name() where ours is a different thing: look elsewhere
        if doc.language == "python" and name in _PY_BUILTINS and not preferred and not name_receivers:
            return []  # len(), format(), open(): the builtins, not a same-named function elsewhere
        candidates = [d for d in self.index.definitions(name) if d.path != doc_path]
        if not candidates:
            return []
        module_receiver = False
        module_dirs: set[str] = set()
        for receiver in name_receivers:
            head = receiver.split(".")[0]
            if receiver in imports or head in imports:
                source, imported = imports.get(receiver) or imports[head]
                mod = _join_module(source, imported)
                if receiver != head and receiver not in imports:
                    mod = mod + receiver[len(head) :]
                files = self._module_files(doc, mod) or self._module_files(doc, source)
                if files:
                    module_receiver = True
                    preferred |= files
                    module_dirs |= {
                        os.path.dirname(f) for f in files if os.path.basename(f).startswith("__init__")
                    }
        if module_receiver and not any(d.path in preferred for d in candidates):
            # module.name() where the module does not define it: a re-export from its package, or nothing
            candidates = [
                d
                for d in candidates
                if not d.container and any(d.path.startswith(m + os.sep) for m in module_dirs)
            ]
            if not candidates:
                return []
        doc_dir = os.path.dirname(doc_path)
        is_test = "test" in os.path.basename(doc_path)
        has_receiver = bool(name_receivers) and not module_receiver
        scored: list[tuple[float, int, Definition]] = []
        for i, d in enumerate(candidates):
            score = 0.0
            if d.path in preferred:
                score += 10
            elif os.path.dirname(d.path) == doc_dir:
                score += 2
            if d.exported:
                score += 0.5
            if has_receiver:
                if d.container and not _receiver_fits(name_receivers, d.container):
                    continue  # text.rfind() is not UserString.rfind
                score += 0.5 if d.container else -0.5
            elif d.container:
                if d.path not in preferred and doc.language not in _IMPLICIT_THIS:
                    continue  # a bare call never reaches another file's method
                score -= 1
            if not is_test and ("/test" in d.path or "tests/" in d.path):
                score -= 1.5
            if d.kind in ("variable", "declaration", "constant"):
                score -= 0.5
            scored.append((score, i, d))
        if not scored:
            return []
        scored.sort(key=lambda t: (-t[0], t[1]))
        best = scored[0][0]
        if best < 10:
            # no import evidence: only take unambiguous names that are called (or look like types)
            if not called and not (name[:1].isupper() and len(scored) == 1):
                return []
            if len(scored) > (1 if has_receiver else 3):
                return []
        return [d for sc, _i, d in scored[:MAX_CANDIDATES_PER_NAME] if sc >= best - 1e-9]

    def _doc_definitions(self, doc: Document) -> list[Definition]:
        """The document's own definitions, with resolved paths (memoised per symbols snapshot)."""
        try:
            symbols = doc.symbols(allow_stale=True)
        except Exception:
            return []
        with self._lock:
            cached = self._own_defs.get(doc.uri)
        if cached is not None and cached[0] is symbols:
            return cached[1]
        defs = symbols.definitions
        if doc.path is not None:
            path = resolved_path(doc.path)
            defs = [d if d.path == path else msgspec.structs.replace(d, path=path) for d in defs]
        with self._lock:
            self._own_defs[doc.uri] = (symbols, defs)
            while len(self._own_defs) > 64:
                self._own_defs.pop(next(iter(self._own_defs)))
        return defs

    def _definition_text(self, d: Definition, limit: int) -> tuple[str, int] | None:
        """The body when it fits, else an outline (classes) or signature + docstring line."""
        body = d.text.rstrip("\n") + "\n"
        if not d.truncated:
            n = self._fits(body, limit)
            if n is not None and n <= max(limit // 2, 1):
                return body, n
        parts = [d.signature]
        if d.doc:
            indent = " " * (len(d.signature) - len(d.signature.lstrip()) + 4)
            parts.append(f'{indent}"""{d.doc}"""' if d.language == "python" else f"{indent}// {d.doc}")
        head = "\n".join(parts) + "\n"
        n = self._fits(head, limit)
        if n is None:
            head = d.signature + "\n"
            n = self._fits(head, limit)
            if n is None:
                return None
        if d.kind not in ("class", "struct", "interface", "trait", "enum", "type") or self.index is None:
            return head, n
        # a class too big to show whole: its outline, as many member signatures as fit
        lines = [head]
        used = n
        for member in self.index.definitions_in(d.path):
            if (
                member.container != d.name
                or member.start_line < d.start_line
                or member.start_line > d.end_line
            ):
                continue
            line = member.signature.rstrip() + "\n"
            cost = self._fits(line, limit - used)
            if cost is None:
                break
            lines.append(line)
            used += cost
        text = "".join(lines)
        total = self._tokens(text)
        while total > limit and len(lines) > 1:  # not additive: drop members until it fits
            lines.pop()
            text = "".join(lines)
            total = self._tokens(text)
        return (text, total) if total <= limit else None

    def _snippets(self, doc: Document, point: Point, limit: int, visible: tuple[int, int]) -> list[Snippet]:
        if limit <= 0:
            return []
        chosen: list[tuple[int, Snippet, tuple[str, int]]] = []
        charged: set[str] = set()  # paths whose header (file separator + path) is already counted
        used = 0
        seen: set[tuple[str, int]] = set()
        if self.index is not None:
            imports = self._import_map(doc)
            names, called = self._near_names(doc, point)
            window_text = "\n".join(
                doc.line(r)
                for r in range(
                    max(0, point.row - NEAR_LINES_ABOVE), min(doc.line_count, point.row + NEAR_LINES_BELOW)
                )
            )
            if len(window_text) > 200_000:
                window_text = window_text[-200_000:]
            receivers = _receivers(window_text)
            own = self._own_names(doc, point)
            for order, name in enumerate(names[:80]):
                if used >= limit or len(chosen) >= MAX_SNIPPETS - 3:
                    break
                if name in own and name not in imports and not (receivers.get(name, set()) - _SELF_NAMES):
                    continue  # the function we are in: no point defining f inside f
                is_called = name in called or name in receivers
                for d in self._resolve(name, doc, imports, receivers, visible, called=is_called):
                    if len(chosen) >= MAX_SNIPPETS - 3:  # room for 2 similar chunks and the scope
                        break
                    key = (d.path, d.start_line)
                    if key in seen:
                        continue
                    rel = self._rel(d.path)
                    header = 0 if rel in charged else self._tokens(snippet_header(rel, doc.language))
                    rendered = self._definition_text(d, min(limit - used - header, max(limit // 2, 1)))
                    if rendered is None:
                        continue
                    text, n = rendered
                    if used + n + header > limit:
                        continue
                    seen.add(key)
                    charged.add(rel)
                    used += n + header
                    label = f"definition {d.container + '.' if d.container else ''}{d.name}"
                    chosen.append((order, Snippet(label, self._rel(d.path), text, n), key))
        # stable order: definitions by place, not by distance to the cursor (KV cache reuse)
        chosen.sort(key=lambda t: t[2])
        out = [s for _o, s, _k in chosen]
        out.extend(self._similar(doc, point, limit - used, seen, charged))
        return out

    def _own_names(self, doc: Document, point: Point) -> set[str]:
        """Names that are the cursor's own scopes (no point defining f inside f)."""
        try:
            return set(doc.container_names(point))
        except Exception:
            return set()

    def _rel(self, path: str) -> str:
        return self.index.relpath(path) if self.index is not None else path

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
            rel = self._rel(path) if other.path is not None else uri
            header = 0 if rel in charged else self._tokens(snippet_header(rel, doc.language))
            n = self._fits(text, limit - used - header)
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

    def _scope_snippet(
        self, doc: Document, point: Point, start_row: int, path: str, limit: int
    ) -> Snippet | None:
        fn = doc.enclosing_function(point)
        if fn is None or fn.start.row >= start_row:
            return None
        first_line = doc.line(fn.start.row)
        header = (fn.header + "\n" if fn.header else "") + first_line + "\n"
        n = self._fits(header, limit)
        if n is None:
            return None
        return Snippet("scope", path, header, n)

    # ------------------------------------------------------------- explain
    def explain_context(self, doc: Document, point: Point, budget_tokens: int) -> ExplainContext | None:
        """The function at the point (cut to the budget when huge), its containers' headers and callees."""
        fn = doc.enclosing_function(Point(*point))
        if fn is None:
            return None
        budget = max(1, int(budget_tokens))
        header_tokens = self._fits(fn.header, budget // 4) if fn.header else 0
        header = fn.header if header_tokens is not None else ""
        header_tokens = header_tokens or 0
        fn_limit = max(1, int((budget - header_tokens) * 0.75))
        text = fn.text
        truncated = False
        n = self._fits(text, fn_limit)
        if n is None:
            truncated = True
            kept: list[str] = []
            used = 0
            for line in text.splitlines(keepends=True):
                ln = self._fits(line, fn_limit - used)
                if ln is None:
                    if not kept:
                        kept.append(self._head_fit(line, fn_limit) + "\n")
                    break
                kept.append(line)
                used += ln
            text = "".join(kept)
            while text and self._tokens(text) > fn_limit:
                text = text[: text.rstrip("\n").rfind("\n") + 1] if "\n" in text.rstrip("\n") else ""
            n = self._tokens(text)
        function = FunctionSpan(
            name=fn.name, kind=fn.kind, start=fn.start, end=fn.end, text=text, header=fn.header
        )
        remaining = budget - header_tokens - (n or 0)
        callees: list[Definition] = []
        if self.index is not None and remaining > 0:
            imports = self._import_map(doc)
            receivers = _receivers(fn.text[:200_000])
            seen: set[tuple[str, int]] = set()
            for name in doc.called_names(fn):
                if name == fn.name:
                    continue
                for d in self._resolve(name, doc, imports, receivers, (fn.start.row, fn.end.row))[:1]:
                    if (d.path, d.start_line) in seen:
                        continue
                    rendered = self._definition_text(d, remaining)
                    if rendered is None:
                        continue
                    body, cost = rendered
                    seen.add((d.path, d.start_line))
                    shown = (
                        d
                        if body == d.text.rstrip("\n") + "\n"
                        else msgspec.structs.replace(d, text=body, truncated=True)
                    )
                    callees.append(shown)
                    remaining -= cost
                if remaining <= 0:
                    break
        return ExplainContext(function=function, header=header, callees=callees, truncated=truncated)


_HASH_COMMENT_LANGUAGES = frozenset({"python", None})


def snippet_header(path: str, language: str | None, file_sep: str | None = None) -> str:
    """The line that introduces another file's snippets in a prompt."""
    if file_sep:
        return f"{file_sep}{path}\n"
    comment = "#" if language in _HASH_COMMENT_LANGUAGES else "//"
    return f"{comment} {path}\n"


def render_snippets(snippets: list[Snippet], language: str | None, file_sep: str | None = None) -> str:
    """Snippets as prompt text, grouped by file under one header each.

    With a model's file-separator token (Qwen2.5-Coder's ``<|file_sep|>``) each file is
    ``<|file_sep|>path\n<code>``; otherwise a comment line in the current document's language
    (``# path`` / ``// path``). The builder reserved one header per file in the budget.
    """
    by_path: dict[str, list[str]] = {}
    for snippet in snippets:
        by_path.setdefault(snippet.path, []).append(
            snippet.text if snippet.text.endswith("\n") else snippet.text + "\n"
        )
    return "".join(
        snippet_header(path, language, file_sep) + "".join(texts) for path, texts in by_path.items()
    )


_PY_BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("_"))
_SELF_NAMES = frozenset({"self", "cls", "this", "super()", "Self"})
_IMPLICIT_THIS = frozenset({"java", "cpp"})


_ASSIGN_RE = re.compile(
    r"\b([A-Za-z_][\w.]*)\s*(?::\s*[\w.]+\s*)?(?::=|=)\s*(?:new\s+|&)?([A-Z][\w]*)\s*(?:::new\s*)?[({]"
)


@lru_cache(maxsize=4096)
def _resolved(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):
        return str(Path(path).absolute())


def resolved_path(path: str | Path) -> str:
    """``Path.resolve`` memoised (a document's path does not move while it is open)."""
    return _resolved(str(path))


def _receivers(text: str) -> dict[str, set[str]]:
    """Called name -> receivers (``obj`` in ``obj.name(``), plus the class of receivers assigned
    from a constructor in the same text (``sq = Square(...)``)."""
    types: dict[str, str] = {m.group(1): m.group(2) for m in _ASSIGN_RE.finditer(text)}
    out: dict[str, set[str]] = {}
    for m in _RECEIVER_RE.finditer(text):
        found = out.setdefault(m.group(2), set())
        found.add(m.group(1))
        if m.group(1) in types:
            found.add(types[m.group(1)])
    return out


def _receiver_fits(receivers: set[str], container: str) -> bool:
    """Could ``receiver.name()`` be a method of ``container``? (``self._loop`` ~ ``BaseEventLoop``)"""
    owner = container.lower()
    for receiver in receivers:
        last = receiver.split(".")[-1].strip("_").lower()
        if receiver in _SELF_NAMES or receiver == container:
            return True
        if len(last) >= 2 and (last in owner or owner in last):
            return True
    return False


def _join_module(source: str, name: str) -> str:
    if not name:
        return source
    return f"{source}{name}" if source.endswith(".") else f"{source}.{name}"


def scope_start_row(doc: Document, point: Point) -> int | None:
    fn = doc.enclosing_function(point)
    return fn.start.row if fn is not None else None


_RECEIVER_RE = re.compile(r"([A-Za-z_][\w.]*)\s*\.\s*([A-Za-z_]\w*)\s*\(")

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
