"""From process start to the first suggestion in a just-opened file, with the default settings (issue 11).

An editor starts ``codehearth serve``, initializes it with a workspace, and opens a file at once (as VS Code does
when it restores its tabs); the user types at a line inside a function and the editor asks for an inline
completion at each keystroke, so the benchmark asks again every ``--retry-ms`` after an empty answer. Timed from
the moment the process is spawned: the initialize answer, the model's "ready" state and the first non-empty
suggestion. The first trial starts with an empty cache folder (the machine's speed is calibrated and the model
chosen with no measurements); the others reuse it, as every start after the first does.

    python -m benchmarks.latency.first_suggestion [--trials 5] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from benchmarks.common import STDLIB, add_allow_dirty, begin_results, machine_info, write_results_file
from benchmarks.latency.lsp_driver import editor_initialize_params, inline_text, to_dict
from benchmarks.reliability.client import server_env

SERVER = [sys.executable, "-m", "codehearth", "serve"]
FILES = ["calendar.py", "fractions.py", "heapq.py"]  # not used by the tests or the other benchmarks
OPENED = "calendar.py"
GIVE_UP_S = 60.0


def cursor_in(text: str) -> tuple[int, int]:
    """A line inside a function body, after its first word: the user is typing there."""
    lines = text.split("\n")
    inside = False
    for row, line in enumerate(lines):
        if line.lstrip().startswith("def "):
            inside = True
            continue
        stripped = line.strip()
        if inside and line.startswith("        ") and stripped and not stripped.startswith(("#", '"', "'")) \
                and " " in stripped and row > 200:
            first_word = line[: len(line) - len(line.lstrip())] + stripped.split(" ")[0] + " "
            return row, len(first_word.encode())
    raise ValueError("no line to type at")


async def trial(workspace: Path, cache: Path, retry_ms: int) -> dict[str, Any]:
    spawned = time.monotonic()
    marks: dict[str, float] = {}
    config = ClientServerConfig(server_command=SERVER, server_env=server_env(cache))
    client: LanguageClient = await config.start()

    def since() -> float:
        return round((time.monotonic() - spawned) * 1000, 1)

    @client.feature("codehearth/status")
    def _status(params: Any) -> None:
        state = to_dict(params).get("state")
        if state == "ready" and "ready_ms" not in marks:
            marks["ready_ms"] = since()

    text = (workspace / OPENED).read_text(encoding="utf-8")
    row, column = cursor_in(text)
    # The document as it is while the user types at the cursor: the rest of the line is not there yet.
    lines = text.split("\n")
    truth = lines[row].encode()[column:].decode()
    lines[row] = lines[row].encode()[:column].decode()
    opened = "\n".join(lines)
    uri = (workspace / OPENED).as_uri()
    requests = 0
    suggestion = ""
    try:
        params = editor_initialize_params(workspace)
        client.capabilities = params.capabilities
        await client.initialize_async(params)
        marks["initialized_ms"] = since()
        client.initialized(types.InitializedParams())
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=1, text=opened)))
        while time.monotonic() - spawned < GIVE_UP_S:
            requests += 1
            asked = time.monotonic()
            result = await asyncio.wait_for(client.text_document_inline_completion_async(types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(row, column),
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic))),
                GIVE_UP_S)
            suggestion = inline_text(result)
            if suggestion.strip():
                marks["first_suggestion_ms"] = since()
                break
            await asyncio.sleep(max(0.0, retry_ms / 1000 - (time.monotonic() - asked)))
        stats = to_dict(await client.protocol.send_request_async("codehearth/stats", None))
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_session(), 10)
        with contextlib.suppress(Exception):
            await client.stop()
    models = stats.get("models") or {}
    return {**marks, "requests": requests, "suggestion": suggestion, "truth": truth,
            "completion_model": (models.get("completion") or {}).get("model"),
            "why": (models.get("completion") or {}).get("reason"), "plans": stats.get("plans"),
            "background": stats.get("background")}


def run(trials: int, retry_ms: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="codehearth-first-"))
    try:
        workspace = work / "ws"
        workspace.mkdir()
        for name in FILES:
            shutil.copy(STDLIB / name, workspace / name)
        cache = work / "cache"
        cache.mkdir()
        results = []
        for n in range(trials):
            result = asyncio.run(trial(workspace, cache, retry_ms))
            result["cache"] = "empty" if n == 0 else "warm"
            print(json.dumps(result)[:400], flush=True)
            results.append(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    warm = [r["first_suggestion_ms"] for r in results[1:] if "first_suggestion_ms" in r]
    return {
        "name": "first-suggestion",
        "command": f"python -m benchmarks.latency.first_suggestion --trials {trials} --retry-ms {retry_ms}",
        "machine": machine_info(),
        "opened": OPENED, "retry_ms": retry_ms, "target_ms": 2000,
        "first_trial_empty_cache": results[0],
        "warm_first_suggestion_ms": {"median": statistics.median(warm) if warm else None,
                                     "max": max(warm) if warm else None, "trials": len(warm)},
        "warm_ready_ms_median": statistics.median([r["ready_ms"] for r in results[1:] if "ready_ms" in r] or [0]),
        "trials": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--retry-ms", type=int, default=250, help="an empty answer is asked again after this")
    parser.add_argument("--out", default="benchmarks/results")
    add_allow_dirty(parser)
    args = parser.parse_args()
    begin_results(args.allow_dirty)
    result = run(args.trials, args.retry_ms)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_results_file(out / "first-suggestion.json", result)
    print(json.dumps({k: result[k] for k in ("warm_first_suggestion_ms", "warm_ready_ms_median")}, indent=1))


if __name__ == "__main__":
    main()
