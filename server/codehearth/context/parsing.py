"""tree-sitter parsing under a time budget.

Some grammars never finish on some inputs: tree-sitter-typescript 0.23.2's TSX parser loops (and allocates
gigabytes) on the 25 bytes ``(a\\n\\n\\n.xxxxxxxx"c}y}{{/v>;``, a state a user can type through. A parse that
never returns would freeze the document (and the language server) for good, so every parse here runs with
tree-sitter's progress callback and is abandoned when its budget is spent; callers then go on without a tree.
"""

from __future__ import annotations

import logging
import time

import tree_sitter as ts

log = logging.getLogger(__name__)

PARSE_BUDGET_S = 1.0  # every parse gets this much ...
PARSE_BUDGET_S_PER_MB = 4.0  # ... plus this per megabyte (a healthy parse runs at several MB/s)
_CHUNK = 1 << 16


def parse_budget_s(size: int) -> float:
    """Seconds a parse of ``size`` bytes may take before it is abandoned."""
    return PARSE_BUDGET_S + PARSE_BUDGET_S_PER_MB * size / 1_000_000


def parse(
    parser: ts.Parser, source: bytes, old_tree: ts.Tree | None = None, budget_s: float | None = None
) -> ts.Tree | None:
    """``parser.parse(source, old_tree)``, or None when it ran past its budget (the parser is reset)."""
    view = memoryview(source)
    deadline = time.monotonic() + (parse_budget_s(len(source)) if budget_s is None else budget_s)

    # the progress callback exists only for the read-callback form of Parser.parse
    def read(offset: int, _point: ts.Point) -> memoryview:
        return view[offset : offset + _CHUNK]

    def over_budget(_offset: int, _has_error: bool) -> bool:
        return time.monotonic() > deadline

    try:
        if old_tree is None:  # the binding takes no None for the old tree
            tree = parser.parse(read, progress_callback=over_budget)
        else:
            tree = parser.parse(read, old_tree, progress_callback=over_budget)
    except ValueError:  # "Parsing failed": halted by the callback
        parser.reset()  # otherwise the next call would resume this parse
        log.warning("tree-sitter parse of %d bytes abandoned after its budget", len(source))
        return None
    # A tree parsed from a callback keeps no source, and py-tree-sitter 0.26 crashes (SIGSEGV) on node.text
    # and on text predicates (#eq?) over it. Parsing the same bytes again with it as the old tree reuses it
    # (well under a millisecond for a clean tree) and gives a tree that holds its source.
    return parser.parse(source, tree)
