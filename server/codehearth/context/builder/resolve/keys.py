"""Import sources as the index's dotted module keys.

One key scheme serves every language (``./x``, ``crate::a::b``, ``a/b`` and ``a.b`` all become ``a.b``), so what
is per language here is only how each writes its sources. Go's imports inside the workspace's own module are
folders, answered by :mod:`.golang` before it falls back to these keys.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from codehearth.context.index import WorkspaceIndex

_SOURCE_SUFFIX = re.compile(r"\.(py|pyi|js|jsx|mjs|cjs|ts|tsx|mts|cts|h|hpp|hh|hxx|c|cc|cpp|cxx|ipp|inl|go|rs|java)$")
_GO_MAJOR = re.compile(r"v[0-9]+")


def join_module(source: str, name: str) -> str:
    """The module ``from source import name`` may name (``a`` + ``b`` is ``a.b``, ``.`` + ``b`` is ``.b``)."""
    if not name:
        return source
    return f"{source}{name}" if source.endswith(".") else f"{source}.{name}"


def without_go_major(parts: list[str]) -> list[str]:
    """A Go import path's parts without its major version (``…/chi/v5`` is package ``chi``)."""
    if len(parts) > 1 and _GO_MAJOR.fullmatch(parts[-1]):
        return parts[:-1]
    return parts


def key_files(index: WorkspaceIndex, path: str | None, language: str | None, source: str) -> set[str]:
    """Files an import ``source`` written in the file at ``path`` may refer to, through the module keys."""
    if not source:
        return set()
    key = source
    exact = False  # a relative import inside the workspace names one path: no suffix guessing
    if path is not None and (source.startswith(".")):
        base = Path(path).parent
        if language == "python":
            dots = len(source) - len(source.lstrip("."))
            rest = source[dots:]
            for _ in range(dots - 1):
                base = base.parent
            target = base / rest.replace(".", "/") if rest else base
        else:
            target = Path(os.path.normpath(base / source))
        rel = index.relpath(target)
        key = rel
        exact = language != "python" and not os.path.isabs(rel)
    key = _SOURCE_SUFFIX.sub("", key)
    key = key.replace("::", ".").replace("/", ".").replace("\\", ".")
    for prefix in ("crate.", "self.", "super.", "@/"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    parts = [p for p in key.split(".") if p and p != "*"]
    if language == "python" and not source.startswith("."):
        return index.files_for_module(".".join(parts))  # absolute: the whole dotted name
    if exact:
        # ./x is x.ts or x/index.ts (module keys drop `index`); ./x/index.js is x/index.ts
        files = index.files_for_module(".".join(parts))
        if not files and parts and parts[-1] == "index":
            files = index.files_for_module(".".join(parts[:-1]))
        return files
    if language == "go":
        parts = without_go_major(parts)
    for i in range(len(parts)):
        files = index.files_for_module(".".join(parts[i:]))
        if files:
            return files
    return set()
