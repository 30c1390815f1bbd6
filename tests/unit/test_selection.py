"""Model selection per role, fed with fixed speed figures (no model is loaded; the files are sparse stand-ins)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codehearth.config import Settings
from codehearth.engine.speed import SpeedFigures
from codehearth.models.registry import ModelEntry, Registry
from codehearth.models.selection import estimate_figures, memory_budget_mb, plan, role_warnings

SMOL = "smollm2-135m-instruct"
QWEN = "qwen2.5-coder-0.5b-instruct"


def fixed(rates: dict[str, tuple[float, float]]):  # type: ignore[no-untyped-def]
    """A FiguresLookup with (prompt tokens/s, generated tokens/s) per model id, as a calibration would give."""

    def lookup(entry: ModelEntry, path: Path) -> SpeedFigures | None:
        if entry.id not in rates or not path.is_file():
            return None
        prompt, generated = rates[entry.id]
        return SpeedFigures(prompt_tokens_per_s=prompt, generated_tokens_per_s=generated, threads=1, source="fixed")

    return lookup


# A slow machine (2 busy cores) and a fast one (a workstation), for the offline pair.
SLOW = fixed({SMOL: (800.0, 90.0), QWEN: (250.0, 18.0)})
FAST = fixed({SMOL: (6000.0, 400.0), QWEN: (2500.0, 120.0)})


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """The real manifest with only the offline pair downloaded (sparse files of their real sizes)."""
    reg = Registry(directory=tmp_path)
    for model_id in (SMOL, QWEN):
        entry = reg.entry(model_id)
        with (tmp_path / entry.file).open("wb") as fh:
            fh.truncate(entry.size)
    return reg


def test_slow_and_fast_machines_choose_different_completion_models(registry: Registry) -> None:
    settings = Settings(latency_budget_ms=400, explain_first_chunk_ms=4000)
    slow = plan(settings, registry, SLOW, ram_mb=24000)
    fast = plan(settings, registry, FAST, ram_mb=24000)
    assert slow.error == "" and fast.error == ""
    assert slow.completion is not None and fast.completion is not None
    # slow: Qwen's typical keystroke is 8/250 + 12/18 s = 699 ms > 400 ms; SmolLM2's 10 + 133 = 143 ms
    assert slow.completion.model == SMOL and slow.completion.auto
    assert "typical keystroke 143 ms" in slow.completion.reason and f"too slow here: {QWEN}" in slow.completion.reason
    # fast: Qwen's keystroke is 3 + 100 = 103 ms: the FIM model wins
    assert fast.completion.model == QWEN
    assert fast.completion.reason.startswith("the best FIM model present that fits: typical keystroke 103 ms")
    # explanations: Qwen starts streaming within 4 s on both (400 prompt tokens / 250 per s = 1.6 s)
    assert slow.explanation is not None and slow.explanation.model == QWEN
    assert fast.explanation is not None and fast.explanation.model == QWEN


def test_when_nothing_is_fast_enough_the_fastest_is_chosen_and_said(registry: Registry) -> None:
    settings = Settings(latency_budget_ms=50, explain_first_chunk_ms=500)
    chosen = plan(settings, registry, SLOW, ram_mb=24000)
    assert chosen.completion is not None and chosen.completion.model == SMOL
    assert chosen.completion.reason.startswith("no model present is fast enough here; the fastest: typical keystroke")
    # No model starts within 500 ms; Qwen starts within 4x that (400/250 s + 1/18 s = 1656 ms): quality wins.
    assert chosen.explanation is not None and chosen.explanation.model == QWEN
    assert chosen.explanation.reason.startswith("no model present starts within explainFirstChunkMs here; the best "
                                                "that starts within 4x: first chunk 1656 ms (measured")
    impatient = plan(Settings(explain_first_chunk_ms=100), registry, SLOW, ram_mb=24000)
    assert impatient.explanation is not None and impatient.explanation.model == SMOL  # 511 ms, the fastest
    assert impatient.explanation.reason.startswith("no model present is fast enough here; the fastest: first chunk")


def test_explicit_settings_win(registry: Registry) -> None:
    settings = Settings(model=QWEN, explanation_model=SMOL)
    chosen = plan(settings, registry, SLOW, ram_mb=24000)
    assert chosen.completion is not None and chosen.completion.model == QWEN and not chosen.completion.auto
    assert chosen.completion.reason == f"set explicitly (model = '{QWEN}')"
    assert chosen.explanation is not None and chosen.explanation.model == SMOL
    assert chosen.explanation.reason == f"set explicitly (explanationModel = '{SMOL}')"


def test_one_model_setting_serves_both_roles_and_counts_once(registry: Registry) -> None:
    settings = Settings(model=QWEN)
    chosen = plan(settings, registry, SLOW, ram_mb=24000)
    assert chosen.completion is not None and chosen.explanation is not None
    assert chosen.completion.path == chosen.explanation.path
    weights = registry.entry(QWEN).size // (1024 * 1024)
    assert chosen.memory_mb == weights + 2 * 96  # one mapping, two contexts of 4096 tokens (24 MB per 1K)


def test_a_memory_budget_too_small_gives_one_clear_message(registry: Registry) -> None:
    chosen = plan(Settings(memory_budget_mb=50), registry, SLOW)
    assert chosen.error == (
        "no model for completions fits memoryBudgetMb 50 MB (50 MB left for it): the smallest, "
        "smollm2-135m-instruct, needs about 189 MB; raise memoryBudgetMb or free memory"
    )
    too_big = plan(Settings(model=QWEN, memory_budget_mb=300), registry, SLOW)
    assert too_big.error.startswith("the models need about 660 MB (qwen2.5-coder-0.5b-instruct for completions, ")
    assert too_big.error.endswith("raise memoryBudgetMb, or set completionModel/explanationModel to smaller "
                                  "models (see `codehearth models recommend`)")


def test_the_explanation_model_fits_in_what_the_completion_model_leaves(registry: Registry) -> None:
    # 700 MB: Qwen for completions (564 MB with its context) leaves too little for anything but its own file.
    settings = Settings(memory_budget_mb=700, completion_model=QWEN)
    chosen = plan(settings, registry, FAST)
    assert chosen.error == ""
    assert chosen.explanation is not None and chosen.explanation.model == QWEN  # one more context only


def test_offline_only_present_models_are_chosen_and_absent_better_ones_named(registry: Registry) -> None:
    chosen = plan(Settings(latency_budget_ms=100000, explain_first_chunk_ms=100000), registry, FAST, ram_mb=64000)
    assert chosen.completion is not None and chosen.completion.model == QWEN
    assert "better but not downloaded: codestral-22b, qwen2.5-coder-7b" in chosen.completion.reason


def test_nothing_downloaded_says_what_to_pull(tmp_path: Path) -> None:
    chosen = plan(Settings(), Registry(directory=tmp_path), ram_mb=24000)
    assert chosen.error.startswith("no model for completions is downloaded: run `codehearth models pull ")


def test_estimates_scale_from_a_measured_model() -> None:
    ref = SpeedFigures(prompt_tokens_per_s=400.0, generated_tokens_per_s=40.0, threads=2)
    est = estimate_figures(4 * 491400064, (491400064, ref), 2)
    assert est.source == "estimate"
    assert est.generated_tokens_per_s == pytest.approx(10.0) and est.prompt_tokens_per_s == pytest.approx(100.0)


def test_budget_defaults_to_half_the_ram() -> None:
    assert memory_budget_mb(Settings(), ram_mb=16000) == 8000
    assert memory_budget_mb(Settings(memory_budget_mb=3000), ram_mb=16000) == 3000


def test_role_warnings_base_vs_instruct() -> None:
    assert role_warnings("completion", "none", True, "instruct", SMOL)[0].startswith(
        f"{SMOL} has no fill-in-the-middle tokens")
    assert role_warnings("explanation", "psm", False, "base", "deepseek-coder-1.3b-base")[0].startswith(
        "deepseek-coder-1.3b-base is a base (FIM) model without a chat template")
    assert role_warnings("completion", "psm", True, "instruct", QWEN) == []
    assert role_warnings("explanation", "psm", True, "instruct", QWEN) == []


def test_measured_figures_are_kept_per_model_file_and_thread_count(tmp_path: Path) -> None:
    from codehearth.config import EngineSettings
    from codehearth.engine.speedcache import SpeedCache, SpeedEntry, speed_key

    cache = SpeedCache(tmp_path / "speed.json")
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    two = EngineSettings(n_threads=2)
    figures = SpeedFigures(prompt_tokens_per_s=321.0, generated_tokens_per_s=45.0, threads=2, n_ctx=4096)
    cache.put(SpeedEntry(key=speed_key(model, two, 4096, 2), figures=figures, measured_at=1.0))
    assert cache.figures_for(model, two) == figures
    assert cache.figures_for(model, EngineSettings(n_threads=1)) is None  # another thread count is another figure
    model.write_bytes(b"GGUF" + bytes(80))  # a different file under the same name
    assert cache.figures_for(model, two) is None


def test_a_model_twice_as_faithful_that_starts_within_seconds_wins_the_explanations(registry: Registry) -> None:
    # Qwen: 400 prompt tokens at 120/s + one at 9/s = 3.4 s, over explainFirstChunkMs (2500); SmolLM2 0.5 s. Qwen is
    # 47% faithful on the explanation benchmark, SmolLM2 23%: twice as faithful, and it starts within 6 s.
    slower = fixed({SMOL: (800.0, 90.0), QWEN: (120.0, 9.0)})
    chosen = plan(Settings(), registry, slower, ram_mb=24000)
    assert chosen.explanation is not None and chosen.explanation.model == QWEN
    assert chosen.explanation.reason.startswith(f"2x as faithful as {SMOL} (47% vs 23% on the explanation benchmark)")
    # Completions are judged by the keystroke, not by faithfulness: Qwen's (8/120 + 12/9 s = 1.4 s) fits the default
    # 2000 ms budget and it is the better-ranked FIM model; at 1000 ms it does not, and SmolLM2 (0.14 s) takes them.
    assert chosen.completion is not None and chosen.completion.model == QWEN
    tighter = plan(Settings(latency_budget_ms=1000), registry, slower, ram_mb=24000)
    assert tighter.completion is not None and tighter.completion.model == SMOL
    assert tighter.explanation is not None and tighter.explanation.model == QWEN
    # Ten seconds to the first chunk is past "a few seconds": the fast one stays.
    crawling = fixed({SMOL: (800.0, 90.0), QWEN: (40.0, 3.0)})
    chosen = plan(Settings(), registry, crawling, ram_mb=24000)
    assert chosen.explanation is not None and chosen.explanation.model == SMOL
