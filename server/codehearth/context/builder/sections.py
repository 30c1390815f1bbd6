"""The shapes the context builder hands out: prompt sections, snippets, explanation context."""

from __future__ import annotations

import msgspec

from codehearth.context.document import FunctionSpan
from codehearth.context.symbols import Definition


class Snippet(msgspec.Struct):
    label: str
    path: str
    text: str
    tokens: int


class Section(msgspec.Struct):
    label: str
    source: str
    text: str
    tokens: int


class PromptContext(msgspec.Struct):
    path: str
    language: str | None
    snippets: list[Snippet]
    prefix: str
    line_prefix: str
    suffix: str
    sections: list[Section]


class ExplainContext(msgspec.Struct):
    function: FunctionSpan
    header: str
    callees: list[Definition]
    truncated: bool
