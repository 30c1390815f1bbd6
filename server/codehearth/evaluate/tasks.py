"""Mining evaluation tasks from a repository: cursor positions inside real code, a fixed seeded sample.

Only files the workspace index allows are read (its filters: .gitignore, excluded folders, secrets, binaries,
size), so a task never shows a model text the editor would not. Four kinds of position:

- ``mid-line``: the cursor at a token boundary inside a line; the rest of the line is hidden.
- ``line-start``: the user pressed Enter after a line; the next line is hidden, its indentation kept.
- ``block``: a function's header is written and its body is empty; the whole body is hidden.
- ``cross-file``: a line calling something defined only in other files (the index's definitions); hidden as in
  ``line-start``, so the prompt's repository context is what can tell the model the callee.

Every task replaces rows ``row .. row + span - 1`` of the file by the text left of the cursor (``masked line``);
what it removed is ``hidden``. The same seed gives the same tasks for every model and every run.
"""

from __future__ import annotations

import builtins
import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from codehearth.context import languages
from codehearth.context.document import Document, Point
from codehearth.context.index import WorkspaceIndex
from codehearth.evaluate.kinds import KINDS, TaskKind

__all__ = ["KINDS", "Task", "TaskKind", "mine_tasks", "read_source"]

MAX_LINE = 160  # longer lines are generated or minified more often than typed
MAX_HIDDEN_LINE = 100
MAX_BLOCK_ROWS = 12
MAX_BLOCK_CHARS = 700
_COMMENT_START = ("#", "//", "/*", "*", "--", "<!--")
_CALL_RE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_LOCAL_DEF_RE = re.compile(
    r"^[ \t]*(?:async[ \t]+)?(?:def|class|func|fn|function)[ \t]+([A-Za-z_][A-Za-z0-9_]*)"
    r"|^[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[^=]", re.MULTILINE)
_BUILTINS = frozenset(dir(builtins))
# `d.items()` is the dict's, whatever else a repository calls "items"
_BUILTIN_METHODS = frozenset(n for t in (dict, list, str, bytes, set, tuple, int, float, object) for n in dir(t))
_KEYWORDS = frozenset({
    "if", "elif", "while", "for", "return", "print", "assert", "not", "and", "or", "in", "is", "with", "except",
    "raise", "yield", "await", "lambda", "def", "class", "switch", "case", "catch", "sizeof", "typeof", "new",
    "delete", "match", "fn", "func", "super", "self", "this",
})


class Task(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    kind: TaskKind
    path: str  # workspace-relative, posix
    language: str
    row: int  # 0-based row of the cursor
    column: int  # characters left of the cursor on that row
    span: int  # rows replaced by the masked line
    hidden: str  # the text the model should write
    callee: str = ""  # cross-file tasks: the called name defined elsewhere

    def masked_text(self, text: str) -> str:
        """The file as the user has it at the cursor: the hidden text taken out."""
        lines = text.split("\n")
        left = lines[self.row][: self.column]
        return "\n".join([*lines[: self.row], left, *lines[self.row + self.span :]])

    def point(self, masked: str) -> Point:
        line = masked.split("\n")[self.row]
        return Point(self.row, len(line[: self.column].encode("utf-8")))


def read_source(path: Path) -> str:
    """The file's text as tasks see it (line endings normalised so rows and columns agree everywhere)."""
    return path.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n")


def task_id(kind: str, path: str, row: int, column: int, hidden: str) -> str:
    digest = hashlib.sha1(f"{path}\0{row}\0{column}\0{hidden}".encode()).hexdigest()[:8]
    return f"{kind}:{path}:{row + 1}:{column}:{digest}"


@dataclass
class _File:
    abs_path: Path
    rel: str
    language: str
    lines: list[str]
    _doc: Document | None = None

    def doc(self) -> Document:
        if self._doc is None:
            self._doc = Document(self.abs_path.as_uri(), "\n".join(self.lines), self.language, path=self.abs_path)
        return self._doc


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _looks_like_code(line: str) -> bool:
    stripped = line.strip()
    if len(stripped) < 4 or len(line) > MAX_LINE:
        return False
    if stripped.startswith(_COMMENT_START):
        return False
    return any(ch.isalnum() for ch in stripped)


def _in_string_or_comment(doc: Document, row: int, column: int) -> bool:
    """Whether the character at (row, column chars) lies in a string (docstrings too) or a comment."""
    tree = doc.tree
    if tree is None:
        return False
    line = doc.line(row)
    byte = len(line[:column].encode("utf-8"))
    node = tree.root_node.descendant_for_point_range((row, byte), (row, byte))
    while node is not None:
        if node.type in languages.COMMENT_NODE_TYPES or node.type in languages.STRING_NODE_TYPES:
            return True
        node = node.parent
    return False


def _code_at(file: _File, row: int, column: int) -> bool:
    return not _in_string_or_comment(file.doc(), row, column)


# -- candidates: cheap text checks over every file; the syntax tree confirms only the chosen ones ------------


@dataclass(frozen=True)
class _Candidate:
    file: int
    row: int
    span: int = 1
    callee: str = ""


def _line_candidates(file: _File, index: WorkspaceIndex, fi: int) -> dict[TaskKind, list[_Candidate]]:
    out: dict[TaskKind, list[_Candidate]] = {k: [] for k in KINDS}
    here = str(file.abs_path)
    # Names this file defines itself, nested functions included (the index keeps only the outer ones).
    local = {m.group(1) or m.group(2) for m in _LOCAL_DEF_RE.finditer("\n".join(file.lines))}
    for row, line in enumerate(file.lines):
        if not _looks_like_code(line):
            continue
        stripped = line.strip()
        if len(stripped) >= 8:
            out["mid-line"].append(_Candidate(fi, row))
        if row == 0 or not file.lines[row - 1].strip() or len(stripped) > MAX_HIDDEN_LINE:
            continue
        callee = _cross_file_callee(line, index, here, local)
        if callee:
            out["cross-file"].append(_Candidate(fi, row, callee=callee))
        else:
            out["line-start"].append(_Candidate(fi, row))
    out["block"] = _block_candidates(file, index, fi)
    return out


def _cross_file_callee(line: str, index: WorkspaceIndex, here: str, local: set[str]) -> str:
    """The first name called on the line that only other files define (a method for ``x.name(``)."""
    for match in _CALL_RE.finditer(line):
        name = match.group(1)
        if name in _KEYWORDS or name in local or name in _BUILTINS:
            continue
        attribute = line[: match.start()].endswith(".")
        if attribute and name in _BUILTIN_METHODS:
            continue
        found = [d for d in index.definitions(name) if (d.kind == "method") == attribute]
        if found and all(d.path != here for d in found) and all(d.kind != "variable" for d in found):
            return name
    return ""


def _block_candidates(file: _File, index: WorkspaceIndex, fi: int) -> list[_Candidate]:
    out: list[_Candidate] = []
    lines = file.lines
    colon = file.language in languages.INDENT_LANGUAGES
    for d in index.definitions_in(str(file.abs_path)):
        if d.kind not in ("function", "method") or d.end_line >= len(lines):
            continue
        header = -1
        for r in range(d.start_line, min(d.end_line, d.start_line + 8) + 1):
            code = lines[r].split("#")[0] if colon else lines[r].split("//")[0]
            if code.rstrip().endswith(":" if colon else "{"):
                header = r
                break
        if header < 0:
            continue
        last = d.end_line
        if not colon:
            if not lines[last].strip().startswith("}") or last == header:
                continue
            last -= 1
        first = header + 1
        span = last - first + 1
        if not 1 <= span <= MAX_BLOCK_ROWS or not lines[first].strip():
            continue
        body = "\n".join(lines[first : last + 1])
        if len(body) > MAX_BLOCK_CHARS or not _looks_like_code(lines[first]):
            continue
        out.append(_Candidate(fi, first, span=span))
    return out


# -- materialising a candidate into a task --------------------------------------------------------------------


def _mid_line_columns(line: str) -> list[int]:
    """Token boundaries worth a mid-line request: something typed on the left, code (not closers) on the right."""
    start = len(_indent(line))
    out = []
    for c in range(start + 1, len(line.rstrip())):
        before, at = line[c - 1], line[c]
        if before.isspace():
            continue
        if (before.isalnum() or before == "_") and (at.isalnum() or at == "_"):
            continue  # inside a word
        rest = line[c:].rstrip()
        if len(rest) > MAX_HIDDEN_LINE or not any(ch.isalnum() for ch in rest):
            continue
        out.append(c)
    return out


def _make_task(kind: TaskKind, cand: _Candidate, file: _File, seed: int) -> Task | None:
    line = file.lines[cand.row]
    if kind == "mid-line":
        columns = _mid_line_columns(line)
        rng = random.Random(f"{seed}|{file.rel}|{cand.row}")
        rng.shuffle(columns)
        for column in columns[:4]:
            if _code_at(file, cand.row, len(_indent(line))) and _code_at(file, cand.row, column):
                hidden = line[column:].rstrip()
                return Task(id=task_id(kind, file.rel, cand.row, column, hidden), kind=kind, path=file.rel,
                            language=file.language, row=cand.row, column=column, span=1, hidden=hidden)
        return None
    column = len(_indent(line))
    if kind != "block" and not _code_at(file, cand.row, column):
        return None  # (a body may well begin with its docstring: the cursor is still after a header)
    rows = file.lines[cand.row : cand.row + cand.span]
    hidden = "\n".join([rows[0][column:].rstrip(), *(r.rstrip() for r in rows[1:])])
    return Task(id=task_id(kind, file.rel, cand.row, column, hidden), kind=kind, path=file.rel,
                language=file.language, row=cand.row, column=column, span=cand.span, hidden=hidden,
                callee=cand.callee)


def _quotas(count: int, available: dict[TaskKind, int], kinds: Sequence[TaskKind]) -> dict[TaskKind, int]:
    """An even share per kind; what a kind cannot fill goes to the others, in order."""
    quota = {k: 0 for k in kinds}
    left = count
    while left > 0:
        open_kinds = [k for k in kinds if quota[k] < available[k]]
        if not open_kinds:
            break
        share, extra = divmod(left, len(open_kinds))
        for i, k in enumerate(open_kinds):
            take = min(share + (1 if i < extra else 0), available[k] - quota[k])
            quota[k] += take
            left -= take
    return quota


def allowed_files(index: WorkspaceIndex) -> list[Path]:
    """Source files of the index that its filters allow, in a stable order."""
    return [Path(p) for p in sorted(index.paths()) if index.is_allowed(Path(p))]


def mine_tasks(
    index: WorkspaceIndex, count: int, seed: int, kinds: Iterable[TaskKind] = KINDS
) -> list[Task]:
    """A seeded sample of ``count`` tasks from a scanned index, spread evenly over the kinds."""
    wanted = [k for k in KINDS if k in set(kinds)]
    files: list[_File] = []
    pools: dict[TaskKind, list[_Candidate]] = {k: [] for k in KINDS}
    for path in allowed_files(index):
        language = languages.language_for_path(path)
        if language is None:
            continue
        try:
            text = read_source(path)
        except OSError:
            continue
        file = _File(path, index.relpath(path), language, text.split("\n"))
        files.append(file)
        for kind, found in _line_candidates(file, index, len(files) - 1).items():
            pools[kind].extend(found)
    rng = random.Random(seed)
    order = {k: iter(rng.sample(pools[k], len(pools[k]))) for k in KINDS}
    quota = _quotas(count, {k: len(pools[k]) for k in KINDS}, wanted)
    tasks: list[Task] = []
    seen: set[tuple[str, int]] = set()

    def take(kind: TaskKind, n: int) -> int:
        taken = 0
        while taken < n:
            cand = next(order[kind], None)
            if cand is None:
                break
            file = files[cand.file]
            if (file.rel, cand.row) in seen:
                continue  # one task per row, whatever its kind
            task = _make_task(kind, cand, file, seed)
            if task is None:
                continue
            seen.add((file.rel, cand.row))
            tasks.append(task)
            taken += 1
        return taken

    # The rarer kinds choose their rows first: a call line must not be taken by the plentiful mid-line kind.
    claim_order = sorted(wanted, key=lambda k: (len(pools[k]), KINDS.index(k)))
    for kind in claim_order:
        take(kind, quota[kind])
    for kind in claim_order:  # candidates that failed the syntax check leave room for other kinds
        if len(tasks) < count:
            take(kind, count - len(tasks))
    tasks.sort(key=lambda t: (t.path, t.row, t.kind))
    return tasks
