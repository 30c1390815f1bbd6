"""What every miner shares: the site record, the parsed workspace, tree walking."""

from __future__ import annotations

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


def node_text(node: ts.Node | None, source: bytes) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace") if node is not None else ""


def walk(node: ts.Node) -> Iterator[ts.Node]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def after_paren(args: ts.Node | None) -> tuple[int, int] | None:
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


def call_sites(root: ts.Node, unwrap: frozenset[str] = frozenset()) -> Iterator[tuple[ts.Node, ts.Node, tuple[int, int]]]:
    """Every ``call_expression`` below ``root`` with its callee and the point right after its ``(``; a callee whose
    type is in ``unwrap`` (Rust's ``generic_function``) stands for the function inside it."""
    for node in walk(root):
        if node.type != "call_expression":
            continue
        fn = node.child_by_field_name("function")
        if fn is not None and fn.type in unwrap:
            fn = fn.child_by_field_name("function")
        at = after_paren(node.child_by_field_name("arguments"))
        if fn is None or at is None:
            continue
        yield node, fn, at
