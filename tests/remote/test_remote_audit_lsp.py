"""The audit trail end to end: the language server pointed at llama-cpp-python's own server (tests/remote/server.py)
records every completion and explanation in its JSON-lines log, with the secrets of the open file redacted before they
leave, and counts the redactions in ``codehearth/stats``. The embedded engine writes nothing there."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types
from tests.lsp.harness import inline, open_doc, running_server, stats_of, to_dict
from tests.remote.server import LlamaCppServer, llama_cpp_server

pytestmark = pytest.mark.model

KEY_ID = "AKIA" + "Z7QXEXAMPLE4WJ2D"  # assembled here so that no scanner flags the repository
SOURCE = f'''import boto3

ACCESS_KEY = "{KEY_ID}"
DB_PASSWORD = "{"hunter2" + "-prod"}"


def client():
    """An S3 client for the uploads bucket."""
    return boto3.client("s3", aws_access_key_id=ACCESS_KEY)


def upload(path):
    '''
LAST = (len(SOURCE.split("\n")) - 1, len(SOURCE.split("\n")[-1]))


@pytest.fixture
def server(default_model: Path, tmp_path: Path) -> Iterator[LlamaCppServer]:
    with llama_cpp_server(default_model, tmp_path) as srv:
        yield srv


async def test_remote_requests_are_audited_and_redacted(tmp_path: Path, server: LlamaCppServer) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "storage.py").write_text(SOURCE)
    uri = (ws / "storage.py").as_uri()
    audit = tmp_path / "audit.jsonl"
    options = {"latencyBudgetMs": 30000, "engine": {"kind": "openai", "url": server.url, "timeoutMs": 60000,
                                                    "auditLog": str(audit), "auditFullPrompt": True}}
    async with running_server(ws, tmp_path / "cache", options) as client:
        open_doc(client, uri, SOURCE)
        await inline(client, uri, *LAST)
        result = to_dict(await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="codehearth.explain", arguments=[uri, {"line": 8, "character": 4}])))
        assert result["text"].strip()
        stats = await stats_of(client)

    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["purpose"] for r in records] == ["complete", "chat"]
    for r in records:
        assert r["engine"] == server.url and r["kind"] == "openai" and r["document"] == str(ws / "storage.py")
        assert r["outcome"] == "ok" and r["promptTokens"] > 0
        # The full prompt is here because this test asks for it (auditFullPrompt); the hash and the byte count
        # are of the prompt as it was sent, redacted.
        assert r["promptSha256"] == hashlib.sha256(r["prompt"].encode()).hexdigest()
        assert r["promptBytes"] == len(r["prompt"].encode())
    complete = records[0]
    assert complete["redactionKinds"] == {"aws-access-key-id": 1, "password-assignment": 1}
    assert '"[REDACTED:aws-access-key-id]"' in complete["prompt"]
    assert stats["redactions"] == sum(r["redactions"] for r in records) >= 2
    assert KEY_ID not in audit.read_text() and "hunter2" not in audit.read_text()


async def test_embedded_engine_writes_no_audit_log(tmp_path: Path, default_model: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("CODEHEARTH_STATE_DIR", str(state))
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "storage.py").write_text(SOURCE)
    uri = (ws / "storage.py").as_uri()
    async with running_server(ws, tmp_path / "cache") as client:
        open_doc(client, uri, SOURCE)
        await inline(client, uri, *LAST)
        stats = await stats_of(client)
    assert stats["state"] == "ready" and stats["redactions"] == 0
    assert not state.exists() or list(state.iterdir()) == []
