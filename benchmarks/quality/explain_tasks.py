"""The functions the explanation benchmark asks about, and the module with their docstrings taken out.

Selection is deterministic: in source order, every function or method that has a docstring, at least one
parameter besides ``self``/``cls``, a name that is not a dunder, and at least ``MIN_CODE_LINES`` lines of code
after its docstring; the first N are taken. Pure functions on source text.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from benchmarks.quality.faithfulness import return_description

MIN_CODE_LINES = 3
Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Task:
    qualname: str
    params: list[str]
    line: int  # 0-based position of the first statement in the stripped module: where the editor's cursor is
    character: int
    docstring: str
    return_description: str
    returns_value: bool
    returned_names: list[str]
    arity: tuple[int, int]  # parameter counts an explanation may state: the required ones up to all (+ self)
    source: str  # the function as written, docstring included


def walk_functions(body: list[ast.stmt], outer: tuple[str, ...] = ()) -> Iterator[tuple[str, Function]]:
    """Functions and methods in source order with their qualified names (nested functions are left out)."""
    for node in body:
        if isinstance(node, ast.ClassDef):
            yield from walk_functions(node.body, (*outer, node.name))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield ".".join((*outer, node.name)), node


def parameters(node: Function) -> list[str]:
    a = node.args
    names = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    names += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
    return [n for n in names if n not in ("self", "cls")]


def arity(name: str, node: Function) -> tuple[int, int]:
    a = node.args
    positional = [p.arg for p in (*a.posonlyargs, *a.args)]
    required = positional[: len(positional) - len(a.defaults)]
    required += [p.arg for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is None]
    own = [n for n in required if n not in ("self", "cls")]
    method = "." in name and bool(positional) and positional[0] in ("self", "cls")
    return len(own), len(parameters(node)) + (1 if method else 0)


def code_lines(node: Function) -> int:
    """Lines from the first statement after the docstring to the end of the function."""
    body = node.body[1:] if ast.get_docstring(node) is not None else node.body
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def eligible(name: str, node: Function) -> bool:
    short = name.rsplit(".", 1)[-1]
    dunder = short.startswith("__") and short.endswith("__")
    return (ast.get_docstring(node) is not None and bool(parameters(node)) and not dunder
            and code_lines(node) >= MIN_CODE_LINES)


def _own_nodes(node: Function) -> Iterator[ast.AST]:
    """The function's nodes without those of nested functions, lambdas and classes."""
    stack: list[ast.AST] = list(node.body)
    while stack:
        current = stack.pop()
        yield current
        for child in ast.iter_child_nodes(current):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
                stack.append(child)


def returns(node: Function) -> tuple[bool, list[str]]:
    """Whether the function gives back a value (``return x`` other than None, or ``yield``), and the names in what it
    returns (variables, attributes, called functions; ``self``, ``cls`` and constants left out)."""
    gives = False
    names: dict[str, None] = {}
    for sub in _own_nodes(node):
        value: ast.expr | None = None
        if isinstance(sub, ast.Return) and sub.value is not None:
            if isinstance(sub.value, ast.Constant) and sub.value.value is None:
                continue
            value = sub.value
        elif isinstance(sub, ast.Yield | ast.YieldFrom):
            value = sub.value
            gives = True
        if value is None:
            continue
        gives = True
        for part in ast.walk(value):
            if isinstance(part, ast.Name) and part.id not in ("self", "cls"):
                names[part.id] = None
            elif isinstance(part, ast.Attribute):
                names[part.attr] = None
    return gives, list(names)


def select(source: str, count: int) -> list[tuple[str, Function]]:
    tree = ast.parse(source)
    return [(name, node) for name, node in walk_functions(tree.body) if eligible(name, node)][:count]


def strip_docstrings(source: str, nodes: list[Function]) -> str:
    """The module with these functions' docstrings removed (a function left empty gets ``pass``)."""
    lines = source.splitlines(keepends=True)
    for node in sorted(nodes, key=lambda n: n.body[0].lineno, reverse=True):
        doc = node.body[0]
        start, end = doc.lineno - 1, (doc.end_lineno or doc.lineno)
        replacement: list[str] = []
        if len(node.body) == 1:
            replacement = [" " * doc.col_offset + "pass\n"]
        lines[start:end] = replacement
    return "".join(lines)


def build_tasks(source: str, count: int) -> tuple[str, list[Task]]:
    """The stripped module and, for each selected function, where to ask and what to check the answer against."""
    chosen = select(source, count)
    stripped = strip_docstrings(source, [node for _, node in chosen])
    positions = {name: node for name, node in walk_functions(ast.parse(stripped).body)}
    tasks = []
    for name, node in chosen:
        docstring = ast.get_docstring(node) or ""
        gives, names = returns(node)
        first = positions[name].body[0]
        start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
        tasks.append(Task(
            qualname=name, params=parameters(node), line=first.lineno - 1, character=first.col_offset,
            docstring=docstring, return_description=return_description(docstring), returns_value=gives,
            returned_names=names, arity=arity(name, node),
            source="".join(source.splitlines(keepends=True)[start - 1 : node.end_lineno]),
        ))
    return stripped, tasks
