"""TypeScript/JavaScript: ./x is x.ts or x/index.ts, .js written for .ts, re-exports followed."""

from __future__ import annotations

import os
from collections import defaultdict
from typing import NamedTuple

import tree_sitter as ts

from .common import Site, Workspace, after_paren, node_text, walk

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
                spec = node_text(src, source).strip("'\"`")
                clause = next((c for c in stmt.named_children if c.type == "export_clause"), None)
                ns = next((c for c in stmt.named_children if c.type == "namespace_export"), None)
                if clause is not None:
                    for s in clause.named_children:
                        if s.type == "export_specifier":
                            name = node_text(s.child_by_field_name("name"), source)
                            alias = node_text(s.child_by_field_name("alias"), source)
                            out.reexports.append((spec, name, alias or name))
                elif ns is not None:
                    out.reexports.append((spec, "", node_text(ns.named_children[-1], source)))
                else:
                    out.reexports.append((spec, "*", ""))
                continue
            decl = stmt.child_by_field_name("declaration") or stmt
        if decl.type in _TS_DECLS:
            out.defs.add(node_text(decl.child_by_field_name("name"), source))
        elif decl.type in ("lexical_declaration", "variable_declaration"):
            for d in decl.named_children:
                if d.type == "variable_declarator" and d.child_by_field_name("name").type == "identifier":
                    out.defs.add(node_text(d.child_by_field_name("name"), source))
        elif stmt.type == "import_statement":
            src = stmt.child_by_field_name("source")
            spec = node_text(src, source).strip("'\"`")
            clause = next((c for c in stmt.named_children if c.type == "import_clause"), None)
            for part in clause.named_children if clause is not None else []:
                if part.type == "named_imports":
                    for s in part.named_children:
                        if s.type == "import_specifier":
                            name = node_text(s.child_by_field_name("name"), source)
                            alias = node_text(s.child_by_field_name("alias"), source)
                            out.named[alias or name] = (spec, name)
                elif part.type == "namespace_import":
                    out.namespaces[node_text(part.named_children[-1], source)] = spec
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
            for node in walk(tree.root_node):
                if node.type not in ("call_expression", "new_expression"):
                    continue
                fn = node.child_by_field_name("function" if node.type == "call_expression" else "constructor")
                at = after_paren(node.child_by_field_name("arguments"))
                if fn is None or at is None:
                    continue
                hit, called, how = None, "", ""
                if fn.type == "identifier" and node_text(fn, source) in info.named:
                    called = node_text(fn, source)
                    spec, imported = info.named[called]
                    target = self.module(rel, spec)
                    hit, how = (self.find(target, imported) if target else None), "import"
                elif fn.type == "member_expression" and fn.child_by_field_name("object").type == "identifier":
                    obj = node_text(fn.child_by_field_name("object"), source)
                    called = node_text(fn.child_by_field_name("property"), source)
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
