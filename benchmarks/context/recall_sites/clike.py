"""C and C++: free functions by linkage, Scope::f( by the scope's definitions, declarations in included headers."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import tree_sitter as ts

from .common import Site, Workspace, call_sites, node_text, walk


def _declarator_name(node: ts.Node | None, source: bytes) -> tuple[str, str]:
    """(scope, name) of a function declarator (``Class::f`` → ("Class", "f"))."""
    while node is not None and node.type in ("pointer_declarator", "reference_declarator", "parenthesized_declarator"):
        node = node.child_by_field_name("declarator") or (node.named_children[-1] if node.named_children else None)
    if node is None or node.type != "function_declarator":
        return "", ""
    inner = node.child_by_field_name("declarator")
    if inner is not None and inner.type == "qualified_identifier":
        return node_text(inner.child_by_field_name("scope"), source), node_text(inner.child_by_field_name("name"), source)
    if inner is not None and inner.type in ("identifier", "field_identifier"):
        return "", node_text(inner, source)
    return "", ""


class CMiner:
    """C and C++: free functions by linkage, ``Scope::f(`` by the scope's definitions."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.defined: dict[tuple[str, str], set[str]] = defaultdict(set)  # (scope, name) -> files (non-static)
        self.static: dict[str, set[str]] = defaultdict(set)  # file -> static function names
        self.declared: dict[tuple[str, str], set[str]] = defaultdict(set)  # (scope, name) -> headers
        self.includes: dict[str, set[str]] = {}
        self.macros: dict[str, set[str]] = defaultdict(set)  # file -> names it #defines
        self.defs: dict[str, set[str]] = defaultdict(set)
        for rel, tree in ws.tree.items():
            source = ws.source[rel]
            includes: set[str] = set()
            for node in walk(tree.root_node):
                if node.type == "preproc_include":
                    path = node.child_by_field_name("path")
                    if path is not None and path.type == "string_literal":
                        inc = node_text(path, source).strip('"')
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
                        scope = node_text(cls.child_by_field_name("name"), source)
                    if _inside_function(node):
                        continue
                    is_static = any(
                        c.type == "storage_class_specifier" and node_text(c, source) == "static" for c in node.children
                    )
                    if is_static and not scope:
                        self.static[rel].add(name)
                    else:
                        self.defined[(scope, name)].add(rel)
                    self.defs[name].add(rel)
                elif node.type in ("preproc_def", "preproc_function_def"):
                    # `#define stbi_load dpf_stbi_load`: the file's own macro is what a call there means
                    self.macros[rel].add(node_text(node.child_by_field_name("name"), source))
                elif node.type in ("declaration", "field_declaration"):
                    scope, name = _declarator_name(node.child_by_field_name("declarator"), source)
                    cls = node.parent.parent if node.parent is not None else None
                    if not scope and cls is not None and cls.type in ("class_specifier", "struct_specifier"):
                        scope = node_text(cls.child_by_field_name("name"), source)
                    if name:
                        self.declared[(scope, name)].add(rel)
            self.includes[rel] = includes

    def included(self, rel: str) -> set[str]:
        """Everything ``rel`` includes, directly or through other headers."""
        seen: set[str] = set()
        todo = [rel]
        while todo:
            for inc in self.includes.get(todo.pop(), ()):
                if inc not in seen:
                    seen.add(inc)
                    todo.append(inc)
        return seen

    def sites(self) -> list[Site]:
        out: list[Site] = []
        methods = {name for scope, name in [*self.defined, *self.declared] if scope}
        for rel, tree in self.ws.tree.items():
            if Path(rel).suffix in (".h", ".hpp", ".hh"):
                continue
            included = self.included(rel)
            source = self.ws.source[rel]
            seen: set[tuple[str, str]] = set()
            for _node, fn, at in call_sites(tree.root_node):
                if fn.type == "identifier":
                    scope, called, how = "", node_text(fn, source), "linkage"
                    if called in self.static.get(rel, set()) or called in methods:
                        continue  # static here, or maybe a member called on an implicit this
                elif fn.type == "qualified_identifier" and fn.child_by_field_name("name").type == "identifier":
                    scope, called, how = node_text(fn.child_by_field_name("scope"), source), node_text(
                        fn.child_by_field_name("name"), source
                    ), "Scope::f"
                else:
                    continue
                targets = sorted(self.defined.get((scope, called), ()))
                if rel in targets or len(targets) != 1 or (scope, called) in seen:
                    continue
                if rel in self.declared.get((scope, called), ()) or called in self.macros.get(rel, ()):
                    continue  # declared or #defined in this very file: that is what a call there sees
                seen.add((scope, called))
                headers = tuple(sorted(self.declared.get((scope, called), set()) & included))
                out.append(Site(rel, at[0], at[1], called, called, tuple(targets), headers, len(self.defs[called]) > 1, how))
        return out


def _inside_function(node: ts.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type == "function_definition":
            return True
        parent = parent.parent
    return False
