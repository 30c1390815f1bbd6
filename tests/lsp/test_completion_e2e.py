"""The real server over stdio with the real default model: the way of a keystroke, end to end."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from tests.lsp.harness import (
    cancel_request,
    inline,
    inline_params,
    insert,
    open_doc,
    running_server,
    send_raw_request,
    stats_of,
    to_dict,
)

pytestmark = pytest.mark.model

SOURCE = '''import math


def circle_area(radius):
    """Return the area of a circle."""
    return math.pi * radius * radius


def circle_circumference(radius):
    """Return the circumference of a circle."""
    return '''


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "geometry.py").write_text(SOURCE)
    return ws


def end_of(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines) - 1, len(lines[-1])


async def test_capabilities_and_encoding(workspace: Path, tmp_path: Path, default_model: Path) -> None:
    async with running_server(workspace, tmp_path / "c1", encodings=["utf-16", "utf-8"], wait_ready=False) as c:
        caps = c.init_result.capabilities  # type: ignore[attr-defined]
        assert caps.position_encoding == "utf-8"  # preferred whenever offered
        assert caps.inline_completion_provider is not None
        assert caps.completion_provider is not None and not caps.completion_provider.trigger_characters
        assert caps.text_document_sync.change == types.TextDocumentSyncKind.Incremental
        assert "codehearth.explain" in caps.execute_command_provider.commands
    async with running_server(workspace, tmp_path / "c2", encodings=["utf-16"], wait_ready=False) as c:
        assert c.init_result.capabilities.position_encoding == "utf-16"  # type: ignore[attr-defined]


async def test_completion_then_typed_through_from_cache(workspace: Path, tmp_path: Path, default_model: Path) -> None:
    uri = (workspace / "geometry.py").as_uri()
    async with running_server(workspace, tmp_path / "cache") as client:
        open_doc(client, uri, SOURCE)
        line, col = end_of(SOURCE)
        suggestion = await inline(client, uri, line, col)
        assert suggestion.strip(), "the real model gave no suggestion"
        before = await stats_of(client)
        assert before["modelCalls"] >= 1 and before["state"] == "ready"

        # The user types the first characters of the suggestion: the rest comes from the cache, no model call.
        typed = suggestion[:2]
        insert(client, uri, 2, line, col, typed)
        rest = await inline(client, uri, line, col + len(typed))
        after = await stats_of(client)
        assert rest == suggestion[len(typed):]
        assert after["answeredFromCache"] == before["answeredFromCache"] + 1
        assert after["modelCalls"] == before["modelCalls"]


async def test_typing_a_line_evaluates_only_new_tokens(workspace: Path, tmp_path: Path, default_model: Path) -> None:
    uri = (workspace / "geometry.py").as_uri()
    async with running_server(workspace, tmp_path / "cache") as client:
        open_doc(client, uri, SOURCE)
        line, col = end_of(SOURCE)
        await inline(client, uri, line, col)
        first = await stats_of(client)
        version = 2
        for ch in "round(radius * 6.2832, 3)":
            insert(client, uri, version, line, col, ch)
            version += 1
            col += 1
            await inline(client, uri, line, col)
        last = await stats_of(client)
        evaluated = last["tokensEvaluated"] - first["tokensEvaluated"]
        reused = last["tokensReused"] - first["tokensReused"]
        calls = last["modelCalls"] - first["modelCalls"]
        assert calls >= 1
        # Each keystroke re-evaluates a few tokens at the end of the prompt, not the whole prompt.
        assert reused > 10 * evaluated, (evaluated, reused, calls)


async def test_burst_of_requests_with_cancels(workspace: Path, tmp_path: Path, default_model: Path) -> None:
    uri = (workspace / "geometry.py").as_uri()
    async with running_server(workspace, tmp_path / "cache", {"latencyBudgetMs": 1500}) as client:
        text = SOURCE
        open_doc(client, uri, text)
        line, col = end_of(text)
        futures = []
        typing = "2 * math.pi * radius  # the circumference of the circle, in units"
        for i in range(50):
            ch = typing[i]
            insert(client, uri, i + 2, line, col, ch)
            col += 1
            msg_id, fut = send_raw_request(client, types.TEXT_DOCUMENT_INLINE_COMPLETION,
                                           inline_params(uri, line, col))
            futures.append(fut)
            if i % 3 == 0:
                cancel_request(client, msg_id)
            await asyncio.sleep(0.005)
        done = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 60)
        assert len(done) == 50  # every request got an answer: a result or a cancellation error
        last = done[-1]
        assert not isinstance(last, BaseException)
        # The last answer is what a fresh request at the same state gives.
        fresh = await inline(client, uri, line, col)
        items = last.items if hasattr(last, "items") else last
        last_text = items[0].insert_text if items else ""
        assert last_text == fresh
        stats = await stats_of(client)
        assert stats["superseded"] + stats["cancelled"] > 0


async def test_config_change_applies_without_restart(workspace: Path, tmp_path: Path, default_model: Path) -> None:
    uri = (workspace / "geometry.py").as_uri()
    async with running_server(workspace, tmp_path / "cache") as client:
        open_doc(client, uri, SOURCE)
        line, col = end_of(SOURCE)
        assert await inline(client, uri, line, col)
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"codehearth": {"disabledLanguages": ["python"]}})
        )
        await asyncio.sleep(0.2)
        assert await inline(client, uri, line, col) == ""
        assert (await stats_of(client))["skipped"] >= 1
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"codehearth": {}}))
        await asyncio.sleep(0.2)
        assert await inline(client, uri, line, col)


async def test_missing_model_keeps_the_server_alive(workspace: Path, tmp_path: Path) -> None:
    uri = (workspace / "geometry.py").as_uri()
    missing = tmp_path / "nowhere" / "model.gguf"
    async with running_server(workspace, tmp_path / "cache", {"model": str(missing)}) as client:
        stats = await stats_of(client)
        assert stats["state"] == "error" and "model file not found" in stats["error"]
        errors = [m for m in client.messages if m.type == types.MessageType.Error]
        assert len(errors) == 1 and "model file not found" in errors[0].message
        open_doc(client, uri, SOURCE)
        line, col = end_of(SOURCE)
        assert await inline(client, uri, line, col) == ""
        # Still serving: stats answer, and a config change to a good model recovers without restart.
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"codehearth": {"model": "smollm2-135m-instruct"}})
        )
        for _ in range(200):
            if (await stats_of(client))["state"] == "ready":
                break
            await asyncio.sleep(0.1)
        assert await inline(client, uri, line, col)
        assert len([m for m in client.messages if m.type == types.MessageType.Error]) == 1


async def test_streamed_chunks_for_clients_that_ask(workspace: Path, tmp_path: Path, default_model: Path) -> None:
    uri = (workspace / "geometry.py").as_uri()
    chunks: list[dict] = []
    async with running_server(workspace, tmp_path / "cache", {"streamCompletionChunks": True}) as client:

        @client.feature("codehearth/completionChunk")
        def on_chunk(params: Any) -> None:  # (an "object" annotation would make pygls pass the client)
            chunks.append(to_dict(params))

        open_doc(client, uri, SOURCE)
        line, col = end_of(SOURCE)
        result = await client.text_document_inline_completion_async(inline_params(uri, line, col, token="tok-1"))
        for _ in range(100):
            if any(c["done"] for c in chunks):
                break
            await asyncio.sleep(0.05)
        assert chunks and all(c["token"] == "tok-1" for c in chunks)
        assert chunks[-1]["done"] is True
        assert result.items and chunks[-1]["text"] == result.items[0].insert_text


async def test_completion_fallback_gives_one_plain_item(workspace: Path, tmp_path: Path, default_model: Path) -> None:
    uri = (workspace / "geometry.py").as_uri()
    async with running_server(workspace, tmp_path / "cache") as client:
        open_doc(client, uri, SOURCE)
        line, col = end_of(SOURCE)
        result = await client.text_document_completion_async(
            types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri),
                                   position=types.Position(line, col))
        )
        items = result.items if isinstance(result, types.CompletionList) else result
        assert len(items) == 1
        item = items[0]
        assert item.insert_text_format == types.InsertTextFormat.PlainText
        assert item.text_edit.new_text.strip()
        assert item.text_edit.range.start == types.Position(line, col)


async def test_serve_over_tcp(tmp_path: Path) -> None:
    import socket

    from pygls.lsp.client import LanguageClient
    from tests.lsp.harness import SERVER, capabilities, server_env

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(*SERVER, "--tcp", f"127.0.0.1:{port}", env=server_env(tmp_path),
                                                stderr=asyncio.subprocess.DEVNULL)
    client = LanguageClient("tcp-test", "1")
    try:
        for _ in range(100):
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        result = await asyncio.wait_for(client.initialize_async(types.InitializeParams(capabilities=capabilities())), 30)
        assert result.capabilities.inline_completion_provider is not None
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        with contextlib.suppress(Exception):  # the connection is gone with the server
            await client.stop()
