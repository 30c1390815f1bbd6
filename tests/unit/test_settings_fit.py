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
