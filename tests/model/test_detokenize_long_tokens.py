"""Tokens longer than 32 bytes reach the text (llama-cpp-python's detokenize dropped them: its buffer is 32 bytes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codehearth.engine.native import NativeModel

pytestmark = pytest.mark.model

TEXT = "class A:\n    # " + "-" * 64 + "\n" + " " * 40 + "x = 1\n"


def test_long_tokens_round_trip(qwen_model: Path) -> None:
    model = NativeModel(qwen_model)
    try:
        tokens = model.tokenize(TEXT.encode(), add_bos=False, special=False)
        pieces = model.pieces(tokens)
        assert max(len(p) for p in pieces) > 32  # the case this test is about is in the text
        assert model.detokenize(tokens) == TEXT.encode()
        assert b"".join(pieces) == TEXT.encode()
    finally:
        model.close()
