"""The passages typed by the editor benchmark: lines of standard-library modules no test or other benchmark uses.

Each passage is a range of whole lines of one module. The workspace holds the module with EVERY passage of it
removed (so neither the workspace index nor llama.vim's ring buffer can hand over the lines being typed); a passage
is typed back at its own place, inside the file, so the lines below it stay. Passages of one file are typed top to
bottom, so when a passage is typed the ones above it are already back and it goes in at its original line.

The split is fixed: ``tuning`` passages may be used to choose thresholds and defaults (issue 22), ``test`` passages
only to report them. Keystrokes are tagged ``code``, ``string`` (docstrings and other string literals) or
``comment`` by Python's tokenizer on the original file, so results can be broken down per class.
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import STDLIB

# (module, first line, last line, split): 1-based, inclusive. Checked unused by tests/ and benchmarks/ (grep -w).
PASSAGES: tuple[tuple[str, int, int, str], ...] = (
    ("colorsys.py", 99, 104, "tuning"),
    ("colorsys.py", 121, 129, "test"),
    ("sched.py", 78, 81, "tuning"),
    ("sched.py", 94, 101, "test"),
    ("graphlib.py", 77, 80, "test"),
    ("graphlib.py", 104, 107, "tuning"),
)  # 821 keystrokes: 355 tuning, 466 test; 531 code, 170 string, 120 comment
QUICK: tuple[tuple[str, int, int, str], ...] = (("colorsys.py", 99, 102, "tuning"),)
# One-line string literals (error messages, element names), for the ``oneLineStrings`` decision (issue 22): the main
# set holds one (graphlib's f-string). No docstrings here, so the ``string`` class is one-line strings only.
STRINGS: tuple[tuple[str, int, int, str], ...] = (
    ("wave.py", 458, 463, "tuning"),
    ("wave.py", 582, 587, "test"),
    ("netrc.py", 116, 119, "test"),
    ("netrc.py", 150, 156, "tuning"),
    ("getopt.py", 158, 164, "tuning"),
    ("plistlib.py", 339, 349, "test"),
)
SETS = {"default": PASSAGES, "strings": STRINGS}

Kind = str  # "code" | "string" | "comment"


@dataclass(frozen=True)
class Key:
    """One keystroke: the character typed (``"\\n"`` for Enter) and what the person types from here to the end of
    the line (the text a ghost text's first line is compared with)."""

    char: str
    rest: str
    kind: Kind
    line: int  # 0-based index of the line in the passage
    col: int  # 0-based column (in characters) where the character goes


@dataclass
class Passage:
    name: str
    module: str
    first: int  # 1-based first line in the original module
    lines: list[str]
    split: str
    keys: list[Key] = field(default_factory=list)

    @property
    def row(self) -> int:
        """0-based row where the passage goes back into the buffer (the passages above it are typed first)."""
        return self.first - 1


def _kinds(source: str) -> dict[tuple[int, int], Kind]:
    """(1-based line, column) -> kind, for every character inside a string literal or a comment."""
    out: dict[tuple[int, int], Kind] = {}
    lines = source.splitlines(keepends=True)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in (tokenize.STRING, tokenize.COMMENT):
            continue
        kind = "string" if tok.type == tokenize.STRING else "comment"
        (l0, c0), (l1, c1) = tok.start, tok.end
        for ln in range(l0, l1 + 1):
            start = c0 if ln == l0 else 0
            end = c1 if ln == l1 else len(lines[ln - 1])  # a multi-line string includes its line ends
            for c in range(start, end + 1 if ln != l1 else end):
                out[(ln, c)] = kind
    return out


def keys_of(lines: list[str], first: int, kinds: dict[tuple[int, int], Kind]) -> list[Key]:
    """The keystrokes that type ``lines``: every character after the indentation (the indentation comes with the
    Enter, as an editor's auto-indent gives it), and Enter between lines."""
    keys: list[Key] = []
    for i, text in enumerate(lines):
        indent = len(text) - len(text.lstrip(" \t"))
        for col in range(indent, len(text)):
            keys.append(Key(text[col], text[col:], kinds.get((first + i, col), "code"), i, col))
        if i + 1 < len(lines):
            keys.append(Key("\n", "", kinds.get((first + i, len(text)), "code"), i, len(text)))
    return keys


def load(spec: tuple[tuple[str, int, int, str], ...] = PASSAGES, stdlib: Path = STDLIB) -> list[Passage]:
    out = []
    sources: dict[str, str] = {}
    for module, first, last, split in spec:
        source = sources.setdefault(module, (stdlib / module).read_text())
        all_lines = source.splitlines()
        lines = all_lines[first - 1:last]
        p = Passage(f"{module}:{first}-{last}", module, first, lines, split)
        p.keys = keys_of(lines, first, _kinds(source))
        out.append(p)
    return out


def reduced_module(module: str, passages: list[Passage], stdlib: Path = STDLIB) -> str:
    """The module as the workspace holds it: every passage of it removed."""
    lines = (stdlib / module).read_text().splitlines(keepends=True)
    drop = {p.first - 1 + i for p in passages if p.module == module for i in range(len(p.lines))}
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def write_workspace(root: Path, passages: list[Passage], stdlib: Path = STDLIB) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)  # a root marker for both plugins
    for module in sorted({p.module for p in passages}):
        (root / module).write_text(reduced_module(module, passages, stdlib))
    return root
