"""Where a name used in a document is defined: the document itself, its imports, the workspace index."""

from __future__ import annotations

import builtins
import os
import re
import threading
from pathlib import Path

import msgspec

from codehearth.context.document import Document
from codehearth.context.index import WorkspaceIndex
from codehearth.context.symbols import Definition, Import

from .budget import TokenBudget
from .paths import resolved_path
from .receivers import SELF_NAMES, receiver_fits

MAX_CANDIDATES_PER_NAME = 2

_PY_BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("_"))
_IMPLICIT_THIS = frozenset({"java", "cpp"})
_SOURCE_SUFFIX = re.compile(r"\.(py|pyi|js|jsx|mjs|cjs|ts|tsx|h|hpp|hh|go|rs|java)$")


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

    def forget(self, uri: str) -> None:
        with self._lock:
            self._own_defs.pop(uri, None)

    def rel(self, path: str) -> str:
        return self.index.relpath(path) if self.index is not None else path

    def import_map(self, doc: Document) -> dict[str, tuple[str, str]]:
        """Local name -> (module source, imported name or "") from the document's imports."""
        out: dict[str, tuple[str, str]] = {}
        try:
            imports: list[Import] = doc.symbols(allow_stale=True).imports
        except Exception:
            return out
        for imp in imports:
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
                else:
                    out.setdefault(imp.source.rstrip("/").split("/")[-1], (imp.source, ""))
        return out

    def module_files(self, doc: Document, source: str) -> set[str]:
        """Files an import source may refer to (through the index's module keys)."""
        if self.index is None or not source:
            return set()
        key = source
        if doc.path is not None and (source.startswith(".")):
            base = Path(resolved_path(doc.path)).parent
            if doc.language == "python":
                dots = len(source) - len(source.lstrip("."))
                rest = source[dots:]
                for _ in range(dots - 1):
                    base = base.parent
                target = base / rest.replace(".", "/") if rest else base
            else:
                target = Path(os.path.normpath(base / source))
            rel = self.index.relpath(target)
            key = rel
        key = _SOURCE_SUFFIX.sub("", key)
        key = key.replace("::", ".").replace("/", ".").replace("\\", ".")
        for prefix in ("crate.", "self.", "super.", "@/"):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        parts = [p for p in key.split(".") if p and p != "*"]
        if doc.language == "python" and not source.startswith("."):
            return self.index.files_for_module(".".join(parts))  # absolute: the whole dotted name
        for i in range(len(parts)):
            files = self.index.files_for_module(".".join(parts[i:]))
            if files:
                return files
        return set()

    def resolve(
        self,
        name: str,
        doc: Document,
        imports: dict[str, tuple[str, str]],
        receivers: dict[str, set[str]],
        visible: tuple[int, int] | None,
        called: bool = True,
    ) -> list[Definition]:
        """Where ``name`` (used in ``doc``) is defined: the document itself, its imports, the index."""
        if self.index is None:
            return []
        doc_path = resolved_path(doc.path) if doc.path is not None else ""
        preferred: set[str] = set()
        if name in imports:
            source, imported = imports[name]
            preferred |= self.module_files(doc, source)
            if imported and imported != name:
                preferred |= self.module_files(doc, _join_module(source, imported))
            preferred.discard(doc_path)
        name_receivers = receivers.get(name, set())
        own = [d for d in self.doc_definitions(doc) if d.name == name]
        if own and not preferred:
            # defined in this very file: that is the one (unless it is already in the window)
            own = [d for d in own if visible is None or d.start_line > visible[1] or d.end_line < visible[0]]
            if name_receivers:  # obj.name(): a method of ours only through self / this / the class
                own = [
                    d
                    for d in own
                    if d.container and (name_receivers & SELF_NAMES or d.container in name_receivers)
                ]
            elif doc.language not in _IMPLICIT_THIS:
                own = [d for d in own if not d.container]
            if own or not name_receivers:
                return own[:MAX_CANDIDATES_PER_NAME]
            # other.name() where ours is a different thing: look elsewhere
        if doc.language == "python" and name in _PY_BUILTINS and not preferred and not name_receivers:
            return []  # len(), format(), open(): the builtins, not a same-named function elsewhere
        candidates = [d for d in self.index.definitions(name) if d.path != doc_path]
        if not candidates:
            return []
        module_receiver = False
        module_dirs: set[str] = set()
        for receiver in name_receivers:
            head = receiver.split(".")[0]
            if receiver in imports or head in imports:
                source, imported = imports.get(receiver) or imports[head]
                mod = _join_module(source, imported)
                if receiver != head and receiver not in imports:
                    mod = mod + receiver[len(head) :]
                files = self.module_files(doc, mod) or self.module_files(doc, source)
                if files:
                    module_receiver = True
                    preferred |= files
                    module_dirs |= {
                        os.path.dirname(f) for f in files if os.path.basename(f).startswith("__init__")
                    }
        if module_receiver and not any(d.path in preferred for d in candidates):
            # module.name() where the module does not define it: a re-export from its package, or nothing
            candidates = [
                d
                for d in candidates
                if not d.container and any(d.path.startswith(m + os.sep) for m in module_dirs)
            ]
            if not candidates:
                return []
        doc_dir = os.path.dirname(doc_path)
        is_test = "test" in os.path.basename(doc_path)
        has_receiver = bool(name_receivers) and not module_receiver
        scored: list[tuple[float, int, Definition]] = []
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
            elif d.container:
                if d.path not in preferred and doc.language not in _IMPLICIT_THIS:
                    continue  # a bare call never reaches another file's method
                score -= 1
            if not is_test and ("/test" in d.path or "tests/" in d.path):
                score -= 1.5
            if d.kind in ("variable", "declaration", "constant"):
                score -= 0.5
            scored.append((score, i, d))
        if not scored:
            return []
        scored.sort(key=lambda t: (-t[0], t[1]))
        best = scored[0][0]
        if best < 10:
            # no import evidence: only take unambiguous names that are called (or look like types)
            if not called and not (name[:1].isupper() and len(scored) == 1):
                return []
            if len(scored) > (1 if has_receiver else 3):
                return []
        return [d for sc, _i, d in scored[:MAX_CANDIDATES_PER_NAME] if sc >= best - 1e-9]

    def doc_definitions(self, doc: Document) -> list[Definition]:
        """The document's own definitions, with resolved paths (memoised per symbols snapshot)."""
        try:
            symbols = doc.symbols(allow_stale=True)
        except Exception:
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
