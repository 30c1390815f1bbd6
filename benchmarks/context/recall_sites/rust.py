"""Rust: crate::/super::/self:: paths, use trees, Type::f in impl blocks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import tree_sitter as ts

from .common import Site, Workspace, call_sites, node_text, walk


def _use_paths(node: ts.Node, source: bytes, prefix: list[str]) -> Iterator[tuple[str, list[str]]]:
    """(local name, full path) for every name a ``use`` tree brings in."""
    t = node.type
    if t == "scoped_identifier":
        path = [*prefix, *node_text(node, source).replace(" ", "").split("::")]
        yield path[-1], path
    elif t in ("identifier", "self", "crate", "super"):
        name = node_text(node, source)
        if name == "self" and prefix:
            yield prefix[-1], list(prefix)
        else:
            yield name, [*prefix, name]
    elif t == "use_as_clause":
        path = [*prefix, *node_text(node.child_by_field_name("path"), source).replace(" ", "").split("::")]
        yield node_text(node.child_by_field_name("alias"), source), path
    elif t == "scoped_use_list":
        base = node.child_by_field_name("path")
        inner = [*prefix, *(node_text(base, source).replace(" ", "").split("::") if base is not None else [])]
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
        self.types: dict[str, set[str]] = defaultdict(set)  # type name -> files defining it
        for rel, tree in ws.tree.items():
            source = ws.source[rel]
            fns: set[str] = set()
            for top in tree.root_node.named_children:
                name = node_text(top.child_by_field_name("name"), source)
                if top.type == "function_item":
                    fns.add(name)
                elif top.type == "impl_item":
                    typ = top.child_by_field_name("type")
                    while typ is not None and typ.type == "generic_type":
                        typ = typ.child_by_field_name("type")
                    body = top.child_by_field_name("body")
                    for item in body.named_children if body is not None else []:
                        if item.type == "function_item":
                            fn = node_text(item.child_by_field_name("name"), source)
                            self.impl_fns[(node_text(typ, source), fn)].add(rel)
                            self.defs[fn].add(rel)
                if name:
                    self.defs[name].add(rel)
                if top.type in ("struct_item", "enum_item", "type_item", "union_item", "trait_item"):
                    self.types[name].add(rel)
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
            for node in walk(tree.root_node):
                if node.type == "use_declaration":
                    for local, path in _use_paths(node.child_by_field_name("argument"), source, []):
                        uses[local] = path
            seen: set[tuple[str, str]] = set()
            for _node, fn, at in call_sites(tree.root_node, frozenset({"generic_function"})):
                targets: list[str] = []
                called, container, how = "", "", ""
                if fn.type == "identifier":
                    called = node_text(fn, source)
                    if called in uses and called not in self.functions[rel]:
                        mod = self.resolve(rel, uses[called][:-1] or ["self"], uses)
                        target = self.file_of.get(mod) if mod is not None else None
                        if target is not None and called in self.functions.get(target, set()):
                            targets, how = [target], "use"
                elif fn.type == "scoped_identifier":
                    called = node_text(fn.child_by_field_name("name"), source)
                    scope = node_text(fn.child_by_field_name("path"), source).replace(" ", "").split("::")
                    mod = self.resolve(rel, scope, uses)
                    target = self.file_of.get(mod) if mod is not None else None
                    if target is not None and called in self.functions.get(target, set()):
                        targets, how = [target], "module path"
                    elif len(scope) == 1 and scope[0] != "Self":
                        typ = uses.get(scope[0], scope)[-1]
                        impls = self.impl_fns.get((typ, called), set())
                        # one type of that name in the crate, and not implemented here too (trait dispatch
                        # between this file's impl and another's is the compiler's call, not a name's)
                        if len(self.types.get(typ, ())) == 1 and rel not in impls:
                            targets, container, how = sorted(impls), typ, "Type::f"
                targets = [t for t in targets if t != rel]
                if not targets or (container, called) in seen:
                    continue
                seen.add((container, called))
                out.append(Site(rel, at[0], at[1], called, called, tuple(targets), (), len(self.defs[called]) > 1, how))
        return out
