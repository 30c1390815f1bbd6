"""`codehearth demo`: a scripted editor session against the real server over stdio.

It opens a sample file, types into it word by word as a person would, asks for inline completions at each
pause, shows the ghost text with its latency, accepts some suggestions, then asks for an explanation and
streams it. The server chooses a model per role (``auto``): the demo says which model completes, which one
explains, and why. At the end it prints the server's own stats: latency percentiles and the share served from
cache.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

SAMPLE = '''"""A small inventory module (codehearth demo)."""

from dataclasses import dataclass


@dataclass
class Item:
    name: str
    price: float
    quantity: int


def total_value(items: list[Item]) -> float:
    """Return the value of all items in stock."""
    total = 0.0
    for item in items:
        total += item.price * item.quantity
    return total


def cheapest(items: list[Item]) -> Item | None:
    """Return the cheapest item, or None for an empty list."""
    if not items:
        return None
    return min(items, key=lambda item: item.price)
'''

# What the "user" types at the end of the file, pausing after each chunk.
TYPING = [
    "\n\ndef ", "names_in_stock", "(items: ", "list[Item]", ") -> ", "list[str]:\n",
    "    ", "\"\"\"Return ", "the names ", "of items ", "in stock.\"\"\"\n",
    "    return ", "[item.", "name for ", "item in ", "items if ", "item.quantity ", "> 0]\n",
    "\n\ndef ", "restock", "(item: Item, ", "amount: int", ") -> None:\n", "    item.", "quantity += ", "amount\n",
]


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def run_demo(budget_ms: int, server_cmd: list[str]) -> int:
    workspace = Path(tempfile.mkdtemp(prefix="codehearth-demo-"))
    path = workspace / "inventory.py"
    path.write_text(SAMPLE)
    uri = path.as_uri()
    client = LanguageClient("codehearth-demo", "0.1")
    ready = asyncio.Event()
    chunks: list[tuple[float, str]] = []
    status: dict[str, Any] = {}

    @client.feature("codehearth/status")
    def on_status(params: Any) -> None:
        status["state"] = _get(params, "state")
        status["message"] = _get(params, "message")
        status["models"] = _get(params, "models") or {}
        if status["state"] in ("ready", "error"):
            ready.set()

    echo = {"on": True}

    @client.feature("codehearth/explainChunk")
    def on_chunk(params: Any) -> None:
        text = _get(params, "text") or ""
        chunks.append((time.monotonic(), text))
        if echo["on"]:
            sys.stdout.write(text)
            sys.stdout.flush()

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(params: types.LogMessageParams) -> None:
        pass  # the server's log also goes to its stderr

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def on_message(params: types.ShowMessageParams) -> None:
        _out(f"[server] {params.message}")

    # A fresh cache folder, so the explanation streams from the model rather than from an earlier run's cache.
    env = {**os.environ, "CODEHEARTH_CACHE_DIR": str(workspace / ".codehearth-cache")}
    _keep_speed_figures(workspace / ".codehearth-cache")
    await client.start_io(*server_cmd, env=env)
    started = time.monotonic()
    await client.initialize_async(
        types.InitializeParams(
            process_id=None,
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="demo")],
            capabilities=types.ClientCapabilities(
                general=types.GeneralClientCapabilities(position_encodings=["utf-16"]),
                window=types.WindowClientCapabilities(work_done_progress=False),
                text_document=types.TextDocumentClientCapabilities(
                    inline_completion=types.InlineCompletionClientCapabilities()
                ),
            ),
            initialization_options={"latencyBudgetMs": budget_ms},
        )
    )
    client.initialized(types.InitializedParams())
    try:
        await asyncio.wait_for(ready.wait(), 120)
    except TimeoutError:
        _out("the model did not load within 120 s")
        return 1
    if status.get("state") != "ready":
        _out(f"model failed to load: {status.get('message')}")
        return 1
    from codehearth.config import Settings

    gate = Settings().min_confidence
    _out(f"models ready after {(time.monotonic() - started) * 1000:.0f} ms; latency budget {budget_ms} ms"
         + (" (the default, chosen on the editor benchmark)" if budget_ms == Settings().latency_budget_ms else "")
         + (f"; suggestions below a {Settings().confidence_measure} log-probability of {gate:g} per token are "
            "hidden" if gate < 0 else ""))
    roles = status.get("models")
    for role, label in (("completion", "completions "), ("explanation", "explanations")):
        info = _get(roles, role)
        how = "chosen by auto" if _get(info, "auto") else "set explicitly"
        _out(f"  {label} {_get(info, 'model')} ({how}: {_get(info, 'reason')})")
    completer = _get(_get(roles, "completion"), "model")
    _out(f"\ntyping into {path.name}; ghost text from {completer} after each pause:\n")

    text = SAMPLE
    version = 1
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text))
    )
    shown = 0
    for piece in TYPING:
        for ch in piece:  # one didChange per keystroke, as an editor sends them
            line = text.count("\n")
            col = len(text) - (text.rfind("\n") + 1)
            version += 1
            here = types.Position(line, col)
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    types.VersionedTextDocumentIdentifier(version=version, uri=uri),
                    [types.TextDocumentContentChangePartial(range=types.Range(here, here), text=ch)],
                )
            )
            text += ch
        line = text.count("\n")
        col = len(text) - (text.rfind("\n") + 1)
        t0 = time.monotonic()
        result = await client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri),
                position=types.Position(line, col),
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
            )
        )
        ms = (time.monotonic() - t0) * 1000
        items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
        ghost = items[0].insert_text if items else ""
        ghost_text = ghost if isinstance(ghost, str) else ghost.value
        current = text[text.rfind("\n") + 1 :]
        shown += bool(ghost_text)
        _out(f"  {current!r:<44} ghost {ghost_text[:40]!r:<44} {ms:6.0f} ms")

    explainer = _get(_get(roles, "explanation"), "model")
    _out(f"\nexplaining total_value() with {explainer}:\n")
    chunks.clear()
    t0 = time.monotonic()
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codehearth.explain", arguments=[uri, {"line": 13, "character": 4}])
    )
    total_ms = (time.monotonic() - t0) * 1000
    first_ms = (chunks[0][0] - t0) * 1000 if chunks else 0.0
    _out(f"\n\nexplanation: {len(chunks)} chunks, first after {first_ms:.0f} ms, {total_ms:.0f} ms in all")
    echo["on"] = False
    t0 = time.monotonic()
    again = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codehearth.explain", arguments=[uri, {"line": 13, "character": 4}])
    )
    origin = "from the disk cache" if _get(again, "cached") else "regenerated"
    _out(f"the same explanation again: {(time.monotonic() - t0) * 1000:.0f} ms ({origin})")

    stats = await client.protocol.send_request_async("codehearth/stats", None)
    lat = _get(stats, "latencyMs")
    requests = _get(stats, "requests") or 0
    cached = _get(stats, "answeredFromCache") or 0
    _out("\nsession stats from the server (codehearth/stats):")
    _out(f"  requests {requests}, with a suggestion {shown}, answered from cache {cached} "
         f"({cached * 100 / max(1, requests):.0f}%)")
    _out(f"  latency p50 {_get(lat, 'p50')} ms, p95 {_get(lat, 'p95')} ms, p99 {_get(lat, 'p99')} ms")
    _out(f"  prompt tokens evaluated {_get(stats, 'tokensEvaluated')}, reused from the KV cache "
         f"{_get(stats, 'tokensReused')}, generated {_get(stats, 'tokensGenerated')}")
    await client.shutdown_async(None)
    client.exit(None)
    await asyncio.sleep(0.2)
    await client.stop()
    return 0


def _keep_speed_figures(fresh_cache: Path) -> None:
    """The fresh cache is for explanations; this machine's measured model speeds (which `auto` reads) stay."""
    from codehearth.config import cache_dir
    from codehearth.engine.speedcache import FILE_NAME

    measured = cache_dir() / FILE_NAME
    if measured.is_file():
        fresh_cache.mkdir(parents=True, exist_ok=True)
        shutil.copy(measured, fresh_cache / FILE_NAME)


def main(budget_ms: int | None = None, server_cmd: list[str] | None = None) -> int:
    """``budget_ms``: latencyBudgetMs for the session; None: the setting's default."""
    from codehearth.config import Settings

    cmd = server_cmd or [sys.executable, "-m", "codehearth", "serve"]
    return asyncio.run(run_demo(budget_ms if budget_ms is not None else Settings().latency_budget_ms, cmd))
