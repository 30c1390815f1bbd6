"""Token healing: complete a half-typed word as the model would have written it, not from where the tokenizer cut it.

A prompt that ends in the middle of a word ends in a token boundary training seldom saw: ``    retu`` tokenizes as
``"   ", " ret", "u"``, where the model itself would write `` return`` as one token, so what it predicts after ``u``
is poor, and the editor benchmark's ceiling found most of our misses there (a half-typed word, or a typed space
followed by a model's space-led word). So the engine takes back the last few tokens of the typed text (the end of
the last word, or the one token of a space or punctuation) and constrains the first tokens it generates to spell
them out again: each must begin with what is left of the taken-back text, or be a prefix of it. The taken-back
text is not part of the answer; the caller sees only what comes after it, as without healing.

The log-probability of a constrained token is taken among the tokens allowed at that step (the model's belief
given what is typed), so the confidence gate judges the suggestion, not the tokenizer's cut.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence

import numpy as np

from codehearth.engine.base import GenerationRequest
from codehearth.engine.native import NativeModel

log = logging.getLogger(__name__)

MAX_HEALED_TOKENS = 4  # a word's tail; more would make the model rewrite what is typed
MAX_HEALED_BYTES = 32


def _word_byte(byte: int) -> bool:
    return chr(byte).isalnum() or byte == ord("_") or byte >= 0x80  # UTF-8 continuation and lead bytes count


class Vocabulary:
    """The model's tokens as the bytes they spell, ordered, to find every token that starts with some bytes."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.pieces = list(pieces)  # by token id
        order = [t for t in sorted(range(len(pieces)), key=pieces.__getitem__) if pieces[t]]
        self._keys = [pieces[t] for t in order]
        self._tokens = np.array(order, dtype=np.intp)
        self.size = len(pieces)

    def starting_with(self, prefix: bytes) -> np.ndarray:
        # In byte order every key from ``prefix`` up to ``prefix`` followed by 0xff bytes starts with ``prefix``.
        lo = bisect.bisect_left(self._keys, prefix)
        hi = bisect.bisect_right(self._keys, prefix + b"\xff" * 64, lo=lo)
        return self._tokens[lo:hi]

    def _exactly(self, piece: bytes) -> list[int]:
        lo = bisect.bisect_left(self._keys, piece)
        hi = bisect.bisect_right(self._keys, piece, lo=lo)
        return [int(t) for t in self._tokens[lo:hi]]

    def allowed(self, remaining: bytes) -> np.ndarray:
        """Tokens that may come next while ``remaining`` is still to be spelled: those starting with all of it,
        and those that are a shorter prefix of it."""
        shorter = [t for end in range(1, len(remaining)) for t in self._exactly(remaining[:end])]
        return np.concatenate([self.starting_with(remaining), np.array(shorter, dtype=np.intp)])


def tokens_to_heal(tokens: Sequence[int], piece: Callable[[int], bytes], typed_bytes: int) -> tuple[int, bytes]:
    """How many tokens at the end of ``tokens`` to take back, and the bytes they spell: the last one (if it is
    typed text), and before it those that continue the same word, at most ``MAX_HEALED_TOKENS`` and
    ``MAX_HEALED_BYTES``; never more than the ``typed_bytes`` of the prompt's last text (nor a control token: those
    spell nothing)."""
    count, healed = 0, b""
    limit = min(MAX_HEALED_TOKENS, len(tokens))
    while count < limit:
        text = piece(tokens[len(tokens) - 1 - count])
        if not text or len(text) + len(healed) > min(MAX_HEALED_BYTES, typed_bytes):
            break
        if count and not (_word_byte(healed[0]) and _word_byte(text[-1])):
            break  # the word begins at the start of what is already taken back
        healed = text + healed
        count += 1
    return count, healed


class Healing:
    """One generation's healing: the bytes still to be spelled out by the tokens it generates."""

    def __init__(self, vocabulary: Vocabulary, healed: bytes) -> None:
        self.vocabulary = vocabulary
        self.remaining = healed

    @property
    def active(self) -> bool:
        return bool(self.remaining)

    def pick(self, logits: np.ndarray) -> tuple[int, float]:
        """The most likely allowed token, and its log-probability among the allowed ones."""
        allowed = self.vocabulary.allowed(self.remaining)  # never empty: the taken-back tokens spell it
        values = logits[allowed].astype(np.float64)
        best = int(np.argmax(values))
        top = float(values[best])
        logprob = -float(np.log(np.sum(np.exp(values - top))))
        return int(allowed[best]), logprob

    def consume(self, piece: bytes) -> bytes:
        """Record a generated token's bytes; returns the part of them beyond the healed text (what is shown)."""
        if not self.remaining:
            return piece
        if piece.startswith(self.remaining):
            visible = piece[len(self.remaining):]
            self.remaining = b""
            return visible
        assert self.remaining.startswith(piece), "a token outside the healing constraint"
        self.remaining = self.remaining[len(piece):]
        return b""


class Healer:
    """Heals the prompts of one model, with its vocabulary read once at load (~0.2 s for SmolLM2's 49k tokens,
    ~0.5 s for Qwen2.5's 152k here), so no read competes with a request's decode loop for the GIL and its measured
    rates (read on a thread at the first request instead, the real-model lock-out test failed once under load)."""

    def __init__(self, model: NativeModel) -> None:
        self._model = model
        self.vocabulary: Vocabulary | None = None

    def heal(self, request: GenerationRequest, tokens: list[int]) -> tuple[list[int], Healing | None]:
        """The prompt's tokens without the end of the typed word, and the healing that spells it out again; the
        prompt unchanged when it does not end in typed text (or the vocabulary could not be read)."""
        vocabulary = self.vocabulary
        last = request.prompt[-1] if request.prompt else None
        if not request.heal or vocabulary is None or not isinstance(last, str) or not last:
            return tokens, None  # e.g. a FIM prompt ending in its middle token: nothing typed on the line yet
        count, healed = tokens_to_heal(tokens, vocabulary.pieces.__getitem__, len(last.encode("utf-8")))
        if not count:
            return tokens, None
        return tokens[: len(tokens) - count], Healing(vocabulary, healed)

    def read_vocabulary(self) -> None:
        try:
            self.vocabulary = Vocabulary(self._model.pieces(range(self._model.n_vocab)))
        except Exception:
            log.exception("reading the vocabulary for token healing failed; completions go on without it")
