"""Two roles over LSP with the real server and models: explain during a load, a memory budget too small."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcServerError
from tests.lsp.harness import (
    inline,
    open_doc,
    running_server,
    send_raw_request,
    stats_of,
    to_dict,
    wait_for_state,
)

from codehearth.models.registry import Registry

pytestmark = pytest.mark.model

SMOL = "smollm2-135m-instruct"
QWEN = "qwen2.5-coder-0.5b-instruct"
SOURCE = '''def total_value(items):
    """Return the value of all items in stock."""
    total = 0.0
    for item in items:
        total += item.price * item.quantity
    return total


def count(items):
    return len('''


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    if not Registry().is_present(QWEN):
        pytest.skip(f"{QWEN} is not downloaded (make model)")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "inv.py").write_text(SOURCE)
    return ws


async def test_explain_sent_during_load_is_answered_after_it(workspace: Path, tmp_path: Path) -> None:
    uri = (workspace / "inv.py").as_uri()
    options = {"completionModel": SMOL, "explanationModel": QWEN, "explain": {"maxTokens": 16}}
    async with running_server(workspace, tmp_path / "cache", options, wait_ready=False) as client:
        open_doc(client, uri, SOURCE)
        _, explaining = send_raw_request(client, "workspace/executeCommand", types.ExecuteCommandParams(
            command="codehearth.explain", arguments=[uri, {"line": 2, "character": 4}]))
        during = await stats_of(client)
        assert during["state"] in ("idle", "loading")  # sent before the models were ready
        result = to_dict(await asyncio.wait_for(explaining, 240))
        assert result["text"].strip() and result["cached"] is False
        after = await stats_of(client)
        assert after["state"] == "ready"
        assert after["models"]["explanation"]["model"] == QWEN and after["models"]["explanation"]["state"] == "ready"
        assert after["models"]["completion"]["model"] == SMOL
        assert after["model"] == f"{SMOL} + {QWEN}"
        reports = [getattr(r, "message", "") or "" for rs in client.progress_reports.values() for r in rs]
        assert any(m.startswith("waiting for ") for m in reports), reports
        assert not [m for m in client.messages if m.type == types.MessageType.Error]


async def test_a_memory_budget_too_small_gives_one_message_and_the_server_stays_up(
    workspace: Path, tmp_path: Path
) -> None:
    uri = (workspace / "inv.py").as_uri()
    async with running_server(workspace, tmp_path / "cache", {"model": "auto", "memoryBudgetMb": 50}) as client:
        stats = await stats_of(client)
        expected = ("no model for completions fits memoryBudgetMb 50 MB (50 MB left for it): the smallest, "
                    "smollm2-135m-instruct, needs about 189 MB; raise memoryBudgetMb or free memory")
        assert stats["state"] == "error" and stats["error"] == expected
        errors = [m.message for m in client.messages if m.type == types.MessageType.Error]
        assert errors == [f"codehearth: {expected}"]
        open_doc(client, uri, SOURCE)
        assert await inline(client, uri, 9, 15) == ""
        with pytest.raises(JsonRpcServerError) as failed:
            await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="codehearth.explain", arguments=[uri, {"line": 2, "character": 4}]))
        assert failed.value.code == -32000 and expected in str(failed.value)
        # Still serving: a budget that fits recovers without a restart.
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"codehearth": {"model": SMOL, "memoryBudgetMb": 1000}}))
        assert await wait_for_state(client, ("ready",), timeout=60) == "ready"
        assert len([m for m in client.messages if m.type == types.MessageType.Error]) == 1
