"""Two roles in the Assistant: which engines load, explanations waiting for a load, one clear error.

Fake engines stand in for llama.cpp here; tests/model/test_roles_real_models.py does the same with the real models.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest
from tests.fakes import FakeEngine

from codehearth.app import Assistant
from codehearth.config import Settings
from codehearth.context.document import Point
from codehearth.engine.base import EngineError
from codehearth.engine.speed import SpeedFigures
from codehearth.explain.service import ExplainError
from codehearth.models.registry import ModelEntry, Registry

SMOL = "smollm2-135m-instruct"
QWEN = "qwen2.5-coder-0.5b-instruct"
SOURCE = "def area(w, h):\n    return w * h\n"


def slow_machine(entry: ModelEntry, path: Path) -> SpeedFigures | None:
    rates = {SMOL: (800.0, 90.0), QWEN: (250.0, 18.0)}.get(entry.id)
    return SpeedFigures(prompt_tokens_per_s=rates[0], generated_tokens_per_s=rates[1], source="fixed") if rates else None


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """The offline pair as sparse files with a GGUF header: enough for the registry, never for llama.cpp."""
    folder = tmp_path / "models"
    folder.mkdir()
    reg = Registry(directory=folder)
    for model_id in (SMOL, QWEN):
        entry = reg.entry(model_id)
        with (folder / entry.file).open("wb") as fh:
            fh.write(b"GGUF" + bytes(20))
            fh.truncate(entry.size)
    return folder


class Factory:
    """Records what was loaded; a role can be made to block (a slow load) or fail."""

    def __init__(self, block: str = "", fail: str = "") -> None:
        self.loaded: list[tuple[str, str]] = []
        self.block, self.fail = block, fail
        self.release = threading.Event()

    def __call__(self, settings: Settings, path: Path | None, role: str) -> FakeEngine:
        assert path is not None
        if role == self.block:
            self.release.wait(10)
        if role == self.fail:
            raise EngineError("llama.cpp could not load it: out of memory")
        self.loaded.append((role, path.name))
        engine = FakeEngine([f"explained by {path.name}"])
        engine.info.chat_template = "{{ messages }}"
        return engine


def assistant(models: Path, tmp_path: Path, factory: Factory, **settings: object) -> Assistant:
    s = Settings(model_dir=str(models), latency_budget_ms=400, explain_first_chunk_ms=4000, **settings)  # type: ignore[arg-type]
    a = Assistant(settings=s, engine_factory=factory, data_dir=tmp_path / "cache", speed_lookup=slow_machine)
    a.apply_settings(s)
    return a


def test_auto_loads_two_files_side_by_side(models: Path, tmp_path: Path) -> None:
    factory = Factory()
    a = assistant(models, tmp_path, factory)
    assert a.load_engine() is not None
    assert factory.loaded == [("completion", "SmolLM2-135M-Instruct.Q4_1.gguf"),
                              ("explanation", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")]
    assert a.engine() is not a.explain_engine()
    status = a.models_status()
    assert status["completion"]["model"] == SMOL and status["completion"]["state"] == "ready"
    assert status["explanation"]["model"] == QWEN and status["explanation"]["auto"] is True
    assert a.model_label() == f"{SMOL} + {QWEN}"
    a.shutdown()


def test_the_same_file_for_both_roles_loads_once(models: Path, tmp_path: Path) -> None:
    factory = Factory()
    a = assistant(models, tmp_path, factory, model=QWEN)
    a.load_engine()
    assert factory.loaded == [("completion", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")]
    assert a.engine() is a.explain_engine() and a.engine_state == "ready"
    a.shutdown()


async def test_explain_sent_during_load_waits_and_answers(models: Path, tmp_path: Path) -> None:
    factory = Factory(block="explanation")
    a = assistant(models, tmp_path, factory)
    doc = a.open_document("file:///w/area.py", SOURCE, "python")
    loading = asyncio.get_running_loop().run_in_executor(None, a.load_engine)
    waits: list[str] = []
    explaining = asyncio.ensure_future(a.explanations.explain(doc, Point(1, 4), on_wait=waits.append))
    while not waits:
        await asyncio.sleep(0.01)
    assert waits[0] in ("waiting for the model to load", f"waiting for {QWEN} to load")
    assert not explaining.done() and a.slots["explanation"].state == "loading"
    factory.release.set()
    result = await explaining
    await loading
    assert result.text == "explained by qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    a.shutdown()


async def test_explain_errors_only_when_loading_failed_with_the_reason(models: Path, tmp_path: Path) -> None:
    a = assistant(models, tmp_path, Factory(fail="explanation"))
    doc = a.open_document("file:///w/area.py", SOURCE, "python")
    a.load_engine()
    assert a.slots["completion"].state == "ready"  # the other role still works
    with pytest.raises(ExplainError) as err:
        await a.explanations.explain(doc, Point(1, 4))
    assert str(err.value) == f"{QWEN} failed to load: llama.cpp could not load it: out of memory"
    a.shutdown()


async def test_a_memory_budget_too_small_is_one_message_and_nothing_breaks(models: Path, tmp_path: Path) -> None:
    factory = Factory()
    a = assistant(models, tmp_path, factory, memory_budget_mb=50)
    assert a.load_engine() is None
    expected = ("no model for completions fits memoryBudgetMb 50 MB (50 MB left for it): the smallest, "
                "smollm2-135m-instruct, needs about 189 MB; raise memoryBudgetMb or free memory")
    assert a.engine_state == "error" and a.engine_error == expected and factory.loaded == []
    doc = a.open_document("file:///w/area.py", SOURCE, "python")
    suggestion = await a.completions.complete(doc, Point(1, 11))
    assert suggestion.text == ""
    with pytest.raises(ExplainError) as err:
        await a.explanations.explain(doc, Point(1, 4))
    assert str(err.value) == expected
    a.shutdown()


def test_role_warnings_are_logged_once(models: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    a = assistant(models, tmp_path, Factory())
    with caplog.at_level(logging.WARNING, logger="codehearth.app"):
        a.load_engine()
        a.forget_engine()
        a.load_engine()
    warned = [r.getMessage() for r in caplog.records if "fill-in-the-middle" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith(f"{SMOL} has no fill-in-the-middle tokens")
    assert a.models_status()["completion"]["warnings"] == warned
    a.shutdown()
