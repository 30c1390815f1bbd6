"""Resolved file paths, memoised (a document's path does not move while it is open)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=4096)
def _resolved(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):
        return str(Path(path).absolute())


def resolved_path(path: str | Path) -> str:
    """``Path.resolve`` memoised (a document's path does not move while it is open)."""
    return _resolved(str(path))
