"""Explanation first chunk after the cursor rested in the function (issue 22): read-ahead on vs off.

    flock /tmp/codehearth-bench.lock python -m benchmarks.quality.explain_ahead [--functions 8] [--rest-s 2]

The functions of ``benchmarks.quality.explain`` (CPython's ipaddress, docstrings removed), one fresh server per mode
with the models ``auto`` picks on this machine (the speed cache is filled first by ``codehearth models recommend
--measure`` in the run's own cache folder, as a machine that has run codehearth once has it). Per function, as an
editor does: a ``textDocument/codeAction`` at the function's first statement (VS Code asks on every cursor move),
the cursor rests ``--rest-s``, then ``codehearth.explain`` runs there; the time to its first non-empty
``codehearth/explainChunk`` is recorded and the explanation is cancelled (only the start is measured here; the
faithfulness of the picked model is the explanation benchmark's, explain.json). Modes: ``explain.readAheadMs``
default (read-ahead) and 0 (off).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from benchmarks.common import (
    ROOT,
    STDLIB,
    add_allow_dirty,
    begin_results,
    machine_info,
    pct,
    write_results_file,
)
from benchmarks.quality.explain import MODULE, SERVER, _get, initialize, stats_requester
from benchmarks.quality.explain_tasks import build_tasks

FIRST_CHUNK_TIMEOUT_S = 120.0


async def run_mode(name: str, settings: dict[str, Any], stripped: str, tasks: list[Any], work: Path,
                   rest_s: float) -> dict[str, Any]:
    from lsprotocol import types
    from pytest_lsp import ClientServerConfig, LanguageClient

    from benchmarks.latency.lsp_driver import keep_raw_results
    from benchmarks.reliability.client import server_env

    workspace = work / name / "ws"
    workspace.mkdir(parents=True, exist_ok=True)
    path = workspace / MODULE
    path.write_text(stripped, encoding="utf-8")
    uri = path.as_uri()
    # A cache folder per mode (no explanation comes from another mode's disk cache) holding the speed measured
    # once for the run (auto reads it).
    cache = work / name / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    speed = work / "cache" / "speed.json"
    if speed.is_file():
        shutil.copy(speed, cache / "speed.json")
    env = server_env(cache)
    env["CODEHEARTH_CACHE_DIR"] = str(cache)
    config = ClientServerConfig(server_command=SERVER, server_env=env)
    client = cast(LanguageClient, await config.start())
    keep_raw_results(client)
    first: dict[str, float] = {}

    @client.feature("codehearth/explainChunk")
    def _chunk(params: Any) -> None:
        sid = str(_get(params, "id"))
        if str(_get(params, "text") or "").strip() and sid not in first:
            first[sid] = time.monotonic()

    stats = stats_requester(client)

    records: list[dict[str, Any]] = []
    served: Any = None
    try:
        await initialize(client, workspace, settings)
        state: dict[str, Any] = {}
        for _ in range(3000):
            state = await stats()
            if state["state"] in ("ready", "error"):
                break
            await asyncio.sleep(0.2)
        served = state.get("models")
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=1, text=stripped)))
        await asyncio.sleep(1.0)
        for n, task in enumerate(tasks):
            here = types.Position(task.line, task.character)
            await client.text_document_code_action_async(types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri), range=types.Range(here, here),
                context=types.CodeActionContext(diagnostics=[])))
            await asyncio.sleep(rest_s)  # the cursor rests in the function
            sid = f"{name}-{n}"
            sent = time.monotonic()
            future = client.protocol.send_request(
                "workspace/executeCommand", types.ExecuteCommandParams(
                    command="codehearth.explain", arguments=[uri, {"line": task.line, "character": task.character},
                                                             {"id": sid}]), msg_id=sid)
            while sid not in first and time.monotonic() - sent < FIRST_CHUNK_TIMEOUT_S and not future.done():
                await asyncio.sleep(0.005)
            got = first.get(sid)
            records.append({"function": task.qualname,
                            "first_chunk_ms": round((got - sent) * 1000, 1) if got is not None else None})
            client.protocol.notify("codehearth/cancelExplain", {"id": sid})  # only the start is measured
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.wrap_future(future), 60)
            print(json.dumps({"mode": name, **records[-1]}), flush=True)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_session(), 15)
        with contextlib.suppress(Exception):
            await client.stop()
    times = [r["first_chunk_ms"] for r in records if r["first_chunk_ms"] is not None]
    return {"settings": settings, "models": served, "records": records,
            "first_chunk_ms": {"p50": pct(times, 0.5), "p95": pct(times, 0.95), "n": len(times)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=8)
    parser.add_argument("--rest-s", type=float, default=2.0)
    parser.add_argument("--also-model", default="qwen2.5-coder-0.5b-instruct",
                        help="also measure with this explanationModel set (\"\": auto only)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="explain-ahead-"))
    results = begin_results(args.allow_dirty, work)
    source = (STDLIB / MODULE).read_text(encoding="utf-8")
    stripped, tasks = build_tasks(source, args.functions)
    env = dict(os.environ, CODEHEARTH_CACHE_DIR=str(work / "cache"),
               PYTHONPATH=os.pathsep.join([str(ROOT / "server"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    measured = subprocess.run([sys.executable, "-m", "codehearth", "models", "recommend", "--measure"],
                              capture_output=True, text=True, env=env, timeout=900)
    out: dict[str, Any] = {**results, "name": "explain-ahead", "command": " ".join(
        ["python -m benchmarks.quality.explain_ahead", *sys.argv[1:]]), "machine": machine_info(),
        "rest_s": args.rest_s, "functions": len(tasks), "recommend": measured.stdout[-3000:], "modes": {}}
    # No completion work beside it: the explanation's start alone is measured.
    base = {"prepareWhilePaused": False, "prefetchNext": False}
    modes = [("auto, read-ahead", base), ("auto, off", {**base, "explain": {"readAheadMs": 0}})]
    if args.also_model:
        chosen = {**base, "explanationModel": args.also_model}
        modes += [(f"{args.also_model}, read-ahead", chosen),
                  (f"{args.also_model}, off", {**chosen, "explain": {"readAheadMs": 0}})]
    for name, settings in modes:
        out["modes"][name] = asyncio.run(run_mode(name, settings, stripped, tasks, work, args.rest_s))
    out["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    write_results_file(args.out / "explain-ahead.json", out)
    print(json.dumps({k: v["first_chunk_ms"] for k, v in out["modes"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
