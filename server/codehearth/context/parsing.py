"""tree-sitter parsing under a time budget.

Some grammars never finish on some inputs: tree-sitter-typescript 0.23.2's TSX parser loops (and allocates
gigabytes) on the 25 bytes ``(a\\n\\n\\n.xxxxxxxx"c}y}{{/v>;``, a state a user can type through. A parse that
never returns would freeze the document (and the language server) for good, so every parse here runs with
tree-sitter's progress callback and is abandoned when its budget is spent; callers then go on without a tree.
"""

from __future__ import annotations

import logging
import threading
import time

import tree_sitter as ts

log = logging.getLogger(__name__)

PARSE_BUDGET_S = 1.0  # every parse gets this much ...
PARSE_BUDGET_S_PER_MB = 4.0  # ... plus this per megabyte (a healthy parse runs at several MB/s)
_CHUNK = 1 << 16


def parse_budget_s(size: int) -> float:
    """Seconds a parse of ``size`` bytes may take before it is abandoned."""
    return PARSE_BUDGET_S + PARSE_BUDGET_S_PER_MB * size / 1_000_000


# py-tree-sitter 0.26 keeps what the read-callback form of Parser.parse hands it: every callable passed in, and
# every memoryview returned by the read callback (its buffer is never released, so the slice and the whole source
# behind it stay alive). The hour's soak lost a copy of the document per keystroke that way. So the callbacks are
# two module-level functions that read this thread's source and deadline (nothing new per parse to keep), and the
# read callback returns bytes (tests/unit/context/test_context_parsing.py counts what a parse leaves behind).
_current = threading.local()


def _read(offset: int, _point: ts.Point) -> bytes:
    source: bytes = _current.source
    return source[offset : offset + _CHUNK]


def _over_budget(_offset: int, _has_error: bool) -> bool:
    return time.monotonic() > _current.deadline


# Grammars seen never finishing on text a user can type: only their parses run budgeted. The budget needs the
# read-callback form of Parser.parse, and py-tree-sitter 0.26 keeps every object that callback returns (a
# slice of the source per read: a copy of the file per fresh parse, the text after the edit per keystroke), so
# every other grammar parses the plain way, which keeps nothing (the soak and the test below measured both).
LOOP_PRONE = frozenset({"tsx", "typescript"})


def parse(
    parser: ts.Parser, source: bytes, old_tree: ts.Tree | None = None, budget_s: float | None = None,
    language: str | None = None,
) -> ts.Tree | None:
    """``parser.parse(source, old_tree)``, or None when it ran past its budget (the parser is reset)."""
    if language not in LOOP_PRONE:
        return parser.parse(source) if old_tree is None else parser.parse(source, old_tree)
    _current.source = source
    _current.deadline = time.monotonic() + (parse_budget_s(len(source)) if budget_s is None else budget_s)
    try:  # the progress callback exists only for the read-callback form of Parser.parse
        if old_tree is None:  # the binding takes no None for the old tree
            tree = parser.parse(_read, progress_callback=_over_budget)
        else:
            tree = parser.parse(_read, old_tree, progress_callback=_over_budget)
    except ValueError:  # "Parsing failed": halted by the callback
        parser.reset()  # otherwise the next call would resume this parse
        log.warning("tree-sitter parse of %d bytes abandoned after its budget", len(source))
        return None
    finally:
        _current.source = b""
    # A tree parsed from a callback keeps no source, and py-tree-sitter 0.26 crashes (SIGSEGV) on node.text
    # and on text predicates (#eq?) over it. Parsing the same bytes again with it as the old tree reuses it
    # (well under a millisecond for a clean tree) and gives a tree that holds its source.
    return parser.parse(source, tree)
