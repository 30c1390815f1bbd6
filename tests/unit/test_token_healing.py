"""Token healing's logic on a small vocabulary: which tokens are taken back, which may come next, what is shown."""

import numpy as np
import pytest

from codehearth.engine.healing import MAX_HEALED_TOKENS, Healing, Vocabulary, tokens_to_heal

PIECES = [b"", b"   ", b" ret", b"u", b"rn", b" return", b" re", b"t", b" x", b" =", b" ", b".", b".append",
          b"append", b"(", b"()", b"ab", b"cd", b"ef", b"gh", b"ij", b"\xc3", b"\xa9", b"caf", b"\xc3\xa9s"]
ID = {piece: i for i, piece in enumerate(PIECES)}
VOCAB = Vocabulary(PIECES)


def ids(*pieces: bytes) -> list[int]:
    return [ID[p] for p in pieces]


def heal_count(*pieces: bytes, typed_bytes: int = 100) -> int:
    return tokens_to_heal(ids(*pieces), lambda t: PIECES[t], typed_bytes)[0]


def test_the_tail_of_a_half_typed_word_is_taken_back_up_to_its_start() -> None:
    assert heal_count(b"   ", b" ret", b"u") == 2  # " retu": the space-led word, not the indentation before it


def test_a_typed_space_or_punctuation_is_one_token_taken_back() -> None:
    assert heal_count(b" x", b" =", b" ") == 1
    assert heal_count(b" x", b".") == 1
    assert heal_count(b" x", b"(") == 1


def test_never_more_than_the_typed_text_nor_a_control_token() -> None:
    assert heal_count(b"   ", b" ret", b"u", typed_bytes=1) == 1  # only "u" came from the typed text
    assert heal_count(b"   ", b" ret", b"u", typed_bytes=0) == 0
    assert heal_count(b"", b"u") == 1  # b"": a control token spells nothing, the word stops there
    assert heal_count(b"ab", b"cd", b"ef", b"gh", b"ij") == MAX_HEALED_TOKENS


def test_utf8_bytes_count_as_word_bytes() -> None:
    assert heal_count(b"   ", b"caf", b"\xc3", b"\xa9") == 3


def test_allowed_tokens_spell_out_the_taken_back_text() -> None:
    assert sorted(PIECES[t] for t in VOCAB.allowed(b" retu")) == [b" ", b" re", b" ret", b" return"]
    assert sorted(PIECES[t] for t in VOCAB.allowed(b".")) == [b".", b".append"]
    assert sorted(PIECES[t] for t in VOCAB.allowed(b"\xc3")) == [b"\xc3", b"\xc3\xa9s"]
    assert list(VOCAB.allowed(b"zz")) == []


def logits_favouring(*pieces: bytes, size: int = len(PIECES)) -> np.ndarray:
    logits = np.zeros(size, dtype=np.float32)
    for rank, piece in enumerate(pieces):
        logits[ID[piece]] = 10.0 - rank
    return logits


def test_a_constrained_pick_takes_the_best_allowed_token_and_its_share_among_them() -> None:
    healing = Healing(VOCAB, b" retu")
    # The model's favourite overall ("append") is not allowed; " return" is the best allowed token.
    token, logprob = healing.pick(logits_favouring(b"append", b" return", b" ret"))
    assert PIECES[token] == b" return"
    others = [0.0, 0.0, 8.0]  # " " and " re" (unranked), " ret" (ranked third), beside " return" at 9.0
    assert logprob == pytest.approx(-np.log(1 + sum(np.exp(v - 9.0) for v in others)))
    assert healing.consume(PIECES[token]) == b"rn"
    assert not healing.active
    assert healing.consume(b" x") == b" x"  # after the healed text, tokens pass unchanged


def test_healing_over_several_tokens_shows_nothing_until_the_text_is_spelled() -> None:
    healing = Healing(VOCAB, b" retu")
    assert healing.consume(b" re") == b""
    assert healing.remaining == b"tu"
    assert healing.consume(b"t") == b""
    assert healing.consume(b"u") == b""
    assert not healing.active
