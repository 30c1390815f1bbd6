"""Start the real server over stdio and talk to it as an editor would (pytest-lsp's client)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from benchmarks.latency.lsp_driver import keep_raw_results
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER = [sys.executable, "-m", "codehearth", "serve"]


def capabilities(encodings: list[str] | None = None, progress: bool = True) -> types.ClientCapabilities:
    caps = client_capabilities("visual-studio-code")
    caps.text_document.inline_completion = types.InlineCompletionClientCapabilities()  # type: ignore[union-attr]
    caps.general.position_encodings = encodings or ["utf-16"]  # type: ignore[union-attr]
    caps.window.work_done_progress = progress  # type: ignore[union-attr]
    return caps


def server_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["CODEHEARTH_CACHE_DIR"] = str(cache)
    env["CODEHEARTH_CONFIG"] = str(cache / "no-user-config.toml")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2] / "server"),
                                         env.get("PYTHONPATH", "")])
    return env


@contextlib.asynccontextmanager
async def running_server(
    workspace: Path,
    cache: Path,
    init_options: dict[str, Any] | None = None,
    encodings: list[str] | None = None,
    wait_ready: bool = True,
    initialized: bool = True,
) -> AsyncIterator[LanguageClient]:
    config = ClientServerConfig(server_command=SERVER, server_env=server_env(cache))
    client: LanguageClient = await config.start()
    keep_raw_results(client)  # codehearth/stats with its keys as the server wrote them ("typed-through", not "_1")
    statuses: list[Any] = []
    client.statuses = statuses  # type: ignore[attr-defined]

    @client.feature("codehearth/status")
    def on_status(params: Any) -> None:
        statuses.append(params)

    try:
        params = types.InitializeParams(
            capabilities=capabilities(encodings),
            process_id=os.getpid(),
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")],
            # One model for both roles unless a test says otherwise: `auto` would pick per machine.
            initialization_options={"latencyBudgetMs": 4000, "model": "smollm2-135m-instruct", **(init_options or {})},
        )
        client.capabilities = params.capabilities
        client.init_result = await client.initialize_async(params)  # type: ignore[attr-defined]
        if initialized:
            client.initialized(types.InitializedParams())
        if wait_ready and initialized:
            await wait_for_state(client, ("ready", "error"))
        yield client
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_session(), 10)
        server = getattr(client, "_server", None)
        if server is not None and server.returncode is None:
            server.kill()  # never leave a server behind, whatever happened above
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.stop(), 10)


async def wait_for_state(client: LanguageClient, states: tuple[str, ...], timeout: float = 120) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        stats = await stats_of(client)
        if stats["state"] in states:
            return str(stats["state"])
        await asyncio.sleep(0.1)
    raise TimeoutError(f"server never reached {states}")


async def stats_of(client: LanguageClient) -> dict[str, Any]:
    result = await client.protocol.send_request_async("codehearth/stats", None)
    return to_dict(result)


def to_dict(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if hasattr(obj, "_asdict"):
        return {k: to_dict(v) for k, v in obj._asdict().items()}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    return obj


def open_doc(client: LanguageClient, uri: str, text: str, language: str = "python", version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id=language, version=version,
                                                               text=text))
    )


def insert(client: LanguageClient, uri: str, version: int, line: int, character: int, text: str) -> None:
    here = types.Position(line, character)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [types.TextDocumentContentChangePartial(range=types.Range(here, here), text=text)],
        )
    )


async def inline(client: LanguageClient, uri: str, line: int, character: int) -> str:
    result = await client.text_document_inline_completion_async(inline_params(uri, line, character))
    items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
    if not items:
        return ""
    text = items[0].insert_text
    return text if isinstance(text, str) else text.value


def inline_params(uri: str, line: int, character: int, token: str | None = None) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line, character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        work_done_token=token,
    )


def send_raw_request(client: LanguageClient, method: str, params: Any) -> tuple[str, asyncio.Future[Any]]:
    msg_id = uuid.uuid4().hex
    future = client.protocol.send_request(method, params, msg_id=msg_id)
    return msg_id, asyncio.wrap_future(future)


def cancel_request(client: LanguageClient, msg_id: str) -> None:
    client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))


def code_action_command(item: Any) -> tuple[str, list[Any]]:
    """(command, arguments) of a code action. pygls's client may decode a CodeAction as a Command (their
    fields overlap), leaving the nested command as its repr: read it back from there."""
    import ast

    nested = item.command
    if isinstance(nested, types.Command):
        return nested.command, list(nested.arguments or [])
    parsed = ast.literal_eval(nested)
    return parsed["command"], parsed["arguments"]
