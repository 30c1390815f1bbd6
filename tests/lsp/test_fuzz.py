"""A seeded protocol fuzz against the real server and the real default model (issue 14).

2,000 messages over the lsprotocol types of every registered method, valid and corrupted (the generator and
its verdict live in benchmarks/reliability/fuzz.py; ``make bench`` runs 20,000). Exact outcomes: every request
id answered exactly once, as many id-less errors as unreadable messages were sent, no -32603, no error pop-up,
the process alive and exiting 0 after shutdown + exit, and a normal completion at the end answered with text
by the model (the server's count of model answers one higher).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.reliability.fuzz import run_fuzz, verdict

pytestmark = pytest.mark.model


@pytest.mark.timeout(300)
def test_fuzz_2000_messages(tmp_path: Path, default_model: Path) -> None:
    result = run_fuzz(2000, seed=14, work=tmp_path)
    assert verdict(result) == [], result
    assert result["requests_with_id"] >= 500  # the run really asked a lot
    assert result["mix"]["valid"] >= 800 and sum(v for k, v in result["mix"].items() if k != "valid") >= 600
    assert result["response_codes"].get("-32602", 0) > 0 and result["response_codes"].get("-32601", 0) > 0
