"""From a position to the engine's prompt pieces, at each rung of the shrink ladder.

The one place that asks the context builder for a prompt on the completion path. The builder's ladder (sections
shrink in a fixed order that keeps the cached front of the prompt stable: repository snippets, then suffix lines,
then prefix lines) is walked by the planner, one rung at a time.
"""

from __future__ import annotations

from codehearth.context.builder import (
    GLANCE_LADDER,
    SHRINK_LADDER,
    BuildLimits,
    ContextBuilder,
    PromptContext,
)
from codehearth.context.document import Document, Point
from codehearth.engine.base import Engine, PromptPiece
from codehearth.engine.templates import OtherFile, fim_prompt


def ladder_size() -> int:
    return len(SHRINK_LADDER)


def glance_size() -> int:
    return len(GLANCE_LADDER)


def build_context(builder: ContextBuilder, doc: Document, point: Point, budget_tokens: int,
                  rung: int, ladder: tuple[BuildLimits, ...] = SHRINK_LADDER) -> PromptContext | None:
    """The prompt context at ``rung`` of the builder's shrink ladder (0: the full prompt), or None past its end;
    ``ladder=GLANCE_LADDER`` for a glance's prompts."""
    if rung >= len(ladder):
        return None
    return builder.build(doc, point, budget_tokens, limits=ladder[rung])


def prompt_pieces(engine: Engine, context: PromptContext) -> list[PromptPiece]:
    return fim_prompt(
        engine.info,
        prefix=context.prefix,
        suffix=context.suffix,
        middle_start=typed_in_prompt(context.line_prefix),
        path=context.path,
        language=context.language,
        other_files=[OtherFile(s.path, s.text) for s in context.snippets],
    )


def typed_in_prompt(line_prefix: str) -> str:
    """The part of the cursor's line that goes after the FIM middle token: none when it is only indentation.

    A middle that starts with bare indentation is not where a model's training put one: it would write
    ``"   " + " if"`` for an indented ``if``, and after our ``"    "`` its likeliest next token is the end. On the
    408 HumanEval lines, Qwen2.5-Coder-0.5B generated nothing at all for 88 of them (llama-server's PSM, which
    keeps the indentation in the prefix, 10). So the model writes the indentation itself, and
    :func:`without_typed_indent` takes what the user already typed back off its output.
    """
    return line_prefix if line_prefix.strip() else ""


def without_typed_indent(text: str, line_prefix: str) -> str:
    """The model's output as a continuation of the cursor, when :func:`typed_in_prompt` left the indentation out."""
    if not line_prefix or line_prefix.strip():
        return text
    if text.startswith(line_prefix):
        return text[len(line_prefix) :]  # deeper indentation than typed stays (it is part of the suggestion)
    first, newline, rest = text.partition("\n")
    return first.lstrip(" \t") + newline + rest  # less than typed: the typed indentation stands


def refresh_snippets(builder: ContextBuilder, doc: Document, point: Point) -> bool:
    """Let the builder renew its repository snippets now that the user pauses; True when they changed."""
    return builder.refresh_snippets(doc, point)
