"""From a position to the engine's prompt pieces, at each rung of the shrink ladder.

The one place that asks the context builder for a prompt on the completion path. The builder's ladder (sections
shrink in a fixed order that keeps the cached front of the prompt stable: repository snippets, then suffix lines,
then prefix lines) is used when the builder offers it; until then the ladder is the token budget alone.
"""

from __future__ import annotations

from typing import Any

from codehearth.context.builder import ContextBuilder, PromptContext
from codehearth.context.document import Document, Point
from codehearth.engine.base import Engine, PromptPiece
from codehearth.engine.templates import OtherFile, fim_prompt

# Used only while the builder has no SHRINK_LADDER: the share of the token budget at each rung.
BUDGET_LADDER = (1.0, 0.5, 0.25)


def _builder_ladder() -> tuple[Any, ...] | None:
    from codehearth.context import builder as module

    ladder = getattr(module, "SHRINK_LADDER", None)
    return tuple(ladder) if ladder else None


def ladder_size() -> int:
    ladder = _builder_ladder()
    return 1 + len(ladder) if ladder is not None else len(BUDGET_LADDER)


def build_context(builder: ContextBuilder, doc: Document, point: Point, budget_tokens: int,
                  rung: int) -> PromptContext | None:
    """The prompt context at ``rung`` (0: the full prompt), or None past the ladder's end.

    SWITCH POINT (issue 11, the "prompt" helper's API): with ``SHRINK_LADDER`` in context/builder this calls
    ``build(doc, point, budget, limits=SHRINK_LADDER[rung - 1])``; without it, the budget shrinks instead.
    """
    ladder = _builder_ladder()
    if ladder is not None:
        if rung == 0:
            return builder.build(doc, point, budget_tokens)
        if rung - 1 >= len(ladder):
            return None
        build: Any = builder.build
        return build(doc, point, budget_tokens, limits=ladder[rung - 1])  # type: ignore[no-any-return]
    if rung >= len(BUDGET_LADDER):
        return None
    return builder.build(doc, point, max(64, int(budget_tokens * BUDGET_LADDER[rung])))


def prompt_pieces(engine: Engine, context: PromptContext) -> list[PromptPiece]:
    return fim_prompt(
        engine.info,
        prefix=context.prefix,
        suffix=context.suffix,
        middle_start=context.line_prefix,
        path=context.path,
        language=context.language,
        other_files=[OtherFile(s.path, s.text) for s in context.snippets],
    )


def refresh_snippets(builder: ContextBuilder, doc: Document, point: Point) -> None:
    """Let the builder renew its repository snippets now that the user pauses (when it can)."""
    refresh = getattr(builder, "refresh_snippets", None)
    if refresh is not None:
        refresh(doc, point)
