"""Seeded protocol fuzz against the real server (``codehearth serve`` over stdio, the real default model).

    python -m benchmarks.reliability.fuzz [--messages 20000] [--seed 14] [--out benchmarks/results] [--box-s S]

Messages are generated from the lsprotocol types of every method the server registers (and a few it does not),
valid or corrupted: wrong types, missing fields, huge and negative numbers, unknown URIs and schemes, 1 MB strings,
lone surrogates, deep nesting, bad envelopes and bodies that are not JSON, out-of-order versions, ranges past the
end, didOpen twice, didClose of documents never opened. The verdict: every request id answered exactly once, the
id-less errors exactly as many as the unreadable messages, no -32603, no error pop-up, the process alive, and a
normal completion at the end (good settings again, the model ready) answered with text, by the model. ``tests/lsp/test_fuzz.py`` runs a small seeded run in CI; ``make
bench`` (``benchmarks.run --full``) runs a large one and writes ``benchmarks/results/reliability.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types

from benchmarks.reliability.client import ROOT, RawServer
from benchmarks.reliability.generator import FIRST_ID, OPTIONS, SOURCE, UNREGISTERED, Expect, Generator

NOT_RANDOM = {types.SHUTDOWN, types.EXIT}  # they end the session: sent once, at the end
# The final completion: settings a cold prompt fits in, at the end of SOURCE's last line (``result += shape.``)
# (the confidence gate off: whether the model's answer is likely right is not what the fuzz asks; the model the fuzz
# ran with pinned: at 8000 ms `auto` would choose another model and the final request would meet its reload).
FINAL_OPTIONS: dict[str, Any] = {**OPTIONS, "latencyBudgetMs": 8000, "maxTokensSingleLine": 16, "minConfidence": 0,
                                 "model": "smollm2-135m-instruct"}
FINAL_POSITION = {"line": SOURCE.count("\n"), "character": len(SOURCE.rsplit("\n", 1)[-1])}
WINDOW = 48  # requests in flight at once
FINAL_ATTEMPTS = 5


def registered_methods() -> tuple[list[str], list[str]]:
    """Requests and notifications the server registers (its own features and pygls's built-in ones)."""
    from codehearth.lsp.server import create_server

    server = create_server()
    try:
        fm = server.protocol.fm
        names = set(fm.features) | set(fm.builtin_features)
    finally:
        server.assistant.shutdown()
    requests, notifications = [], []
    for name in sorted(names - NOT_RANDOM):
        # codehearth's own methods have no lsprotocol type: stats is a request, cancelExplain a notification.
        is_request = name == "codehearth/stats" or types.METHOD_TO_TYPES.get(name, (None, None))[1] is not None
        if name == types.INITIALIZE or name == types.WORKSPACE_EXECUTE_COMMAND:
            is_request = True
        (requests if is_request else notifications).append(name)
    notifications.append(types.CANCEL_REQUEST)
    return requests, notifications


def write_workspace(workspace: Path) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        (workspace / f"m{i}.py").write_text(SOURCE)
    (workspace / "notes.txt").write_text("notes\n")


def run_fuzz(messages: int, seed: int, work: Path, answer_timeout_s: float = 120,
             box_s: float | None = None) -> dict[str, Any]:
    """Send ``messages`` (fewer when ``box_s`` seconds of sending run out: the result says how many)."""
    workspace = work / "ws"
    write_workspace(workspace)
    requests, notifications = registered_methods()
    gen = Generator(seed, workspace, requests, notifications)
    expect = Expect()
    started = time.monotonic()
    server = RawServer(work / "cache")
    alive = True
    try:
        server.initialize(workspace, OPTIONS)  # waits for the model
        load_s = time.monotonic() - started
        fuzz_started = time.monotonic()
        pending: set[Any] = set()
        sent = 0
        for _ in range(messages):
            if box_s is not None and time.monotonic() - fuzz_started > box_s:
                break
            while len(pending) >= WINDOW and server.proc.poll() is None:
                with server._cond:
                    pending = {i for i in pending if i not in server.responses}
                    if len(pending) >= WINDOW:
                        server._cond.wait(0.5)
            if server.proc.poll() is not None:
                break
            before = len(expect.ids)
            data = gen.message(expect)
            if len(expect.ids) > before:
                pending.add(next(reversed(expect.ids)))
            try:
                server.write(data)
            except OSError:  # the server is gone: the verdict below says so
                break
            sent += 1
        sent_s = time.monotonic() - fuzz_started
        end = time.monotonic() + answer_timeout_s
        while time.monotonic() < end and server.proc.poll() is None:
            missing = [i for i in expect.ids if i not in server.responses]
            if not missing and len(server.null_id_errors) >= expect.null_errors:
                break
            with server._cond:
                server._cond.wait(0.5)
        # A normal completion, after everything else: the server still does its job, with the model. The fuzz sent
        # random settings, so good ones go first (a budget a cold prompt fits in), and the model must be ready.
        final_id: Any = None
        model_answers_before: int | None = None
        # The reload the good settings cause may begin after two "ready" reads; a request that meets it is answered
        # empty ("unavailable"), so the completion is asked again, a few times at most, once the model is back.
        final: dict[str, Any] = {}
        try:
            server.notify(types.WORKSPACE_DID_CHANGE_CONFIGURATION, {"settings": {"codehearth": FINAL_OPTIONS}})
            good = (workspace / "final.py").as_uri()
            server.open(good, SOURCE)
            for _attempt in range(FINAL_ATTEMPTS):
                model_answers_before = _wait_ready(server, answer_timeout_s)
                final_id = server.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, {
                    "textDocument": {"uri": good}, "position": FINAL_POSITION, "context": {"triggerKind": 1}})
                server.wait(final_id, answer_timeout_s)
                final = server.responses.get(final_id, [{}])[0]
                if (_first_text(final.get("result")) or "").strip():
                    break
                time.sleep(2.0)
        except (OSError, TimeoutError):
            pass
        alive = server.proc.poll() is None
        duration_s = time.monotonic() - fuzz_started
        stats = server.call("codehearth/stats", timeout=30)["result"] if alive else {}
        model_answers_after = (stats.get("sources") or {}).get("model", 0)
        exit_code = server.close() if alive else server.proc.returncode
    finally:
        server.kill()
    answers = {i: server.responses.get(i, []) for i in expect.ids}
    codes: dict[str, int] = {}
    for msgs in [*server.responses.values(), [m for m in server.null_id_errors]]:
        for m in msgs:
            key = str(m["error"]["code"]) if "error" in m else "result"
            codes[key] = codes.get(key, 0) + 1
    internal = [m for msgs in server.responses.values() for m in msgs if m.get("error", {}).get("code") == -32603]
    pop_ups = server.pop_ups()
    return {
        "seed": seed,
        "messages": sent,
        "messages_planned": messages,
        "requests_with_id": len(expect.ids),
        "expected_idless_errors": expect.null_errors,
        "idless_errors": len(server.null_id_errors),
        "unanswered": sum(1 for a in answers.values() if not a),
        "answered_twice": sum(1 for a in answers.values() if len(a) > 1),
        "unexpected_ids": sorted(str(i) for i in set(server.responses) - set(expect.ids)
                                 if not (isinstance(i, int) and i < FIRST_ID))[:20],
        "internal_errors": len(internal),
        "internal_error_samples": [m["error"]["message"] for m in internal[:5]],
        "crashes": 0 if alive else 1,
        "exit_code": exit_code,
        "error_pop_ups": sum(1 for p in pop_ups if p["params"]["type"] == 1),
        "pop_ups": [p["params"]["message"][:200] for p in pop_ups],
        "final_completion_answered": "result" in final,
        "final_completion_text": _first_text(final.get("result")),
        # the model's own answers counted by the server before and after the final request: one more, or it was not
        # the model that answered
        "final_completion_from_model": model_answers_before is not None
        and model_answers_after == model_answers_before + 1,
        "response_codes": dict(sorted(codes.items())),
        "mix": dict(sorted(expect.counts.items())),
        "methods": {"requests": requests, "notifications": notifications, "unregistered": UNREGISTERED},
        "model_load_s": round(load_s, 1),
        "send_s": round(sent_s, 1),
        "duration_s": round(duration_s, 1),
        "messages_per_s": round(sent / duration_s, 1) if duration_s else None,
        "server_stats": {k: stats.get(k) for k in ("requests", "skipped", "superseded", "cancelled", "errors",
                                                    "modelCalls", "latencyMs", "model", "state")},
        "stderr_tail": server.stderr_tail(30) if not alive else "",
    }


def _wait_ready(server: RawServer, timeout_s: float) -> int:
    """Wait until the model is loaded again (the fuzz's settings may have reloaded it); the model answers so far."""
    end = time.monotonic() + timeout_s
    ready_reads = 0
    while True:
        stats = server.call("codehearth/stats", timeout=30)["result"]
        ready_reads = ready_reads + 1 if stats["state"] == "ready" else 0
        if ready_reads == 2:  # twice in a row, a reload begun by the new settings cannot slip in between
            return int((stats.get("sources") or {}).get("model", 0))
        if time.monotonic() > end:
            raise TimeoutError(f"the model is not ready after the fuzz: {stats['state']}")
        time.sleep(0.5)


def _first_text(result: Any) -> str | None:
    if not isinstance(result, dict) or not result.get("items"):
        return None
    text = result["items"][0].get("insertText")
    return text if isinstance(text, str) else None


def verdict(result: dict[str, Any]) -> list[str]:
    """What is wrong with a run (empty when it passed)."""
    problems = []
    for key in ("unanswered", "answered_twice", "internal_errors", "crashes", "error_pop_ups"):
        if result[key]:
            problems.append(f"{key}: {result[key]}")
    if result["unexpected_ids"]:
        problems.append(f"answers to ids never sent: {result['unexpected_ids']}")
    if result["idless_errors"] != result["expected_idless_errors"]:
        problems.append(f"id-less errors: {result['idless_errors']}, expected {result['expected_idless_errors']}")
    if not result["final_completion_answered"]:
        problems.append("the final normal completion was not answered")
    elif not (result["final_completion_text"] or "").strip():
        problems.append("the final normal completion was answered empty")
    elif not result["final_completion_from_model"]:
        problems.append("the final normal completion did not come from the model")
    if result["exit_code"] != 0:
        problems.append(f"exit code {result['exit_code']} after shutdown + exit")
    return problems


def run_benchmark(messages: int = 20_000, seed: int = 14, out_dir: Path | None = None,
                  box_s: float | None = None) -> dict[str, Any]:
    """The large run of ``make bench``: writes reliability.json (kept beside the other results)."""
    from benchmarks.common import machine_info, write_results_file

    with tempfile.TemporaryDirectory(prefix="codehearth-fuzz-") as tmp:
        result = run_fuzz(messages, seed, Path(tmp), answer_timeout_s=300, box_s=box_s)
    result["problems"] = verdict(result)
    result["command"] = f"python -m benchmarks.reliability.fuzz --messages {messages} --seed {seed}" + (
        f" --box-s {box_s:g}" if box_s is not None else "")
    result["machine"] = machine_info()
    out = out_dir or ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "reliability.json"
    existing = json.loads(path.read_text()) if path.is_file() else {}
    existing["fuzz"] = result  # other sections (the soak) stay as they are
    write_results_file(path, existing)
    print(f"wrote {path}: {result['messages']} messages in {result['duration_s']} s, "
          f"problems: {result['problems'] or 'none'}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--box-s", type=float, default=None, help="stop sending after this many seconds")
    from benchmarks.common import add_allow_dirty, begin_results

    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    begin_results(args.allow_dirty)
    result = run_benchmark(args.messages, args.seed, args.out, args.box_s)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
