"""A resolved definition as prompt text: the body when it fits, else what says most in fewer tokens."""

from __future__ import annotations

from codehearth.context.index import WorkspaceIndex
from codehearth.context.symbols import Definition

from ..budget import TokenBudget

_OUTLINED_KINDS = ("class", "struct", "interface", "trait", "enum", "type")


def definition_text(
    index: WorkspaceIndex | None, d: Definition, limit: int, fits: TokenBudget
) -> tuple[str, int] | None:
    """The body when it fits, else an outline (classes) or signature + docstring line."""
    body = d.text.rstrip("\n") + "\n"
    if not d.truncated:
        n = fits.fits(body, limit)
        if n is not None and n <= max(limit // 2, 1):
            return body, n
    parts = [d.signature]
    if d.doc:
        indent = " " * (len(d.signature) - len(d.signature.lstrip()) + 4)
        parts.append(f'{indent}"""{d.doc}"""' if d.language == "python" else f"{indent}// {d.doc}")
    head = "\n".join(parts) + "\n"
    n = fits.fits(head, limit)
    if n is None:
        head = d.signature + "\n"
        n = fits.fits(head, limit)
        if n is None:
            return None
    if d.kind not in _OUTLINED_KINDS or index is None:
        return head, n
    # a class too big to show whole: its outline, as many member signatures as fit
    lines = [head]
    used = n
    for member in index.definitions_in(d.path):
        if (
            member.container != d.name
            or member.start_line < d.start_line
            or member.start_line > d.end_line
        ):
            continue
        line = member.signature.rstrip() + "\n"
        cost = fits.fits(line, limit - used)
        if cost is None:
            break
        lines.append(line)
        used += cost
    text = "".join(lines)
    total = fits.tokens(text)
    while total > limit and len(lines) > 1:  # not additive: drop members until it fits
        lines.pop()
        text = "".join(lines)
        total = fits.tokens(text)
    return (text, total) if total <= limit else None
