"""One generation as the completion service follows it: where it started, what it has produced so far, and what
part of that may be shown to a user who has typed on since."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Literal

from codehearth.complete.confidence import Confidence, first_line_span, span_confidence
from codehearth.complete.planner import Plan
from codehearth.complete.postprocess import (
    CursorContext,
    Shape,
    complete_lines,
    complete_words,
    postprocess,
)
from codehearth.context.document import Document, Point
from codehearth.context.document.gates import CODE, TextKind, text_kind
from codehearth.engine.base import CancelToken, GenerationResult
from codehearth.logonce import log_once

log = logging.getLogger(__name__)

WINDOW_CHARS = 4000  # how much text around the cursor identifies a position for reuse
DeadlineCut = Literal["word", "line"]


@dataclass
class Anchor:
    """The text around the cursor when a generation started; typing through it is recognised from this."""

    offset: int
    before: str
    after: str

    @classmethod
    def of(cls, doc: Document, offset: int) -> Anchor:
        return cls.of_text(doc.text, offset)

    @classmethod
    def of_text(cls, text: str, offset: int) -> Anchor:
        return cls(offset, text[max(0, offset - WINDOW_CHARS) : offset], text[offset : offset + WINDOW_CHARS])

    def typed_since(self, newer: Anchor) -> str | None:
        """What was typed at the anchor to get to ``newer``, or None if the document changed otherwise."""
        typed_len = newer.offset - self.offset
        if typed_len < 0 or newer.after != self.after:
            return None
        typed = newer.before[len(newer.before) - typed_len :] if typed_len else ""
        head = newer.before[: len(newer.before) - typed_len]
        overlap = min(len(head), len(self.before))
        if head[len(head) - overlap :] != self.before[len(self.before) - overlap :]:
            return None
        return typed


@dataclass
class Generation:
    uri: str
    anchor: Anchor
    shape: Shape
    cursor: CursorContext
    prompt_key: str
    cut: DeadlineCut = "line"
    plan: Plan | None = None
    background: bool = False  # a prefetch: any real request may cancel it
    # The shrink-ladder rung of its prompt in the engine's main context: the prefetch after it is built at the same
    # rung, so that it continues the KV state this generation left rather than evicting it.
    rung: int = 0
    cancel: CancelToken = field(default_factory=CancelToken)
    text: str = ""
    done: bool = False
    result: GenerationResult | None = None
    error: str = ""
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # The streaming requests that follow it: workDoneToken -> what that request's user had typed past the anchor
    # (each one is streamed the suggestion from its own cursor on).
    stream_tokens: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    # The engine's per-token log-probabilities (its request's list, filled as it generates), and how many
    # characters at the start of the engine's text ``text`` leaves out (the indentation the user typed).
    logprobs: list[tuple[int, float]] = field(default_factory=list)
    raw_shift: int = 0

    def confidence_after(self, typed: str, shown: str) -> Confidence | None:
        """The model's confidence in the first line of ``shown``, the suggestion after ``typed``."""
        if not shown or not self.text.startswith(typed):
            return None
        start, end = first_line_span(self.text[len(typed) :], shown)
        offset = self.raw_shift + len(typed)
        return span_confidence(list(self.logprobs), offset + start, offset + end)

    def suggestion_after(self, typed: str) -> str | None:
        """The processed suggestion for a user who typed ``typed`` past the anchor, if it still fits."""
        raw = self.text
        if not raw.startswith(typed):
            return None
        rest = raw[len(typed) :]
        # Accepting whole lines of a multi-line suggestion moves the cursor to a later line of it.
        typed_lines = (self.cursor.line_prefix + typed).split("\n")
        above = [line for line in typed_lines[:-1] if line.strip()]
        ctx = CursorContext(
            line_prefix=typed_lines[-1],
            line_suffix=self.cursor.line_suffix,
            next_lines=self.cursor.next_lines,
            previous_line=above[-1] if above else self.cursor.previous_line,
            indent_unit=self.cursor.indent_unit,
        )
        if not self.done:
            # At the deadline: whole lines only, or also the finished words of the line being written.
            rest = complete_words(rest, self.shape) if self.cut == "word" else complete_lines(rest, self.shape)
            if not rest:
                return ""
        return postprocess(rest, self.shape, ctx)


def opens_block(doc: Document, point: Point) -> bool:
    """A new block to write (the block shape), never inside prose (a docstring line ending in ":")."""
    try:
        return doc.opens_empty_block(point) and not text_kind_at(doc, point).prose
    except Exception as exc:  # a grammar quirk must never break completion
        log_once(log, "deciding the block shape", exc)
        return False


def offset_of(doc: Document, point: Point) -> int:
    """Character offset of a point (column in UTF-8 bytes) in the document's text."""
    text = doc.text
    offset = 0
    for _ in range(point.row):
        nl = text.find("\n", offset)
        if nl < 0:
            return len(text)
        offset = nl + 1
    line = doc.line(point.row)
    col_chars = len(line.encode("utf-8")[: point.column].decode("utf-8", errors="ignore"))
    return offset + col_chars


def cursor_context(doc: Document, point: Point) -> CursorContext:
    line = doc.line(point.row)
    raw = line.encode("utf-8")
    prefix = raw[: point.column].decode("utf-8", errors="ignore")
    suffix = raw[point.column :].decode("utf-8", errors="ignore")
    next_lines = tuple(doc.line(r) for r in range(point.row + 1, min(doc.line_count, point.row + 6)))
    previous = ""
    for r in range(point.row - 1, max(-1, point.row - 50), -1):
        if doc.line(r).strip():
            previous = doc.line(r)
            break
    unit = "\t" if previous.startswith("\t") else "    "
    kind = text_kind_at(doc, point)
    return CursorContext(prefix, suffix, next_lines, previous, unit, prose=kind.prose, closer=kind.closer,
                         language=doc.language or "")


def text_kind_at(doc: Document, point: Point) -> TextKind:
    """Code, prose (comment, docstring, multi-line string) or a one-line string at ``point``."""
    try:
        return text_kind(doc.tree, doc, doc.language, point)
    except Exception as exc:  # a grammar quirk must never break completion
        log_once(log, "telling code from prose", exc)
        return CODE


def skip_reason(doc: Document, point: Point, language_enabled: bool, one_line_strings: bool) -> str:
    """Why a completion at ``point`` is not asked of the model at all ("" when it is). ``one_line_strings``: a
    one-line string literal is completed as code (the rest of the line, closing quote included)."""
    if not language_enabled:
        return f"completions disabled for {doc.language}"
    line = doc.line(point.row)
    right = line.encode("utf-8")[point.column :].decode("utf-8", errors="ignore")
    if len(right.strip()) > 40 and not _only_closers(right):
        return "long text right of the cursor"
    if not one_line_strings and text_kind_at(doc, point).kind == "string":  # (docstrings, comments and
        return "inside a string literal"                                   # multi-line strings: as prose)
    return ""


def _only_closers(text: str) -> bool:
    return all(ch in ")]}'\"`;:, \t" for ch in text)
