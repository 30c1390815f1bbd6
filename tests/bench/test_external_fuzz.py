"""The external zzuf fuzz (benchmarks/reliability/external_fuzz.py): its reading of what the server owes for a
mutated body, and a short run against the real server with no model (a few seconds), so CI keeps it working."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from benchmarks.reliability.external_fuzz import Run, owed, verdict, zzuf


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"jsonrpc": "2.0", "id": 7, "method": "x"}', ("answer", 7)),
    (b'{"jsonrpc": "1.0", "id": "a", "method": 3}', ("answer", "a")),  # invalid, but its id is readable
    (b'{"jsonrpc": "2.0", "method": "x"}', ("nothing", None)),  # a notification
    (b'{"jsonrpc": "2.0", "id": 7, "result": null}', ("nothing", None)),  # an answer to the server
    (b'{"jsonrpc": "2.0", "id": 7}', ("answer", 7)),  # no method: -32600 with its id
    (b'{"jsonrpc": "2.0", "id": true, "method": "x"}', ("null", None)),
    (b'{"jsonrpc": "2.0", "id": 1.5, "method": "x"}', ("null", None)),
    (b'{"jsonrpc": "2.0", "id": 7, "meth', ("null", None)),
    (b"[1]", ("null", None)),
    (b"\xff\xfe{", ("null", None)),
])
def test_owed_reads_a_body_as_json_rpc_does(body: bytes, expected: tuple[str, object]) -> None:
    assert owed(body) == expected


@pytest.mark.skipif(shutil.which("zzuf") is None, reason="zzuf is not installed (apt-get install -y zzuf)")
def test_zzuf_mutates_with_its_seed_and_keeps_protected_bytes() -> None:
    body = b'{"jsonrpc": "2.0", "id": 7, "method": "textDocument/completion"}'
    first = zzuf(body, 3, 0.02, protect='{}[]":,', refuse='{}[]":,')
    assert first == zzuf(body, 3, 0.02, protect='{}[]":,', refuse='{}[]":,') and first != body
    assert [c for c in first if chr(c) in '{}[]":,'] == [c for c in body if chr(c) in '{}[]":,']


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("zzuf") is None, reason="zzuf is not installed (apt-get install -y zzuf)")
def test_a_short_run_without_a_model_finds_nothing(tmp_path: Path) -> None:
    result = Run(tmp_path, seed=7, no_model=True).run(messages=250, seconds=60)
    assert verdict(result) == [], result
    assert result["messages"] >= 250 and result["modes"]["body"] > 0 and result["modes"]["stream"] > 0
    assert result["responses"] > 100 and result["settings_messages_reaching_handler"] > 0
