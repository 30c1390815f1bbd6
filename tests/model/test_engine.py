"""The embedded engine on the real default model (SmolLM2-135M-Instruct Q4_1)."""

from __future__ import annotations

import time
from pathlib import Path

from codehearth.engine.base import CancelToken, GenerationRequest
from codehearth.engine.llama import LlamaEngine

PREFIX = '''import os


def read_lines(path):
    """Return the lines of a text file, without line endings."""
    with open(path) as fh:
        return '''


def test_metadata_of_the_default_model(engine: LlamaEngine) -> None:
    info = engine.info
    assert info.family == "llama" and info.architecture == "llama"
    assert info.fim_style == "none" and not info.has_fim
    assert info.chat_template and "<|im_start|>" in info.chat_template
    assert info.eos == "<|im_end|>"


def test_greedy_completion_is_non_empty_and_deterministic(engine: LlamaEngine) -> None:
    first = engine.generate(GenerationRequest(prompt=[PREFIX], max_tokens=12))
    engine.forget_cache()
    second = engine.generate(GenerationRequest(prompt=[PREFIX], max_tokens=12))
    assert first.text.strip()
    assert first.text == second.text
    assert first.timings.tokens_generated > 0


def test_cancellation_stops_within_one_token(engine: LlamaEngine) -> None:
    cancel = CancelToken()
    seen: list[str] = []

    def on_text(text: str) -> None:
        seen.append(text)
        if len(seen) == 3:
            cancel.cancel()

    result = engine.generate(
        GenerationRequest(prompt=["Once upon a time"], max_tokens=64, cancel=cancel, on_text=on_text)
    )
    assert result.stop_reason == "cancelled"
    assert result.timings.tokens_generated == 3


def test_tiny_deadline_returns_with_what_it_has(engine: LlamaEngine) -> None:
    engine.forget_cache()
    long_prompt = PREFIX * 12  # several prefill chunks
    n_prompt = len(engine.prompt_tokens([long_prompt]))
    result = engine.generate(
        GenerationRequest(prompt=[long_prompt], max_tokens=64, deadline=time.monotonic() + 0.001)
    )
    assert result.stop_reason == "deadline"
    assert result.timings.tokens_evaluated < n_prompt  # prefill itself stopped early
    assert result.timings.tokens_generated == 0 and result.text == ""


def test_kv_cache_reuse_evaluates_only_new_tokens(engine: LlamaEngine) -> None:
    engine.forget_cache()
    first_prompt = PREFIX + "fh.read().splitlines()"
    second_prompt = first_prompt + "\n\n\ndef write_lines(path, lines):\n"
    first = engine.generate(GenerationRequest(prompt=[first_prompt], max_tokens=4))
    n1 = len(engine.prompt_tokens([first_prompt]))
    n2 = len(engine.prompt_tokens([second_prompt]))
    assert engine.prompt_tokens([second_prompt])[:n1] == engine.prompt_tokens([first_prompt])
    second = engine.generate(GenerationRequest(prompt=[second_prompt], max_tokens=4))
    assert first.timings.tokens_evaluated == n1 and first.timings.tokens_reused == 0
    assert second.timings.tokens_reused == n1
    assert second.timings.tokens_evaluated == n2 - n1


def test_identical_prompt_reevaluates_one_token(engine: LlamaEngine) -> None:
    engine.generate(GenerationRequest(prompt=[PREFIX], max_tokens=2))
    again = engine.generate(GenerationRequest(prompt=[PREFIX], max_tokens=2))
    assert again.timings.tokens_evaluated == 1


def test_explanations_keep_the_completion_cache(engine: LlamaEngine) -> None:
    from codehearth.engine.base import ChatMessage

    engine.generate(GenerationRequest(prompt=[PREFIX], max_tokens=2))
    chat = engine.chat_prompt([ChatMessage("user", "Explain: def add(a, b): return a + b")])
    engine.generate(GenerationRequest(prompt=chat, max_tokens=8, purpose="chat", add_bos=False))
    after = engine.generate(GenerationRequest(prompt=[PREFIX + "fh"], max_tokens=2))
    assert after.timings.tokens_reused >= len(engine.prompt_tokens([PREFIX])) - 1


def test_model_path_is_the_verified_default(default_model: Path) -> None:
    from codehearth.models.registry import Registry

    assert Registry().verify("default") == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert default_model.stat().st_size == 98362432


def test_tokenizing_after_the_model_is_unloaded_is_an_error_not_a_crash(default_model: Path) -> None:
    # The planner tokenizes on its own thread while a configuration change may unload the model: before the lock in
    # engine/native.py this read a freed vocabulary (SIGSEGV in the 20,000-message fuzz).
    import pytest

    from codehearth.config import EngineSettings
    from codehearth.engine.base import EngineUnavailable

    engine = LlamaEngine(default_model, EngineSettings(n_ctx=512, calibrate=False))
    assert engine.count_tokens("def f(x):") > 0
    engine.close()
    with pytest.raises(EngineUnavailable, match="the model was unloaded"):
        engine.count_tokens("def f(x):")
    with pytest.raises(EngineUnavailable, match="the model was unloaded"):
        engine.prompt_tokens(["def f(x):"])


def test_every_generated_token_comes_with_its_log_probability(engine: LlamaEngine) -> None:
    """The confidence of a suggestion is made of these (complete/confidence.py): one per token, where its text ends
    and log softmax of the logits at it; a greedy pick is the likeliest token, so each is at least log(1/vocab)."""
    import math

    result = engine.generate(GenerationRequest(prompt=[PREFIX], max_tokens=8))
    logprobs = result.token_logprobs
    assert len(logprobs) == result.timings.tokens_generated == 8
    ends = [end for end, _ in logprobs]
    assert ends == sorted(ends) and ends[-1] == len(result.text)
    floor = -math.log(engine._model.n_vocab)
    assert all(floor <= lp <= 0.0 for _, lp in logprobs)
    # The model is surer of " dog" after the pangram than of anything after gibberish.
    sure = engine.generate(GenerationRequest(prompt=["The quick brown fox jumps over the lazy"], max_tokens=1))
    unsure = engine.generate(GenerationRequest(prompt=["zxq vlorp 77 --"], max_tokens=1))
    assert sure.text == " dog" and sure.token_logprobs[0][1] > unsure.token_logprobs[0][1] + 1.0


def test_a_background_prefill_goes_to_the_second_context_and_spares_the_requests_kv_state(
        engine: LlamaEngine) -> None:
    small = "def area(r):\n    return 3.14 * r * r\n\n\ndef volume(r):\n    return "
    full = "# shapes.py: areas and volumes of round things\nimport math\n\n\n" + small
    engine.forget_cache()
    engine.generate(GenerationRequest(prompt=[small], max_tokens=2))  # a request from a smaller prompt
    prepared = engine.generate(GenerationRequest(prompt=[full], max_tokens=0, purpose="prepare"))
    assert prepared.stop_reason == "length" and prepared.timings.tokens_evaluated == prepared.timings.prompt_tokens
    # Both are held now: the request's prompt in one context, the full prompt in the other.
    small_cost, full_cost = engine.prompt_cost([small]), engine.prompt_cost([full])
    assert small_cost.new_tokens == 0 and full_cost.new_tokens == 0
    climbed = engine.generate(GenerationRequest(prompt=[full + "4"], max_tokens=2))
    assert climbed.timings.tokens_evaluated == 1  # the typed character only: the full prompt was read behind
