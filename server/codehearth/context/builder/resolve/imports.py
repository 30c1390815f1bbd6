"""What a document's imports name: the local names they bind, the files they refer to, and what those files make
visible in turn (TypeScript/JavaScript re-exports, C/C++ headers' own includes)."""

from __future__ import annotations

from codehearth.context import languages
from codehearth.context.document import Document
from codehearth.context.index import WorkspaceIndex

from ..paths import resolved_path
from .docsymbols import read_symbols
from .golang import GoPackages
from .keys import key_files

_MAX_REEXPORT_HOPS = 6
_MAX_INCLUDES = 32  # headers whose own includes are followed


def import_files(
    index: WorkspaceIndex | None, go: GoPackages, path: str | None, language: str | None, source: str
) -> set[str]:
    """Files an import ``source`` written in the file at ``path`` may refer to."""
    if index is None or not source:
        return set()
    if language == "go":
        return go.import_files(index, path, source)
    return key_files(index, path, language, source)


def import_map(index: WorkspaceIndex | None, go: GoPackages, doc: Document) -> dict[str, tuple[str, str]]:
    """Local name -> (module source, imported name or "") from the document's imports."""
    out: dict[str, tuple[str, str]] = {}
    symbols = read_symbols(doc, "imports")  # a symbol table we cannot read costs the import map, not the prompt
    if symbols is None:
        return out
    for imp in symbols.imports:
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
                out.setdefault(go.package_name(index, path, imp.source), (imp.source, ""))
            elif doc.language == "java":  # import a.b.Class binds Class
                out.setdefault(imp.source.rsplit(".", 1)[-1], (imp.source, ""))
            else:
                out.setdefault(imp.source.rstrip("/").split("/")[-1], (imp.source, ""))
    return out


def included_files(index: WorkspaceIndex, go: GoPackages, doc: Document) -> set[str]:
    """C/C++: the files the document includes, and what those include (one level down)."""
    symbols = read_symbols(doc, "includes")
    if symbols is None:
        return set()
    path = resolved_path(doc.path) if doc.path is not None else None
    direct: set[str] = set()
    for imp in symbols.imports:
        direct |= import_files(index, go, path, doc.language, imp.source)
    out = set(direct)
    for header in sorted(direct)[:_MAX_INCLUDES]:
        header_symbols = index.file_symbols(header)
        for imp in header_symbols.imports if header_symbols is not None else []:
            out |= import_files(index, go, header, languages.language_for_path(header), imp.source)
    out.discard(path or "")
    return out


def exported_from(index: WorkspaceIndex | None, go: GoPackages, files: set[str], name: str) -> dict[str, str]:
    """Of the files an import names, those that define ``name`` -> the name defined there, following
    re-exports (``export * from``, ``export { a as name } from``; ``export * as name from`` gives that
    module, with "" for its name)."""
    found: dict[str, str] = {}
    if index is None or not name:
        return found
    seen: set[tuple[str, str]] = set()
    todo = [(f, name, 0) for f in sorted(files)]
    while todo:
        f, want, depth = todo.pop()
        if (f, want) in seen or depth > _MAX_REEXPORT_HOPS:
            continue
        seen.add((f, want))
        symbols = index.file_symbols(f)
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
                    found.update((g, "") for g in import_files(index, go, f, language, imp.source))
                    continue
                target = imp.name
            else:
                continue
            todo.extend((g, target, depth + 1) for g in import_files(index, go, f, language, imp.source))
    return found
