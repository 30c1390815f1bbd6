"""How fast this machine runs a model: prompt evaluation and generation rates, measured, not assumed.

The shared vocabulary of the adaptive completion planner (``complete/``) and of model selection (``models/``):
both ask "how long would this cost here?" and get the answer from the same figures.
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
