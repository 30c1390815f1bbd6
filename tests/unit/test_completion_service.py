"""The completion service's logic around the model, with a fake engine fed from a queue."""

from __future__ import annotations

import asyncio

from tests.fakes import FakeEngine

from codehearth.complete.service import CompletionService
from codehearth.config import ContextSettings, Settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.engine.base import GenerationResult

SOURCE = "def double(x):\n    return "
END = Point(1, 11)


def service(engine: FakeEngine, budget_ms: int = 2000, keep_ms: int = 0) -> CompletionService:
    settings = Settings(latency_budget_ms=budget_ms, keep_generating_ms=keep_ms)
    builder = ContextBuilder(None, ContextSettings(), lambda s: len(s) // 3 + 1)
    return CompletionService(settings, builder, lambda: engine)


def doc_with(text: str = SOURCE) -> Document:
    return Document("file:///t/double.py", text, "python")


async def test_answer_is_post_processed_model_output() -> None:
    engine = FakeEngine(["x * 2\n\ndef other():"])
    s = await service(engine).complete(doc_with(), END)
    assert s.text == "x * 2" and s.source == "model"
    assert "def double(x):" in engine.prompts[0]


async def test_typed_through_needs_no_model_call() -> None:
    engine = FakeEngine(["x * 2\n"])
    svc = service(engine)
    doc = doc_with()
    assert (await svc.complete(doc, END)).text == "x * 2"
    doc.apply_edit(END, END, "x ")
    again = await svc.complete(doc, Point(1, 13))
    assert again.text == "* 2" and again.source == "typed-through"
    assert engine.calls == 1
    assert svc.stats.answered_from_cache == 1


async def test_typing_something_else_asks_the_model_again() -> None:
    engine = FakeEngine(["x * 2\n", "0\n"])
    svc = service(engine)
    doc = doc_with()
    await svc.complete(doc, END)
    doc.apply_edit(END, END, "-")
    assert (await svc.complete(doc, Point(1, 12))).text == "0"
    assert engine.calls == 2


async def test_deadline_answers_whole_lines_or_nothing() -> None:
    output = "x * 2 + some_long_expression_that_takes_time\n"  # 23 tokens of 50 ms: the line ends after 1.1 s
    engine = FakeEngine([output], token_seconds=0.05)
    results: list[GenerationResult] = []
    generate = engine.generate
    engine.generate = lambda request: results.append(generate(request)) or results[-1]  # type: ignore[method-assign]
    svc = service(engine, budget_ms=150)
    svc.settings.deadline_cut = "line"
    s = await svc.complete(doc_with(), END)
    assert s.text == ""  # the line was not finished by the deadline: nothing, never half a line
    for _ in range(3000):  # a hang detector, not a threshold: the generation ends at the deadline
        if results:
            break
        await asyncio.sleep(0.01)
    # answered at the deadline, not at the end of the line: the generation was stopped before the line was done
    assert results[0].stop_reason == "deadline" and results[0].timings.tokens_generated < len(output) // 2


async def test_block_shape_for_an_empty_block() -> None:
    engine = FakeEngine(["total = 0\n    for v in values:\n        total += v\n    return total\n\nprint(1)"])
    doc = Document("file:///t/s.py", "def total(values):\n    \n", "python")
    s = await service(engine).complete(doc, Point(1, 4))
    assert s.text == "total = 0\n    for v in values:\n        total += v\n    return total"


async def test_newer_request_supersedes_the_older() -> None:
    engine = FakeEngine(["x * 2 and a long tail that keeps going\n", "x + x\n"], token_seconds=0.02)
    svc = service(engine, budget_ms=3000)
    doc = doc_with()
    first = asyncio.ensure_future(svc.complete(doc, END))
    await asyncio.sleep(0.05)
    doc.apply_edit(END, END, "(")
    second = await svc.complete(doc, Point(1, 12))
    older = await first
    assert older.text == "" and older.source == "superseded"
    assert second.text == "x + x"
    assert svc.stats.superseded == 1


async def test_lru_answers_a_prompt_seen_before() -> None:
    engine = FakeEngine(["x * 2\n"])
    svc = service(engine)
    await svc.complete(doc_with(), END)
    svc.forget("file:///t/double.py")  # no in-flight state left: only the LRU remembers
    again = await svc.complete(doc_with(), END)
    assert again.source == "lru" and again.text == "x * 2" and engine.calls == 1


async def test_disabled_language_and_strings_with_one_line_strings_off_are_skipped() -> None:
    engine = FakeEngine(["anything\n"])
    svc = service(engine)
    svc.settings.disabled_languages = ["python"]
    assert (await svc.complete(doc_with(), END)).source == "skipped"
    svc.settings.disabled_languages = []
    svc.settings.one_line_strings = False
    in_string = Document("file:///t/s.py", 'name = "ab', "python")
    assert (await svc.complete(in_string, Point(0, 10))).source == "skipped"
    assert engine.calls == 0


async def test_no_engine_answers_empty_at_once() -> None:
    svc = CompletionService(Settings(), ContextBuilder(None, ContextSettings(), len), lambda: None)
    s = await svc.complete(doc_with(), END)
    assert s.text == "" and s.source == "unavailable"


async def test_multi_line_suggestion_grows_as_lines_are_accepted() -> None:
    body = "total = 0\n    for v in values:\n        total += v\n    return total\n\nprint(1)"
    engine = FakeEngine([body])
    svc = service(engine)
    doc = Document("file:///t/s.py", "def total(values):\n    \n", "python")
    first = await svc.complete(doc, Point(1, 4))
    assert first.text.startswith("total = 0\n")
    doc.apply_edit(Point(1, 4), Point(1, 4), "total = 0\n    ")  # the editor accepted the first line
    rest = await svc.complete(doc, Point(2, 4))
    assert rest.text == "for v in values:\n        total += v\n    return total"
    assert rest.source == "typed-through" and engine.calls == 1


async def test_typed_indentation_is_left_to_the_model_and_taken_off_its_answer() -> None:
    # After Enter with auto-indent the line holds only "    ": the prompt ends at the line break (a model writes
    # an indented line as "   " + " if", and after a bare "    " it mostly ends), the answer starts at the cursor.
    engine = FakeEngine(["    if not numbers:\n        return None\n"])
    doc = Document("file:///t/first.py", "def first(numbers):\n    \n    return numbers[0]\n", "python")
    s = await service(engine).complete(doc, Point(1, 4))
    assert engine.prompts[0].endswith("def first(numbers):\n")
    assert s.text == "if not numbers:" and s.source == "model"


async def test_typed_text_after_the_indentation_stays_in_the_prompt() -> None:
    engine = FakeEngine([" not numbers:\n"])
    doc = Document("file:///t/first.py", "def first(numbers):\n    if\n", "python")
    s = await service(engine).complete(doc, Point(1, 6))
    assert engine.prompts[0].endswith("def first(numbers):\n    if")
    assert s.text == " not numbers:"
