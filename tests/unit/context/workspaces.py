"""Small workspaces written for one test each, indexed as the server indexes them, and names resolved in them.

Shared by the cross-file resolution tests (one module per language family), which differ only in their fixtures.
"""

from __future__ import annotations

from pathlib import Path

from codehearth.config import ContextSettings
from codehearth.context.builder.receivers import receivers
from codehearth.context.builder.resolve import Resolver
from codehearth.context.document import Document
from codehearth.context.index import WorkspaceIndex
from codehearth.context.symbols import Definition


def write_workspace(tmp_path: Path, files: dict[str, str], folder: str = "ws") -> WorkspaceIndex:
    """``files`` (relative path -> text) written under ``tmp_path / folder`` and indexed (one worker)."""
    root = tmp_path / folder
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    index = WorkspaceIndex([root], tmp_path / "cache", ContextSettings(index_workers=1))
    index.scan()
    return index


def open_doc(index: WorkspaceIndex, rel: str) -> Document:
    """The workspace file ``rel`` as an open document."""
    path = index.roots[0] / rel
    return Document(path.as_uri(), path.read_text(), path=path)


def resolve_in(
    index: WorkspaceIndex,
    rel: str,
    name: str,
    visible: tuple[int, int] | None = None,
    focus: frozenset[str] = frozenset(),
) -> list[Definition]:
    """Where ``name``, used in the file ``rel``, is defined (with the receivers the file's text shows)."""
    doc = open_doc(index, rel)
    resolver = Resolver(index)
    return resolver.resolve(name, doc, resolver.import_map(doc), receivers(doc.text), visible, focus=focus)
