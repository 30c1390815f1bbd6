"""A plan per request: what to evaluate and how much to generate so that a useful suggestion fits the budget.

Pure logic over token counts and measured rates (``SpeedFigures``), no model and no clock of its own. The
candidates are the full prompt and the smaller ones of the shrink ladder, each with the number of its tokens the
KV cache already holds (a prompt prepared while the user paused is mostly cached). The first candidate, largest
first, whose uncached tokens plus a useful suggestion fit the time left wins; when none fits even a short
suggestion, a glance may (``plan_glance``: a few lines above the cursor, in the engine's small context of its own,
so a short suggestion arrives while the full prompt is prefilled in the background); else nothing is evaluated on
the request's time ("none": the caller prepares the prompt in the background so the next request continues from
there). A prefill that cannot finish in time is never started.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from codehearth.engine.base import PromptCost
from codehearth.engine.speed import SpeedFigures

PlanKind = Literal["full", "smaller", "fewer", "prepared", "glance", "probe", "none", "unplanned"]

WANT_TOKENS = {"line": 12, "block": 32}  # a suggestion of this many tokens is as useful as a longer one
# A glance sees a line or two: a few words from them beat a longer guess from the typed line alone.
GLANCE_WANT_TOKENS = 6
MIN_USEFUL_TOKENS = 4  # fewer tokens than this rarely make a suggestion worth showing
OVERHEAD_MS = 15.0  # post-processing, the answer's way back: kept out of the generation's share


class Candidate(msgspec.Struct, frozen=True):
    rung: int  # 0: the full prompt; then each step of the shrink ladder
    cost: PromptCost
    prepared: bool = False  # its cached part was prefilled in the background while the user paused


class Plan(msgspec.Struct, kw_only=True):
    kind: PlanKind
    rung: int = 0
    prompt_tokens: int = 0
    new_tokens: int = 0
    expected_tokens: int = 0  # tokens the deadline leaves time to generate
    estimate_ms: float = 0.0  # prefill of the new tokens + generation of the expected ones
    remaining_ms: float = 0.0
    # What its prompt held (set by the caller that built it): lines below the cursor's line, repository snippets
    held_suffix: bool = False
    held_definitions: bool = False

    def describe(self) -> str:
        return (f"{self.kind} rung {self.rung}: {self.new_tokens}/{self.prompt_tokens} tokens to evaluate, "
                f"{self.expected_tokens} to generate, ~{self.estimate_ms:.0f} of {self.remaining_ms:.0f} ms")


def affordable_tokens(figures: SpeedFigures, new_tokens: int, remaining_ms: float) -> int:
    """How many tokens can be generated after evaluating ``new_tokens`` in ``remaining_ms``."""
    left = remaining_ms - OVERHEAD_MS - figures.prefill_ms(new_tokens)
    if left <= 0:
        return 0
    return int(left * figures.generated_tokens_per_s / 1000.0)


def _plan(kind: PlanKind, c: Candidate, figures: SpeedFigures, tokens: int, remaining_ms: float) -> Plan:
    if c.prepared and kind != "fewer":
        kind = "prepared"
    return Plan(kind=kind, rung=c.rung, prompt_tokens=c.cost.prompt_tokens, new_tokens=c.cost.new_tokens,
                expected_tokens=tokens, estimate_ms=round(figures.cost_ms(c.cost.new_tokens, tokens), 1),
                remaining_ms=round(remaining_ms, 1))


def plan_request(candidate: Callable[[int], Candidate | None], rungs: int, figures: SpeedFigures,
                 remaining_ms: Callable[[], float], want_tokens: int,
                 min_tokens: int = MIN_USEFUL_TOKENS) -> tuple[Plan, list[Candidate]]:
    """Walk the ladder lazily (building a smaller prompt costs time too) and return the plan and the candidates
    seen. ``candidate(rung)`` builds and measures rung ``rung`` (None when the ladder ends early)."""
    seen: list[Candidate] = []
    fallback: Plan | None = None
    for rung in range(max(1, rungs)):
        c = candidate(rung)
        if c is None:
            break
        seen.append(c)
        left = remaining_ms()
        if affordable_tokens(figures, c.cost.new_tokens, left) >= want_tokens:
            return _plan("full" if rung == 0 else "smaller", c, figures, want_tokens, left), seen
        if fallback is None:
            tokens = affordable_tokens(figures, c.cost.new_tokens, left)
            if tokens >= min_tokens:
                # A shorter suggestion from a larger prompt; a smaller prompt may still afford the whole one.
                fallback = _plan("fewer", c, figures, tokens, left)
    if fallback is not None:
        return fallback, seen
    left = remaining_ms()
    first = seen[0] if seen else Candidate(rung=0, cost=PromptCost(prompt_tokens=0, cached_tokens=0))
    return Plan(kind="none", rung=first.rung, prompt_tokens=first.cost.prompt_tokens,
                new_tokens=first.cost.new_tokens, remaining_ms=round(left, 1),
                estimate_ms=round(figures.cost_ms(first.cost.new_tokens, min_tokens), 1)), seen


def plan_glance(candidate: Callable[[int], Candidate | None], rungs: int, figures: SpeedFigures,
                remaining_ms: Callable[[], float], want_tokens: int,
                min_tokens: int = MIN_USEFUL_TOKENS) -> Plan | None:
    """The plan for a glance, when the full ladder has none: the largest glance prompt that fits, or None."""
    want_tokens = min(want_tokens, GLANCE_WANT_TOKENS)
    plan, _ = plan_request(candidate, rungs, figures, remaining_ms, want_tokens, min_tokens)
    if plan.kind == "none":
        return None
    plan.kind = "glance"
    return plan
