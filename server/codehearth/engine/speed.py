"""How fast this machine runs a model: prompt evaluation and generation rates, measured, not assumed.

The shared vocabulary of the adaptive completion planner (``complete/``) and of model selection (``models/``):
both ask "how long would this cost here?" and get the answer from the same figures, kept per machine and model
file in the one speed cache (``engine/speedcache.py``).
"""

from __future__ import annotations

import msgspec


class SpeedFigures(msgspec.Struct, kw_only=True, rename="camel"):
    """Measured rates for one model file, context size and thread count on this machine."""

    prompt_tokens_per_s: float
    generated_tokens_per_s: float
    threads: int = 0
    n_ctx: int = 0
    source: str = "calibration"  # calibration | requests | fixed (tests) | estimate

    def prefill_ms(self, tokens: int) -> float:
        return 1000.0 * tokens / max(self.prompt_tokens_per_s, 1e-6)

    def generate_ms(self, tokens: int) -> float:
        return 1000.0 * tokens / max(self.generated_tokens_per_s, 1e-6)

    def cost_ms(self, new_prompt_tokens: int, generated_tokens: int) -> float:
        """Time to evaluate the prompt tokens not in the KV cache and generate the rest."""
        return self.prefill_ms(new_prompt_tokens) + self.generate_ms(generated_tokens)


# A typical keystroke on a warm KV cache: a typed word adds a few prompt tokens, a useful single-line
# suggestion is a dozen tokens. Model selection compares machines and models by this one figure.
TYPICAL_KEYSTROKE_PROMPT_TOKENS = 8
TYPICAL_KEYSTROKE_GENERATED_TOKENS = 12


def typical_keystroke_ms(figures: SpeedFigures) -> float:
    return figures.cost_ms(TYPICAL_KEYSTROKE_PROMPT_TOKENS, TYPICAL_KEYSTROKE_GENERATED_TOKENS)


# -- the speed model: calibration figures, updated by every request ------------------------------------------------

# Prompt lengths (tokens in the context) at which rates are kept apart: attention grows with the context, so a
# request deep into a 4k context evaluates and decodes more slowly than one near its start.
CONTEXT_BUCKETS = (512, 1024, 2048, 4096)
EMA_WEIGHT = 0.2  # weight of the newest request in the moving average
MIN_PREFILL_SAMPLE = 8  # fewer evaluated tokens than this measure overhead, not the rate
MIN_DECODE_SAMPLE = 2
# Requests that measure several times the calibration's generation rate show that the calibration caught a moment
# of load: their figures replace it in the speed cache, or every restart would start from it again (and `auto`
# would judge the model by it). Only upwards: a figure measured by requests under load is never persisted.
DISPROVED_FACTOR = 3.0
DISPROVED_AFTER = 3  # generation samples, so one fluke cannot rewrite the cache


def context_bucket(context_tokens: int) -> int:
    for limit in CONTEXT_BUCKETS:
        if context_tokens <= limit:
            return limit
    return CONTEXT_BUCKETS[-1] * 2


class Sample(msgspec.Struct, kw_only=True):
    """A measurement: tokens and the milliseconds they took, prompt evaluation and generation apart."""

    evaluated: int = 0
    prefill_ms: float = 0.0
    generated: int = 0
    decode_ms: float = 0.0


def _ema(old: float, new: float) -> float:
    return new if old <= 0 else (1 - EMA_WEIGHT) * old + EMA_WEIGHT * new


class SpeedModel:
    """The engine's measured speed: calibration figures, then a moving average per context-length bucket.

    Thread-safe enough for its use: the engine's worker thread updates it, the event loop reads it (floats,
    replaced whole).
    """

    def __init__(self, calibrated: SpeedFigures) -> None:
        self.calibrated = calibrated
        self._buckets: dict[int, SpeedFigures] = {}
        self.updates = 0
        self.decode_samples = 0

    def figures(self, context_tokens: int = 0) -> SpeedFigures:
        """The rates to plan a request with ``context_tokens`` in the context: its bucket's, else the nearest
        shorter bucket's, else the calibration's. Requests measure the machine as it is now, where the calibration
        (on a few dozen tokens) may have caught a moment of load; and the planner asks for the context budget's
        bucket, so requests with shorter prompts (a small file) must still correct it."""
        bucket = context_bucket(context_tokens)
        measured = dict(self._buckets)  # one step under the GIL: the worker thread may add a bucket meanwhile
        shorter = [b for b in measured if b <= bucket]
        return measured[max(shorter)] if shorter else self.calibrated

    def update(self, context_tokens: int, sample: Sample) -> None:
        bucket = context_bucket(context_tokens)
        old = self.figures(context_tokens)
        prompt_rate, gen_rate = old.prompt_tokens_per_s, old.generated_tokens_per_s
        changed = False
        if sample.evaluated >= MIN_PREFILL_SAMPLE and sample.prefill_ms > 0:
            prompt_rate = _ema(prompt_rate, 1000.0 * sample.evaluated / sample.prefill_ms)
            changed = True
        if sample.generated >= MIN_DECODE_SAMPLE and sample.decode_ms > 0:
            gen_rate = _ema(gen_rate, 1000.0 * sample.generated / sample.decode_ms)
            self.decode_samples += 1
            changed = True
        if not changed:
            return
        self.updates += 1
        self._buckets[bucket] = SpeedFigures(
            prompt_tokens_per_s=prompt_rate, generated_tokens_per_s=gen_rate, threads=old.threads,
            n_ctx=old.n_ctx, source="requests",
        )

    def disproved_calibration(self) -> SpeedFigures | None:
        """The requests' figures (shortest context measured) when they disprove a too-low calibration, else None."""
        if self.decode_samples < DISPROVED_AFTER or not self._buckets:
            return None
        measured = self._buckets[min(self._buckets)]
        if measured.generated_tokens_per_s < DISPROVED_FACTOR * self.calibrated.generated_tokens_per_s:
            return None
        return msgspec.structs.replace(measured, prompt_tokens_per_s=max(measured.prompt_tokens_per_s,
                                                                         self.calibrated.prompt_tokens_per_s))

    def describe(self) -> dict[str, object]:
        """For stats, doctor and the editor's tooltip (camelCase, rounded)."""

        def rates(f: SpeedFigures) -> dict[str, object]:
            return {"promptTokensPerS": round(f.prompt_tokens_per_s, 1),
                    "generatedTokensPerS": round(f.generated_tokens_per_s, 1),
                    "typicalKeystrokeMs": round(typical_keystroke_ms(f), 1)}

        return {
            **rates(self.calibrated),
            "threads": self.calibrated.threads,
            "nCtx": self.calibrated.n_ctx,
            "source": self.calibrated.source,
            "updates": self.updates,
            "byContext": {str(k): rates(v) for k, v in sorted(self._buckets.items())},
        }
