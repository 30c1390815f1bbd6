"""ContextBuilder: the prompt's sections for a cursor, under a token budget, with a front that stays put.

What is in front of the cursor's line in the prompt (snippets, path, prefix window) stays the same while the
user types, so the engine's KV cache survives keystrokes:

- the repository snippets are frozen per document: found on the first prompt for a document, again after a
  switch from another document (whose prompt replaced this one's in the cache anyway) or a jump to another
  place (more than ``JUMP_ROWS`` rows away, or above the prefix window: the names near the cursor are others),
  and otherwise only when :meth:`ContextBuilder.refresh_snippets` is called — by the completion service when
  the user pauses;
- the prefix window and the suffix are anchored (``windows``): they move in large steps, not per keystroke.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from codehearth.context.document import Document, Point
from codehearth.context.index import WorkspaceIndex, is_secret_path, looks_secret

from .budget import TokenBudget
from .explain import explain_context
from .limits import FULL, BuildLimits
from .paths import resolved_path
from .render import snippet_header
from .resolve import Resolver
from .sections import ExplainContext, PromptContext, Section, Snippet
from .snippets import MAX_SNIPPETS, SnippetFinder
from .windows import (
    LINE_ROOM,
    PREFIX_FILL,
    PREFIX_LOW,
    anchored_start,
    extra_lines,
    fill_start,
    suffix_window,
    window_fit,
)

if TYPE_CHECKING:
    from codehearth.config import ContextSettings

JUMP_ROWS = 8  # the cursor moved farther than this since the last build: another place, not typing


@dataclass
class _DocState:
    """What keeps one document's prompt stable between builds."""

    snippets: list[Snippet] | None = None  # frozen until refreshed
    # prefix cap -> (first row, the scope header shown with it): the header is kept with the anchor, as
    # half-typed code can parse differently from one keystroke to the next
    prefix: dict[int | None, tuple[int, Snippet | None]] = field(default_factory=dict)
    suffix_lines: int | None = None  # whole lines below the cursor's line (uncapped builds)
    extra: dict[BuildLimits, int] = field(default_factory=dict)  # leftover suffix lines (top of file reached)
    row: int | None = None  # the cursor's row at the last build


class ContextBuilder:
    """Builds :class:`PromptContext` for completions and :class:`ExplainContext` for explanations."""

    def __init__(
        self,
        index: WorkspaceIndex | None,
        settings: ContextSettings,
        count_tokens: Callable[[str], int],
    ) -> None:
        self.settings = settings
        self.count_tokens = count_tokens
        self._budget = TokenBudget(count_tokens)
        self._resolver = Resolver(index)
        self._finder = SnippetFinder(self._resolver, self._budget)
        self._lock = threading.Lock()
        self._states: dict[str, _DocState] = {}
        self._last_uri: str | None = None

    @property
    def index(self) -> WorkspaceIndex | None:
        return self._resolver.index

    @index.setter
    def index(self, index: WorkspaceIndex | None) -> None:  # the app attaches the index once it is open
        self._resolver.index = index

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
        self._finder.note(doc, max(0, int(getattr(self.settings, "similar_files", 8))))

    def forget_document(self, uri: str) -> None:
        self._finder.forget(uri)
        self._resolver.forget(uri)
        with self._lock:
            self._states.pop(uri, None)
            if self._last_uri == uri:
                self._last_uri = None
            for state in self._states.values():  # they may quote it (similar chunks): found again
                state.snippets = None

    # ---------------------------------------------------------------- build
    def build(
        self,
        doc: Document,
        point: Point,
        budget_tokens: int | None = None,
        limits: BuildLimits | None = None,
    ) -> PromptContext:
        """The sections of the prompt at ``point`` within ``budget_tokens`` (default: the settings').

        ``limits`` caps sections for a smaller prompt (the planner walks ``SHRINK_LADDER``; see
        ``builder.limits`` for which rungs keep the KV prefix). Builds with the same limits are stable while
        the user types: the snippets are frozen (see :meth:`refresh_snippets`), the prefix window and the
        suffix are anchored. The first build for a document, after a build for another one, or after a jump
        (more than ``JUMP_ROWS`` rows, or above the prefix window) finds the snippets anew.
        """
        return self._build(doc, point, budget_tokens, limits or FULL, refresh=False)[0]

    def refresh_snippets(self, doc: Document, point: Point, budget_tokens: int | None = None) -> bool:
        """Find the repository snippets for ``point`` again; True when they changed (or were not there yet).

        The snippet section is in front of the prompt, so a change makes the next prompt's KV cache miss from
        there on: the completion service calls this when the user pauses (not on the keystroke path), and on
        True may prefill the next prompt in the background. On a change the prefix window is anchored again
        too (its room for new lines restored), since it is evaluated again anyway.
        """
        return self._build(doc, point, budget_tokens, FULL, refresh=True)[1]

    def _display_path(self, doc: Document) -> str:
        if doc.path is None:
            return doc.uri
        if self.index is not None:
            with_root = self.index.relpath(resolved_path(doc.path))
            if not os.path.isabs(with_root):
                return with_root
        return Path(doc.path).name

    def _state(self, uri: str) -> _DocState:
        """This document's state (fresh after a build for another document: its prompt left the cache)."""
        with self._lock:
            if self._last_uri != uri:
                self._states.pop(uri, None)
                self._last_uri = uri
            state = self._states.get(uri)
            if state is None:
                state = self._states[uri] = _DocState()
                while len(self._states) > 64:
                    self._states.pop(next(iter(self._states)))
            return state

    def _snippets_cost(self, snippets: list[Snippet], language: str | None) -> int:
        """Tokens of the snippets with one header per file, as the builder budgets them."""
        tb = self._budget
        paths = {s.path for s in snippets}
        return sum(s.tokens for s in snippets) + sum(tb.tokens(snippet_header(p, language)) for p in paths)

    def _cut(self, snippets: list[Snippet], limit: int, language: str | None) -> list[Snippet]:
        """The longest start of the (frozen) list within ``limit``: what stays keeps its KV cache."""
        kept = list(snippets)
        while kept and self._snippets_cost(kept, language) > limit:
            kept.pop()
        return kept

    def _build(
        self, doc: Document, point: Point, budget_tokens: int | None, limits: BuildLimits, refresh: bool
    ) -> tuple[PromptContext, bool]:
        tb = self._budget
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
            empty = PromptContext(
                path=path, language=doc.language, snippets=[], prefix="", line_prefix="", suffix="", sections=[]
            )
            return empty, False
        point = doc.clamp(Point(*point))
        row, col = point
        line = doc.line_bytes(row)
        line_prefix_full = line[:col].decode("utf-8", "replace")
        line_suffix_full = line[col:].decode("utf-8", "replace")
        state = self._state(doc.uri)
        with self._lock:
            window = state.prefix.get(None)
            jumped = state.row is not None and (
                abs(row - state.row) > JUMP_ROWS or (window is not None and row < window[0])
            )
            if jumped:  # another place: its own snippets and windows
                state.snippets, state.suffix_lines = None, None
                state.prefix.clear()
                state.extra.clear()
            state.row = row
            frozen = state.snippets
            prefix_anchor = state.prefix.get(limits.prefix_tokens)
            suffix_anchor = state.suffix_lines
            extra_anchor = state.extra.get(limits)

        shares = [
            max(0.0, float(s))
            for s in (self.settings.prefix_share, self.settings.suffix_share, self.settings.repo_share)
        ]
        total_share = sum(shares) or 1.0
        if total_share < 1.0:
            total_share = 1.0
        prefix_share, suffix_share, repo_share = (s / total_share for s in shares)

        fitted = tb.fits(path, budget // 8)
        if fitted is None:
            path, fitted = "", 0
        path_tokens = fitted
        remaining = budget - path_tokens

        # the current line: the typed part first, it matters most
        line_prefix = tb.tail_fit(line_prefix_full, int(remaining * max(prefix_share, 0.25) * 0.5))
        lp_tokens = tb.tokens(line_prefix)
        remaining -= lp_tokens

        # suffix: rest of the line, then whole lines below (as many as last time while they fit)
        suffix_limit = min(remaining, int(budget * suffix_share))
        suffix, suffix_tokens, below = suffix_window(
            tb, doc, row, line_suffix_full, suffix_limit, suffix_anchor, limits.suffix_lines
        )
        remaining -= suffix_tokens

        # repository snippets: frozen per document, cut (never grown) to this build's limit
        repo_limit = min(remaining, int(budget * repo_share))
        if limits.snippet_tokens is not None:
            repo_limit = min(repo_limit, max(0, limits.snippet_tokens))
        changed = False
        if frozen is None or refresh:
            guess = prefix_anchor[0] if prefix_anchor is not None and prefix_anchor[0] <= row else None
            if guess is None:
                guess = fill_start(tb, doc, row, int((remaining - repo_limit) * PREFIX_FILL))
            found = self._finder.find(doc, point, min(remaining, int(budget * repo_share)), (guess, row + below))
            changed = frozen is None or [(s.path, s.text) for s in found] != [(s.path, s.text) for s in frozen]
            if changed and refresh:
                prefix_anchor = None  # evaluated again anyway: anchor the window afresh
            frozen = found
        snippets = self._cut(frozen, repo_limit, doc.language)
        remaining -= self._snippets_cost(snippets, doc.language)

        # the prefix window (and the headers of the scopes its first line is in), anchored
        prefix_limit = remaining if limits.prefix_tokens is None else min(remaining, max(0, limits.prefix_tokens))
        scope: Snippet | None = None
        scope_cost = 0
        if line_prefix != line_prefix_full:  # lines above only join a complete line prefix
            start, prefix, prefix_tokens = row, "", 0
        else:
            start, prefix, prefix_tokens, scope, scope_cost = self._prefix_window(
                doc, row, prefix_limit, prefix_anchor, path, budget, not line_prefix_full.strip()
            )
            prefix_anchor = (start, scope)
        remaining -= prefix_tokens + scope_cost
        if scope is not None:
            snippets.append(scope)

        # leftover when the top of the file is reached: more suffix lines (anchored too)
        extra = extra_anchor
        if (
            start == 0
            and remaining > 0
            and below >= 0
            and limits.suffix_lines is None
            and row + below < doc.line_count - 1
            and suffix.endswith("\n")
        ):
            suffix, suffix_tokens, extra = extra_lines(
                tb, doc, row + 1 + below, suffix, suffix_tokens, remaining, extra_anchor
            )

        with self._lock:
            state.snippets = frozen
            if refresh and changed:
                state.prefix.clear()
            if line_prefix == line_prefix_full and prefix_anchor is not None:
                state.prefix[limits.prefix_tokens] = prefix_anchor
            if limits.suffix_lines is None and below >= 0:
                state.suffix_lines = below
            if extra is not None:
                state.extra[limits] = extra

        sections = [Section(s.label, s.path, s.text, s.tokens) for s in snippets]
        if path:
            sections.append(Section("path", path, path, path_tokens))
        sections.append(Section("prefix", path, prefix, prefix_tokens))
        sections.append(Section("line_prefix", path, line_prefix, lp_tokens))
        sections.append(Section("suffix", path, suffix, suffix_tokens))
        context = PromptContext(
            path=path,
            language=doc.language,
            snippets=snippets,
            prefix=prefix,
            line_prefix=line_prefix,
            suffix=suffix,
            sections=sections,
        )
        return context, changed

    def _prefix_window(
        self,
        doc: Document,
        row: int,
        limit: int,
        anchor: tuple[int, Snippet | None] | None,
        path: str,
        budget: int,
        line_start: bool,
    ) -> tuple[int, str, int, Snippet | None, int]:
        """(start, text, tokens, scope snippet, scope cost) of the prefix window, keeping ``anchor`` when valid.

        ``line_start``: nothing typed on the cursor's line yet; a kept window must leave ``LINE_ROOM`` free.
        """
        tb = self._budget
        header = tb.tokens(snippet_header(path, doc.language))

        def scope_at(start: int, room: int) -> tuple[Snippet | None, int]:
            snippet = self._finder.scope(doc, start, path, min(room, max(budget // 8, 1)) - header)
            return (snippet, snippet.tokens + header) if snippet is not None else (None, 0)

        if anchor is not None:
            start, scope = anchor
            cost = scope.tokens + header if scope is not None else 0
            room = int(limit * LINE_ROOM) if line_start else 0
            got = window_fit(tb, doc, start, row, limit - cost - room)
            if got is not None and (start == 0 or got[1] >= PREFIX_LOW * limit):
                return start, got[0], got[1], scope, cost
        start, text, n = anchored_start(tb, doc, row, limit)
        scope, cost = scope_at(start, limit - n)
        return start, text, n, scope, cost

    # ------------------------------------------------------------- explain
    def explain_context(self, doc: Document, point: Point, budget_tokens: int) -> ExplainContext | None:
        """The function at the point (cut to the budget when huge), its containers' headers and callees."""
        return explain_context(self._budget, self._resolver, doc, point, budget_tokens)
