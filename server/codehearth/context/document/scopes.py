"""Functions, methods and their containers around a point, from the ``scopes`` queries."""

from __future__ import annotations

import msgspec
import tree_sitter as ts

from .. import languages
from ..symbols import container_name
from .text import Point


class FunctionSpan(msgspec.Struct):
    name: str
    kind: str  # "function" | "method"
    start: Point
    end: Point
    text: str
    header: str  # signature lines of the enclosing containers (class, impl, namespace), or ""


def scopes_at(tree: ts.Tree | None, language: str | None, point: Point) -> list[tuple[str, ts.Node]]:
    """Scope nodes (``scope.function`` / ``scope.class``) containing the point, outermost first."""
    if tree is None:
        return []
    cursor = languages.query_cursor(language, "scopes")
    if cursor is None:
        return []
    p = (point.row, point.column)
    cursor.set_point_range((point.row, max(0, point.column - 1)), (point.row, point.column + 1))
    found: dict[int, tuple[str, ts.Node]] = {}
    for name, nodes in cursor.captures(tree.root_node).items():
        for node in nodes:
            if node.start_point <= p <= node.end_point:
                found[node.id] = (name, node)
    return sorted(found.values(), key=lambda item: (item[1].start_byte, -item[1].end_byte))


def node_text(node: ts.Node, source: bytes) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace")


def function_name(node: ts.Node, source: bytes) -> str:
    name = node.child_by_field_name("name")
    if name is not None:
        return node_text(name, source)
    decl = node.child_by_field_name("declarator")
    while decl is not None:  # C / C++: unwrap pointer / reference / function declarators
        if decl.type in ("identifier", "field_identifier", "destructor_name", "operator_name"):
            return node_text(decl, source)
        if decl.type == "qualified_identifier":
            inner = decl.child_by_field_name("name")
            return node_text(inner if inner is not None else decl, source)
        nxt = decl.child_by_field_name("declarator")
        if nxt is None:
            nxt = next((c for c in decl.named_children if "declarator" in c.type), None)
        decl = nxt
    return ""


def header_of(node: ts.Node, source: bytes) -> str:
    """The signature line(s) of a container, ending in "{" for brace languages."""
    start = source.rfind(b"\n", 0, node.start_byte) + 1
    body = node.child_by_field_name("body")
    if body is not None and body.start_byte > node.start_byte:
        text = source[start : body.start_byte].decode("utf-8", "replace").rstrip()
        if body.type in (
            "declaration_list",
            "class_body",
            "field_declaration_list",
            "interface_body",
            "enum_body",
            "object_type",
        ) and not text.endswith("{"):
            text += " {"
        return text
    end = source.find(b"\n", node.start_byte)
    end = len(source) if end < 0 else end
    return source[start:end].decode("utf-8", "replace").rstrip()


def enclosing_function(
    tree: ts.Tree | None, source: bytes, language: str | None, point: Point
) -> FunctionSpan | None:
    """The innermost named function or method containing the point."""
    scopes = scopes_at(tree, language, Point(*point))
    target_index = -1
    name = ""
    for i in range(len(scopes) - 1, -1, -1):
        kind, node = scopes[i]
        if kind != "scope.function":
            continue
        name = function_name(node, source)
        if name:
            target_index = i
            break
    if target_index < 0:
        return None
    _, node = scopes[target_index]
    containers = [n for _, n in scopes[:target_index]]
    span = node
    if span.type == "variable_declarator" and span.parent is not None:
        span = span.parent  # `const f = () => {...}`
    if span.parent is not None and span.parent.type in ("decorated_definition", "export_statement"):
        span = span.parent
    line_start = source.rfind(b"\n", 0, span.start_byte) + 1
    is_method = bool(scopes[:target_index]) and scopes[target_index - 1][0] == "scope.class"
    if node.type in ("method_declaration", "method_definition") or (
        node.type == "function_definition"
        and node.parent is not None
        and node.parent.type == "field_declaration_list"
    ):
        is_method = True
    return FunctionSpan(
        name=name,
        kind="method" if is_method else "function",
        start=Point(*span.start_point),
        end=Point(*span.end_point),
        text=source[line_start : span.end_byte].decode("utf-8", "replace"),
        header="\n".join(header_of(c, source) for c in containers),
    )


def container_names(tree: ts.Tree | None, source: bytes, language: str | None, point: Point) -> list[str]:
    """Names of the scopes around a point, outermost first (classes and functions)."""
    return [container_name(n, source) or function_name(n, source) for _, n in scopes_at(tree, language, point)]
