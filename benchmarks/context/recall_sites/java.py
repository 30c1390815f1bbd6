"""Java: a class per file, Class.method( and new Class( through imports and the package."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from .common import Site, Workspace, after_paren, node_text, walk


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
                    package = node_text(top.named_children[0], source)
                elif top.type == "import_declaration" and "static" not in node_text(top, source).split():
                    name = node_text(top.named_children[0], source)
                    imports[name.rsplit(".", 1)[-1]] = name
                elif top.type.endswith("_declaration") and top.child_by_field_name("name") is not None:
                    cls = node_text(top.child_by_field_name("name"), source)
                    if Path(rel).stem == cls:
                        self.classes[f"{package}.{cls}" if package else cls] = rel
                        self.defs[cls].add(rel)
                        body = top.child_by_field_name("body")
                        for member in body.named_children if body is not None else []:
                            if member.type in ("method_declaration", "constructor_declaration"):
                                m = node_text(member.child_by_field_name("name"), source)
                                methods.add(m)
            for node in walk(tree.root_node):
                if node.type in ("method_declaration", "constructor_declaration"):
                    self.defs[node_text(node.child_by_field_name("name"), source)].add(rel)
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
            for node in walk(tree.root_node):
                targets: list[str] = []
                called, container, how = "", "", ""
                if node.type == "method_invocation":
                    obj = node.child_by_field_name("object")
                    if obj is None or obj.type != "identifier" or not node_text(obj, source)[:1].isupper():
                        continue
                    container, called = node_text(obj, source), node_text(node.child_by_field_name("name"), source)
                    target = self.class_file(rel, container)
                    if target is not None and called in self.methods[target]:
                        targets, how = [target], "Class.method"
                elif node.type == "object_creation_expression":
                    typ = node.child_by_field_name("type")
                    if typ is not None and typ.type == "generic_type":
                        typ = typ.named_children[0]
                    if typ is None or typ.type != "type_identifier":
                        continue
                    called = container = node_text(typ, source)
                    target = self.class_file(rel, called)
                    if target is not None:
                        targets, how = [target], "new Class"
                else:
                    continue
                at = after_paren(node.child_by_field_name("arguments"))
                targets = [t for t in targets if t != rel]
                if not targets or at is None or (container, called) in seen:
                    continue
                seen.add((container, called))
                out.append(Site(rel, at[0], at[1], called, called, tuple(targets), (), len(self.defs[called]) > 1, how))
        return out
