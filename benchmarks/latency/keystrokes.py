"""The typing of the useful-characters replay (``benchmarks.latency.useful``): standard-library passages taken out
and typed back word by word, one keystroke per request, and the answer a row gave to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import STDLIB
from benchmarks.latency.replay import plan

FILES = [("textwrap.py", 125, 12), ("shlex.py", 108, 12), ("json/encoder.py", 191, 12)]  # 169 keystrokes


@dataclass
class Keystroke:
    file: str
    row: int
    column: int  # UTF-8 bytes (positions are negotiated as utf-8)
    typed: str  # the characters this keystroke typed (a word with its leading spaces, or Enter + indentation)
    line_prefix: str  # the current line up to the cursor
    truth: str  # the true rest of the line
    before: str  # the whole text before the cursor
    after: str  # the whole text after the cursor


@dataclass
class Answer:
    latency_ms: float | None
    text: str
    extra: dict[str, Any] = field(default_factory=dict)


def keystrokes(files: list[tuple[str, int, int]]) -> list[Keystroke]:
    out: list[Keystroke] = []
    for rel, start, count in files:
        text = (STDLIB / rel).read_text(encoding="utf-8")
        originals = text.split("\n")[start : start + count]
        initial, units = plan(text, start, count)
        lines = initial.split("\n")
        row, line_index = start, -1
        for kind, chars in units:
            if kind == "enter":
                line_index += 1
                if chars.startswith("\n"):
                    row += 1
                    lines.insert(row, chars[1:])
                else:
                    lines[row] = chars
            else:
                if line_index < 0:
                    line_index = 0
                lines[row] += chars
            prefix = lines[row]
            truth = originals[max(line_index, 0)][len(prefix) :]
            before = "\n".join([*lines[:row], prefix])
            after = "\n".join(["", *lines[row + 1 :]])  # the current line has nothing right of the cursor
            out.append(Keystroke(rel, row, len(prefix.encode()), chars, prefix, truth, before, after))
    return out

