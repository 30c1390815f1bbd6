"""Smaller prompts for the planner: caps on sections, and the fixed order in which they shrink.

The prompt is laid out ``[snippets][path][prefix window] <suffix> [suffix] <middle> [typed part of the line]``
(engine/templates.py, PSM) and the engine keeps the longest common token prefix of the previous prompt in its
KV cache. Each rung of :data:`SHRINK_LADDER` caps one more section, in the order that costs the cached front
the least:

1. **snippets cut** (``snippet_tokens=128``): the frozen snippet list loses its tail; the KV of the snippets
   kept survives, everything from the first dropped snippet on is evaluated again.
2. **no snippets** (``snippet_tokens=0``): the front changes, so the first prompt at this rung is evaluated whole;
   later prompts at the same rung share their front (it is as stable as the full prompt's).
3. **fewer suffix lines** (``suffix_lines=8``, ``2``, ``0``): keeps the KV prefix of the rung above exactly
   (snippets, path and prefix window are the same); only the suffix and the typed part are evaluated again.
4. **fewer prefix lines** (``prefix_tokens=256``, ``96``): the prefix window starts lower, so it is evaluated
   again (the snippets and path in front of it are kept); then stable while typing at this rung.

A rung never adds to a section: each one's prompt has at most the tokens of the rung above.
"""

from __future__ import annotations

import msgspec


class BuildLimits(msgspec.Struct, frozen=True):
    """Caps on the sections of one prompt; ``None`` leaves a section to the budget shares of the settings.

    ``snippet_tokens``: the repository-snippet section (definitions, similar chunks; the scope header
    is part of the prefix window's budget). ``suffix_lines``: whole lines below the cursor's line (the rest
    of the cursor's line is always kept). ``prefix_tokens``: the prefix window (whole lines above the cursor).
    """

    snippet_tokens: int | None = None
    suffix_lines: int | None = None
    prefix_tokens: int | None = None


FULL = BuildLimits()

SHRINK_LADDER: tuple[BuildLimits, ...] = (
    FULL,
    BuildLimits(snippet_tokens=128),
    BuildLimits(snippet_tokens=0),
    BuildLimits(snippet_tokens=0, suffix_lines=8),
    BuildLimits(snippet_tokens=0, suffix_lines=2),
    BuildLimits(snippet_tokens=0, suffix_lines=0),
    BuildLimits(snippet_tokens=0, suffix_lines=0, prefix_tokens=256),
    BuildLimits(snippet_tokens=0, suffix_lines=0, prefix_tokens=96),
)
"""Rungs from the full prompt down, each at most as large as the one before (see the module docstring)."""

GLANCE_LADDER: tuple[BuildLimits, ...] = (
    BuildLimits(snippet_tokens=0, suffix_lines=0, prefix_tokens=48),
    BuildLimits(snippet_tokens=0, suffix_lines=0, prefix_tokens=32),
    BuildLimits(snippet_tokens=0, suffix_lines=0, prefix_tokens=16),
    BuildLimits(snippet_tokens=0, suffix_lines=0, prefix_tokens=0),
)
"""Prompts for a glance, largest first: only the lines right above the cursor, for when no rung of the ladder
fits the time left (the first request in a file just opened, on a slow machine). They are evaluated in the
engine's small context of their own, so the full prompt's KV state survives them."""
