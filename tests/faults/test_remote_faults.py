"""A remote engine that answers slowly, with garbage, with a web page, or with a stream cut short, behind the real
server: every completion is still answered, the cause is said once, and completions come back by themselves when
the remote server behaves again. Every request that left the machine is in the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.faults.common import Typist, logged, popups, until, write_workspace
from tests.faults.flaky_remote import flaky_remote
from tests.lsp.harness import running_server

EXPECTED_CAUSE = {
    "slow": None,  # a deadline, not a fault: answered empty, nothing to say
    "garbage": "not an event stream",
    "html": "not an event stream",
    "truncated": "closed the stream mid-generation",
}


@pytest.mark.parametrize("mode", sorted(EXPECTED_CAUSE))
async def test_misbehaving_remote_engine(mode: str, tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    audit = tmp_path / "audit.jsonl"
    with flaky_remote(slow_s=30) as remote:
        options = {"latencyBudgetMs": 1500, "keepGeneratingMs": 0,
                   "engine": {"kind": "openai", "url": remote.url, "model": "flaky-coder", "auditLog": str(audit)}}
        async with running_server(ws, tmp_path / "cache", options) as client:
            typist = Typist(client, ws)
            assert "radius" in await typist.complete()

            remote.mode = mode  # type: ignore[assignment]
            for ch in "abc":
                assert await typist.type_and_complete(ch) == ""  # answered, empty, never left hanging
                stats = await typist.alive()
                assert stats["state"] == "ready"
            cause = EXPECTED_CAUSE[mode]
            if cause is not None:
                assert cause in (stats["error"] or "")
                assert len(logged(client, cause)) >= 1

            remote.mode = "good"

            async def recovered() -> str:
                return await typist.type_and_complete("d")

            assert "radius" in await until(recovered, "completions after the remote server recovered")
            assert (await typist.alive())["error"] is None
            assert popups(client) == []  # a remote server's trouble is the log's business, never a pop-up
            if cause is not None:
                # Said once per distinct cause by each layer (the engine, the completion service), however many
                # requests failed and however often the breaker probed.
                assert len(logged(client, "inference server unavailable")) == 1
                assert len(logged(client, "completions unavailable")) == 1

    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert len(records) == remote.completions  # one record for every request that reached the server
    outcomes = {r["outcome"] for r in records}
    assert "ok" in outcomes
    assert ("deadline" if mode == "slow" else "error") in outcomes
    assert all(r["document"] == str(ws / "circles.py") and r["redactions"] == 0 for r in records)
