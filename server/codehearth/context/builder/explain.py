"""Context for explaining a function: its text (cut when huge), its containers' headers and its callees."""

from __future__ import annotations

import msgspec

from codehearth.context.document import Document, FunctionSpan, Point
from codehearth.context.symbols import Definition

from .budget import TokenBudget
from .receivers import receivers
from .resolve import Resolver
from .sections import ExplainContext

MAX_SCAN_CHARS = 200_000  # of a huge function, only so much is scanned for receivers


def explain_context(
    budget: TokenBudget, resolver: Resolver, doc: Document, point: Point, budget_tokens: int
) -> ExplainContext | None:
    """The function at the point (cut to the budget when huge), its containers' headers and callees."""
    fn = doc.enclosing_function(Point(*point))
    if fn is None:
        return None
    total = max(1, int(budget_tokens))
    header_tokens = budget.fits(fn.header, total // 4) if fn.header else 0
    header = fn.header if header_tokens is not None else ""
    header_tokens = header_tokens or 0
    fn_limit = max(1, int((total - header_tokens) * 0.75))
    text = fn.text
    truncated = False
    n = budget.fits(text, fn_limit)
    if n is None:
        truncated = True
        kept: list[str] = []
        used = 0
        for line in text.splitlines(keepends=True):
            ln = budget.fits(line, fn_limit - used)
            if ln is None:
                if not kept:
                    kept.append(budget.head_fit(line, fn_limit) + "\n")
                break
            kept.append(line)
            used += ln
        text = "".join(kept)
        while text and budget.tokens(text) > fn_limit:
            text = text[: text.rstrip("\n").rfind("\n") + 1] if "\n" in text.rstrip("\n") else ""
        n = budget.tokens(text)
    function = FunctionSpan(name=fn.name, kind=fn.kind, start=fn.start, end=fn.end, text=text, header=fn.header)
    remaining = total - header_tokens - (n or 0)
    callees: list[Definition] = []
    if resolver.index is not None and remaining > 0:
        imports = resolver.import_map(doc)
        found = receivers(fn.text[:MAX_SCAN_CHARS])
        seen: set[tuple[str, int]] = set()
        for name in doc.called_names(fn):
            if name == fn.name:
                continue
            for d in resolver.resolve(name, doc, imports, found, (fn.start.row, fn.end.row))[:1]:
                if (d.path, d.start_line) in seen:
                    continue
                rendered = resolver.definition_text(d, remaining, budget)
                if rendered is None:
                    continue
                body, cost = rendered
                seen.add((d.path, d.start_line))
                shown = (
                    d
                    if body == d.text.rstrip("\n") + "\n"
                    else msgspec.structs.replace(d, text=body, truncated=True)
                )
                callees.append(shown)
                remaining -= cost
            if remaining <= 0:
                break
    return ExplainContext(function=function, header=header, callees=callees, truncated=truncated)
