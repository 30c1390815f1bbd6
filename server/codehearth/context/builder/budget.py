"""Token counting for the builder: does a text fit, and the longest start or end of a text that fits."""

from __future__ import annotations

import re
from collections.abc import Callable

MAX_CHARS_PER_TOKEN = 32  # no tokenizer packs more into one token: longer text cannot fit

_WORD_BREAK = re.compile(r"[\s()\[\]{},;:.]")


class TokenBudget:
    """Counts with the model's tokenizer; rejects on length first so megabytes are never tokenized."""

    def __init__(self, count_tokens: Callable[[str], int]) -> None:
        self.count_tokens = count_tokens

    def tokens(self, text: str) -> int:
        return self.count_tokens(text) if text else 0

    def fits(self, text: str, limit: int) -> int | None:
        """Token count of ``text`` when it fits in ``limit``, else None (cheap reject on length)."""
        if limit <= 0:
            return None if text else 0
        if len(text) > limit * MAX_CHARS_PER_TOKEN:
            return None
        n = self.tokens(text)
        return n if n <= limit else None

    def tail_fit(self, text: str, limit: int) -> str:
        """The longest end of ``text`` within ``limit`` tokens, starting at a word boundary."""
        if self.fits(text, limit) is not None:
            return text
        if limit <= 0:
            return ""
        text = text[-limit * MAX_CHARS_PER_TOKEN :]
        lo, hi = 0, len(text)  # find the smallest cut that fits
        while lo < hi:
            mid = (lo + hi) // 2
            if self.tokens(text[mid:]) <= limit:
                hi = mid
            else:
                lo = mid + 1
        cut = lo
        m = _WORD_BREAK.search(text, cut)  # do not start mid-word
        if m is not None and m.start() < len(text):
            cut = m.start()
        return text[cut:]

    def head_fit(self, text: str, limit: int) -> str:
        """The longest start of ``text`` within ``limit`` tokens, ending at a word boundary."""
        if self.fits(text, limit) is not None:
            return text
        if limit <= 0:
            return ""
        text = text[: limit * MAX_CHARS_PER_TOKEN]
        lo, hi = 0, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.tokens(text[:mid]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        cut = lo
        last = max(text.rfind(c, 0, cut) for c in " \t()[]{},;:.")
        if last > 0:
            cut = last
        return text[:cut]
