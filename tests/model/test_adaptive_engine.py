"""The embedded engine's speed model and its KV cache across a deadline, on the real default model.

Counts only: the figures exist and are positive, and a prefill cut after its first batch is continued by the next
request from exactly where it stopped (no wall-clock thresholds).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from codehearth.engine.base import GenerationRequest
from codehearth.engine.llama import LlamaEngine

pytestmark = pytest.mark.model

PROMPT = ["".join(f"def handler_{i}(request, value={i}):\n    return request.get({i}, value)\n" for i in range(40))]


@dataclass
class CutAfterFirstBatch(GenerationRequest):
    """A request whose deadline passes right after its first prefill batch (checked once per batch)."""

    checks: int = 0

    def expired(self) -> bool:
        self.checks += 1
        return self.checks > 1


def test_calibration_gives_figures_for_this_machine(engine: LlamaEngine) -> None:
    assert engine.speed is not None
    figures = engine.speed.calibrated
    assert figures.prompt_tokens_per_s > 0 and figures.generated_tokens_per_s > 0
    assert figures.source in ("calibration", "cache")
    assert figures.threads == engine.threads >= 1 and figures.n_ctx == 2048
    described = engine.speed.describe()
    assert described["threads"] == engine.threads and described["typicalKeystrokeMs"] > 0


def test_a_prefill_cut_by_the_deadline_is_continued_by_the_next_request(engine: LlamaEngine) -> None:
    engine.forget_cache()
    first = engine.generate(CutAfterFirstBatch(prompt=PROMPT, max_tokens=4))
    cut = first.timings
    assert first.stop_reason == "deadline" and first.text == ""
    assert 0 < cut.tokens_evaluated < cut.prompt_tokens
    # the engine says how much of the prompt its cache holds: exactly what the cut request evaluated
    cost = engine.prompt_cost(PROMPT)
    assert (cost.prompt_tokens, cost.cached_tokens) == (cut.prompt_tokens, cut.tokens_evaluated)
    second = engine.generate(GenerationRequest(prompt=PROMPT, max_tokens=4))
    assert second.timings.tokens_reused == cut.tokens_evaluated
    assert second.timings.tokens_evaluated == cut.prompt_tokens - cut.tokens_evaluated
    assert second.stop_reason in ("length", "eos") and second.timings.tokens_generated >= 1


def test_a_background_prefill_fills_the_cache_for_the_request(engine: LlamaEngine) -> None:
    engine.forget_cache()
    prepared = engine.generate(GenerationRequest(prompt=PROMPT, max_tokens=0, purpose="prepare"))
    assert prepared.timings.tokens_evaluated == prepared.timings.prompt_tokens and prepared.text == ""
    request = engine.generate(GenerationRequest(prompt=PROMPT, max_tokens=2))
    assert request.timings.tokens_evaluated == 1  # only the last token again, for its logits


def test_a_glance_runs_in_its_own_context_and_leaves_the_prepared_prompt_in_the_cache(engine: LlamaEngine) -> None:
    engine.forget_cache()
    engine.generate(GenerationRequest(prompt=PROMPT, max_tokens=0, purpose="prepare"))
    full = engine.prompt_cost(PROMPT)
    assert full.cached_tokens == full.prompt_tokens
    glance_prompt = ["    return request.get(39, "]
    before = engine.glance_cost(glance_prompt)
    assert before is not None and before.prompt_tokens < 20
    glance = engine.generate(GenerationRequest(prompt=glance_prompt, max_tokens=4, purpose="glance"))
    assert glance.timings.tokens_evaluated == before.new_tokens and glance.timings.tokens_generated >= 1
    # the completion context still holds the whole prepared prompt; the glance context holds the glance's
    assert engine.prompt_cost(PROMPT) == full
    after = engine.glance_cost(glance_prompt)
    assert after is not None and after.cached_tokens == after.prompt_tokens
    # a prompt too long for the glance context is no glance
    assert engine.glance_cost(PROMPT) is None
