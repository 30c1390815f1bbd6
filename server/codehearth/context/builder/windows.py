"""The windows of the current document around the cursor: whole lines above (prefix) and below (suffix).

Both are anchored so that they stay the same while the user types, because the engine's KV cache keeps only
the longest common token prefix of consecutive prompts:

- the prefix window's first row is kept while the lines from it to the cursor fit its budget. When they no
  longer fit (after many new lines) or the cursor left the window, it is anchored again so that the window
  takes ``PREFIX_FILL`` of its budget, leaving room for the lines typed next: its start moves in large steps
  (one full re-evaluation of the window every few dozen lines), not one line per Enter;
- the suffix keeps the same number of whole lines below the cursor's line: the text below is unchanged by
  typing on the line or by Enter (the new line is the cursor's), so the suffix text is too.
"""

from __future__ import annotations

from codehearth.context.document import Document

from .budget import MAX_CHARS_PER_TOKEN, TokenBudget

PREFIX_QUANTUM = 8  # an anchored prefix window starts on a multiple of this row (never more lines)
PREFIX_FILL = 0.7  # share of its budget an anchored prefix window takes: the rest is room for new lines
PREFIX_LOW = 0.25  # a window below this share of its budget (the cursor jumped up) is anchored again
# At the start of a line a kept window must leave this share of its budget free: the line about to be typed
# shrinks the budget, and moving the window now (at Enter, when the suffix is evaluated again anyway) is better
# than in the middle of the line.
LINE_ROOM = 0.05
SUFFIX_LOW = 0.5  # an anchored suffix below this share of its budget (more lines appeared below) is refilled
EXTRA_FILL = 0.85  # share of the leftover the extra suffix lines take when anchored (top of file reached)
EXTRA_LOW = 0.5


def lines_text(doc: Document, start: int, end: int) -> str:
    """Rows ``start`` to ``end`` (exclusive), each with its newline except the document's last line."""
    last = doc.line_count - 1
    return "".join(doc.line(r) + ("\n" if r < last else "") for r in range(start, end))


def window_fit(tb: TokenBudget, doc: Document, start: int, row: int, limit: int) -> tuple[str, int] | None:
    """The prefix window ``[start, row)`` and its tokens when it fits in ``limit``, else None (cheap rejects)."""
    if start > row or row - start > max(limit, 0):  # every line costs at least one token (its newline)
        return None
    chars = 0
    for r in range(start, row):
        chars += len(doc.line(r)) + 1
        if chars > limit * MAX_CHARS_PER_TOKEN:
            return None
    text = lines_text(doc, start, row)
    n = tb.fits(text, limit)
    return None if n is None else (text, n)


def fill_start(tb: TokenBudget, doc: Document, row: int, limit: int) -> int:
    """First row of a window of whole lines above ``row`` within ``limit`` tokens, on a ``PREFIX_QUANTUM`` row."""
    used = 0
    start = row
    r = row - 1
    while r >= 0:
        n = tb.fits(doc.line(r) + "\n", limit - used)
        if n is None:
            break
        used += n
        start = r
        r -= 1
    if start > 0:
        quantized = -(-start // PREFIX_QUANTUM) * PREFIX_QUANTUM
        if quantized < row:
            start = quantized
    return start


def anchored_start(tb: TokenBudget, doc: Document, row: int, limit: int) -> tuple[int, str, int]:
    """A new anchor for the prefix window: (start, text, tokens), the window taking ``PREFIX_FILL`` of ``limit``."""
    start = fill_start(tb, doc, row, int(limit * PREFIX_FILL))
    text = lines_text(doc, start, row)
    n = tb.tokens(text)
    while n > limit and text:  # tokenizers are not additive: trim until it fits
        text = text.split("\n", 1)[1] if "\n" in text else ""
        start += 1
        n = tb.tokens(text)
    return start, text, n


def suffix_window(
    tb: TokenBudget,
    doc: Document,
    row: int,
    rest: str,
    limit: int,
    anchor: int | None = None,
    cap: int | None = None,
) -> tuple[str, int, int]:
    """The rest of the cursor's line and whole lines below within ``limit``: (text, tokens, lines below).

    ``anchor``: keep that many lines below when they still fit (the suffix stays the same while typing);
    ``cap``: at most that many. Lines below is -1 when the rest of the line itself was cut.
    """
    first = tb.head_fit(rest, limit)
    if first != rest:
        return first, tb.tokens(first), -1  # the line is not complete: nothing may follow
    available = doc.line_count - 1 - row
    head = rest + "\n" if available > 0 else rest
    if tb.fits(head, limit) is None:
        return rest, tb.tokens(rest), -1
    if cap is not None:
        available = min(available, max(cap, 0))
    if anchor is not None and 0 <= anchor <= available:
        text = head + lines_text(doc, row + 1, row + 1 + anchor)
        n = tb.fits(text, limit)
        if n is not None and (anchor == available or n >= SUFFIX_LOW * limit):
            return text, n, anchor
    used = tb.tokens(head)
    more, _n, count = lines_below(tb, doc, row + 1, limit - used, available)
    text = head + more
    n = tb.tokens(text)
    while n > limit and count > 0:  # not additive: drop lines until it fits
        count -= 1
        text = head + lines_text(doc, row + 1, row + 1 + count)
        n = tb.tokens(text)
    return text, n, count


def lines_below(
    tb: TokenBudget, doc: Document, first_row: int, limit: int, most: int | None = None
) -> tuple[str, int, int]:
    """Whole lines from ``first_row`` down within ``limit`` (at most ``most``): (text, summed tokens, count)."""
    parts: list[str] = []
    used = 0
    end = doc.line_count if most is None else min(doc.line_count, first_row + max(most, 0))
    r = first_row
    while r < end and used < limit:
        text = doc.line(r) + ("\n" if r + 1 < doc.line_count else "")
        n = tb.fits(text, limit - used)
        if n is None:
            break
        parts.append(text)
        used += n
        r += 1
    return "".join(parts), used, r - first_row


def extra_lines(
    tb: TokenBudget, doc: Document, first_row: int, base: str, base_tokens: int, leftover: int, anchor: int | None
) -> tuple[str, int, int]:
    """More suffix lines from ``first_row`` for the ``leftover`` of the budget: (suffix text, its tokens, count).

    Anchored like the windows: the same count while it fits, else ``EXTRA_FILL`` of the leftover.
    """
    available = doc.line_count - first_row
    if available <= 0 or leftover <= 0:
        return base, base_tokens, 0
    if anchor is not None and 0 <= anchor <= available:
        text = base + lines_text(doc, first_row, first_row + anchor)
        n = tb.fits(text, base_tokens + leftover)
        if n is not None and (anchor == available or n - base_tokens >= EXTRA_LOW * leftover):
            return text, n, anchor
    _more, _n, count = lines_below(tb, doc, first_row, int(leftover * EXTRA_FILL))
    text = base + lines_text(doc, first_row, first_row + count)
    n = tb.tokens(text)
    while n > base_tokens + leftover and count > 0:
        count -= 1
        text = base + lines_text(doc, first_row, first_row + count)
        n = tb.tokens(text)
    return text, n, count
