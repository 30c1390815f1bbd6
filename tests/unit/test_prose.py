"""Completions where people write prose: docstrings, comments, multi-line strings; one-line strings as code
(``oneLineStrings``, on by default)."""

from __future__ import annotations

from tests.fakes import FakeEngine

from codehearth.complete.service import CompletionService
from codehearth.config import ContextSettings, Settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.context.document.gates import text_kind

SOURCE = '''"""Module docstring."""

import os

QUERY = """
select name
"""


def area(r):
    """Return the area of
    """
    label = "circle"  # the shape we draw
    return 3.14 * r * r
'''


def kind_at(doc: Document, row: int, after: str) -> tuple[str, str]:
    line = doc.line(row)
    column = len(line[: line.index(after) + len(after)].encode())
    kind = text_kind(doc.tree, doc, doc.language, Point(row, column))
    return kind.kind, kind.closer


def test_text_kinds() -> None:
    doc = Document("file:///t/a.py", SOURCE, "python")
    assert kind_at(doc, 0, "Module") == ("docstring", '"""')
    assert kind_at(doc, 5, "select") == ("multiline-string", '"""')
    assert kind_at(doc, 10, "area of") == ("docstring", '"""')
    assert kind_at(doc, 12, '"cir') == ("string", '"')
    assert kind_at(doc, 12, "# the") == ("comment", "")
    assert kind_at(doc, 13, "return") == ("code", "")


def test_an_unterminated_docstring_being_written_is_prose() -> None:
    doc = Document("file:///t/b.py", 'def f(x):\n    """Double\n', "python")
    assert kind_at(doc, 1, "Double")[0] == "docstring"


def service(engine: FakeEngine, one_line_strings: bool = True) -> CompletionService:
    builder = ContextBuilder(None, ContextSettings(), lambda s: len(s) // 3 + 1)
    settings = Settings(latency_budget_ms=2000, keep_generating_ms=0, one_line_strings=one_line_strings)
    return CompletionService(settings, builder, lambda: engine)


async def test_docstring_completion_is_prose_to_the_end_of_the_line() -> None:
    # A docstring line ending in ":" below would make a code position a new block; in prose it stays one line.
    engine = FakeEngine([" a circle (radius r).\n    Args:\n        r: the radius"])
    doc = Document("file:///t/a.py", SOURCE, "python")
    row = 10
    s = await service(engine).complete(doc, Point(row, len(doc.line(row))))
    assert (s.source, s.text) == ("model", " a circle (radius r).")


async def test_a_comment_is_completed_without_code_rules() -> None:
    engine = FakeEngine([" (a circle) for the plot\nx = 1"])
    doc = Document("file:///t/a.py", SOURCE, "python")
    line = doc.line(12)
    s = await service(engine).complete(doc, Point(12, len(line)))
    assert s.text == " (a circle) for the plot"


async def test_a_one_line_string_is_refused_with_one_line_strings_off() -> None:
    engine = FakeEngine(["square"])
    doc = Document("file:///t/a.py", SOURCE, "python")
    line = doc.line(12)
    inside = Point(12, len(line[: line.index('"cir') + 4].encode()))
    s = await service(engine, one_line_strings=False).complete(doc, inside)
    assert (s.source, s.reason, engine.calls) == ("skipped", "inside a string literal", 0)


async def test_one_line_strings_on_complete_the_rest_of_the_line_of_code() -> None:
    # `label = "cir|` with oneLineStrings: the model's rest of the line, closing quote and all, up to the line end.
    engine = FakeEngine(['cle"  # the shape we draw\n    return 0'])
    source = SOURCE.replace('    label = "circle"  # the shape we draw\n', '    label = "cir\n')
    doc = Document("file:///t/a.py", source, "python")
    line = doc.line(12)
    s = await service(engine).complete(doc, Point(12, len(line)))
    assert (s.source, s.text, engine.calls) == ("model", 'cle"  # the shape we draw', 1)
