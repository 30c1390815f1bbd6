"""Languages: file-extension map, grammar loading and the per-language queries.

Grammars come from the official ``tree-sitter-<lang>`` wheels and are loaded lazily, once per
process. Queries live in ``queries/<language>.<kind>.scm`` with these kinds:

- ``defs``: ``@definition.<kind>`` on a whole definition node, ``@name`` on its name;
- ``calls``: ``@call`` on the name of a called function, method or constructed type;
- ``imports``: ``@import.source`` (module / path), ``@import.name``, ``@import.alias``;
- ``scopes``: ``@scope.function`` (functions and methods) and ``@scope.class`` (containers).

A language without a grammar (or whose grammar fails to load) still gets line-based context:
every function here returns ``None`` for it and callers fall back.
"""

from __future__ import annotations

import importlib
import logging
import threading
from functools import cache
from pathlib import Path

import tree_sitter as ts

log = logging.getLogger(__name__)

QUERY_DIR = Path(__file__).with_name("queries")
QUERY_KINDS = ("defs", "calls", "imports", "scopes")

# our language name -> (module, attribute holding the language() capsule factory)
_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
}

SUPPORTED_LANGUAGES: frozenset[str] = frozenset(_GRAMMARS)

_EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".pyw": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".h++": "cpp",
    ".ipp": "cpp",
    ".inl": "cpp",
}

_LSP_IDS: dict[str, str] = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "go": "go",
    "rust": "rust",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
    "cuda-cpp": "cpp",
    "objective-c": "c",
}

# Node types that are string literals (for the "inside a string" gate) and comments.
STRING_NODE_TYPES: frozenset[str] = frozenset(
    {
        "string",
        "string_literal",
        "raw_string_literal",
        "char_literal",
        "character_literal",
        "interpreted_string_literal",
        "rune_literal",
        "template_string",
        "concatenated_string",
        "text_block",
        "string_fragment",
        "string_content",
        "escape_sequence",
    }
)
COMMENT_NODE_TYPES: frozenset[str] = frozenset(
    {"comment", "line_comment", "block_comment", "doc_comment", "html_comment"}
)
# Languages whose blocks open with ":" and are delimited by indentation.
INDENT_LANGUAGES: frozenset[str] = frozenset({"python"})

_lock = threading.Lock()


def language_for_path(path: str | Path) -> str | None:
    """Our language name for a file path (by extension), or None when we have no grammar for it."""
    suffix = Path(path).suffix.lower()
    return _EXTENSIONS.get(suffix)


def language_from_lsp_id(language_id: str) -> str | None:
    """Map an LSP ``languageId`` (``typescriptreact``, ``cpp``, …) to our language name."""
    return _LSP_IDS.get((language_id or "").lower())


def extensions_for(language: str) -> list[str]:
    return [ext for ext, lang in _EXTENSIONS.items() if lang == language]


@cache
def get_language(language: str | None) -> ts.Language | None:
    """The tree-sitter Language for one of ours; None (logged once) when the grammar is missing."""
    if language is None or language not in _GRAMMARS:
        return None
    module_name, attr = _GRAMMARS[language]
    try:
        module = importlib.import_module(module_name)
        return ts.Language(getattr(module, attr)())
    except Exception as exc:  # missing wheel, ABI mismatch: degrade to line-based context
        log.warning("tree-sitter grammar for %s unavailable: %s", language, exc)
        return None


def new_parser(language: str | None) -> ts.Parser | None:
    """A fresh parser (parsers are not shared between threads)."""
    lang = get_language(language)
    return ts.Parser(lang) if lang is not None else None


@cache
def get_query(language: str | None, kind: str) -> ts.Query | None:
    """The compiled ``queries/<language>.<kind>.scm``; None when missing or broken (logged once)."""
    if kind not in QUERY_KINDS:
        raise ValueError(f"unknown query kind {kind!r}")
    lang = get_language(language)
    if lang is None:
        return None
    path = QUERY_DIR / f"{language}.{kind}.scm"
    try:
        source = path.read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        return ts.Query(lang, source)
    except Exception as exc:
        log.warning("query %s does not compile: %s", path.name, exc)
        return None


def query_cursor(language: str | None, kind: str) -> ts.QueryCursor | None:
    """A new cursor for one query (cursors hold state, so one per use)."""
    query = get_query(language, kind)
    if query is None:
        return None
    with _lock:
        return ts.QueryCursor(query)
