"""Symbol records and their extraction from a tree-sitter tree (shared by documents and the index).

Everything here is plain data (msgspec Structs) so that records can be cached on disk and sent
between processes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec
import tree_sitter as ts

from . import languages

MAX_DEFINITION_TEXT = 2400  # characters of a definition body kept in the index (bodies longer than
# this never fit a default repository share anyway; signatures and outlines stand in for them)
MAX_SIGNATURE = 400

_BODY_FIELDS = ("body", "value")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*+")


class Definition(msgspec.Struct, kw_only=True):
    """One definition in the workspace (function, class, method, type, constant, …)."""

    name: str
    kind: str
    signature: str
    doc: str
    path: str
    start_line: int  # 0-based, inclusive
    end_line: int  # 0-based, inclusive
    text: str  # the definition's source, maybe truncated (see ``truncated``)
    container: str = ""  # enclosing class / impl / namespace name, if any
    language: str = ""
    exported: bool = True
    truncated: bool = False


class Import(msgspec.Struct, kw_only=True):
    """One imported thing: ``from source import name as alias`` in any language's spelling."""

    source: str
    name: str = ""
    alias: str = ""
    # a re-export (``export { name as alias } from source``, ``export * from source`` with name "*",
    # ``export * as alias from source``): binds no local name, but an import of this file may land here
    reexport: bool = False


class FileSymbols(msgspec.Struct, kw_only=True):
    definitions: list[Definition]
    imports: list[Import]
    exports: list[str]
    package: str = ""  # Go: the name in the ``package`` clause (what an import of the folder binds)


def node_text(node: ts.Node, source: bytes) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _line_start(source: bytes, byte: int) -> int:
    return source.rfind(b"\n", 0, byte) + 1


def _body_node(node: ts.Node) -> ts.Node | None:
    for field in _BODY_FIELDS:
        body = node.child_by_field_name(field)
        if body is not None and body.start_point.row >= node.start_point.row:
            if field == "value":  # JS `const f = (x) => {...}`: the arrow function's body
                inner = body.child_by_field_name("body")
                return inner if inner is not None else None
            return body
    return None


def signature_of(node: ts.Node, source: bytes) -> str:
    """The definition's header: from its first line up to its body (the first line when bodiless)."""
    start = _line_start(source, node.start_byte)
    body = _body_node(node)
    if body is not None and body.start_byte > node.start_byte:
        end = body.start_byte
        text = source[start:end].decode("utf-8", "replace").rstrip()
        if body.type in ("block",) and not text.endswith(":"):
            text = text.rstrip()
    else:
        end = source.find(b"\n", node.start_byte)
        if end < 0 or end > node.end_byte:
            end = node.end_byte
        text = source[start:end].decode("utf-8", "replace").rstrip()
    if len(text) > MAX_SIGNATURE:
        text = text[:MAX_SIGNATURE].rstrip() + " …"
    return text


_WRAPPERS = frozenset(
    {
        "export_statement",
        "decorated_definition",
        "lexical_declaration",
        "variable_declaration",
        "template_declaration",
    }
)
_COMMENT_MARKERS = re.compile(r"^\s*(///?!?|/\*\*?|\*/?|#+|--)\s?")


def _clean_comment_line(text: str) -> str:
    for raw in text.splitlines():
        line = _COMMENT_MARKERS.sub("", raw).strip().rstrip("*/").strip()
        if line:
            return line
    return ""


def docstring_of(node: ts.Node, source: bytes, language: str) -> str:
    """The first line of the definition's documentation (docstring or the comment right above)."""
    if language == "python":
        body = node.child_by_field_name("body")
        if body is not None and body.named_child_count:
            first = body.named_children[0]
            if first.type == "expression_statement" and first.named_child_count:
                expr = first.named_children[0]
                if expr.type in ("string", "concatenated_string"):
                    raw = node_text(expr, source)
                    raw = raw.lstrip("rRbBuUfF").strip("\"'")
                    for line in raw.splitlines():
                        if line.strip():
                            return line.strip()
        return ""
    target = node
    while target.parent is not None and target.parent.type in _WRAPPERS:
        target = target.parent
    prev = target.prev_sibling
    lines: list[str] = []
    row = target.start_point.row
    while prev is not None and prev.type in languages.COMMENT_NODE_TYPES and prev.end_point.row >= row - 1:
        lines.insert(0, node_text(prev, source))
        row = prev.start_point.row
        prev = prev.prev_sibling
    return _clean_comment_line("\n".join(lines)) if lines else ""


def _cut_text(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    cut = text.rfind("\n", 0, limit)
    if cut <= 0:
        cut = limit
    return text[:cut] + "\n", True


def scope_ids(tree: ts.Tree, language: str) -> tuple[set[int], set[int]]:
    """Node ids of function-like and class-like scopes in the whole tree."""
    cursor = languages.query_cursor(language, "scopes")
    functions: set[int] = set()
    classes: set[int] = set()
    if cursor is None:
        return functions, classes
    for name, nodes in cursor.captures(tree.root_node).items():
        target = functions if name == "scope.function" else classes
        target.update(n.id for n in nodes)
    return functions, classes


def go_receiver_type(node: ts.Node, source: bytes) -> str:
    """The type a Go method is declared on: ``func (c *Context[T]) f()`` → ``Context``."""
    receiver = node.child_by_field_name("receiver")
    param = next((c for c in receiver.named_children if c.type == "parameter_declaration"), None) if receiver else None
    typ = param.child_by_field_name("type") if param is not None else None
    while typ is not None and typ.type in ("pointer_type", "generic_type", "parenthesized_type"):
        inner = typ.child_by_field_name("type")
        typ = inner if inner is not None else next(iter(typ.named_children), None)
    return node_text(typ, source) if typ is not None and typ.type == "type_identifier" else ""


def container_name(node: ts.Node, source: bytes) -> str:
    name = node.child_by_field_name("name")
    if name is None:
        name = node.child_by_field_name("type")  # rust impl_item: `impl<T> Trait for Map<K, V>` is Map's
        while name is not None and name.type in ("generic_type", "reference_type", "scoped_type_identifier"):
            inner = name.child_by_field_name("type") or name.child_by_field_name("name")
            if inner is None:
                break
            name = inner
    if name is None:
        return ""
    return node_text(name, source)


def _qualified_scope(node: ts.Node, source: bytes) -> str:
    """C++ ``void Widget::PrivateData::show() {…}`` outside the class: ``PrivateData``."""
    decl = node.child_by_field_name("declarator")
    while decl is not None and decl.type in ("pointer_declarator", "reference_declarator"):
        decl = decl.child_by_field_name("declarator") or next(iter(decl.named_children[-1:]), None)
    inner = decl.child_by_field_name("declarator") if decl is not None and decl.type == "function_declarator" else None
    if inner is None or inner.type != "qualified_identifier":
        return ""
    scope = inner.child_by_field_name("scope")
    while scope is not None and scope.type == "qualified_identifier":  # a::b::C → C
        scope = scope.child_by_field_name("name")
    if scope is not None and scope.type == "template_type":
        scope = scope.child_by_field_name("name")
    return node_text(scope, source) if scope is not None else ""


def _is_exported(node: ts.Node, name: str, language: str, source: bytes) -> bool:
    if language == "python":
        return not name.startswith("_")
    if language == "go":
        return name[:1].isupper()
    if language in ("javascript", "typescript", "tsx"):
        parent = node.parent
        while parent is not None and parent.type in ("lexical_declaration", "variable_declaration"):
            parent = parent.parent
        return parent is not None and parent.type == "export_statement"
    if language == "rust":
        return any(c.type == "visibility_modifier" for c in node.children)
    if language == "java":
        mods = next((c for c in node.children if c.type == "modifiers"), None)
        return mods is not None and b"public" in source[mods.start_byte : mods.end_byte]
    return True


def extract_symbols(tree: ts.Tree | None, source: bytes, language: str | None, path: str) -> FileSymbols:
    """Definitions (top-level and members of containers; locals skipped), imports and exports."""
    if tree is None or language is None:
        return FileSymbols(definitions=[], imports=[], exports=[])
    defs = extract_definitions(tree, source, language, path)
    package = ""
    if language == "go":
        clause = next((c for c in tree.root_node.named_children if c.type == "package_clause"), None)
        ident = next(iter(clause.named_children), None) if clause is not None else None
        package = node_text(ident, source) if ident is not None else ""
    return FileSymbols(
        definitions=defs,
        imports=extract_imports(tree, source, language),
        exports=sorted({d.name for d in defs if d.exported and not d.container}),
        package=package,
    )


def extract_definitions(tree: ts.Tree, source: bytes, language: str, path: str) -> list[Definition]:
    cursor = languages.query_cursor(language, "defs")
    if cursor is None:
        return []
    function_ids, class_ids = scope_ids(tree, language)
    out: list[Definition] = []
    seen: dict[tuple[int, str], int] = {}  # (start byte, name) -> index in out
    for _pattern, caps in cursor.matches(tree.root_node):
        name_nodes = caps.get("name")
        def_key = next((k for k in caps if k.startswith("definition.")), None)
        if not name_nodes or def_key is None:
            continue
        node = caps[def_key][0]
        name = node_text(name_nodes[0], source)
        kind = def_key.split(".", 1)[1]
        key = (node.start_byte, name)
        if not name:
            continue
        replace_at = seen.get(key)
        if replace_at is not None and (kind == "variable" or out[replace_at].kind != "variable"):
            continue  # one definition per node; a function beats the plain variable pattern
        # Where is it? Skip locals (inside a function); note the enclosing container.
        container = ""
        local = False
        parent = node.parent
        while parent is not None:
            if parent.id in function_ids:
                local = True
                break
            if parent.id in class_ids:
                container = container_name(parent, source)
                break
            parent = parent.parent
        if local:
            continue
        if language == "go" and node.type == "method_declaration":
            container = go_receiver_type(node, source)  # methods belong to their receiver's type
        elif language == "cpp" and not container and node.type == "function_definition":
            container = _qualified_scope(node, source)  # defined out of its class: Class::method
            if "::" in name:  # Outer::Inner::method: the name is its last part
                scope, name = name.rsplit("::", 1)
                container = scope.rsplit("::", 1)[-1].split("<", 1)[0]
        if container and kind == "function":
            kind = "method"
        span = node
        if span.parent is not None and span.parent.type == "decorated_definition":
            span = span.parent
        if (
            kind == "variable"
            and span.parent is not None
            and span.parent.type
            in (
                "lexical_declaration",
                "variable_declaration",
                "expression_statement",
            )
        ):
            span = span.parent
        start = _line_start(source, span.start_byte)
        text, truncated = _cut_text(
            source[start : span.end_byte].decode("utf-8", "replace"), MAX_DEFINITION_TEXT
        )
        definition = Definition(
            name=name,
            kind=kind,
            signature=signature_of(node, source),
            doc=docstring_of(node, source, language),
            path=path,
            start_line=span.start_point.row,
            end_line=span.end_point.row,
            text=text,
            container=container,
            language=language,
            exported=_is_exported(node, name, language, source),
            truncated=truncated,
        )
        if replace_at is not None:
            out[replace_at] = definition
        else:
            seen[key] = len(out)
            out.append(definition)
    out.sort(key=lambda d: d.start_line)
    if language in _OVERLOADING:
        out = _merge_overloads(out, source)
    return out


_OVERLOADING = frozenset({"typescript", "tsx"})


def _merge_overloads(defs: list[Definition], source: bytes) -> list[Definition]:
    """TypeScript overloads (``function f(a: A): X;`` … ``function f(a) {…}``): one definition spanning them all."""
    out: list[Definition] = []
    lines: list[bytes] | None = None
    for d in defs:
        prev = out[-1] if out else None
        if (
            prev is None
            or d.name != prev.name
            or d.container != prev.container
            or d.kind != prev.kind
            or d.kind not in ("function", "method")
        ):
            out.append(d)
            continue
        if lines is None:
            lines = source.split(b"\n")
        text, truncated = _cut_text(
            b"\n".join(lines[prev.start_line : d.end_line + 1]).decode("utf-8", "replace") + "\n",
            MAX_DEFINITION_TEXT,
        )
        out[-1] = msgspec.structs.replace(
            prev, end_line=d.end_line, text=text, truncated=truncated, exported=prev.exported or d.exported
        )
    return out


def _rust_use_items(node: ts.Node | None, source: bytes, prefix: str) -> Iterable[Import]:
    """``use crate::a::{b, c as d, e::*}`` → (crate::a, b), (crate::a, c as d), (crate::a::e, *)."""
    if node is None:
        return
    kind = node.type
    if kind in ("scoped_identifier", "identifier", "crate", "self", "super"):
        path = _join_path(prefix, node_text(node, source).replace(" ", ""))
        head, _, last = path.rpartition("::")
        if last == "self":
            head, _, last = head.rpartition("::")
        yield Import(source=head, name=last)
    elif kind == "use_as_clause":
        path_node, alias = node.child_by_field_name("path"), node.child_by_field_name("alias")
        if path_node is None or alias is None:
            return
        head, _, last = _join_path(prefix, node_text(path_node, source).replace(" ", "")).rpartition("::")
        yield Import(source=head, name=last, alias=node_text(alias, source))
    elif kind == "use_wildcard":
        yield Import(source=_join_path(prefix, node_text(node, source).replace(" ", "").removesuffix("::*")), name="*")
    elif kind == "scoped_use_list":
        scope = node.child_by_field_name("path")
        inner = _join_path(prefix, node_text(scope, source).replace(" ", "")) if scope is not None else prefix
        yield from _rust_use_items(node.child_by_field_name("list"), source, inner)
    elif kind == "use_list":
        for child in node.named_children:
            yield from _rust_use_items(child, source, prefix)


def _join_path(prefix: str, rest: str) -> str:
    return f"{prefix}::{rest}" if prefix and rest else prefix or rest


def extract_imports(tree: ts.Tree, source: bytes, language: str) -> list[Import]:
    cursor = languages.query_cursor(language, "imports")
    if cursor is None:
        return []
    out: list[Import] = []
    if language == "rust":  # use trees: one import per name brought in
        for _pattern, caps in cursor.matches(tree.root_node):
            for node in caps.get("import.source", [])[:1]:
                if node.parent is not None and node.parent.type == "use_declaration":
                    out.extend(i for i in _rust_use_items(node, source, "") if i.name and i.source)
                else:
                    out.append(Import(source=node_text(node, source)))
        return out
    for _pattern, caps in cursor.matches(tree.root_node):
        sources = caps.get("import.source")
        if not sources:
            continue
        src = node_text(sources[0], source).strip().strip("\"'<>")
        name = node_text(caps["import.name"][0], source) if caps.get("import.name") else ""
        alias = node_text(caps["import.alias"][0], source) if caps.get("import.alias") else ""
        reexport = "import.reexport" in caps
        if reexport and not name and not alias:
            name = "*"  # export * from "./x"
        out.append(Import(source=src, name=name, alias=alias, reexport=reexport))
    return out


def called_names_in(
    tree: ts.Tree, language: str, start: tuple[int, int], end: tuple[int, int], source: bytes
) -> list[str]:
    """Called names between two points, in order of appearance, unique."""
    cursor = languages.query_cursor(language, "calls")
    if cursor is None:
        return []
    cursor.set_point_range(start, end)
    nodes: list[ts.Node] = []
    for _name, found in cursor.captures(tree.root_node).items():
        nodes.extend(n for n in found if start <= n.start_point and n.end_point <= end)
    nodes.sort(key=lambda n: n.start_byte)
    return unique(node_text(n, source) for n in nodes)


_NOT_CALLS = frozenset(
    [
        "if",
        "for",
        "while",
        "switch",
        "return",
        "catch",
        "sizeof",
        "typeof",
        "def",
        "function",
        "elif",
        "and",
        "or",
        "not",
        "in",
        "is",
        "with",
        "match",
        "case",
        "new",
        "delete",
        "throw",
        "await",
        "yield",
        "lambda",
        "print",
        "else",
        "do",
        "try",
    ]
)
# A name starts only where no name character precedes it, and the possessive quantifiers never give back: so a
# run of n name characters costs O(n), not O(n^2) (``yyyy…`` with no ``(`` froze the server at 32 KB).
_CALL_RE = re.compile(r"(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*+)\s*+\(")
SCAN_LINE_CHARS = 4000  # of each line, as Document.identifiers_between reads (minified code, base64 blobs)


def called_names_in_text(text: str) -> list[str]:
    """Line-based fallback for languages without a grammar. Reads at most SCAN_LINE_CHARS of each line."""
    names: list[str] = []
    for line in text.split("\n"):
        names.extend(m.group(1) for m in _CALL_RE.finditer(line, 0, SCAN_LINE_CHARS) if m.group(1) not in _NOT_CALLS)
    return unique(names)


def identifiers_in(text: str) -> list[str]:
    return unique(_IDENT_RE.findall(text))


def unique(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item and item not in seen:
            seen.add(item)
            out.append(item)
    return out
