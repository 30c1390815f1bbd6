"""The :class:`Resolver`: where a name used in a document is defined — the document itself, its imports, the
workspace index.

It gathers the evidence (what the imports, receivers, includes and Go package point at) and keeps the caches; how
imports name files is in :mod:`.imports`, :mod:`.keys` and :mod:`.golang`, the choice among candidates in
:mod:`.ranking`, a definition's text in :mod:`.outline`.
"""

from __future__ import annotations

import builtins
import os
import re
import threading
from collections.abc import Callable

import msgspec

from codehearth.context.document import Document
from codehearth.context.index import WorkspaceIndex
from codehearth.context.symbols import Definition

from ..budget import TokenBudget
from ..paths import resolved_path
from ..receivers import SELF_NAMES
from . import imports as import_rules
from .docsymbols import read_symbols
from .golang import GoPackages, same_package
from .keys import join_module
from .outline import definition_text
from .ranking import IMPLICIT_THIS, MAX_CANDIDATES_PER_NAME, Evidence, rank

_PY_BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("_"))
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


class Resolver:
    """Resolves names through imports and the index (``index`` may be replaced while running)."""

    def __init__(self, index: WorkspaceIndex | None) -> None:
        self.index = index
        self._lock = threading.Lock()
        self._own_defs: dict[str, tuple[object, list[Definition]]] = {}
        self._go = GoPackages()
        # (uri, what) -> (symbols snapshot, index generation, files): per-document sets every name would redo
        self._doc_sets: dict[tuple[str, str], tuple[object, int, set[str]]] = {}

    def forget(self, uri: str) -> None:
        with self._lock:
            self._own_defs.pop(uri, None)
            for key in [k for k in self._doc_sets if k[0] == uri]:
                del self._doc_sets[key]

    def _per_document(self, doc: Document, what: str, compute: Callable[[], set[str]]) -> set[str]:
        """``compute()`` once per document snapshot and index generation (it does not change between names)."""
        symbols = read_symbols(doc, "symbols")
        if symbols is None:
            return set()
        generation = self.index.generation if self.index is not None else 0
        with self._lock:
            hit = self._doc_sets.get((doc.uri, what))
        if hit is not None and hit[0] is symbols and hit[1] == generation:
            return hit[2]
        value = compute()
        with self._lock:
            self._doc_sets[(doc.uri, what)] = (symbols, generation, value)
            while len(self._doc_sets) > 128:
                self._doc_sets.pop(next(iter(self._doc_sets)))
        return value

    def rel(self, path: str) -> str:
        return self.index.relpath(path) if self.index is not None else path

    # ------------------------------------------------ imports (see .imports)
    def import_map(self, doc: Document) -> dict[str, tuple[str, str]]:
        """Local name -> (module source, imported name or "") from the document's imports."""
        return import_rules.import_map(self.index, self._go, doc)

    def included_files(self, doc: Document) -> set[str]:
        """C/C++: the files the document includes, and what those include (one level down)."""
        if self.index is None:
            return set()
        return import_rules.included_files(self.index, self._go, doc)

    def module_files(self, doc: Document, source: str) -> set[str]:
        """Files an import source may refer to (through the index's module keys)."""
        path = resolved_path(doc.path) if doc.path is not None else None
        return self.module_files_at(path, doc.language, source)

    def module_files_at(self, path: str | None, language: str | None, source: str) -> set[str]:
        """Files an import ``source`` written in the file at ``path`` may refer to."""
        return import_rules.import_files(self.index, self._go, path, language, source)

    def exported_from(self, files: set[str], name: str) -> dict[str, str]:
        """Of ``files``, those that define ``name`` -> the name defined there, following re-exports."""
        return import_rules.exported_from(self.index, self._go, files, name)

    def go_package_name(self, path: str | None, source: str) -> str:
        """The name an unaliased Go import binds: the imported package's ``package`` clause."""
        return self._go.package_name(self.index, path, source)

    def go_same_package(self, doc: Document) -> set[str]:
        """The other files of the document's Go package (its folder, the same ``package`` clause)."""
        if self.index is None:
            return set()
        return same_package(self.index, doc)

    # ------------------------------------------------------------ resolving
    def resolve(
        self,
        name: str,
        doc: Document,
        imports: dict[str, tuple[str, str]],
        receivers: dict[str, set[str]],
        visible: tuple[int, int] | None,
        called: bool = True,
        focus: frozenset[str] = frozenset(),
    ) -> list[Definition]:
        """Where ``name`` (used in ``doc``) is defined: the document itself, its imports, the index.

        ``focus``: the receivers ``name`` is called on in the cursor's own line (``LongConstant`` in
        ``LongConstant.valueOf(``): when several receivers call the same name near the cursor, theirs come first."""
        if self.index is None:
            return []
        doc_path = resolved_path(doc.path) if doc.path is not None else ""
        preferred: set[str] = set()
        wanted = name  # the defined name: `import { a as b }` calls `b(` but defines `a`
        also: set[str] = set()  # names it is defined as behind re-exports
        if name in imports:
            source, imported = imports[name]
            files = self.module_files(doc, source)
            preferred |= files
            if imported and imported != name:
                preferred |= self.module_files(doc, join_module(source, imported))
                if _IDENT.fullmatch(imported):
                    wanted = imported
            for file, defined in self.exported_from(files, wanted).items():
                preferred.add(file)
                if defined:
                    also.add(defined)  # export { make as create }: `create(` is `make`
            preferred.discard(doc_path)
        name_receivers = receivers.get(name, set())
        own = [d for d in self.doc_definitions(doc) if d.name == name]
        if not name_receivers and doc.language not in IMPLICIT_THIS:
            # a bare call never reaches a method: when this file has only methods of that name, look elsewhere
            own = [d for d in own if not d.container]
        if own and not preferred:
            # defined in this very file: that is the one (unless it is already in the window)
            own = [d for d in own if visible is None or d.start_line > visible[1] or d.end_line < visible[0]]
            if name_receivers:  # obj.name(): a method of ours only through self / this / the class
                own = [
                    d
                    for d in own
                    if d.container and (name_receivers & SELF_NAMES or d.container in name_receivers)
                ]
            if own and focus and not focus & SELF_NAMES and not any(d.container in focus for d in own):
                own = []  # Position::new( at the cursor, where this file has Parser::new: another type's
            via_module = {r for r in name_receivers if r.split(".")[0] in imports}
            if own and via_module and via_module != name_receivers:
                # this.clone() and core.clone() near the cursor: ours and the module's
                elsewhere = self.resolve(name, doc, imports, {**receivers, name: via_module}, visible, called, focus)
                return [*own[:1], *(d for d in elsewhere if d not in own)][:MAX_CANDIDATES_PER_NAME]
            if own or not name_receivers:
                return own[:MAX_CANDIDATES_PER_NAME]
            # other.name() where ours is a different thing: look elsewhere
        if doc.language == "python" and name in _PY_BUILTINS and not preferred and not name_receivers:
            return []  # len(), format(), open(): the builtins, not a same-named function elsewhere
        if doc.language == "go" and not name_receivers and name not in imports:
            # a bare call in Go: the package's other files
            preferred |= self._per_document(doc, "package", lambda: self.go_same_package(doc))
        elif doc.language in ("c", "cpp"):
            # what the #includes declare is what the file sees
            preferred |= self._per_document(doc, "includes", lambda: self.included_files(doc))
        candidates = [d for d in self.index.definitions(wanted) if d.path != doc_path]
        module_receiver = False
        module_dirs: set[str] = set()
        focus_files: set[str] = set()
        for receiver in name_receivers:
            head = receiver.split(".")[0]
            if receiver in imports or head in imports:
                source, imported = imports.get(receiver) or imports[head]
                mod = join_module(source, imported)
                if receiver != head and receiver not in imports:
                    mod = mod + receiver[len(head) :]
                files = self.module_files(doc, mod) or self.module_files(doc, source)
                if imported and receiver == head and _IDENT.fullmatch(imported):
                    # `import { util } from "./core"` where core does `export * as util from "./util"`
                    files = set(self.exported_from(files, imported)) or files
                if files:
                    module_receiver = True
                    preferred |= files
                    if receiver in focus:
                        focus_files |= files
                    for file, defined in self.exported_from(files, name).items():
                        preferred.add(file)
                        if defined:
                            also.add(defined)  # checks.lowercase() where checks does `export { _lowercase as lowercase }`
                    module_dirs |= {
                        os.path.dirname(f) for f in files if os.path.basename(f).startswith("__init__")
                    }
        for other in sorted(also - {wanted}):
            candidates += [d for d in self.index.definitions(other) if d.path in preferred and d.path != doc_path]
        if not candidates:
            return []
        if module_receiver and not any(d.path in preferred for d in candidates):
            # module.name() where the module does not define it: a re-export from its package, or nothing
            candidates = [
                d
                for d in candidates
                if not d.container and any(d.path.startswith(m + os.sep) for m in module_dirs)
            ]
            if not candidates:
                return []
        if doc.language == "go" and name_receivers and not module_receiver:
            # p.next() inside `func (p *parser) …`: a method of the package's own type parser
            package_files = self._per_document(doc, "package", lambda: self.go_same_package(doc))
            preferred |= {
                d.path for d in candidates if d.container in name_receivers and d.path in package_files
            }
        ev = Evidence(preferred, name_receivers, module_receiver, focus, focus_files)
        return rank(name, candidates, ev, doc_path=doc_path, language=doc.language, called=called, rel=self.rel)

    def doc_definitions(self, doc: Document) -> list[Definition]:
        """The document's own definitions, with resolved paths (memoised per symbols snapshot)."""
        symbols = read_symbols(doc, "definitions")  # as above: no own definitions, still a prompt
        if symbols is None:
            return []
        with self._lock:
            cached = self._own_defs.get(doc.uri)
        if cached is not None and cached[0] is symbols:
            return cached[1]
        defs = symbols.definitions
        if doc.path is not None:
            path = resolved_path(doc.path)
            defs = [d if d.path == path else msgspec.structs.replace(d, path=path) for d in defs]
        with self._lock:
            self._own_defs[doc.uri] = (symbols, defs)
            while len(self._own_defs) > 64:
                self._own_defs.pop(next(iter(self._own_defs)))
        return defs

    def definition_text(self, d: Definition, limit: int, fits: TokenBudget) -> tuple[str, int] | None:
        """The body when it fits, else an outline (classes) or signature + docstring line (see .outline)."""
        return definition_text(self.index, d, limit, fits)
