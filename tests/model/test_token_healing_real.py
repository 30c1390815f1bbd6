"""Token healing with the real models: a half-typed word is completed as the word the model would write."""

from __future__ import annotations

from pathlib import Path

import pytest

from codehearth.config import EngineSettings
from codehearth.engine.base import GenerationRequest
from codehearth.engine.llama import LlamaEngine
from codehearth.engine.templates import fim_prompt

pytestmark = pytest.mark.model

PREFIX = 'import os\n\n\ndef read_lines(path):\n    """Return the lines of a text file."""\n    with open(path) as fh:\n'
SUFFIX = "\n\n\ndef main():\n    pass\n"


@pytest.fixture(scope="module")
def qwen(qwen_model: Path):  # type: ignore[no-untyped-def]
    engine = LlamaEngine(qwen_model, EngineSettings(n_ctx=1024, n_threads=1, calibrate=False))
    yield engine
    engine.close()


def complete(engine: LlamaEngine, typed: str, heal: bool) -> str:
    engine.forget_cache()
    prompt = fim_prompt(engine.info, prefix=PREFIX, suffix=SUFFIX, middle_start=typed)
    return engine.generate(GenerationRequest(prompt=prompt, max_tokens=12, heal=heal, stop=["\n"])).text


def test_a_half_typed_keyword_is_finished(qwen: LlamaEngine) -> None:
    assert complete(qwen, "        retu", heal=False).startswith(" =")  # "retu = ...": the tokenizer's cut
    assert complete(qwen, "        retu", heal=True).startswith("rn ")


def test_a_half_typed_name_is_finished(qwen: LlamaEngine) -> None:
    assert complete(qwen, "        li", heal=True).startswith("nes = ")


def test_no_doubled_space_after_a_typed_space_or_dot(qwen: LlamaEngine) -> None:
    assert complete(qwen, "        lines = ", heal=False).startswith(" ")
    assert not complete(qwen, "        lines = ", heal=True).startswith(" ")
    assert not complete(qwen, "        lines = fh.", heal=True).startswith(" ")


def test_the_vocabulary_is_read_at_load(qwen: LlamaEngine) -> None:
    # Read at load, so that the first keystroke is healed and no thread competes with a request's decode loop.
    assert qwen.healer.vocabulary is not None and qwen.healer.vocabulary.size == 151936
