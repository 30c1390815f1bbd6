"""Settings the engine and the prompt can live with: budgets fitted to the model's context (``engine.nCtx``), and
numbers no model load or prompt can use refused once.

A prompt that does not fit the context fails in the engine ("prompt of 370 tokens does not fit the context of
256"). The user chose the context size, so the budgets bend to it: the completion and explanation budgets shrink
until prompt, template and answer fit. A context too small for any useful prompt is refused once (a settings
problem: shown once, its default used). So are numbers the engine cannot take (found by the settings abuse test,
``tests/lsp/test_settings_abuse.py``: ``engine.nBatch`` -5 crashed llama.cpp, 0 left the server without a model) and
budgets, shares and counts below zero.
"""

from __future__ import annotations

import msgspec

from codehearth.config import EngineSettings, Settings, SettingsProblem

MIN_N_CTX = 512  # below this no prompt with a useful prefix and an answer fits
COMPLETION_OVERHEAD = 64  # FIM tokens, the file path header, the snippet headers the budget does not count
EXPLAIN_OVERHEAD = 256  # the chat template and the system prompt around the explained function
MIN_BUDGET = 64
MAX_N_CTX = 131_072  # above this the KV cache alone outgrows a laptop (and llama.cpp's allocation fails or is killed)
RANGES: dict[tuple[str, str], tuple[float, float]] = {  # (section, field) -> allowed [low, high]
    ("engine", "n_batch"): (1, 1 << 20), ("engine", "n_threads"): (0, 1024), ("engine", "n_gpu_layers"): (-1, 1 << 20),
    ("context", "budget_tokens"): (MIN_BUDGET, 1 << 20), ("context", "prefix_share"): (0.0, 1.0),
    ("context", "suffix_share"): (0.0, 1.0), ("context", "repo_share"): (0.0, 1.0),
    ("context", "similar_files"): (0, 1024), ("context", "max_file_bytes"): (0, 1 << 40),
    ("context", "index_workers"): (0, 1024), ("explain", "budget_tokens"): (MIN_BUDGET, 1 << 20),
    ("", "memory_budget_mb"): (0, 1 << 40), ("", "explain_first_chunk_ms"): (0, 1 << 31),
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def refuse_out_of_range(settings: Settings) -> tuple[Settings, list[SettingsProblem]]:
    """Every number of :data:`RANGES` outside its range goes back to its default, with one problem each."""
    problems: list[SettingsProblem] = []
    defaults = Settings()
    for (section, name), (low, high) in RANGES.items():
        owner = getattr(settings, section) if section else settings
        value = getattr(owner, name)
        if low <= value <= high:
            continue
        path = f"{section}.{_camel(name)}" if section else _camel(name)
        problems.append(SettingsProblem(path, f"{value} is outside {low}..{high}"))
        default = getattr(getattr(defaults, section) if section else defaults, name)
        if section:
            settings = msgspec.structs.replace(
                settings, **{section: msgspec.structs.replace(owner, **{name: default})})
        else:
            settings = msgspec.structs.replace(settings, **{name: default})
    return settings, problems


def fit_to_context(settings: Settings) -> tuple[Settings, list[SettingsProblem]]:
    """``settings`` with budgets that fit ``engine.nCtx``; a problem when nCtx itself is refused."""
    settings, problems = refuse_out_of_range(settings)
    engine = settings.engine
    if engine.kind == "embedded" and not MIN_N_CTX <= engine.n_ctx <= MAX_N_CTX:
        problems.append(SettingsProblem("engine.nCtx", (
            f"{engine.n_ctx} is too small for a prompt and an answer (at least {MIN_N_CTX})"
            if engine.n_ctx < MIN_N_CTX else f"{engine.n_ctx} is more than a KV cache can hold here ({MAX_N_CTX})")))
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
