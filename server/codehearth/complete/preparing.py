"""A request's preparation, on the planning thread: the cursor's surroundings, the prompt at each rung of the
shrink ladder the planner asks for, and the plan; when no rung fits, the glance's prompt and plan (``planner``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from codehearth.complete.generation import cursor_context, opens_block
from codehearth.complete.planner import WANT_TOKENS, Candidate, Plan, plan_glance, plan_request
from codehearth.complete.postprocess import CursorContext, Shape
from codehearth.complete.prompting import build_context, glance_size, ladder_size, prompt_pieces
from codehearth.config import Settings
from codehearth.context.builder import GLANCE_LADDER, ContextBuilder, PromptContext
from codehearth.context.document import Document, Point
from codehearth.engine.base import Engine, PromptPiece
from codehearth.engine.speed import SpeedFigures
from codehearth.engine.templates import prompt_text


@dataclass
class Prepared:
    """What the planning thread prepared for a request: the prompt and the plan."""

    cursor: CursorContext
    shape: Shape
    pieces: list[PromptPiece]
    key: str
    plan: Plan
    full_pieces: list[PromptPiece]  # the full prompt (rung 0): what to prefill in the background
    full_holds: tuple[bool, bool] = (False, False)  # the full prompt's suffix lines and definitions


def prompt_key(pieces: list[PromptPiece], shape: Shape) -> str:
    """The answer cache's key: the exact prompt and the shape asked for."""
    return prompt_text(pieces) + "\x00" + shape


def max_tokens(settings: Settings, shape: Shape) -> int:
    return settings.max_tokens_multi_line if shape == "block" else settings.max_tokens_single_line


def prepare_request(settings: Settings, builder: ContextBuilder, engine: Engine, doc: Document, point: Point,
                    remaining_ms: Callable[[], float],
                    was_prepared: Callable[[list[PromptPiece]], bool]) -> Prepared:
    """``remaining_ms``: time left before the deadline; ``was_prepared``: whether a prompt's cached part comes from
    a background prefill."""
    cursor = cursor_context(doc, point)
    shape: Shape = "block" if opens_block(doc, point) else "line"
    budget = settings.context.budget_tokens
    built: dict[int, list[PromptPiece]] = {}
    holds: dict[int, tuple[bool, bool]] = {}

    def pieces_at(rung: int) -> list[PromptPiece] | None:
        if rung not in built:
            context = build_context(builder, doc, point, budget, rung)
            if context is None:
                return None
            built[rung] = prompt_pieces(engine, context)
            holds[rung] = prompt_holds(context)
        return built[rung]

    speed = getattr(engine, "speed", None)
    cost_of = getattr(engine, "prompt_cost", None)
    if speed is None or cost_of is None:  # a remote engine: no rates, no view of its cache
        pieces = pieces_at(0) or []
        plan = Plan(kind="unplanned")
    else:
        want = min(WANT_TOKENS[shape], max_tokens(settings, shape))

        def candidate(rung: int) -> Candidate | None:
            pieces = pieces_at(rung)
            if pieces is None:
                return None
            return Candidate(rung=rung, cost=cost_of(pieces), prepared=was_prepared(pieces))

        figures = speed.figures(budget)
        plan, _ = plan_request(candidate, ladder_size(), figures, remaining_ms, want)
        pieces = built[plan.rung]
        plan.held_suffix, plan.held_definitions = holds.get(plan.rung, (False, False))
        if plan.kind == "none" and settings.glance_when_behind:
            glance = _glance(builder, engine, doc, point, budget, figures, remaining_ms, want)
            if glance is not None:
                plan, pieces = glance
    if plan.kind == "unplanned":
        plan.held_suffix, plan.held_definitions = holds.get(0, (False, False))
    return Prepared(cursor, shape, pieces, prompt_key(pieces, shape), plan, full_pieces=built.get(0, pieces),
                    full_holds=holds.get(0, (False, False)))


def prompt_holds(context: PromptContext) -> tuple[bool, bool]:
    """Whether a prompt holds lines below the cursor's line, and repository snippets (definitions)."""
    below = context.suffix.partition("\n")[2]
    return bool(below.strip()), bool(context.snippets)


def _glance(builder: ContextBuilder, engine: Engine, doc: Document, point: Point, budget: int,
            figures: SpeedFigures, remaining_ms: Callable[[], float],
            want: int) -> tuple[Plan, list[PromptPiece]] | None:
    """The largest glance prompt that fits, in the engine's glance context (embedded engine only)."""
    glance_cost = getattr(engine, "glance_cost", None)
    if glance_cost is None:
        return None
    glances: dict[int, list[PromptPiece]] = {}

    def candidate(rung: int) -> Candidate | None:
        context = build_context(builder, doc, point, budget, rung, GLANCE_LADDER)
        if context is None:
            return None
        glances[rung] = prompt_pieces(engine, context)
        cost = glance_cost(glances[rung])
        return Candidate(rung=rung, cost=cost) if cost is not None else None

    plan = plan_glance(candidate, glance_size(), figures, remaining_ms, want)
    return (plan, glances[plan.rung]) if plan is not None else None
