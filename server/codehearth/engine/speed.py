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

    def figures(self, context_tokens: int = 0) -> SpeedFigures:
        """The rates to plan a request with ``context_tokens`` in the context."""
        return self._buckets.get(context_bucket(context_tokens), self.calibrated)

    def update(self, context_tokens: int, sample: Sample) -> None:
        bucket = context_bucket(context_tokens)
        old = self._buckets.get(bucket, self.calibrated)
        prompt_rate, gen_rate = old.prompt_tokens_per_s, old.generated_tokens_per_s
        changed = False
        if sample.evaluated >= MIN_PREFILL_SAMPLE and sample.prefill_ms > 0:
            prompt_rate = _ema(prompt_rate, 1000.0 * sample.evaluated / sample.prefill_ms)
            changed = True
        if sample.generated >= MIN_DECODE_SAMPLE and sample.decode_ms > 0:
            gen_rate = _ema(gen_rate, 1000.0 * sample.generated / sample.decode_ms)
            changed = True
        if not changed:
            return
        self.updates += 1
        self._buckets[bucket] = SpeedFigures(
            prompt_tokens_per_s=prompt_rate, generated_tokens_per_s=gen_rate, threads=old.threads,
            n_ctx=old.n_ctx, source="requests",
        )

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
