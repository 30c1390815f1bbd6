"""ContextBuilder: budget, windows, cross-file definitions, similar chunks, explanations."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codehearth.config import ContextSettings
from codehearth.context.builder import ContextBuilder, PromptContext, render_snippets
from codehearth.context.commands import run_context, run_index
from codehearth.context.document import Document, Point
from codehearth.context.index import WorkspaceIndex


def thirds(text: str) -> int:
    return len(text) // 3 + 1


def bytes_halves(text: str) -> int:
    """A stand-in that is not additive over concatenation (one extra token per 7 newlines)."""
    data = text.encode()
    return len(data) // 2 + data.count(b"\n") // 7 + 1


MODULE = '''"""Shapes."""

import math


def area(radius: float) -> float:
    """Area of a circle."""
    return math.pi * radius**2


class Square:
    """A square."""

    def __init__(self, side: float) -> None:
        self.side = side

    def scale(self, factor: float) -> "Square":
        """A bigger square."""
        return Square(self.side * factor)
'''

USER = """from shapes import area, Square


def report(values):
    total = 0
    for v in values:
        total += area(v)
    sq = Square(total)
    return sq.scale(2)
"""


@pytest.fixture
def project(tmp_path: Path) -> tuple[WorkspaceIndex, Path]:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "shapes.py").write_text(MODULE)
    (root / "user.py").write_text(USER)
    for i in range(30):  # noise with the same names elsewhere
        (root / f"noise{i}.py").write_text(f"def helper{i}():\n    return {i}\n")
    (root / "other_area.py").write_text("def area(w, h):\n    return w * h\n")
    index = WorkspaceIndex([root], tmp_path / "cache", ContextSettings(index_workers=1))
    index.scan()
    yield index, root
    index.close()


def doc_for(path: Path, text: str | None = None) -> Document:
    return Document(path.as_uri(), path.read_text() if text is None else text, path=path)


def total_tokens(ctx: PromptContext, count: Callable[[str], int]) -> int:
    for s in ctx.sections:
        assert s.tokens == (count(s.text) if s.text else 0), s.label
    return sum(s.tokens for s in ctx.sections)


def test_definitions_from_imports_come_first(project) -> None:
    index, root = project
    builder = ContextBuilder(index, index.settings, thirds)
    doc = doc_for(root / "user.py")
    ctx = builder.build(doc, Point(6, 22), 1024)  # total += area(█v)
    assert ctx.path == "user.py"
    assert ctx.line_prefix == "        total += area("
    assert ctx.suffix.startswith("v)\n    sq = Square(total)\n")
    assert ctx.prefix.endswith("    for v in values:\n")
    assert ctx.prefix.startswith("from shapes import area, Square\n")
    by_label = {s.label: s for s in ctx.snippets}
    assert "definition area" in by_label
    assert by_label["definition area"].path == "shapes.py", "the imported area, not other_area.py's"
    assert "math.pi * radius**2" in by_label["definition area"].text
    assert "definition Square" in by_label
    assert "def scale" in by_label["definition Square"].text
    rendered = render_snippets(ctx.snippets, "python", "<|file_sep|>")
    assert rendered.startswith("<|file_sep|>shapes.py\n")
    assert rendered.count("<|file_sep|>shapes.py\n") == 1
    assert render_snippets(ctx.snippets, "python").startswith("# shapes.py\n")
    labels = [s.label for s in ctx.sections]
    assert labels[-4:] == ["path", "prefix", "line_prefix", "suffix"]
    assert total_tokens(ctx, thirds) <= 1024


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(0, 900), row=st.integers(0, 9), col=st.integers(0, 30))
def test_budget_is_respected_for_any_budget(project, budget: int, row: int, col: int) -> None:
    index, root = project
    builder = ContextBuilder(index, index.settings, bytes_halves)
    doc = doc_for(root / "user.py")
    point = doc.clamp(Point(row, col))
    ctx = builder.build(doc, point, budget)
    assert total_tokens(ctx, bytes_halves) <= budget
    # the prompt as the engine lays it out (file headers included) stays in the budget too
    for sep in (None, "\x1c"):  # a file-separator special token is one token: a 1-byte stand-in
        other = render_snippets(ctx.snippets, doc.language, sep)
        laid_out = [other, ctx.path, ctx.prefix, ctx.line_prefix, ctx.suffix]
        assert sum(bytes_halves(t) for t in laid_out if t) <= budget
    # windows are contiguous with the cursor and cut at line boundaries
    before = "".join(doc.line(r) + "\n" for r in range(point.row))
    assert before.endswith(ctx.prefix)
    assert ctx.prefix == "" or ctx.prefix.endswith("\n")
    line = doc.line(point.row)
    assert line[: len(line.encode()[: point.column].decode())].endswith(ctx.line_prefix)
    after = doc.text.encode()[doc.offset(point) :].decode()
    assert after.startswith(ctx.suffix)


def test_prefix_window_is_stable_while_typing() -> None:
    text = "".join(f"value_{i} = compute({i})\n" for i in range(400))
    doc = Document("file:///big.py", text, "python")
    builder = ContextBuilder(None, ContextSettings(), thirds)
    first = builder.build(doc, Point(300, 0), 600)
    doc.apply_edit(Point(300, 0), Point(300, 0), "x")
    second = builder.build(doc, Point(300, 1), 600)
    assert first.prefix == second.prefix and first.prefix
    assert second.line_prefix == "x"


def test_huge_single_line_keeps_budget(project) -> None:
    line = "a = b + c; " * 500_000  # 5.5 MB on one line
    doc = Document("file:///min.js", line, "javascript")
    calls: list[int] = []

    def counting(text: str) -> int:
        calls.append(len(text))
        return thirds(text)

    builder = ContextBuilder(None, ContextSettings(), counting)
    ctx = builder.build(doc, Point(0, len(line) // 2), 512)
    assert total_tokens(ctx, thirds) <= 512
    assert 0 < len(ctx.line_prefix) < 2000 and line[: len(line) // 2].endswith(ctx.line_prefix)
    assert ctx.line_prefix[0] in " ;" or ctx.line_prefix[0].isalpha()
    assert max(calls) < 20_000, "never tokenizes megabytes"


def test_similar_chunks_from_recent_documents(tmp_path: Path) -> None:
    other = Document(
        "file:///other.py",
        "def unrelated():\n    pass\n\n"
        "def load_users(db):\n    rows = db.query('select * from users')\n"
        "    return [User.from_row(r) for r in rows]\n",
        "python",
    )
    current = Document(
        "file:///current.py",
        "def load_orders(db):\n    rows = db.query('select * from orders')\n    return [",
        "python",
    )
    builder = ContextBuilder(None, ContextSettings(), thirds)
    builder.note_document(other)
    ctx = builder.build(current, Point(2, 12), 1024)
    similar = [s for s in ctx.snippets if s.label.startswith("similar")]
    assert similar and "User.from_row" in similar[0].text
    builder.forget_document("file:///other.py")
    ctx = builder.build(current, Point(2, 12), 1024)
    assert not [s for s in ctx.snippets if s.label.startswith("similar")]


def test_untitled_document_without_index(tmp_path: Path) -> None:
    doc = Document("untitled:Untitled-1", "print(1)\nx = ", None)
    ctx = ContextBuilder(None, ContextSettings(), thirds).build(doc, Point(1, 4), 200)
    assert ctx.path == "untitled:Untitled-1"
    assert (ctx.prefix, ctx.line_prefix, ctx.suffix) == ("print(1)\n", "x = ", "")


def test_scope_headers_when_they_scrolled_away() -> None:
    body = "".join(f"        step_{i} = {i}\n" for i in range(300))
    text = f"class Engine:\n    def run(self):\n{body}        return"
    doc = Document("file:///e.py", text, "python")
    ctx = ContextBuilder(None, ContextSettings(), thirds).build(doc, Point(302, 14), 400)
    scope = [s for s in ctx.snippets if s.label == "scope"]
    assert scope and scope[0].text == "class Engine:\n    def run(self):\n"
    assert total_tokens(ctx, thirds) <= 400


def test_explain_context_cuts_huge_functions_and_lists_callees(project) -> None:
    index, root = project
    builder = ContextBuilder(index, index.settings, thirds)
    doc = doc_for(root / "user.py")
    ctx = builder.explain_context(doc, Point(6, 10), 1536)
    assert ctx is not None and not ctx.truncated
    assert ctx.function.name == "report"
    assert [c.name for c in ctx.callees] == ["area", "Square", "scale"]
    small = builder.explain_context(doc, Point(6, 10), 90)
    assert small is not None
    spent = [small.header, small.function.text, *(c.text for c in small.callees)]
    assert sum(thirds(t) for t in spent if t) <= 90
    assert len(small.callees) < 3, "a small budget keeps fewer callees"
    assert ctx.callees[0].path == str((root / "shapes.py").resolve())
    assert builder.explain_context(doc, Point(0, 3), 1536) is None

    lines = "".join(f"    x{i} = transform(x{i - 1})\n" for i in range(1, 5001))
    huge = Document("file:///huge.py", f"def giant(x0):\n{lines}    return x5000\n", "python")
    cut = builder.explain_context(huge, Point(2500, 5), 1000)
    assert cut is not None and cut.truncated
    assert cut.function.text.startswith("def giant(x0):\n")
    assert thirds(cut.function.text) <= 1000


def test_commands_print_sections(project, tmp_path: Path) -> None:
    _index, root = project
    out = io.StringIO()
    assert run_index(root, tmp_path / "cache2", ContextSettings(index_workers=1), out) == 0
    assert "33 files" in out.getvalue() and "symbols" in out.getvalue()
    out = io.StringIO()
    code = run_context(
        root / "user.py",
        7,
        23,
        False,
        700,
        ContextSettings(index_workers=1),
        thirds,
        tmp_path / "cache2",
        out,
    )
    text = out.getvalue()
    assert code == 0
    assert "=== definition area · shapes.py ·" in text
    assert "=== line_prefix · user.py ·" in text and "total += area(" in text
    out = io.StringIO()
    run_context(
        root / "user.py", 7, 23, True, 700, ContextSettings(index_workers=1), thirds, tmp_path / "cache2", out
    )
    data = json.loads(out.getvalue())
    assert data["line_prefix"] == "        total += area("
    assert sum(s["tokens"] for s in data["sections"]) <= 700


@settings(max_examples=80, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab_ (){}:.,=\n\t\"'#é→𝄞")), max_size=600),
    where=st.floats(0, 1),
    budget=st.integers(0, 300),
    language=st.sampled_from(["python", "javascript", "rust", None]),
)
def test_any_text_any_point_keeps_the_invariants(text: str, where: float, budget: int, language) -> None:
    doc = Document("untitled:fuzz", text, language)
    offset = len(text[: int(where * len(text))].encode())
    point = doc.point_at(offset)
    builder = ContextBuilder(None, ContextSettings(), bytes_halves)
    ctx = builder.build(doc, point, budget)
    assert total_tokens(ctx, bytes_halves) <= budget
    before = doc.source[: doc.offset(point)].decode()
    assert before.endswith(ctx.prefix + ctx.line_prefix)
    assert doc.source[doc.offset(point) :].decode().startswith(ctx.suffix)
    assert "\n" not in ctx.line_prefix
    builder.explain_context(doc, point, budget + 1)
    doc.opens_empty_block(point)
    doc.in_string_literal(point)
