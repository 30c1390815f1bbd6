"""A small editor over LSP: starts the (traced) real server over stdio, opens files, types, asks, cancels."""

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

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from benchmarks.common import ROOT

TRACED_SERVER = [sys.executable, "-m", "benchmarks.latency.traced_server"]


RAW_RESULT_METHODS = frozenset({"codehearth/stats", "codehearth/memory"})


class RawResponse:
    """A response whose result stays the JSON the server sent. pygls turns results of methods it has no type for
    into namedtuples made with ``rename=True``: keys that are not identifiers (``typed-through``, ``512``) become
    ``_1``, ``_0``, and the results lose them."""

    def __init__(self, id: Any, jsonrpc: str, result: Any = None) -> None:
        self.id = id
        self.jsonrpc = jsonrpc
        self.result = result


def keep_raw_results(client: LanguageClient, methods: frozenset[str] = RAW_RESULT_METHODS) -> None:
    """Results of ``methods`` arrive as the plain JSON objects the server sent."""
    protocol = client.protocol
    typed = protocol.get_result_type

    def result_type(method: str) -> Any:
        return RawResponse if method in methods else typed(method)

    protocol.get_result_type = result_type  # type: ignore[method-assign]
    protocol._converter.register_structure_hook(RawResponse, lambda obj, cls: cls(**obj))


def to_dict(obj: Any) -> Any:
    """A result pygls made into namedtuples, back to dicts (their renamed keys cannot come back: see
    ``RawResponse``, which the driver uses for codehearth's own methods)."""
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if hasattr(obj, "_asdict"):
        return {k: to_dict(v) for k, v in obj._asdict().items()}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    return obj


def server_env(cache: Path, trace: Path) -> dict[str, str]:
    env = dict(os.environ)
    if "CODEHEARTH_MODELS_DIR" not in env:  # the weights stay where they are, whatever XDG_CACHE_HOME says
        from codehearth.models.registry import models_dir

        env["CODEHEARTH_MODELS_DIR"] = str(models_dir())
    env["CODEHEARTH_CACHE_DIR"] = str(cache)
    env["CODEHEARTH_STATE_DIR"] = str(cache / "state")
    env["CODEHEARTH_CONFIG"] = str(cache / "no-user-config.toml")
    for name in ("XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        env[name] = str(cache / "xdg" / name.lower())
    env["CODEHEARTH_BENCH_TRACE"] = str(trace)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "server"), env.get("PYTHONPATH", "")])
    return env


class Editor:
    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.versions: dict[str, int] = {}
        # codehearth/suggestionReady as it came: (monotonic time, uri, line, character)
        self.late: list[tuple[float, str, int, int]] = []
        self.late_came = asyncio.Event()

    def note_late(self, params: Any) -> None:
        doc, pos = getattr(params, "textDocument", None), getattr(params, "position", None)
        self.late.append((time.monotonic(), str(getattr(doc, "uri", "")), int(getattr(pos, "line", -1)),
                          int(getattr(pos, "character", -1))))
        self.late_came.set()

    def server_cpu_s(self) -> float:
        """CPU seconds the server process has used so far (0 when it cannot be read)."""
        server = getattr(self.client, "_server", None)
        try:
            fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()  # type: ignore[union-attr]
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (AttributeError, OSError, IndexError, ValueError):
            return 0.0

    async def wait_late(self, uri: str, line: int, character: int, until: float,
                        quiet_s: float = 1.0) -> float | None:
        """When ``codehearth/suggestionReady`` came for this place (monotonic), waiting at most until ``until``, and
        no longer than the server stays idle for ``quiet_s`` (under 5% of a core: it is working on nothing, so
        nothing more will come; the person would not wait for a suggestion that is not being made)."""
        window_start, cpu_start = time.monotonic(), self.server_cpu_s()
        while True:
            for at, u, ln, ch in self.late:
                if (u, ln, ch) == (uri, line, character):
                    return at
            now = time.monotonic()
            if now >= until:
                return None
            if now - window_start >= quiet_s:
                cpu = self.server_cpu_s()
                if cpu - cpu_start < 0.05 * (now - window_start):
                    return None
                window_start, cpu_start = now, cpu
            self.late_came.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.late_came.wait(), min(0.1, until - now))

    async def stats(self) -> dict[str, Any]:
        return to_dict(await self.client.protocol.send_request_async("codehearth/stats", None))

    async def wait_ready(self, timeout: float = 180) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            state = (await self.stats())["state"]
            if state in ("ready", "error"):
                return str(state)
            await asyncio.sleep(0.1)
        raise TimeoutError("the server never became ready")

    def open(self, uri: str, text: str) -> None:
        self.versions[uri] = 1
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))

    def insert(self, uri: str, line: int, character: int, text: str) -> None:
        self.versions[uri] += 1
        here = types.Position(line, character)
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
            [types.TextDocumentContentChangePartial(range=types.Range(here, here), text=text)]))

    def request_inline(self, uri: str, line: int, character: int) -> tuple[str, asyncio.Future[Any]]:
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line, character),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic))
        msg_id = uuid.uuid4().hex
        future = self.client.protocol.send_request("textDocument/inlineCompletion", params, msg_id=msg_id)
        return msg_id, asyncio.wrap_future(future)

    def cancel(self, msg_id: str) -> None:
        self.client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))


def inline_text(result: Any) -> str:
    items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
    if not items:
        return ""
    text = items[0].insert_text
    return text if isinstance(text, str) else text.value


def editor_initialize_params(workspace: Path, init_options: dict[str, Any] | None = None) -> types.InitializeParams:
    """What VS Code sends, with inline completions and UTF-8 positions offered, for a one-folder workspace."""
    caps = client_capabilities("visual-studio-code")
    caps.text_document.inline_completion = types.InlineCompletionClientCapabilities()  # type: ignore[union-attr]
    caps.general.position_encodings = ["utf-8", "utf-16"]  # type: ignore[union-attr]
    return types.InitializeParams(
        capabilities=caps, process_id=os.getpid(), root_uri=workspace.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")],
        initialization_options=init_options)


@contextlib.asynccontextmanager
async def lsp_session(workspace: Path, cache: Path, trace: Path, init_options: dict[str, Any]
                      ) -> AsyncIterator[Editor]:
    config = ClientServerConfig(server_command=TRACED_SERVER, server_env=server_env(cache, trace))
    client: LanguageClient = await config.start()
    keep_raw_results(client)

    @client.feature("codehearth/status")
    def _on_status(params: Any) -> None:  # model state changes; the benchmark polls codehearth/stats instead
        pass

    editors: list[Editor] = []

    @client.feature("codehearth/suggestionReady")
    def _on_late(params: Any) -> None:
        for editor in editors:
            editor.note_late(params)

    try:
        params = editor_initialize_params(workspace, init_options)
        client.capabilities = params.capabilities
        result = await client.initialize_async(params)
        encoding = result.capabilities.position_encoding
        if encoding not in ("utf-8", types.PositionEncodingKind.Utf8):
            raise RuntimeError(f"the benchmark needs utf-8 positions, the server chose {encoding}")
        client.initialized(types.InitializedParams())
        editor = Editor(client)
        editors.append(editor)
        state = await editor.wait_ready()
        if state != "ready":
            raise RuntimeError(f"model failed to load: {(await editor.stats()).get('error')}")
        yield editor
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_session(), 10)
        with contextlib.suppress(Exception):
            await client.stop()
