"""Where a name used in a document is defined: the document itself, its imports, the workspace index."""

from __future__ import annotations

import builtins
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import msgspec

from codehearth.context import languages
from codehearth.context.document import Document
from codehearth.context.index import WorkspaceIndex, go_dir_key
from codehearth.context.symbols import Definition, Import
from codehearth.logonce import log_once

from .budget import TokenBudget
from .paths import resolved_path
from .receivers import SELF_NAMES, receiver_fits

log = logging.getLogger(__name__)

MAX_CANDIDATES_PER_NAME = 2

_PY_BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("_"))
_IMPLICIT_THIS = frozenset({"java", "cpp"})
_SOURCE_SUFFIX = re.compile(r"\.(py|pyi|js|jsx|mjs|cjs|ts|tsx|mts|cts|h|hpp|hh|hxx|c|cc|cpp|cxx|ipp|inl|go|rs|java)$")
_GO_MAJOR = re.compile(r"v[0-9]+")
_GO_DOT_VERSION = re.compile(r"\.v[0-9]+$")
_GO_MODULE_LINE = re.compile(r"^\s*module\s+(\S+)", re.MULTILINE)
_MAX_REEXPORT_HOPS = 6
_MAX_INCLUDES = 32  # headers whose own includes are followed
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def _join_module(source: str, name: str) -> str:
    if not name:
        return source
    return f"{source}{name}" if source.endswith(".") else f"{source}.{name}"


class Resolver:
    """Resolves names through imports and the index (``index`` may be replaced while running)."""

    def __init__(self, index: WorkspaceIndex | None) -> None:
        self.index = index
        self._lock = threading.Lock()
        self._own_defs: dict[str, tuple[object, list[Definition]]] = {}
        self._go_modules: dict[str, tuple[str, str] | None] = {}  # folder -> (go.mod folder, module path)
        # (uri, what) -> (symbols snapshot, index generation, files): per-document sets every name would redo
        self._doc_sets: dict[tuple[str, str], tuple[object, int, set[str]]] = {}

    def forget(self, uri: str) -> None:
        with self._lock:
            self._own_defs.pop(uri, None)
            for key in [k for k in self._doc_sets if k[0] == uri]:
                del self._doc_sets[key]

    def _per_document(self, doc: Document, what: str, compute: Callable[[], set[str]]) -> set[str]:
        """``compute()`` once per document snapshot and index generation (it does not change between names)."""
        try:
            symbols = doc.symbols(allow_stale=True)
        except Exception as exc:
            log_once(log, f"reading the symbols of {doc.uri}", exc)
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

    def import_map(self, doc: Document) -> dict[str, tuple[str, str]]:
        """Local name -> (module source, imported name or "") from the document's imports."""
        out: dict[str, tuple[str, str]] = {}
        try:
            imports: list[Import] = doc.symbols(allow_stale=True).imports
        except Exception as exc:  # a symbol table we cannot read costs the import map, not the prompt
            log_once(log, f"reading the imports of {doc.uri}", exc)
            return out
        for imp in imports:
            if imp.reexport or imp.name == "*":
                continue  # export … from "./x" and glob imports bind no name of their own
            if imp.name:
                name = imp.name.split(" as ")[0].strip()
                local = imp.alias or name.split(".")[-1]
                out[local] = (imp.source, name)
            elif imp.alias:
                out[imp.alias] = (imp.source, "")
            else:
                out[imp.source] = (imp.source, "")
                if doc.language == "python":  # `import a.b` binds `a`
                    head = imp.source.split(".")[0]
                    out.setdefault(head, (head, ""))
                elif doc.language == "go":  # binds the package clause's name (`…/chi/v5` binds `chi`)
                    path = resolved_path(doc.path) if doc.path is not None else None
                    out.setdefault(self.go_package_name(path, imp.source), (imp.source, ""))
                elif doc.language == "java":  # import a.b.Class binds Class
                    out.setdefault(imp.source.rsplit(".", 1)[-1], (imp.source, ""))
                else:
                    out.setdefault(imp.source.rstrip("/").split("/")[-1], (imp.source, ""))
        return out

    def included_files(self, doc: Document) -> set[str]:
        """C/C++: the files the document includes, and what those include (one level down)."""
        if self.index is None:
            return set()
        try:
            imports = doc.symbols(allow_stale=True).imports
        except Exception as exc:
            log_once(log, f"reading the includes of {doc.uri}", exc)
            return set()
        path = resolved_path(doc.path) if doc.path is not None else None
        direct: set[str] = set()
        for imp in imports:
            direct |= self.module_files_at(path, doc.language, imp.source)
        out = set(direct)
        for header in sorted(direct)[:_MAX_INCLUDES]:
            symbols = self.index.file_symbols(header)
            for imp in symbols.imports if symbols is not None else []:
                out |= self.module_files_at(header, languages.language_for_path(header), imp.source)
        out.discard(path or "")
        return out

    def module_files(self, doc: Document, source: str) -> set[str]:
        """Files an import source may refer to (through the index's module keys)."""
        path = resolved_path(doc.path) if doc.path is not None else None
        return self.module_files_at(path, doc.language, source)

    def module_files_at(self, path: str | None, language: str | None, source: str) -> set[str]:
        """Files an import ``source`` written in the file at ``path`` may refer to."""
        if self.index is None or not source:
            return set()
        if language == "go":
            files = self._go_package_files(path, source)
            if files is not None:
                return files
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
            rel = self.index.relpath(target)
            key = rel
            exact = language != "python" and not os.path.isabs(rel)
        key = _SOURCE_SUFFIX.sub("", key)
        key = key.replace("::", ".").replace("/", ".").replace("\\", ".")
        for prefix in ("crate.", "self.", "super.", "@/"):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        parts = [p for p in key.split(".") if p and p != "*"]
        if language == "python" and not source.startswith("."):
            return self.index.files_for_module(".".join(parts))  # absolute: the whole dotted name
        if exact:
            # ./x is x.ts or x/index.ts (module keys drop `index`); ./x/index.js is x/index.ts
            files = self.index.files_for_module(".".join(parts))
            if not files and parts and parts[-1] == "index":
                files = self.index.files_for_module(".".join(parts[:-1]))
            return files
        if language == "go" and len(parts) > 1 and _GO_MAJOR.fullmatch(parts[-1]):
            parts = parts[:-1]  # .../chi/v5 is package chi
        for i in range(len(parts)):
            files = self.index.files_for_module(".".join(parts[i:]))
            if files:
                return files
        return set()

    # ------------------------------------------------------------------ Go
    def _go_module(self, path: str | None) -> tuple[str, str] | None:
        """(folder, module path) of the go.mod above ``path`` inside its workspace root."""
        if self.index is None or path is None:
            return None
        folder = os.path.dirname(path)
        root = self.index.root_of(Path(folder))
        if root is None:
            return None
        with self._lock:
            if folder in self._go_modules:
                return self._go_modules[folder]
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
            if len(self._go_modules) > 1024:
                self._go_modules.clear()
            self._go_modules[folder] = found
        return found

    def _go_package_files(self, path: str | None, source: str) -> set[str] | None:
        """The files of the package an import path names, when it is in this workspace's module (else None)."""
        module = self._go_module(path)
        if module is None or self.index is None:
            return None
        mod_dir, mod_path = module
        if source != mod_path and not source.startswith(mod_path + "/"):
            return None
        rest = source[len(mod_path) :].strip("/")
        rel = self.index.relpath(os.path.join(mod_dir, rest) if rest else mod_dir)
        if os.path.isabs(rel):
            return None
        files = self.index.files_for_module(go_dir_key(rel))
        return {f for f in files if not f.endswith("_test.go")}  # tests are not part of what an import sees

    def go_package_name(self, path: str | None, source: str) -> str:
        """The name an unaliased Go import binds: the imported package's ``package`` clause."""
        if self.index is not None:
            for f in sorted(self.module_files_at(path, "go", source)):
                symbols = self.index.file_symbols(f)
                if symbols is not None and symbols.package and not symbols.package.endswith("_test"):
                    return symbols.package
        parts = source.rstrip("/").split("/")
        if len(parts) > 1 and _GO_MAJOR.fullmatch(parts[-1]):
            parts = parts[:-1]  # github.com/go-chi/chi/v5
        last = _GO_DOT_VERSION.sub("", parts[-1])  # gopkg.in/yaml.v3
        return last.removeprefix("go-").replace("-", "_") or parts[-1]

    def go_same_package(self, doc: Document) -> set[str]:
        """The other files of the document's Go package (its folder, the same ``package`` clause)."""
        if self.index is None or doc.path is None:
            return set()
        try:
            package = doc.symbols(allow_stale=True).package
        except Exception as exc:
            log_once(log, f"reading the package of {doc.uri}", exc)
            return set()
        path = resolved_path(doc.path)
        rel = self.index.relpath(os.path.dirname(path))
        if os.path.isabs(rel):
            return set()
        out: set[str] = set()
        for f in self.index.files_for_module(go_dir_key(rel)):
            symbols = self.index.file_symbols(f)
            if f != path and symbols is not None and symbols.package == package:
                out.add(f)
        return out

    # ------------------------------------------------------------ re-exports
    def exported_from(self, files: set[str], name: str) -> dict[str, str]:
        """Of the files an import names, those that define ``name`` -> the name defined there, following
        re-exports (``export * from``, ``export { a as name } from``; ``export * as name from`` gives that
        module, with "" for its name)."""
        found: dict[str, str] = {}
        if self.index is None or not name:
            return found
        seen: set[tuple[str, str]] = set()
        todo = [(f, name, 0) for f in sorted(files)]
        while todo:
            f, want, depth = todo.pop()
            if (f, want) in seen or depth > _MAX_REEXPORT_HOPS:
                continue
            seen.add((f, want))
            symbols = self.index.file_symbols(f)
            if symbols is None:
                continue
            if any(d.name == want and not d.container for d in symbols.definitions):
                found[f] = want
                continue
            language = languages.language_for_path(f)
            for imp in symbols.imports:
                if not imp.reexport:
                    continue
                if imp.name == "*" and not imp.alias:
                    target = want  # export * from "./x"
                elif (imp.alias or imp.name) == want:
                    if not imp.name or imp.name == "*":  # export * as want from "./x": the module itself
                        found.update((g, "") for g in self.module_files_at(f, language, imp.source))
                        continue
                    target = imp.name
                else:
                    continue
                todo.extend((g, target, depth + 1) for g in self.module_files_at(f, language, imp.source))
        return found

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
                preferred |= self.module_files(doc, _join_module(source, imported))
                if _IDENT.fullmatch(imported):
                    wanted = imported
            for file, defined in self.exported_from(files, wanted).items():
                preferred.add(file)
                if defined:
                    also.add(defined)  # export { make as create }: `create(` is `make`
            preferred.discard(doc_path)
        name_receivers = receivers.get(name, set())
        own = [d for d in self.doc_definitions(doc) if d.name == name]
        if not name_receivers and doc.language not in _IMPLICIT_THIS:
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
                mod = _join_module(source, imported)
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
        doc_dir = os.path.dirname(doc_path)
        is_test = "test" in os.path.basename(doc_path)
        has_receiver = bool(name_receivers) and not module_receiver
        scored: list[tuple[float, int, Definition]] = []
        evidence = {i for i, d in enumerate(candidates) if d.path in preferred}
        for i, d in enumerate(candidates):
            score = 0.0
            if d.path in preferred:
                score += 10
            elif os.path.dirname(d.path) == doc_dir:
                score += 2
            if d.exported:
                score += 0.5
            if has_receiver:
                if d.container and not receiver_fits(name_receivers, d.container):
                    continue  # text.rfind() is not UserString.rfind
                score += 0.5 if d.container else -0.5
                if d.container in name_receivers:
                    score += 10  # Type::new(), Class.method(), sq.scale() with sq = Square(): that very type
                    evidence.add(i)
            elif d.container:
                if d.path not in preferred and doc.language not in _IMPLICIT_THIS:
                    continue  # a bare call never reaches another file's method
                score -= 1
            rel = "/" + self.rel(d.path)  # the workspace's own folders, not those above its root
            if not is_test and ("/test" in rel or "tests/" in rel):
                score -= 1.5
            if d.kind in ("variable", "declaration", "constant"):
                score -= 0.5
            elif d.kind == "macro":
                score -= 0.75  # `#define f _crypt_f` renames; the prototype says more
            if d.path in focus_files or (d.container and d.container in focus):
                score += 0.25  # the call at the cursor, among others of the same name nearby
            scored.append((score, i, d))
        if not scored:
            return []
        scored.sort(key=lambda t: (-t[0], t[1]))
        if scored[0][1] not in evidence:
            # no import evidence: only take unambiguous names that are called (or look like types)
            if not called and not (name[:1].isupper() and len(scored) == 1):
                return []
            exact = [t for t in scored if t[2].container and t[2].container in name_receivers]
            if exact:  # the receiver names the type: its methods (overloads, impl blocks in a few files)
                scored = exact
                if len({t[2].path for t in exact}) > 3:
                    return []
            elif len({(t[2].path, t[2].container) for t in scored}) > (1 if has_receiver else 3):
                return []  # overloads in one file are one candidate
        best = scored[0][0]
        out: list[Definition] = []
        places: set[tuple[str, str]] = set()
        for sc, _i, d in scored:
            if len(out) >= MAX_CANDIDATES_PER_NAME or sc < best - 1e-9:
                break
            if (d.path, d.container) not in places:  # overloads of one method are one place
                places.add((d.path, d.container))
                out.append(d)
        return out

    def doc_definitions(self, doc: Document) -> list[Definition]:
        """The document's own definitions, with resolved paths (memoised per symbols snapshot)."""
        try:
            symbols = doc.symbols(allow_stale=True)
        except Exception as exc:  # as above: no own definitions, still a prompt
            log_once(log, f"reading the definitions of {doc.uri}", exc)
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
        """The body when it fits, else an outline (classes) or signature + docstring line."""
        body = d.text.rstrip("\n") + "\n"
        if not d.truncated:
            n = fits.fits(body, limit)
            if n is not None and n <= max(limit // 2, 1):
                return body, n
        parts = [d.signature]
        if d.doc:
            indent = " " * (len(d.signature) - len(d.signature.lstrip()) + 4)
            parts.append(f'{indent}"""{d.doc}"""' if d.language == "python" else f"{indent}// {d.doc}")
        head = "\n".join(parts) + "\n"
        n = fits.fits(head, limit)
        if n is None:
            head = d.signature + "\n"
            n = fits.fits(head, limit)
            if n is None:
                return None
        if d.kind not in ("class", "struct", "interface", "trait", "enum", "type") or self.index is None:
            return head, n
        # a class too big to show whole: its outline, as many member signatures as fit
        lines = [head]
        used = n
        for member in self.index.definitions_in(d.path):
            if (
                member.container != d.name
                or member.start_line < d.start_line
                or member.start_line > d.end_line
            ):
                continue
            line = member.signature.rstrip() + "\n"
            cost = fits.fits(line, limit - used)
            if cost is None:
                break
            lines.append(line)
            used += cost
        text = "".join(lines)
        total = fits.tokens(text)
        while total > limit and len(lines) > 1:  # not additive: drop members until it fits
            lines.pop()
            text = "".join(lines)
            total = fits.tokens(text)
        return (text, total) if total <= limit else None
