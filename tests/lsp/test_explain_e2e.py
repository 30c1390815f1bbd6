"""Explain this function over LSP with the real default model: code action, streaming, cache, cancel, priority."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled, JsonRpcServerError
from tests.lsp.harness import (
    code_action_command,
    inline,
    insert,
    open_doc,
    running_server,
    send_raw_request,
    stats_of,
    to_dict,
)

pytestmark = pytest.mark.model

SOURCE = '''"""Shapes."""

import math

RATIO = 2


class Circle:
    def __init__(self, radius):
        self.radius = radius

    def area(self):
        """Area of the circle."""
        return math.pi * self.radius ** 2


def scaled_area(circle, factor):
    bigger = Circle(circle.radius * factor)
    return bigger.area()
'''


def actions_at(line: int, character: int, uri: str) -> types.CodeActionParams:
    here = types.Position(line, character)
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(here, here),
        context=types.CodeActionContext(diagnostics=[]),
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "shapes.py").write_text(SOURCE)
    return ws


async def test_action_offered_only_inside_functions(workspace: Path, tmp_path: Path, default_model: Path) -> None:
    uri = (workspace / "shapes.py").as_uri()
    async with running_server(workspace, tmp_path / "cache", wait_ready=False) as client:
        open_doc(client, uri, SOURCE)
        inside = await client.text_document_code_action_async(actions_at(13, 10, uri))
        assert inside and "area" in inside[0].title
        command, arguments = code_action_command(inside[0])
        assert command == "codehearth.explain" and arguments[0] == uri
        for line in (0, 2, 4, 7):  # docstring, import, constant, class header
            assert not await client.text_document_code_action_async(actions_at(line, 0, uri))


async def test_explanation_streams_and_is_cached(workspace: Path, tmp_path: Path, default_model: Path) -> None:
    uri = (workspace / "shapes.py").as_uri()
    chunks: list[dict[str, Any]] = []
    async with running_server(workspace, tmp_path / "cache") as client:

        @client.feature("codehearth/explainChunk")
        def on_chunk(params: Any) -> None:
            chunks.append(to_dict(params))

        open_doc(client, uri, SOURCE)
        args = [uri, {"line": 17, "character": 8}, {"id": "first"}]
        result = to_dict(await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codehearth.explain", arguments=args)))
        await asyncio.sleep(0.2)
        mine = [c for c in chunks if c["id"] == "first"]
        assert len([c for c in mine if not c["done"]]) >= 2
        assert mine[-1]["done"] is True
        assert result["text"].strip() and not result["cached"]
        assert "".join(c["text"] for c in mine).strip() == result["text"].strip()

        again = to_dict(await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codehearth.explain", arguments=[uri, {"line": 17, "character": 8}])))
        assert again["cached"] is True and again["text"] == result["text"]


async def test_cancel_explain_notification(workspace: Path, tmp_path: Path, default_model: Path) -> None:
    uri = (workspace / "shapes.py").as_uri()
    chunks: list[dict[str, Any]] = []
    async with running_server(workspace, tmp_path / "cache") as client:

        @client.feature("codehearth/explainChunk")
        def on_chunk(params: Any) -> None:
            chunks.append(to_dict(params))
            if len(chunks) == 2:
                client.protocol.notify("codehearth/cancelExplain", {"id": "stop-me"})

        open_doc(client, uri, SOURCE)
        _, fut = send_raw_request(client, "workspace/executeCommand", types.ExecuteCommandParams(
            command="codehearth.explain", arguments=[uri, {"line": 12, "character": 8}, {"id": "stop-me"}]))
        with pytest.raises(JsonRpcRequestCancelled) as err:  # an answer, not a timeout
            await asyncio.wait_for(fut, 120)
        assert (err.value.code, err.value.message) == (-32800, "explanation cancelled")
        final = [c for c in chunks if c["done"]]
        assert final and final[-1].get("error") == "cancelled"
        # Stopped within a token or two of the cancel, long before the 384-token limit.
        assert len(chunks) <= 6


async def test_no_function_here_is_a_clear_error(workspace: Path, tmp_path: Path, default_model: Path) -> None:
    uri = (workspace / "shapes.py").as_uri()
    async with running_server(workspace, tmp_path / "cache") as client:
        open_doc(client, uri, SOURCE)
        _, fut = send_raw_request(client, "workspace/executeCommand", types.ExecuteCommandParams(
            command="codehearth.explain", arguments=[uri, {"line": 4, "character": 0}]))
        with pytest.raises(JsonRpcServerError) as err:
            await asyncio.wait_for(fut, 30)
        assert (err.value.code, err.value.message) == (-32000, "no function or method at this position")


async def test_completions_keep_their_cache_while_explaining(
    workspace: Path, tmp_path: Path, default_model: Path
) -> None:
    """An explanation streams in its own llama context: completions asked while it streams are answered by the model
    and keep reusing their KV cache."""
    uri = (workspace / "shapes.py").as_uri()
    text = SOURCE + "\n\ndef perimeter(circle):\n    return "
    chunks: list[dict[str, Any]] = []
    options = {"latencyBudgetMs": 3000, "explain": {"maxTokens": 1024}}
    async with running_server(workspace, tmp_path / "cache", options) as client:

        @client.feature("codehearth/explainChunk")
        def on_chunk(params: Any) -> None:
            chunks.append(to_dict(params))

        open_doc(client, uri, text)
        line = text.count("\n")
        col = len(text.split("\n")[-1])
        assert await inline(client, uri, line, col)
        _, explain = send_raw_request(client, "workspace/executeCommand", types.ExecuteCommandParams(
            command="codehearth.explain", arguments=[uri, {"line": 17, "character": 8}, {"id": "long"}]))
        for _ in range(1200):  # a hang detector (at most 120 s), not a threshold: the explanation has begun
            if chunks:
                break
            await asyncio.sleep(0.1)
        before = await stats_of(client)
        texts = []
        for i, ch in enumerate("2 * math.pi"):
            insert(client, uri, i + 2, line, col, ch)
            col += 1
            texts.append(await inline(client, uri, line, col))
        after = await stats_of(client)
        streaming = bool(chunks) and not any(c["done"] for c in chunks)
        client.protocol.notify("codehearth/cancelExplain", {"id": "long"})
        with pytest.raises(JsonRpcRequestCancelled):  # cancelled while still streaming: it had not ended
            await asyncio.wait_for(explain, 120)
        assert streaming, chunks[-1:]  # every completion below was answered while the explanation streamed
        assert all(texts), texts
        assert after["modelCalls"] > before["modelCalls"], (before, after)
        evaluated = after["tokensEvaluated"] - before["tokensEvaluated"]
        reused = after["tokensReused"] - before["tokensReused"]
        assert reused > 5 * evaluated, (reused, evaluated)
