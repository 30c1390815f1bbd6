"""Prompt assembly under a token budget.

The prompt is, in order (stable parts first so the engine's KV cache survives keystrokes):

1. snippets from other places: definitions of the symbols used near the cursor, resolved through the
   document's imports and the workspace index (signature + first docstring line; the body when it
   fits), similar chunks from recently opened/edited files (Jaccard over sliding line windows), and
   the enclosing scopes' headers when they scrolled out of the prefix window;
2. the file path;
3. the prefix window (whole lines above the cursor), the current line up to the cursor;
4. the suffix (rest of the line and whole lines below).

Every section is counted with the model's tokenizer (``count_tokens``) and the sum never exceeds the
budget. Budget shares are settings (``prefixShare``, ``suffixShare``, ``repoShare``).

Modules, by concern: ``assembly`` (the :class:`ContextBuilder` that lays out the sections), ``windows``
(anchored prefix and suffix windows of the current document), ``snippets`` (repository snippets: definitions,
similar chunks, scope headers), ``resolve`` (where a name is defined), ``receivers`` (``obj.name(``
scanning), ``explain`` (context for explanations), ``limits`` (smaller prompts for the planner), ``render`` (snippets as text), ``budget`` (token
fitting), ``sections`` (the structs handed out), ``paths``.
"""

from .assembly import ContextBuilder
from .limits import FULL, GLANCE_LADDER, SHRINK_LADDER, BuildLimits
from .paths import resolved_path
from .render import render_snippets, snippet_header
from .sections import ExplainContext, PromptContext, Section, Snippet

__all__ = [
    "FULL",
    "GLANCE_LADDER",
    "SHRINK_LADDER",
    "BuildLimits",
    "ContextBuilder",
    "ExplainContext",
    "PromptContext",
    "Section",
    "Snippet",
    "render_snippets",
    "resolved_path",
    "snippet_header",
]
