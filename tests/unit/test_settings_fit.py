"""The prompt always fits ``engine.nCtx`` (codehearth.settings_fit): budgets shrink, a context too small is refused
once."""

from __future__ import annotations

import msgspec

from codehearth.config import ContextSettings, EngineSettings, ExplainSettings, Settings
from codehearth.settings_fit import MIN_N_CTX, fit_to_context


def test_default_settings_are_left_alone() -> None:
    settings, problems = fit_to_context(Settings())
    assert problems == [] and settings == Settings()


def test_budgets_shrink_to_fit_a_small_context() -> None:
    settings, problems = fit_to_context(Settings(engine=EngineSettings(n_ctx=1024)))
    assert problems == []
    assert settings.engine.n_ctx == 1024
    assert settings.context.budget_tokens == 1024 - 96 - 64  # answer (multi-line max) and FIM overhead
    assert settings.explain.budget_tokens == 1024 - 384 - 256  # S5: was 1536, a prompt of 1158 in 1024


def test_a_context_too_small_for_any_prompt_is_refused_once_with_its_reason() -> None:
    settings, problems = fit_to_context(Settings(engine=EngineSettings(n_ctx=16)))
    assert [str(p) for p in problems] == [
        f"setting engine.nCtx: 16 is too small for a prompt and an answer (at least {MIN_N_CTX}); using its default"]
    assert settings.engine.n_ctx == EngineSettings().n_ctx
    assert settings.context == ContextSettings() and settings.explain == ExplainSettings()


def test_a_remote_server_keeps_its_own_context() -> None:
    remote = Settings(engine=EngineSettings(kind="llama-server", n_ctx=16))
    settings, problems = fit_to_context(remote)
    assert problems == [] and msgspec.structs.asdict(settings) == msgspec.structs.asdict(remote)


def test_numbers_no_engine_or_prompt_can_use_are_refused_each_once() -> None:
    bad = Settings(engine=EngineSettings(n_batch=-5, n_threads=-3, n_gpu_layers=-7, n_ctx=10**7),
                   context=ContextSettings(budget_tokens=-100, prefix_share=-1.0, similar_files=-2),
                   explain=ExplainSettings(budget_tokens=0), memory_budget_mb=-1)
    settings, problems = fit_to_context(bad)
    assert [str(p) for p in problems] == [
        "setting engine.nBatch: -5 is outside 1..1048576; using its default",
        "setting engine.nThreads: -3 is outside 0..1024; using its default",
        "setting engine.nGpuLayers: -7 is outside -1..1048576; using its default",
        "setting context.budgetTokens: -100 is outside 64..1048576; using its default",
        "setting context.prefixShare: -1.0 is outside 0.0..1.0; using its default",
        "setting context.similarFiles: -2 is outside 0..1024; using its default",
        "setting explain.budgetTokens: 0 is outside 64..1048576; using its default",
        "setting memoryBudgetMb: -1 is outside 0..1099511627776; using its default",
        "setting engine.nCtx: 10000000 is more than a KV cache can hold here (131072); using its default",
    ]
    assert settings == Settings()
