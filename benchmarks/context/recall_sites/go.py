"""Go: go.mod's module path, a folder is a package, methods by receiver type."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from typing import NamedTuple

import tree_sitter as ts

from .common import Site, Workspace, call_sites, node_text, walk


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
    return node_text(decl.child_by_field_name("name"), source), node_text(typ, source)


def _go_file(tree: ts.Tree, source: bytes) -> _GoFile:
    out = _GoFile("", {}, set(), set(), set())
    package = ""
    for top in tree.root_node.named_children:
        if top.type == "package_clause":
            package = node_text(top.named_children[0], source)
        elif top.type == "import_declaration":
            for spec in (n for n in walk(top) if n.type == "import_spec"):
                path = node_text(spec.child_by_field_name("path"), source).strip('"`')
                alias = node_text(spec.child_by_field_name("name"), source)
                out.imports[alias or "\0" + path] = path
        elif top.type == "function_declaration":
            out.functions.add(node_text(top.child_by_field_name("name"), source))
        elif top.type == "method_declaration":
            out.methods.add((_go_receiver(top, source)[1], node_text(top.child_by_field_name("name"), source)))
        elif top.type in ("type_declaration", "var_declaration", "const_declaration"):
            for spec in top.named_children:
                name = spec.child_by_field_name("name")
                if name is not None:
                    out.others.add(node_text(name, source))
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
            for node, fn, at in call_sites(tree.root_node):
                targets: list[str] = []
                called, container, how = "", "", ""
                if fn.type == "identifier":
                    called = node_text(fn, source)
                    if called not in info.functions:
                        targets = [f for f in same if called in self.info[f].functions]
                        how = "same package"
                elif fn.type == "selector_expression" and fn.child_by_field_name("operand").type == "identifier":
                    operand = node_text(fn.child_by_field_name("operand"), source)
                    called = node_text(fn.child_by_field_name("field"), source)
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
