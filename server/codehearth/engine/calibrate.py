"""Calibration at model load: how fast this machine evaluates prompts and generates with this model.

Well under a second of work on a slow laptop: a warm-up, one timed batch of prompt tokens and a few single-token
decodes. When the thread count is left to us (``engine.nThreads`` 0) the candidates are tried once per machine and
model and the fastest for a typical keystroke wins. Both results go to the per-machine speed cache
(``engine/speedcache.py``), so a restart does not measure again and model selection (`auto`, ``models
recommend``) reads what was measured; ``models recommend --measure`` runs this same calibration with ``fresh``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from codehearth.engine.speed import SpeedFigures, typical_keystroke_ms
from codehearth.engine.speedcache import SpeedCache, SpeedEntry, SpeedKey

log = logging.getLogger(__name__)

# A snippet of ordinary code: its tokens are what gets evaluated (the content barely matters to the rate).
_TEXT = (
    "def parse_header(line: str) -> tuple[str, dict[str, str]]:\n"
    "    key, _, rest = line.partition(';')\n"
    "    params = {}\n"
    "    for item in rest.split(';'):\n"
    "        name, _, value = item.strip().partition('=')\n"
    "        params[name.lower()] = value.strip('\"')\n"
    "    return key.strip().lower(), params\n"
)
PREFILL_TOKENS = 16  # one timed batch; a fast machine gets a second, larger one for a steadier figure
LARGE_PREFILL_TOKENS = 64
LARGE_BATCH_IF_S = 0.3  # the small batch took less than this: a 64-token batch still keeps calibration short
DECODE_TOKENS = 4
DECODE_BOX_S = 0.25  # stop timing single-token decodes after this long (a bad thread count is very slow)
TRIAL_PREFILL_TOKENS = 8
TIE = 0.9  # more threads must be at least 10% faster to be chosen


def _thread_candidates(cpus: int) -> list[int]:
    # llama.cpp's worker threads spin at every barrier: on a busy 2-core laptop one thread can be 7x faster
    # than two, on an idle 8-core one four threads win. Measure instead of guessing.
    wanted = {1, 2, max(1, min(cpus // 2, 8)), min(cpus, 4)}
    return sorted(t for t in wanted if t <= max(cpus, 1))


class Probe:
    """Timed evaluation on one llama context (an ``engine.native.NativeContext``); it leaves the KV cache empty."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        ids = ctx.model.tokenize(_TEXT.encode(), add_bos=False, special=False)
        while len(ids) < LARGE_PREFILL_TOKENS + 16:
            ids = ids + ids
        self.ids = [int(i) for i in ids]

    def set_threads(self, threads: int) -> None:
        self.ctx.set_threads(threads)

    def _eval_timed(self, tokens: list[int]) -> float:
        started = time.perf_counter()
        self.ctx.eval(tokens)
        return time.perf_counter() - started

    def measure(self, prefill_tokens: int = PREFILL_TOKENS, box_s: float | None = None) -> tuple[float, float]:
        """(prompt tokens/s, generated tokens/s). With ``box_s``, stop early once that much time is spent."""
        ctx = self.ctx
        ctx.forget()
        try:
            ctx.eval(self.ids[:4])  # warm-up: pages the weights in, allocates the compute buffers
            spent = 0.0
            done = 0
            step = prefill_tokens if box_s is None else max(1, prefill_tokens // 2)
            while done < prefill_tokens:
                spent += self._eval_timed(self.ids[4 + done : 4 + done + step])
                done += step
                if box_s is not None and spent > box_s:
                    break
            if box_s is None and spent < LARGE_BATCH_IF_S:
                # one larger batch measures the batched rate (what a prefill runs at) better than 16 tokens do
                start = 4 + done
                spent = self._eval_timed(self.ids[start : start + LARGE_PREFILL_TOKENS])
                done = LARGE_PREFILL_TOKENS
            prompt_rate = done / max(spent, 1e-6)
            decode_spent = 0.0
            decoded = 0
            pos = 4 + done
            while decoded < DECODE_TOKENS:
                decode_spent += self._eval_timed([self.ids[(pos + decoded) % len(self.ids)]])
                decoded += 1
                if decode_spent > (box_s if box_s is not None else DECODE_BOX_S):
                    break
            return prompt_rate, decoded / max(decode_spent, 1e-6)
        finally:
            ctx.forget()


def choose_threads(probe: Probe, cache: SpeedCache | None, key: SpeedKey, cpus: int | None = None,
                   fresh: bool = False, clock: Callable[[], float] = time.time) -> tuple[int, dict[str, float]]:
    """The thread count with the fastest typical keystroke, measured once per machine and model, then cached.

    ``key`` is the cache key with thread count AUTO_THREADS; ``fresh`` measures even when the cache knows.
    """
    cached = cache.get(key) if cache is not None and not fresh else None
    if cached is not None and cached.chosen_threads > 0:
        return cached.chosen_threads, cached.thread_trials
    candidates = _thread_candidates(cpus if cpus is not None else (os.cpu_count() or 2))
    trials: dict[str, float] = {}
    best, best_ms = candidates[0], float("inf")
    for threads in candidates:
        probe.set_threads(threads)
        # A short, time-boxed trial: a bad thread count can be 10x slower, so it gets only a little time.
        box = 0.3 if best_ms == float("inf") else max(0.05, 2 * best_ms / 1000)
        prompt_rate, gen_rate = probe.measure(TRIAL_PREFILL_TOKENS, box_s=box)
        ms = typical_keystroke_ms(SpeedFigures(prompt_tokens_per_s=prompt_rate, generated_tokens_per_s=gen_rate))
        trials[str(threads)] = round(ms, 1)
        if ms < best_ms * TIE:
            best, best_ms = threads, ms
    if cache is not None:
        cache.put(SpeedEntry(key=key, chosen_threads=best, thread_trials=trials, measured_at=clock()))
    log.info("threads: chose %d of %s (typical keystroke ms per thread count: %s)", best, candidates, trials)
    return best, trials


def calibrate(probe: Probe, threads: int, n_ctx: int, cache: SpeedCache | None, key: SpeedKey,
              clock: Callable[[], float] = time.time, fresh: bool = False) -> SpeedFigures:
    """Measured figures for this model at ``threads``, from the cache when this machine measured them before
    (unless ``fresh``); a new measurement goes to the cache under ``key``."""
    cached = cache.get(key) if cache is not None and not fresh else None
    if cached is not None and cached.figures is not None and cached.figures.prompt_tokens_per_s > 0:
        return SpeedFigures(prompt_tokens_per_s=cached.figures.prompt_tokens_per_s,
                            generated_tokens_per_s=cached.figures.generated_tokens_per_s,
                            threads=threads, n_ctx=n_ctx, source="cache")
    probe.set_threads(threads)
    prompt_rate, gen_rate = probe.measure()
    figures = SpeedFigures(prompt_tokens_per_s=prompt_rate, generated_tokens_per_s=gen_rate, threads=threads,
                           n_ctx=n_ctx, source="calibration")
    if cache is not None:
        cache.put(SpeedEntry(key=key, figures=figures, measured_at=clock()))
    log.info("calibrated: %.1f prompt tokens/s, %.1f generated tokens/s on %d threads",
             prompt_rate, gen_rate, threads)
    return figures
