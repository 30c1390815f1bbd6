"""A speed estimate measured in a moment of load (3.8 generated tokens/s where the machine does 80) must not lock
completions out for good: no plan fits the deadline, so no generation runs, so nothing measures the rate again
(the editor benchmark's `defaults` row at 150 ms: 821 keystrokes, 0 model answers). Fake engine, token counts and
a hand-advanced clock for the probe's rate limit (no wall-clock thresholds)."""

from __future__ import annotations

from typing import Any

from tests.fakes import CachingFakeEngine
from tests.unit.test_adaptive_service import END, doc_with

from codehearth.complete.service import PROBE_INTERVAL_S, CompletionService
from codehearth.config import ContextSettings, Settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Point
from codehearth.engine.base import GenerationRequest, GenerationResult
from codehearth.engine.speed import Sample, SpeedFigures

LOADED = SpeedFigures(prompt_tokens_per_s=27.8, generated_tokens_per_s=3.8, source="calibration")  # editor.json
KEYSTROKE_S = 0.15


class MeasuringFakeEngine(CachingFakeEngine):
    """Reports each call's timings to its speed model as the embedded engine does (``LlamaEngine.generate``), at the
    rates the machine really has (``real``), whatever the estimate says."""

    def __init__(self, real: SpeedFigures, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.real = real

    def generate(self, request: GenerationRequest) -> GenerationResult:
        result = super().generate(request)
        t = result.timings
        main = request.purpose not in ("glance", "chat", "read-ahead")  # the completion contexts only
        measured = result.stop_reason != "cancelled" or request.purpose in ("prepare", "complete")
        if main and measured:
            self.speed.update(t.prompt_tokens, Sample(
                evaluated=t.tokens_evaluated, prefill_ms=self.real.prefill_ms(t.tokens_evaluated),
                generated=t.tokens_generated, decode_ms=self.real.generate_ms(t.tokens_generated)))
        return result


async def type_along(engine: MeasuringFakeEngine, keystrokes: int) -> tuple[list[str], list[str]]:
    """Type a character every 150 ms (of the probe's clock) and ask for a completion after each: the sources and
    plans of the answers."""
    now = [1000.0]
    # 1000 ms rather than the default 400: the same lock-out at 3.8 tokens/s (3 affordable tokens, 4 needed), and
    # room for a busy test machine once the estimate is right
    settings = Settings(latency_budget_ms=1000, keep_generating_ms=0, pause_ms=10)
    builder = ContextBuilder(None, ContextSettings(), lambda s: len(s) // 3 + 1)
    svc = CompletionService(settings, builder, lambda: engine, probe_clock=lambda: now[0])  # type: ignore[arg-type]
    doc = doc_with()
    point = END
    sources: list[str] = []
    plans: list[str] = []
    for i in range(keystrokes):
        doc.apply_edit(point, point, "abcdefghijklmnopqrstuvw"[i % 23])  # never what the model suggested
        point = Point(point.row, point.column + 1)
        answer = await svc.complete(doc, point)
        sources.append(answer.source)
        plans.append(answer.plan)
        now[0] += KEYSTROKE_S
    svc.close()
    return sources, plans


async def test_a_speed_estimate_measured_under_load_does_not_lock_completions_out() -> None:
    engine = MeasuringFakeEngine(SpeedFigures(prompt_tokens_per_s=120.0, generated_tokens_per_s=80.0),
                                 figures=LOADED)
    engine.default_output = "zz\n"
    keystrokes = int(3 * PROBE_INTERVAL_S / KEYSTROKE_S)
    sources, plans = await type_along(engine, keystrokes)
    # Before the fix: "no-plan" for every keystroke, the generation rate stuck at 3.8.
    assert "model" in sources, sources
    first = sources.index("model")
    assert first <= PROBE_INTERVAL_S / KEYSTROKE_S  # within one probe interval of typing
    assert plans[first] == "probe"
    # The probe's measured rate corrected the estimate: the keystrokes after it are planned and answered.
    assert sources[first + 1 :].count("model") == len(sources) - first - 1, sources
    assert plans.count("probe") == 1
    assert engine.speed.figures(1024).generated_tokens_per_s > 40


async def test_on_a_machine_that_really_is_that_slow_the_probe_runs_once_per_interval() -> None:
    engine = MeasuringFakeEngine(LOADED, figures=LOADED)
    engine.default_output = "zz\n"
    keystrokes = int(3 * PROBE_INTERVAL_S / KEYSTROKE_S)
    sources, plans = await type_along(engine, keystrokes)
    assert plans.count("probe") == 3  # at the first keystroke, then once every PROBE_INTERVAL_S
    assert sources.count("no-plan") == keystrokes - 3
    assert engine.speed.figures(1024).generated_tokens_per_s < 4
