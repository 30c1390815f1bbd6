"""The language server pointed at a real OpenAI-compatible server: llama-cpp-python's own server on 127.0.0.1
serving the default model. Completions and a streamed explanation end to end; the server killed mid-stream and
restarted; a wrong API key.

llama-cpp-python's server has no llama.cpp /infill or /completion routes: that dialect is covered against recorded
payload shapes in tests/unit/test_remote_payloads.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcServerError
from tests.lsp.harness import inline, open_doc, running_server, stats_of, to_dict
from tests.remote.server import LlamaCppServer, llama_cpp_server

pytestmark = pytest.mark.model

SOURCE = '''import math


def circle_area(radius):
    """Return the area of a circle."""
    return math.pi * radius * radius


def parse_settings(text):
    """Parse "key = value" lines into a dict, skipping comments and blank lines."""
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        settings[key.strip()] = value.strip()
    return settings


def circle_circumference(radius):
    """Return the circumference of a circle."""
    return '''

LAST_LINE = len(SOURCE.split("\n")) - 1
LAST_COL = len(SOURCE.split("\n")[-1])
PARSE_SETTINGS = {"line": 10, "character": 8}  # inside parse_settings


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "settings.py").write_text(SOURCE)
    return ws


@pytest.fixture
def server(default_model: Path, tmp_path: Path) -> Iterator[LlamaCppServer]:
    with llama_cpp_server(default_model, tmp_path) as srv:
        yield srv


def remote_options(url: str, **engine: Any) -> dict[str, Any]:
    # A generous budget: this machine's two cores are shared with other test runs.
    return {"latencyBudgetMs": 30000, "engine": {"kind": "openai", "url": url, "timeoutMs": 60000, **engine}}


def explain_params(uri: str, stream_id: str) -> types.ExecuteCommandParams:
    return types.ExecuteCommandParams(command="codehearth.explain", arguments=[uri, PARSE_SETTINGS, {"id": stream_id}])


async def wait_until(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        await asyncio.sleep(step)
    return bool(predicate())


async def test_completion_and_streamed_explanation(workspace: Path, tmp_path: Path, server: LlamaCppServer) -> None:
    uri = (workspace / "settings.py").as_uri()
    chunks: list[dict[str, Any]] = []
    async with running_server(workspace, tmp_path / "cache", remote_options(server.url)) as client:

        @client.feature("codehearth/explainChunk")
        def on_chunk(params: Any) -> None:
            chunks.append(to_dict(params))

        stats = await stats_of(client)
        assert stats["state"] == "ready", stats
        open_doc(client, uri, SOURCE)
        suggestion = await inline(client, uri, LAST_LINE, LAST_COL)
        assert suggestion.strip(), "the remote model gave no suggestion"
        stats = await stats_of(client)
        assert stats["modelCalls"] >= 1 and stats["tokensGenerated"] >= 1 and stats["errors"] == 0

        result = to_dict(await client.workspace_execute_command_async(explain_params(uri, "e1")))
        assert result["id"] == "e1" and result["text"].strip() and result["cached"] is False
        await wait_until(lambda: any(c["done"] for c in chunks), 5)
        assert all(c["id"] == "e1" for c in chunks)
        pieces = [c for c in chunks if not c["done"]]
        assert len(pieces) >= 3, "the explanation did not stream"
        assert chunks[-1]["done"] is True and "error" not in chunks[-1]
        assert "".join(c["text"] for c in pieces).strip() == result["text"]


async def test_server_killed_mid_stream_then_restarted(workspace: Path, tmp_path: Path,
                                                       server: LlamaCppServer) -> None:
    uri = (workspace / "settings.py").as_uri()
    chunks: list[dict[str, Any]] = []
    audit = tmp_path / "audit.jsonl"  # one line per request that went to the network
    options = {**remote_options(server.url, auditLog=str(audit)), "explain": {"maxTokens": 2000}}
    async with running_server(workspace, tmp_path / "cache", options) as client:

        @client.feature("codehearth/explainChunk")
        def on_chunk(params: Any) -> None:
            chunks.append(to_dict(params))

        open_doc(client, uri, SOURCE)
        assert (await inline(client, uri, LAST_LINE, LAST_COL)).strip()

        # Kill the server as soon as the explanation streams.
        explanation = asyncio.ensure_future(client.workspace_execute_command_async(explain_params(uri, "k1")))
        assert await wait_until(lambda: len(chunks) >= 2, 60), "the explanation never started streaming"
        assert not any(c["done"] for c in chunks), "the explanation ended before the server could be killed"
        server.kill()
        with pytest.raises(JsonRpcServerError) as err:  # an answer, not a timeout
            await asyncio.wait_for(explanation, 30)
        await wait_until(lambda: chunks[-1]["done"], 5)
        last = chunks[-1]
        assert last["done"] is True and "closed the stream mid-generation" in last["error"]
        assert (err.value.code, err.value.message) == (-32000, last["error"])  # the same reason both ways

        # The language server stays up; completions answer empty at once while the server is down.
        sent = len(audit.read_text().splitlines())
        assert await inline(client, uri, LAST_LINE, LAST_COL - 1) == ""
        assert len(audit.read_text().splitlines()) == sent  # at once: no network call while the breaker is open
        stats = await stats_of(client)
        assert stats["state"] == "ready" and stats["errors"] >= 1
        logged = [m.message for m in client.log_messages if "inference server" in m.message]
        assert logged, "the reason never reached the client's log"

        # The server comes back on the same address: completions recover without restarting the LSP.
        server.start()
        recovered = ""
        end = time.monotonic() + 60
        col = LAST_COL
        while not recovered and time.monotonic() < end:
            col = LAST_COL - 1 if col == LAST_COL else LAST_COL  # a new position each time (no cached answers)
            recovered = await inline(client, uri, LAST_LINE, col)
            if not recovered:
                await asyncio.sleep(0.5)
        assert recovered.strip(), "completions never recovered after the server came back"
        assert server.starts == 2


async def test_wrong_api_key_is_one_clear_message(default_model: Path, workspace: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEHEARTH_TEST_WRONG_KEY", "not-the-key")
    monkeypatch.setenv("CODEHEARTH_TEST_RIGHT_KEY", "team-secret")
    uri = (workspace / "settings.py").as_uri()
    with llama_cpp_server(default_model, tmp_path, api_key="team-secret") as server:
        options = remote_options(server.url, apiKeyEnv="CODEHEARTH_TEST_WRONG_KEY")
        async with running_server(workspace, tmp_path / "cache", options) as client:
            stats = await stats_of(client)
            assert stats["state"] == "error"
            assert stats["error"].startswith("the server rejected the API key")
            await wait_until(lambda: bool(client.messages), 5)
            errors = [m for m in client.messages if m.type == types.MessageType.Error]
            assert len(errors) == 1, [m.message for m in client.messages]
            assert "rejected the API key" in errors[0].message and "$CODEHEARTH_TEST_WRONG_KEY" in errors[0].message
            assert "not-the-key" not in errors[0].message
            open_doc(client, uri, SOURCE)
            assert await inline(client, uri, LAST_LINE, LAST_COL) == ""

            # Pointing the setting at the right variable recovers without a restart, and says nothing more.
            client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
                settings={"codehearth": remote_options(server.url, apiKeyEnv="CODEHEARTH_TEST_RIGHT_KEY")}))
            end = time.monotonic() + 30
            while (await stats_of(client))["state"] != "ready" and time.monotonic() < end:
                await asyncio.sleep(0.1)
            assert (await inline(client, uri, LAST_LINE, LAST_COL)).strip()
            assert len([m for m in client.messages if m.type == types.MessageType.Error]) == 1


def test_engine_api_against_the_real_server(server: LlamaCppServer) -> None:
    """Streaming, early stops, cancellation and connection reuse, through the engine API itself."""
    from codehearth.config import EngineSettings
    from codehearth.engine.base import CancelToken, ChatMessage, GenerationRequest
    from codehearth.engine.remote import make_remote_engine

    engine = make_remote_engine(EngineSettings(kind="openai", url=server.url, timeout_ms=60000))
    try:
        assert not engine.info.has_fim and engine.info.family == "smollm"  # SmolLM2 has no FIM tokens
        pool = engine._client._transport._pool  # type: ignore[attr-defined]

        def connections() -> list[int]:
            return [id(c) for c in pool.connections]

        seen: list[str] = []
        result = engine.generate(GenerationRequest(prompt=["def add(a, b):\n    return"], max_tokens=6,
                                                   on_text=seen.append))
        assert result.stop_reason == "length" and result.text and seen[-1] == result.text
        first = connections()
        assert len(first) == 1
        engine.generate(GenerationRequest(prompt=["def sub(a, b):\n    return"], max_tokens=6))
        assert connections() == first  # a stream read to its end leaves its connection for the next request

        result = engine.generate(GenerationRequest(prompt=["Once upon a time"], max_tokens=64,
                                                   should_stop=lambda text: len(text) > 5))
        assert result.stop_reason == "stop" and len(result.text) > 5
        assert connections() == []  # stopping early hangs up, so the server stops generating

        chat = engine.chat_prompt([ChatMessage("user", "Say hello.")])
        result = engine.generate(GenerationRequest(prompt=chat, max_tokens=16, purpose="chat"))
        assert result.text.strip()

        cancel = CancelToken()
        streamed: list[str] = []

        def on_text(text: str) -> None:
            streamed.append(text)
            if len(streamed) == 2:
                cancel.cancel()

        result = engine.generate(GenerationRequest(prompt=["Once upon a time, in a"], max_tokens=200,
                                                   cancel=cancel, on_text=on_text))
        assert result.stop_reason == "cancelled" and len(streamed) == 2
        assert engine.counters.calls == 5 and not engine.breaker.is_open
    finally:
        engine.close()


async def test_server_down_at_start_then_up(default_model: Path, workspace: Path, tmp_path: Path) -> None:
    """The editor starts before the shared server: the LSP reports the error once and connects by itself later."""
    uri = (workspace / "settings.py").as_uri()
    srv = LlamaCppServer(default_model, tmp_path)  # not started yet: its port is closed
    try:
        async with running_server(workspace, tmp_path / "cache", remote_options(srv.url)) as client:
            stats = await stats_of(client)
            assert stats["state"] == "error" and stats["error"]
            open_doc(client, uri, SOURCE)
            assert await inline(client, uri, LAST_LINE, LAST_COL) == ""
            await asyncio.to_thread(srv.start)

            async def ready() -> bool:
                return (await stats_of(client))["state"] == "ready"

            for _ in range(600):  # the LSP retries every few seconds
                if await ready():
                    break
                await asyncio.sleep(0.1)
            assert await ready()
            assert (await inline(client, uri, LAST_LINE, LAST_COL)).strip()
            errors = [m for m in client.messages if m.type == types.MessageType.Error]
            assert len(errors) == 1  # said once, not once per retry
    finally:
        srv.kill()
