"""CLI bodies for ``codehearth index [PATH]`` and ``codehearth context FILE:LINE:COL``.

The CLI module parses arguments and calls these; output goes to ``out`` (progress bars to stderr).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import msgspec

from .builder import ContextBuilder
from .document import Document, Point
from .index import WorkspaceIndex

if TYPE_CHECKING:
    from codehearth.config import ContextSettings

log = logging.getLogger(__name__)

_ROOT_MARKERS = (
    ".git",
    ".hg",
    ".svn",
    "pyproject.toml",
    "package.json",
    "go.mod",
    "Cargo.toml",
    ".codehearth.toml",
)


def workspace_root_for(file: Path) -> Path:
    """The nearest folder above ``file`` that looks like a project root (else the file's folder)."""
    start = file.resolve().parent
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in _ROOT_MARKERS):
            return folder
    return start


def _progress_bar(desc: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return (lambda _d, _t: None), (lambda: None)
    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="file", file=sys.stderr, leave=False, dynamic_ncols=True)
        bar.total = total
        if done > bar.n:
            bar.update(done - bar.n)  # tqdm throttles redraws itself

    def close() -> None:
        if bar is not None:
            bar.close()

    return update, close


def run_index(path: Path, cache_dir: Path, settings: ContextSettings, out: TextIO) -> int:
    """Build or refresh the index of ``path``; prints files, symbols and time."""
    root = Path(path)
    if not root.is_dir():
        out.write(f"codehearth index: {root} is not a folder\n")
        return 2
    index = WorkspaceIndex([root], cache_dir, settings)
    update, close = _progress_bar("indexing")
    try:
        stats = index.scan(progress=update)
    finally:
        close()
        index.close()
    out.write(
        f"indexed {root}: {stats.files} files, {stats.symbols} symbols, "
        f"{stats.parsed} parsed, {stats.seconds:.1f}s\n"
    )
    return 0


def _byte_column(line: str, col_1based: int) -> int:
    chars = max(0, col_1based - 1)
    return len(line[:chars].encode("utf-8"))


def run_context(
    file: Path,
    line: int,
    col: int,
    as_json: bool,
    budget: int | None,
    settings: ContextSettings,
    count_tokens: Callable[[str], int],
    cache_dir: Path,
    out: TextIO,
) -> int:
    """Print the context assembled for ``FILE:LINE:COL`` (1-based; the column counts characters)."""
    file = Path(file)
    try:
        text = file.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        out.write(f"codehearth context: cannot read {file}: {exc}\n")
        return 2
    root = workspace_root_for(file)
    index: WorkspaceIndex | None = None
    if settings.index_workspace:
        index = WorkspaceIndex([root], cache_dir, settings)
        update, close = _progress_bar("indexing")
        try:
            index.scan(progress=update)
        finally:
            close()
    try:
        doc = Document(file.resolve().as_uri(), text, path=file.resolve())
        row = min(max(line - 1, 0), doc.line_count - 1)
        point = doc.clamp(Point(row, _byte_column(doc.line(row), col)))
        builder = ContextBuilder(index, settings, count_tokens)
        ctx = builder.build(doc, point, budget)
    finally:
        if index is not None:
            index.close()
    if as_json:
        out.write(msgspec.json.encode(ctx).decode() + "\n")
        return 0
    total = sum(s.tokens for s in ctx.sections)
    limit = budget if budget is not None else settings.budget_tokens
    out.write(
        f"context for {ctx.path}:{line}:{col} ({ctx.language or 'plain text'}), {total}/{limit} tokens\n"
    )
    for section in ctx.sections:
        out.write(f"\n=== {section.label} · {section.source} · {section.tokens} tokens ===\n")
        out.write(section.text)
        if section.text and not section.text.endswith("\n"):
            out.write("\n")
    return 0
