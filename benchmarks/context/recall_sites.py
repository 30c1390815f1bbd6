"""Cross-file call sites and their ground truth, mined with tree-sitter, one miner per language.

The ground truth is worked out here from the language's own rules, independently of the resolver under test:
TypeScript module resolution (``./x`` → ``x.ts`` or ``x/index.ts``, ``.js`` written for ``.ts``, re-exports
followed), Go packages (``go.mod``'s module path, a folder is a package, methods by receiver type), Rust modules
(``crate::``/``super::`` paths, ``use`` trees, ``Type::f`` in ``impl`` blocks), Java classes (a class per file,
``Class.method(`` and ``new Class(``) and C/C++ linkage (the one non-static definition of a function; a header that
declares it and that the calling file includes counts as its declaration).

A site is a call whose callee is defined in another file of the workspace; the cursor goes right after its ``(``.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import tree_sitter as ts

from codehearth.context import languages


class Site(NamedTuple):
    file: str  # workspace-relative path of the calling file
    row: int
    col: int  # byte column right after the call's "("
    called: str  # the name as spelled at the call
    defined: str  # the name it is defined as (an alias's original)
    targets: tuple[str, ...]  # files that hold the definition
    declarations: tuple[str, ...]  # headers declaring it that the calling file includes (C/C++)
    ambiguous: bool  # the defined name is defined in more than one file of the workspace
    how: str  # which rule found it (import, namespace, package, same-package, receiver, …)


def _text(node: ts.Node | None, source: bytes) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace") if node is not None else ""


def _walk(node: ts.Node) -> Iterator[ts.Node]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def _after_paren(args: ts.Node | None) -> tuple[int, int] | None:
    if args is None or args.type not in ("arguments", "argument_list"):
        return None
    return args.start_point.row, args.start_point.column + 1


class Workspace:
    """The files of one benchmark repository, parsed once."""

    def __init__(self, root: Path, files: list[str]) -> None:
        self.root = root
        self.files = sorted(files)
        self.known = set(self.files)
        self.source: dict[str, bytes] = {}
        self.tree: dict[str, ts.Tree] = {}
        for rel in self.files:
            language = languages.language_for_path(rel)
            parser = languages.new_parser(language)
            if parser is None:
                continue
            data = (root / rel).read_bytes()
            self.source[rel] = data
            self.tree[rel] = parser.parse(data)


def _ambiguity(defs: dict[str, set[str]]) -> dict[str, bool]:
    return {name: len(files) > 1 for name, files in defs.items()}


# ---------------------------------------------------------------- TypeScript / JavaScript
_TS_DECLS = {
    "function_declaration",
    "generator_function_declaration",
    "function_signature",
    "class_declaration",
    "abstract_class_declaration",
    "interface_declaration",
    "type_alias_declaration",
    "enum_declaration",
}
_TS_EXTS = (".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")


class _TsFile(NamedTuple):
    defs: set[str]
    named: dict[str, tuple[str, str]]  # local -> (source, imported name)
    namespaces: dict[str, str]  # local -> source
    reexports: list[tuple[str, str, str]]  # (source, name or "*", alias)


def _ts_file(tree: ts.Tree, source: bytes) -> _TsFile:
    out = _TsFile(set(), {}, {}, [])
    for stmt in tree.root_node.named_children:
        decl = stmt
        if stmt.type == "export_statement":
            src = stmt.child_by_field_name("source")
            if src is not None:
                spec = _text(src, source).strip("'\"`")
                clause = next((c for c in stmt.named_children if c.type == "export_clause"), None)
                ns = next((c for c in stmt.named_children if c.type == "namespace_export"), None)
                if clause is not None:
                    for s in clause.named_children:
                        if s.type == "export_specifier":
                            name = _text(s.child_by_field_name("name"), source)
                            alias = _text(s.child_by_field_name("alias"), source)
                            out.reexports.append((spec, name, alias or name))
                elif ns is not None:
                    out.reexports.append((spec, "", _text(ns.named_children[-1], source)))
                else:
                    out.reexports.append((spec, "*", ""))
                continue
            decl = stmt.child_by_field_name("declaration") or stmt
        if decl.type in _TS_DECLS:
            out.defs.add(_text(decl.child_by_field_name("name"), source))
        elif decl.type in ("lexical_declaration", "variable_declaration"):
            for d in decl.named_children:
                if d.type == "variable_declarator" and d.child_by_field_name("name").type == "identifier":
                    out.defs.add(_text(d.child_by_field_name("name"), source))
        elif stmt.type == "import_statement":
            src = stmt.child_by_field_name("source")
            spec = _text(src, source).strip("'\"`")
            clause = next((c for c in stmt.named_children if c.type == "import_clause"), None)
            for part in clause.named_children if clause is not None else []:
                if part.type == "named_imports":
                    for s in part.named_children:
                        if s.type == "import_specifier":
                            name = _text(s.child_by_field_name("name"), source)
                            alias = _text(s.child_by_field_name("alias"), source)
                            out.named[alias or name] = (spec, name)
                elif part.type == "namespace_import":
                    out.namespaces[_text(part.named_children[-1], source)] = spec
    return out


class TypeScriptMiner:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.info = {rel: _ts_file(tree, ws.source[rel]) for rel, tree in ws.tree.items()}
        self.unresolved: list[str] = []  # relative imports this miner cannot place (not the resolver's count)

    def module(self, rel: str, spec: str) -> str | None:
        if not spec.startswith("."):
            return None
        base = os.path.normpath(os.path.join(os.path.dirname(rel), spec))
        stems = [base]
        for ext in _TS_EXTS:
            if base.endswith(ext):
                stems.insert(0, base[: -len(ext)])
        for stem in stems:
            for cand in [stem, *(stem + e for e in _TS_EXTS), *(f"{stem}/index{e}" for e in _TS_EXTS)]:
                if cand in self.ws.known:
                    return cand
        return None

    def find(self, rel: str, name: str, depth: int = 0) -> tuple[str, str] | None:
        """(file, defined name) of ``name`` as exported by ``rel``; ("file", "") for a namespace re-export."""
        info = self.info.get(rel)
        if info is None or depth > 8:
            return None
        if name in info.defs:
            return rel, name
        for spec, orig, alias in info.reexports:
            target = self.module(rel, spec)
            if target is None:
                continue
            if orig == "*":
                hit = self.find(target, name, depth + 1)
                if hit is not None:
                    return hit
            elif alias == name:
                return (target, "") if orig == "" else self.find(target, orig, depth + 1)
        return None

    def sites(self) -> list[Site]:
        defs: dict[str, set[str]] = defaultdict(set)
        for rel, info in self.info.items():
            for name in info.defs:
                defs[name].add(rel)
            for spec in [*(s for s, _ in info.named.values()), *info.namespaces.values(), *(r[0] for r in info.reexports)]:
                if spec.startswith(".") and self.module(rel, spec) is None:
                    self.unresolved.append(f"{rel}: {spec}")
        out: list[Site] = []
        for rel, tree in self.ws.tree.items():
            info, source = self.info[rel], self.ws.source[rel]
            seen: set[str] = set()
            for node in _walk(tree.root_node):
                if node.type not in ("call_expression", "new_expression"):
                    continue
                fn = node.child_by_field_name("function" if node.type == "call_expression" else "constructor")
                at = _after_paren(node.child_by_field_name("arguments"))
                if fn is None or at is None:
                    continue
                hit, called, how = None, "", ""
                if fn.type == "identifier" and _text(fn, source) in info.named:
                    called = _text(fn, source)
                    spec, imported = info.named[called]
                    target = self.module(rel, spec)
                    hit, how = (self.find(target, imported) if target else None), "import"
                elif fn.type == "member_expression" and fn.child_by_field_name("object").type == "identifier":
                    obj = _text(fn.child_by_field_name("object"), source)
                    called = _text(fn.child_by_field_name("property"), source)
                    module = None
                    if obj in info.namespaces:
                        module, how = self.module(rel, info.namespaces[obj]), "namespace"
                    elif obj in info.named:  # import { util } where util is `export * as util`
                        spec, imported = info.named[obj]
                        target = self.module(rel, spec)
                        ns = self.find(target, imported) if target else None
                        if ns is not None and ns[1] == "":
                            module, how = ns[0], "namespace re-export"
                    hit = self.find(module, called) if module else None
                if hit is None or not hit[1] or hit[0] == rel or called in seen:
                    continue
                seen.add(called)
                out.append(Site(rel, at[0], at[1], called, hit[1], (hit[0],), (), len(defs[hit[1]]) > 1, how))
        return out


# -------------------------------------------------------------------------------- Go
class _GoFile(NamedTuple):
    package: str
    imports: dict[str, str]  # local name (or "" when unaliased) -> import path; unaliased keyed by path
    functions: set[str]
    methods: set[tuple[str, str]]  # (receiver type, name)
    others: set[str]  # types, vars, consts


def _go_receiver(method: ts.Node, source: bytes) -> tuple[str, str]:
    """(receiver variable, receiver type name) of a method declaration."""
    params = method.child_by_field_name("receiver")
    decl = next((c for c in params.named_children if c.type == "parameter_declaration"), None) if params else None
    if decl is None:
        return "", ""
    typ = decl.child_by_field_name("type")
    while typ is not None and typ.type in ("pointer_type", "generic_type", "parenthesized_type"):
        typ = typ.child_by_field_name("type") or (typ.named_children[0] if typ.named_children else None)
    return _text(decl.child_by_field_name("name"), source), _text(typ, source)


def _go_file(tree: ts.Tree, source: bytes) -> _GoFile:
    out = _GoFile("", {}, set(), set(), set())
    package = ""
    for top in tree.root_node.named_children:
        if top.type == "package_clause":
            package = _text(top.named_children[0], source)
        elif top.type == "import_declaration":
            for spec in (n for n in _walk(top) if n.type == "import_spec"):
                path = _text(spec.child_by_field_name("path"), source).strip('"`')
                alias = _text(spec.child_by_field_name("name"), source)
                out.imports[alias or "\0" + path] = path
        elif top.type == "function_declaration":
            out.functions.add(_text(top.child_by_field_name("name"), source))
        elif top.type == "method_declaration":
            out.methods.add((_go_receiver(top, source)[1], _text(top.child_by_field_name("name"), source)))
        elif top.type in ("type_declaration", "var_declaration", "const_declaration"):
            for spec in top.named_children:
                name = spec.child_by_field_name("name")
                if name is not None:
                    out.others.add(_text(name, source))
    return out._replace(package=package)


class GoMiner:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.info = {rel: _go_file(tree, ws.source[rel]) for rel, tree in ws.tree.items()}
        gomod = ws.root / "go.mod"
        m = re.search(r"^module\s+(\S+)", gomod.read_text(), re.MULTILINE) if gomod.is_file() else None
        self.module = m.group(1) if m else ""
        self.dirs: dict[str, list[str]] = defaultdict(list)
        for rel in self.info:
            self.dirs[os.path.dirname(rel)].append(rel)

    def package_files(self, import_path: str) -> list[str]:
        if not self.module or (import_path != self.module and not import_path.startswith(self.module + "/")):
            return []
        folder = import_path[len(self.module) :].strip("/")
        return [f for f in self.dirs.get(folder, []) if not f.endswith("_test.go")]

    def sites(self) -> list[Site]:
        defs: dict[str, set[str]] = defaultdict(set)
        for rel, info in self.info.items():
            for name in info.functions | info.others | {m for _t, m in info.methods}:
                defs[name].add(rel)
        out: list[Site] = []
        for rel, tree in self.ws.tree.items():
            info, source = self.info[rel], self.ws.source[rel]
            same = [f for f in self.dirs[os.path.dirname(rel)] if f != rel and self.info[f].package == info.package]
            local: dict[str, list[str]] = {}  # import name -> package files
            for key, path in info.imports.items():
                files = self.package_files(path)
                if files:
                    name = key if not key.startswith("\0") else self.info[files[0]].package
                    local[name] = files
            seen: set[tuple[str, str]] = set()
            for node in _walk(tree.root_node):
                if node.type != "call_expression":
                    continue
                fn = node.child_by_field_name("function")
                at = _after_paren(node.child_by_field_name("arguments"))
                if fn is None or at is None:
                    continue
                targets: list[str] = []
                called, container, how = "", "", ""
                if fn.type == "identifier":
                    called = _text(fn, source)
                    if called not in info.functions:
                        targets = [f for f in same if called in self.info[f].functions]
                        how = "same package"
                elif fn.type == "selector_expression" and fn.child_by_field_name("operand").type == "identifier":
                    operand = _text(fn.child_by_field_name("operand"), source)
                    called = _text(fn.child_by_field_name("field"), source)
                    if operand in local:
                        targets = [f for f in local[operand] if called in self.info[f].functions | self.info[f].others]
                        how = "package"
                    else:
                        method = node.parent
                        while method is not None and method.type not in ("method_declaration", "function_declaration"):
                            method = method.parent
                        if method is not None and method.type == "method_declaration":
                            var, typ = _go_receiver(method, source)
                            if var == operand and (typ, called) not in info.methods:
                                targets = [f for f in same if (typ, called) in self.info[f].methods]
                                container, how = typ, "receiver"
                if len(targets) != 1 or (container, called) in seen:
                    continue
                seen.add((container, called))
                out.append(Site(rel, at[0], at[1], called, called, tuple(targets), (), len(defs[called]) > 1, how))
        return out


# ------------------------------------------------------------------------------ Rust
def _use_paths(node: ts.Node, source: bytes, prefix: list[str]) -> Iterator[tuple[str, list[str]]]:
    """(local name, full path) for every name a ``use`` tree brings in."""
    t = node.type
    if t == "scoped_identifier":
        path = [*prefix, *_text(node, source).replace(" ", "").split("::")]
        yield path[-1], path
    elif t in ("identifier", "self", "crate", "super"):
        name = _text(node, source)
        if name == "self" and prefix:
            yield prefix[-1], list(prefix)
        else:
            yield name, [*prefix, name]
    elif t == "use_as_clause":
        path = [*prefix, *_text(node.child_by_field_name("path"), source).replace(" ", "").split("::")]
        yield _text(node.child_by_field_name("alias"), source), path
    elif t == "scoped_use_list":
        base = node.child_by_field_name("path")
        inner = [*prefix, *(_text(base, source).replace(" ", "").split("::") if base is not None else [])]
        yield from _use_paths(node.child_by_field_name("list"), source, inner)
    elif t == "use_list":
        for child in node.named_children:
            yield from _use_paths(child, source, prefix)


class RustMiner:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.module_of: dict[str, tuple[str, ...]] = {}
        self.file_of: dict[tuple[str, ...], str] = {}
        for rel in ws.tree:
            parts = Path(rel).with_suffix("").parts
            if not parts or parts[0] != "src":
                continue
            mod = list(parts[1:])
            if mod and mod[-1] in ("lib", "main", "mod"):
                mod = mod[:-1]
            self.module_of[rel] = tuple(mod)
            self.file_of.setdefault(tuple(mod), rel)
        self.functions: dict[str, set[str]] = {}  # file -> top-level fns
        self.impl_fns: dict[tuple[str, str], set[str]] = defaultdict(set)  # (type, fn) -> files
        self.defs: dict[str, set[str]] = defaultdict(set)
        for rel, tree in ws.tree.items():
            source = ws.source[rel]
            fns: set[str] = set()
            for top in tree.root_node.named_children:
                name = _text(top.child_by_field_name("name"), source)
                if top.type == "function_item":
                    fns.add(name)
                elif top.type == "impl_item":
                    typ = top.child_by_field_name("type")
                    while typ is not None and typ.type == "generic_type":
                        typ = typ.child_by_field_name("type")
                    body = top.child_by_field_name("body")
                    for item in body.named_children if body is not None else []:
                        if item.type == "function_item":
                            fn = _text(item.child_by_field_name("name"), source)
                            self.impl_fns[(_text(typ, source), fn)].add(rel)
                            self.defs[fn].add(rel)
                if name:
                    self.defs[name].add(rel)
            self.functions[rel] = fns

    def resolve(self, rel: str, path: list[str], uses: dict[str, list[str]]) -> tuple[str, ...] | None:
        here = list(self.module_of.get(rel, ()))
        if path and path[0] in uses and path[0] not in ("crate", "self", "super"):
            path = [*uses[path[0]], *path[1:]]
        out: list[str] = []
        for i, seg in enumerate(path):
            if seg == "crate" and i == 0:
                out = []
            elif seg == "self" and i == 0:
                out = list(here)
            elif seg == "super":
                out = (out if i else list(here))[:-1]
            elif i == 0:
                return None  # another crate, std
            else:
                out.append(seg)
        return tuple(out)

    def sites(self) -> list[Site]:
        out: list[Site] = []
        for rel, tree in self.ws.tree.items():
            if rel not in self.module_of:
                continue
            source = self.ws.source[rel]
            uses: dict[str, list[str]] = {}
            for node in _walk(tree.root_node):
                if node.type == "use_declaration":
                    for local, path in _use_paths(node.child_by_field_name("argument"), source, []):
                        uses[local] = path
            seen: set[tuple[str, str]] = set()
            for node in _walk(tree.root_node):
                if node.type != "call_expression":
                    continue
                fn = node.child_by_field_name("function")
                if fn is not None and fn.type == "generic_function":
                    fn = fn.child_by_field_name("function")
                at = _after_paren(node.child_by_field_name("arguments"))
                if fn is None or at is None:
                    continue
                targets: list[str] = []
                called, container, how = "", "", ""
                if fn.type == "identifier":
                    called = _text(fn, source)
                    if called in uses and called not in self.functions[rel]:
                        mod = self.resolve(rel, uses[called][:-1] or ["self"], uses)
                        target = self.file_of.get(mod) if mod is not None else None
                        if target is not None and called in self.functions.get(target, set()):
                            targets, how = [target], "use"
                elif fn.type == "scoped_identifier":
                    called = _text(fn.child_by_field_name("name"), source)
                    scope = _text(fn.child_by_field_name("path"), source).replace(" ", "").split("::")
                    mod = self.resolve(rel, scope, uses)
                    target = self.file_of.get(mod) if mod is not None else None
                    if target is not None and called in self.functions.get(target, set()):
                        targets, how = [target], "module path"
                    elif len(scope) == 1 and scope[0] != "Self":
                        typ = uses.get(scope[0], scope)[-1]
                        targets, container, how = sorted(self.impl_fns.get((typ, called), ())), typ, "Type::f"
                targets = [t for t in targets if t != rel]
                if not targets or (container, called) in seen:
                    continue
                seen.add((container, called))
                out.append(Site(rel, at[0], at[1], called, called, tuple(targets), (), len(self.defs[called]) > 1, how))
        return out


# ------------------------------------------------------------------------------ Java
class JavaMiner:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.package: dict[str, str] = {}
        self.imports: dict[str, dict[str, str]] = {}  # file -> simple name -> qualified
        self.classes: dict[str, str] = {}  # qualified top-level class -> file
        self.methods: dict[str, set[str]] = {}  # file -> method and constructor names of its top-level class
        self.defs: dict[str, set[str]] = defaultdict(set)
        for rel, tree in ws.tree.items():
            source = ws.source[rel]
            package, imports, methods = "", {}, set()
            for top in tree.root_node.named_children:
                if top.type == "package_declaration":
                    package = _text(top.named_children[0], source)
                elif top.type == "import_declaration" and "static" not in _text(top, source).split():
                    name = _text(top.named_children[0], source)
                    imports[name.rsplit(".", 1)[-1]] = name
                elif top.type.endswith("_declaration") and top.child_by_field_name("name") is not None:
                    cls = _text(top.child_by_field_name("name"), source)
                    if Path(rel).stem == cls:
                        self.classes[f"{package}.{cls}" if package else cls] = rel
                        self.defs[cls].add(rel)
                        body = top.child_by_field_name("body")
                        for member in body.named_children if body is not None else []:
                            if member.type in ("method_declaration", "constructor_declaration"):
                                m = _text(member.child_by_field_name("name"), source)
                                methods.add(m)
            for node in _walk(tree.root_node):
                if node.type in ("method_declaration", "constructor_declaration"):
                    self.defs[_text(node.child_by_field_name("name"), source)].add(rel)
            self.package[rel], self.imports[rel], self.methods[rel] = package, imports, methods

    def class_file(self, rel: str, simple: str) -> str | None:
        qualified = self.imports[rel].get(simple) or (
            f"{self.package[rel]}.{simple}" if self.package[rel] else simple
        )
        return self.classes.get(qualified)

    def sites(self) -> list[Site]:
        out: list[Site] = []
        for rel, tree in self.ws.tree.items():
            source = self.ws.source[rel]
            seen: set[tuple[str, str]] = set()
            for node in _walk(tree.root_node):
                targets: list[str] = []
                called, container, how = "", "", ""
                if node.type == "method_invocation":
                    obj = node.child_by_field_name("object")
                    if obj is None or obj.type != "identifier" or not _text(obj, source)[:1].isupper():
                        continue
                    container, called = _text(obj, source), _text(node.child_by_field_name("name"), source)
                    target = self.class_file(rel, container)
                    if target is not None and called in self.methods[target]:
                        targets, how = [target], "Class.method"
                elif node.type == "object_creation_expression":
                    typ = node.child_by_field_name("type")
                    if typ is not None and typ.type == "generic_type":
                        typ = typ.named_children[0]
                    if typ is None or typ.type != "type_identifier":
                        continue
                    called = container = _text(typ, source)
                    target = self.class_file(rel, called)
                    if target is not None:
                        targets, how = [target], "new Class"
                else:
                    continue
                at = _after_paren(node.child_by_field_name("arguments"))
                targets = [t for t in targets if t != rel]
                if not targets or at is None or (container, called) in seen:
                    continue
                seen.add((container, called))
                out.append(Site(rel, at[0], at[1], called, called, tuple(targets), (), len(self.defs[called]) > 1, how))
        return out


# ---------------------------------------------------------------------------- C / C++
def _declarator_name(node: ts.Node | None, source: bytes) -> tuple[str, str]:
    """(scope, name) of a function declarator (``Class::f`` → ("Class", "f"))."""
    while node is not None and node.type in ("pointer_declarator", "reference_declarator", "parenthesized_declarator"):
        node = node.child_by_field_name("declarator") or (node.named_children[-1] if node.named_children else None)
    if node is None or node.type != "function_declarator":
        return "", ""
    inner = node.child_by_field_name("declarator")
    if inner is not None and inner.type == "qualified_identifier":
        return _text(inner.child_by_field_name("scope"), source), _text(inner.child_by_field_name("name"), source)
    if inner is not None and inner.type in ("identifier", "field_identifier"):
        return "", _text(inner, source)
    return "", ""


class CMiner:
    """C and C++: free functions by linkage, ``Scope::f(`` by the scope's definitions."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.defined: dict[tuple[str, str], set[str]] = defaultdict(set)  # (scope, name) -> files (non-static)
        self.static: dict[str, set[str]] = defaultdict(set)  # file -> static function names
        self.declared: dict[tuple[str, str], set[str]] = defaultdict(set)  # (scope, name) -> headers
        self.includes: dict[str, set[str]] = {}
        self.defs: dict[str, set[str]] = defaultdict(set)
        for rel, tree in ws.tree.items():
            source = ws.source[rel]
            includes: set[str] = set()
            for node in _walk(tree.root_node):
                if node.type == "preproc_include":
                    path = node.child_by_field_name("path")
                    if path is not None and path.type == "string_literal":
                        inc = _text(path, source).strip('"')
                        for cand in (os.path.normpath(os.path.join(os.path.dirname(rel), inc)), inc):
                            if cand in ws.known:
                                includes.add(cand)
                                break
                elif node.type == "function_definition":
                    scope, name = _declarator_name(node.child_by_field_name("declarator"), source)
                    if not name:
                        continue
                    cls = node.parent.parent if node.parent is not None else None
                    if not scope and cls is not None and cls.type in ("class_specifier", "struct_specifier"):
                        scope = _text(cls.child_by_field_name("name"), source)
                    if _inside_function(node):
                        continue
                    is_static = any(
                        c.type == "storage_class_specifier" and _text(c, source) == "static" for c in node.children
                    )
                    if is_static and not scope:
                        self.static[rel].add(name)
                    else:
                        self.defined[(scope, name)].add(rel)
                    self.defs[name].add(rel)
                elif node.type in ("declaration", "field_declaration") and Path(rel).suffix in (".h", ".hpp", ".hh"):
                    scope, name = _declarator_name(node.child_by_field_name("declarator"), source)
                    cls = node.parent.parent if node.parent is not None else None
                    if not scope and cls is not None and cls.type in ("class_specifier", "struct_specifier"):
                        scope = _text(cls.child_by_field_name("name"), source)
                    if name:
                        self.declared[(scope, name)].add(rel)
            self.includes[rel] = includes

    def sites(self) -> list[Site]:
        out: list[Site] = []
        for rel, tree in self.ws.tree.items():
            if Path(rel).suffix in (".h", ".hpp", ".hh"):
                continue
            source = self.ws.source[rel]
            seen: set[tuple[str, str]] = set()
            for node in _walk(tree.root_node):
                if node.type != "call_expression":
                    continue
                fn = node.child_by_field_name("function")
                at = _after_paren(node.child_by_field_name("arguments"))
                if fn is None or at is None:
                    continue
                if fn.type == "identifier":
                    scope, called, how = "", _text(fn, source), "linkage"
                    if called in self.static.get(rel, set()):
                        continue
                elif fn.type == "qualified_identifier" and fn.child_by_field_name("name").type == "identifier":
                    scope, called, how = _text(fn.child_by_field_name("scope"), source), _text(
                        fn.child_by_field_name("name"), source
                    ), "Scope::f"
                else:
                    continue
                targets = sorted(self.defined.get((scope, called), ()))
                if rel in targets or len(targets) != 1 or (scope, called) in seen:
                    continue
                seen.add((scope, called))
                headers = tuple(sorted(self.declared.get((scope, called), set()) & self.includes.get(rel, set())))
                out.append(Site(rel, at[0], at[1], called, called, tuple(targets), headers, len(self.defs[called]) > 1, how))
        return out


def _inside_function(node: ts.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type == "function_definition":
            return True
        parent = parent.parent
    return False


MINERS = {
    "typescript": TypeScriptMiner,
    "go": GoMiner,
    "rust": RustMiner,
    "java": JavaMiner,
    "c": CMiner,
    "cpp": CMiner,
}
