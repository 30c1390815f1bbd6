"""Go's import rules: an import path inside the workspace's own module names a folder (from its go.mod's
``module`` line), and an import binds the name in that package's ``package`` clause, not the path's last element
(``…/chi/v5`` binds ``chi``, ``gopkg.in/yaml.v3`` binds ``yaml``)."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from codehearth.context.document import Document
from codehearth.context.index import WorkspaceIndex, go_dir_key

from ..paths import resolved_path
from .docsymbols import read_symbols
from .keys import key_files, without_go_major

_GO_DOT_VERSION = re.compile(r"\.v[0-9]+$")
_GO_MODULE_LINE = re.compile(r"^\s*module\s+(\S+)", re.MULTILINE)


class GoPackages:
    """Go imports to files, with the go.mod found above each folder cached (a read per folder, not per name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._modules: dict[str, tuple[str, str] | None] = {}  # folder -> (go.mod folder, module path)

    def module_of(self, index: WorkspaceIndex, path: str | None) -> tuple[str, str] | None:
        """(folder, module path) of the go.mod above ``path`` inside its workspace root."""
        if path is None:
            return None
        folder = os.path.dirname(path)
        root = index.root_of(Path(folder))
        if root is None:
            return None
        with self._lock:
            if folder in self._modules:
                return self._modules[folder]
        found: tuple[str, str] | None = None
        here = Path(folder)
        while True:
            gomod = here / "go.mod"
            try:
                text = gomod.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = None
            if text is not None:
                m = _GO_MODULE_LINE.search(text)
                if m:
                    found = (str(here), m.group(1).strip('"'))
                break
            if here == root or here.parent == here:
                break
            here = here.parent
        with self._lock:
            if len(self._modules) > 1024:
                self._modules.clear()
            self._modules[folder] = found
        return found

    def package_files(self, index: WorkspaceIndex, path: str | None, source: str) -> set[str] | None:
        """The files of the package an import path names, when it is in this workspace's module (else None)."""
        module = self.module_of(index, path)
        if module is None:
            return None
        mod_dir, mod_path = module
        if source != mod_path and not source.startswith(mod_path + "/"):
            return None
        rest = source[len(mod_path) :].strip("/")
        rel = index.relpath(os.path.join(mod_dir, rest) if rest else mod_dir)
        if os.path.isabs(rel):
            return None
        files = index.files_for_module(go_dir_key(rel))
        return {f for f in files if not f.endswith("_test.go")}  # tests are not part of what an import sees

    def import_files(self, index: WorkspaceIndex, path: str | None, source: str) -> set[str]:
        """Files a Go import names: its package folder inside this module, else through the module keys."""
        files = self.package_files(index, path, source)
        return files if files is not None else key_files(index, path, "go", source)

    def package_name(self, index: WorkspaceIndex | None, path: str | None, source: str) -> str:
        """The name an unaliased Go import binds: the imported package's ``package`` clause."""
        if index is not None:
            for f in sorted(self.import_files(index, path, source)):
                symbols = index.file_symbols(f)
                if symbols is not None and symbols.package and not symbols.package.endswith("_test"):
                    return symbols.package
        parts = without_go_major(source.rstrip("/").split("/"))  # github.com/go-chi/chi/v5
        last = _GO_DOT_VERSION.sub("", parts[-1])  # gopkg.in/yaml.v3
        return last.removeprefix("go-").replace("-", "_") or parts[-1]


def same_package(index: WorkspaceIndex, doc: Document) -> set[str]:
    """The other files of the document's Go package (its folder, the same ``package`` clause)."""
    if doc.path is None:
        return set()
    symbols = read_symbols(doc, "package")
    if symbols is None:
        return set()
    package = symbols.package
    path = resolved_path(doc.path)
    rel = index.relpath(os.path.dirname(path))
    if os.path.isabs(rel):
        return set()
    out: set[str] = set()
    for f in index.files_for_module(go_dir_key(rel)):
        file_symbols = index.file_symbols(f)
        if f != path and file_symbols is not None and file_symbols.package == package:
            out.add(f)
    return out
