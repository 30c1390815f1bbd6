"""The plan per request, from token counts and fixed speed figures (no model, no clock)."""

from __future__ import annotations

from codehearth.complete.planner import OVERHEAD_MS, Candidate, Plan, affordable_tokens, plan_request
from codehearth.engine.base import PromptCost
from codehearth.engine.speed import SpeedFigures

# 100 prompt tokens/s (10 ms each), 20 generated tokens/s (50 ms each)
SLOW = SpeedFigures(prompt_tokens_per_s=100.0, generated_tokens_per_s=20.0)


def ladder(*costs: tuple[int, int], prepared: int = -1) -> list[Candidate]:
    return [Candidate(rung=i, cost=PromptCost(prompt_tokens=p, cached_tokens=c), prepared=i == prepared)
            for i, (p, c) in enumerate(costs)]


def plan(candidates: list[Candidate], remaining_ms: float, want: int = 12) -> tuple[Plan, int]:
    built: list[int] = []

    def candidate(rung: int) -> Candidate | None:
        if rung >= len(candidates):
            return None
        built.append(rung)
        return candidates[rung]

    chosen, _ = plan_request(candidate, len(candidates), SLOW, lambda: remaining_ms, want)
    return chosen, len(built)


def test_affordable_tokens() -> None:
    # 1000 ms - overhead - 30 new tokens x 10 ms = 685 ms -> 13 tokens at 50 ms
    assert affordable_tokens(SLOW, 30, 1000) == int((1000 - OVERHEAD_MS - 300) * 20 / 1000)
    assert affordable_tokens(SLOW, 200, 1000) == 0


def test_a_warm_cache_takes_the_full_prompt_and_builds_nothing_else() -> None:
    chosen, built = plan(ladder((900, 895), (500, 0), (250, 0)), 1000)
    assert (chosen.kind, chosen.rung, chosen.new_tokens, chosen.expected_tokens) == ("full", 0, 5, 12)
    assert built == 1


def test_a_cold_cache_shrinks_the_prompt_until_it_fits() -> None:
    # 900 new tokens = 9 s; 500 = 5 s; 40 = 0.4 s + 12 tokens 0.6 s fits in 1.1 s
    chosen, built = plan(ladder((900, 0), (500, 0), (140, 100)), 1100)
    assert (chosen.kind, chosen.rung, chosen.new_tokens) == ("smaller", 2, 40)
    assert built == 3


def test_fewer_tokens_from_a_larger_prompt_before_nothing() -> None:
    # full: 20 new (200 ms) leaves 285 ms -> 5 tokens; no rung affords 12: the first with >= 4 wins
    chosen, _ = plan(ladder((900, 880), (500, 0)), 500)
    assert (chosen.kind, chosen.rung, chosen.expected_tokens) == ("fewer", 0, 5)


def test_nothing_fits_means_no_prefill_on_the_request() -> None:
    chosen, built = plan(ladder((900, 0), (500, 0), (250, 0)), 400)
    assert chosen.kind == "none" and chosen.rung == 0 and chosen.new_tokens == 900
    assert built == 3


def test_prepared_state_is_named_when_it_is_what_fits() -> None:
    chosen, _ = plan(ladder((900, 890), prepared=0), 1000)
    assert chosen.kind == "prepared" and chosen.new_tokens == 10
