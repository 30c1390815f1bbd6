"""Prompt budgets fitted to the model's context (``engine.nCtx``).

A prompt that does not fit the context fails in the engine ("prompt of 370 tokens does not fit the context of
256"). The user chose the context size, so the budgets bend to it: the completion and explanation budgets shrink
until prompt, template and answer fit. A context too small for any useful prompt is refused once (a settings
problem: shown once, its default used).
"""

from __future__ import annotations

import msgspec

from codehearth.config import EngineSettings, Settings, SettingsProblem

MIN_N_CTX = 512  # below this no prompt with a useful prefix and an answer fits
COMPLETION_OVERHEAD = 64  # FIM tokens, the file path header, the snippet headers the budget does not count
EXPLAIN_OVERHEAD = 256  # the chat template and the system prompt around the explained function
MIN_BUDGET = 64


def fit_to_context(settings: Settings) -> tuple[Settings, list[SettingsProblem]]:
    """``settings`` with budgets that fit ``engine.nCtx``; a problem when nCtx itself is refused."""
    problems: list[SettingsProblem] = []
    engine = settings.engine
    if engine.kind == "embedded" and engine.n_ctx < MIN_N_CTX:
        problems.append(SettingsProblem(
            "engine.nCtx", f"{engine.n_ctx} is too small for a prompt and an answer (at least {MIN_N_CTX})"))
        engine = msgspec.structs.replace(engine, n_ctx=EngineSettings().n_ctx)
        settings = msgspec.structs.replace(settings, engine=engine)
    if engine.kind != "embedded":
        return settings, problems  # a remote server's context is its own
    n_ctx = engine.n_ctx
    answer = max(settings.max_tokens_single_line, settings.max_tokens_multi_line)
    completion = max(MIN_BUDGET, n_ctx - answer - COMPLETION_OVERHEAD)
    if settings.context.budget_tokens > completion:
        settings = msgspec.structs.replace(
            settings, context=msgspec.structs.replace(settings.context, budget_tokens=completion))
    explain = max(MIN_BUDGET, n_ctx - settings.explain.max_tokens - EXPLAIN_OVERHEAD)
    if settings.explain.budget_tokens > explain:
        settings = msgspec.structs.replace(
            settings, explain=msgspec.structs.replace(settings.explain, budget_tokens=explain))
    return settings, problems
