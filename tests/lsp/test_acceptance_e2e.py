"""Acceptance statistics through the real server and model: events in, `codehearth stats --json` out (issue 13)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient
from tests.lsp.harness import inline_params, open_doc, running_server, server_env, stats_of, to_dict

pytestmark = pytest.mark.model

SOURCES = {
    "geometry.py": 'import math\n\n\ndef circle_area(radius):\n    """Return the area of a circle."""\n    return ',
    "names.py": 'def greet(name):\n    """Return a greeting for name."""\n    return "Hello, " + ',
    "total.py": "def total(prices):\n    result = 0\n    for price in prices:\n        result = ",
}


async def suggest(client: LanguageClient, workspace: Path, name: str) -> tuple[str, dict[str, Any]]:
    """Open a file and ask at its end: the suggestion and its command's argument ({id, acceptedChars})."""
    uri = (workspace / name).as_uri()
    text = SOURCES[name]
    open_doc(client, uri, text)
    lines = text.split("\n")
    result = await client.text_document_inline_completion_async(inline_params(uri, len(lines) - 1, len(lines[-1])))
    assert isinstance(result, types.InlineCompletionList) and result.items, f"no suggestion in {name}"
    item = result.items[0]
    assert item.command is not None and item.command.command == "codehearth.acceptSuggestion"
    args = to_dict(list(item.command.arguments or []))
    assert len(args) == 1 and isinstance(args[0]["id"], str)
    assert args[0]["acceptedChars"] == len(str(item.insert_text))
    return str(item.insert_text), args[0]


def event(client: LanguageClient, suggestion_id: str, name: str, chars: int | None = None) -> None:
    params: dict[str, Any] = {"id": suggestion_id, "event": name}
    if chars is not None:
        params["acceptedChars"] = chars
    client.protocol.notify("codehearth/suggestionEvent", params)


async def command(client: LanguageClient, name: str, *args: Any) -> Any:
    params = types.ExecuteCommandParams(command=name, arguments=list(args))
    return to_dict(await client.workspace_execute_command_async(params))


def cli_stats(cache: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "codehearth", "stats", "--json"],
        env=server_env(cache), capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


async def test_events_recorded_read_back_and_erased(tmp_path: Path, default_model: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    for name, text in SOURCES.items():
        (ws / name).write_text(text)
    cache = tmp_path / "cache"
    store = cache / "acceptance.sqlite3"
    # The gate off: this test records what happens to suggestions, so every one the model writes must be shown.
    async with running_server(ws, cache, init_options={"recordAcceptance": False, "minConfidence": 0}) as client:
        caps = client.init_result.capabilities  # type: ignore[attr-defined]
        assert {"codehearth.acceptSuggestion", "codehearth.eraseStats"} <= set(caps.execute_command_provider.commands)
        # Recording off: events and an accept command are answered, and nothing is written.
        text, arg = await suggest(client, ws, "geometry.py")
        event(client, arg["id"], "shown")
        assert await command(client, "codehearth.acceptSuggestion", arg) == {"recorded": False}
        await stats_of(client)  # the notifications before it have been handled
        assert not store.exists()

        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"codehearth": {"recordAcceptance": True}})
        )
        # Shown, then a word taken: partly accepted.
        event(client, arg["id"], "shown")
        event(client, arg["id"], "partial", 3)
        # Shown and accepted whole, through the item's command as an editor runs it.
        text2, arg2 = await suggest(client, ws, "names.py")
        event(client, arg2["id"], "shown")
        assert await command(client, "codehearth.acceptSuggestion", arg2) == {"recorded": True}
        # Shown and dismissed.
        _, arg3 = await suggest(client, ws, "total.py")
        event(client, arg3["id"], "shown")
        event(client, arg3["id"], "dismissed")
        event(client, "unknown-id", "accepted")
        await stats_of(client)

        stats = cli_stats(cache)
        assert stats["store"] == str(store)
        total = stats["total"]
        assert (total["shown"], total["accepted"], total["fullyAccepted"], total["partiallyAccepted"],
                total["dismissed"]) == (3, 2, 1, 1, 1)
        assert total["acceptedChars"] == 3 + len(text2)
        [group] = stats["groups"]
        assert (group["model"], group["language"], group["shown"]) == ("smollm2-135m-instruct", "python", 3)
        assert group["latencyMs"]["p50"] > 0 and stats["kinds"]["mid-line"]["shown"] == 3

        assert await command(client, "codehearth.eraseStats") == {"erased": 3, "store": str(store)}
        assert cli_stats(cache)["total"]["shown"] == 0
