"""Post-processing of raw model output into a suggestion worth showing.

Pure functions over strings: no model, no LSP. Each rule has golden tests with a cursor marker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from codehearth.engine.templates import line_comment

Shape = Literal["line", "block"]

OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {v: k for k, v in OPENERS.items()}
QUOTES = ("'", '"', "`")


@dataclass(frozen=True)
class CursorContext:
    """What surrounds the cursor: the current line split at the cursor, and the lines around it."""

    line_prefix: str  # current line up to the cursor
    line_suffix: str  # current line after the cursor
    next_lines: tuple[str, ...] = ()  # the lines below the cursor's line (a few)
    previous_line: str = ""  # the nearest non-blank line above
    indent_unit: str = "    "
    # In a comment, docstring or multi-line string: the suggestion is prose (the rest of the line, no code rules),
    # and ``closer`` (the closing quotes, ``*/``) ends it, the text after it being code.
    prose: bool = False
    closer: str = ""
    language: str = ""  # the document's language id ("" unknown)


def indentation(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def block_shape_stop(text: str, base_indent: str) -> bool:
    """For a new block: stop once a complete line dedents to the block's opener level or below."""
    lines = text.split("\n")
    for line in lines[1:-1]:  # complete lines after the first
        if line.strip() and len(indentation(line)) < len(base_indent):
            return True
    return "\n\n\n" in text


def line_shape_stop(text: str) -> bool:
    return "\n" in text.lstrip("\n") if text.startswith("\n") else "\n" in text


def cut_to_shape(text: str, shape: Shape, base_indent: str, line_prefix: str) -> str:
    """Keep the part of the output the shape asks for."""
    if shape == "line":
        if line_prefix.strip() == "" and text.startswith("\n"):
            text = text.lstrip("\n")
        return text.split("\n", 1)[0]
    kept: list[str] = []
    for i, line in enumerate(text.split("\n")):
        if i > 0 and line.strip() and len(indentation(line)) < len(base_indent):
            break
        kept.append(line)
    return "\n".join(kept)


def complete_lines(text: str, shape: Shape) -> str:
    """What may be shown at a deadline: only whole lines, never half of one."""
    if "\n" not in text:
        return ""
    return text[: text.rfind("\n")]


MIN_PARTIAL_CHARS = 3  # a partial suggestion shorter than this is noise, not help


def _drop_last_word(line: str) -> str:
    """``line`` without the word it ends in. A loop, not ``re.sub(r"\\w+$")``: that pattern tries every start of a
    long word that is followed by something else, to the end (quadratic: 1 MB took minutes)."""
    end = len(line)
    while end > 0 and (line[end - 1].isalnum() or line[end - 1] == "_"):
        end -= 1
    return line[:end]


def complete_words(text: str, shape: Shape, min_chars: int = MIN_PARTIAL_CHARS) -> str:
    """What may be shown at a deadline when partial suggestions are on: whole lines, then the unfinished line
    cut before its last word (that word may still be growing), and only if at least ``min_chars`` remain."""
    head, newline, last = text.rpartition("\n")
    cut = _drop_last_word(last).rstrip()
    if not newline:
        return cut if len(cut.strip()) >= min_chars else ""
    if len(cut.strip()) < min_chars:
        return head
    return head + "\n" + cut


def trim_suffix_overlap(text: str, line_suffix: str) -> str:
    """Drop the end of the suggestion that the rest of the line already has (``foo)`` before ``)``)."""
    rest = line_suffix.rstrip()
    if not rest or "\n" in text:
        return text
    first = text
    for size in range(min(len(first), len(rest)), 0, -1):
        if first.endswith(rest[:size]):
            return first[: len(first) - size]
    return text


def balance_brackets(text: str, line_prefix: str, line_suffix: str) -> str:
    """Cut the suggestion at a closing bracket that nothing opened (the suffix closes it already)."""
    stack: list[str] = []
    for ch in _code_chars(line_prefix):
        if ch in OPENERS:
            stack.append(ch)
        elif ch in CLOSERS and stack and stack[-1] == CLOSERS[ch]:
            stack.pop()
    # Openers before the cursor that the rest of the line closes are not ours to close.
    for ch in _code_chars(line_suffix):
        if ch in CLOSERS and stack and stack[-1] == CLOSERS[ch]:
            stack.pop()
    for index, ch in enumerate(text):
        if ch in OPENERS:
            stack.append(ch)
        elif ch in CLOSERS:
            if stack and stack[-1] == CLOSERS[ch]:
                stack.pop()
            else:
                return text[:index].rstrip()
    return text


def _code_chars(line: str) -> str:
    """The line without string literals, so brackets inside quotes do not count."""
    return re.sub(r"\"(\\.|[^\"\\])*\"|'(\\.|[^'\\])*'", "", line)


def balance_quotes(text: str, line_suffix: str) -> str:
    """Do not close a quote the suffix closes already: drop a final quote that the suffix begins with."""
    stripped = line_suffix.lstrip()
    for quote in QUOTES:
        if text.endswith(quote) and stripped.startswith(quote) and text.count(quote) % 2 == 1:
            return text[:-1]
    return text


def fix_indentation(text: str, ctx: CursorContext) -> str:
    """At the start of a blank line the typed indentation stands already; the model must not add more.

    A model often begins with a space it cannot help (its tokens for "<indent>for" split as "<indent-1>" + " for"
    while our prompt holds the whole indent): a first line that starts with less than one indentation step of
    extra whitespace is such an artefact, and the following lines carry the same shift, so both are removed.
    """
    if ctx.line_prefix.strip() or not text.startswith((" ", "\t")):
        return text
    first, newline, rest = text.partition("\n")
    extra = len(first) - len(first.lstrip(" \t"))
    expected = indentation(ctx.previous_line)
    if ctx.previous_line.rstrip().endswith((":", "{", "(", "[")):
        expected += ctx.indent_unit
    unit = len(ctx.indent_unit)
    stray = extra < unit and len(ctx.line_prefix) % unit == 0
    if len(ctx.line_prefix) < len(expected) and not stray:
        return text
    if stray and rest:
        rest = "\n".join(_dedent_by(line, extra, unit) for line in rest.split("\n"))
    return first.lstrip(" \t") + newline + rest


_ATTRIBUTE_DOT = re.compile(r"\w\.$")  # ``obj.`` (not ``from .``, where the space belongs)


def drop_glued_space(text: str, ctx: CursorContext) -> str:
    """Mid-line, a space the model wrote where the cursor's line already ends in one (``nodeinfo `` + `` = ...``) or
    after an attribute dot in code (``nodeinfo.`` + `` npredecessors``) is a token-boundary artefact, not text.

    The typed text ends in a token that training never saw followed by a space-led word (the space belongs to the
    next token), so the model starts with one of its own. An inline comment keeps its space (``x = 1 `` + `` # c``).
    """
    if not ctx.line_prefix.strip() or text[:1] not in (" ", "\t"):
        return text
    glued = ctx.line_prefix[-1] in " \t" or (not ctx.prose and _ATTRIBUTE_DOT.search(ctx.line_prefix) is not None)
    stripped = text.lstrip(" \t")
    if not glued or stripped.startswith(("#", "//", "/*", "--")):
        return text
    return stripped


def drop_trailing_comment(text: str, ctx: CursorContext) -> str:
    """At the end of a line of code, a first line that only adds a comment (``if cycle:`` + ``  # If there is a
    cycle``) goes: the line is complete, and a model asked to go on from its end writes a comment rather than
    nothing (the end-of-line decision the middle-first prompt loses, shared/DESIGN.md section 2). Lines below stay.
    Only right after code: a typed space may announce the comment."""
    if ctx.prose or not ctx.language or ctx.language in MARKUP_LANGUAGES or ctx.line_suffix.strip():
        return text
    if not ctx.line_prefix.strip() or ctx.line_prefix[-1] in " \t":
        return text
    first, newline, rest = text.partition("\n")
    if first[:1] not in (" ", "\t") or not first.lstrip(" \t").startswith(line_comment(ctx.language)):
        return text
    return newline + rest if rest.strip() else ""


def _dedent_by(line: str, shift: int, unit: int) -> str:
    """Undo a model's constant indentation shift on one line (only where the shift is visible)."""
    width = len(line) - len(line.lstrip(" "))
    if line.strip() and width >= shift and width % unit == shift:
        return line[shift:]
    return line


def repeats_existing_code(text: str, ctx: CursorContext) -> bool:
    """A suggestion that only restates the lines below (or the rest of the line) is noise."""
    candidate = (ctx.line_prefix + text).strip()
    if not candidate:
        return True
    if text.strip() and text.strip() == ctx.line_suffix.strip():
        return True
    following = [line.strip() for line in ctx.next_lines if line.strip()]
    first_lines = [line.strip() for line in text.split("\n") if line.strip()]
    if not following or not first_lines:
        return False
    return first_lines == following[: len(first_lines)]


def trim_repeated_tail(text: str, ctx: CursorContext) -> str:
    """Multi-line: stop where the suggestion starts copying the next existing line."""
    following = [line.strip() for line in ctx.next_lines if line.strip()]
    if not following:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if i > 0 and line.strip() and line.strip() == following[0]:
            return "\n".join(lines[:i]).rstrip()
    return text


def is_repetitive(text: str) -> bool:
    """Loops of a small model: the same line three times, or one short pattern filling the text."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if len(lines) >= 3 and any(lines.count(line) >= 3 for line in set(lines)):
        return True
    compact = text.strip()
    if len(compact) >= 24:
        match = re.fullmatch(r"(.{1,8}?)\1{5,}.*", compact, flags=re.DOTALL)
        if match:
            return True
    return False


# Fast junk: what small models write where they have nothing better, found in the editor and HumanEval runs (issue
# 22): a Markdown code fence in a code file, an "Example usage" comment on a blank line, an import in a function body.
_FENCE = re.compile(r"^\s*```")
_FENCED_CODE = re.compile(r"^\s*```[\w+#.-]+\s*$")  # an opening fence that names its language
_EXAMPLE_COMMENT = re.compile(r"^\s*(#|//|--|/\*)\s*(example|usage|test(ing)?( the)?( function| code)?\b|demo)",
                              re.IGNORECASE)
_IMPORT = re.compile(r"^\s*(import\s+[\w.{*]|from\s+[\w.]+\s+import\b|#include\b|using\s+namespace\b)")
MARKUP_LANGUAGES = frozenset({"markdown", "plaintext", "restructuredtext", "text", "mdx", "html"})


def junk_line(line: str, indent: str, ctx: CursorContext) -> bool:
    """A line of a code suggestion that is junk by rule; ``indent``: the indentation it will have in the file."""
    if ctx.language in MARKUP_LANGUAGES:
        return False
    if _FENCE.match(line) or _EXAMPLE_COMMENT.match(line):
        return True
    return bool(indent) and bool(_IMPORT.match(line))  # an import inside an indented block


def unwrap_fence(text: str, ctx: CursorContext) -> str:
    """An instruct model that wraps its answer in a Markdown fence (```python, the code, ```): the code inside is the
    suggestion; a fence with nothing after it stays, for drop_junk to drop."""
    if ctx.language in MARKUP_LANGUAGES:
        return text
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not _FENCED_CODE.match(ctx.line_prefix + lines[first]):
        return text  # a bare fence is more often one closing, followed by prose
    body = lines[first + 1:]
    end = next((i for i, line in enumerate(body) if _FENCE.match(line)), len(body))
    inside = "\n".join(body[:end])
    if not inside.strip():
        return text
    if ctx.line_prefix.strip():
        return inside.lstrip()  # mid-line: the code goes on the cursor's line
    return inside.strip("\n")


def drop_junk(text: str, ctx: CursorContext) -> str:
    """Cut a code suggestion at its first junk line (all of it when the first line is junk)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        full = ctx.line_prefix + line if i == 0 else line
        if junk_line(full, indentation(full), ctx):
            return "\n".join(lines[:i]).rstrip()
    return text


def postprocess_prose(text: str, ctx: CursorContext) -> str:
    """Prose (a comment, a docstring): the rest of the line, up to the closing quotes; brackets and quotes in prose
    need not balance, so none of the code rules apply."""
    text = drop_glued_space(cut_to_shape(text, "line", "", ctx.line_prefix).rstrip(), ctx)
    if ctx.closer and ctx.closer in text:
        text = text[: text.index(ctx.closer)].rstrip()
    text = trim_suffix_overlap(text, ctx.line_suffix)
    if not text.strip() or is_repetitive(text) or repeats_existing_code(text, ctx):
        return ""
    return text


def postprocess(text: str, shape: Shape, ctx: CursorContext) -> str:
    """All rules in order; returns "" when nothing is worth showing."""
    if ctx.prose:
        return postprocess_prose(text, ctx)
    base_indent = indentation(ctx.line_prefix) if not ctx.line_prefix.strip() else indentation(ctx.previous_line)
    text = unwrap_fence(text, ctx)
    text = cut_to_shape(text, shape, base_indent, ctx.line_prefix)
    text = "\n".join(line.rstrip() for line in text.split("\n")).rstrip()
    if shape == "block":
        text = trim_repeated_tail(text, ctx)
    text = fix_indentation(text, ctx)
    text = drop_glued_space(text, ctx)
    text = drop_trailing_comment(text, ctx)
    text = drop_junk(text, ctx)
    if "\n" not in text:
        text = trim_suffix_overlap(text, ctx.line_suffix)
        text = balance_quotes(text, ctx.line_suffix)
        text = balance_brackets(text, ctx.line_prefix, ctx.line_suffix)
    if not text.strip() or is_repetitive(text) or repeats_existing_code(text, ctx):
        return ""
    return text
