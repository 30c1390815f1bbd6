"""Snippets as prompt text (the engine's templates lay out the rest)."""

from __future__ import annotations

from .sections import Snippet

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
    ``<|file_sep|>path\\n<code>``; otherwise a comment line in the current document's language
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
