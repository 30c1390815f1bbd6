"""Seeded protocol fuzz against the real server (``codehearth serve`` over stdio, the real default model).

    python -m benchmarks.reliability.fuzz [--messages 20000] [--seed 14] [--out benchmarks/results] [--box-s S]

Messages are generated from the lsprotocol types of every method the server registers (and a few it does not),
valid or corrupted: wrong types, missing fields, huge and negative numbers, unknown URIs and schemes, 1 MB strings,
lone surrogates, deep nesting, bad envelopes and bodies that are not JSON, out-of-order versions, ranges past the
end, didOpen twice, didClose of documents never opened. The verdict: every request id answered exactly once, the
id-less errors exactly as many as the unreadable messages, no -32603, no error pop-up, the process alive, and a
normal completion still answered at the end. ``tests/lsp/test_fuzz.py`` runs a small seeded run in CI; ``make
bench`` (``benchmarks.run --full``) runs a large one and writes ``benchmarks/results/reliability.json``.
"""

from __future__ import annotations

import argparse
import collections.abc
import enum
import json
import random
import tempfile
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import attrs
from lsprotocol import types

from benchmarks.reliability.client import ROOT, RawServer, frame

# Fast settings: a small budget so the model answers quickly, and completions mostly end at a gate or are superseded.
OPTIONS: dict[str, Any] = {
    "latencyBudgetMs": 60, "maxTokensSingleLine": 4, "maxTokensMultiLine": 4, "keepGeneratingMs": 0,
    "explain": {"maxTokens": 4}, "context": {"budgetTokens": 256, "indexWorkers": 1},
}
NOT_RANDOM = {types.SHUTDOWN, types.EXIT}  # they end the session: sent once, at the end
UNREGISTERED = ["textDocument/hover", "workspace/symbol", "textDocument/definition", "$/ping", "codehearth/nope"]
WINDOW = 48  # requests in flight at once
FIRST_ID = 10**6  # the fuzz's own ids; the client's (initialize, stats) count from 1
MB = 1024 * 1024

SOURCE = '''import math


class Shape:
    def area(self) -> float:
        return 0.0


def circle_area(radius: float) -> float:
    """The area of a circle."""
    return math.pi * radius ** 2


def total(shapes: list[Shape]) -> float:
    result = 0.0
    for shape in shapes:
        result += shape.'''


def big_string(rng: random.Random) -> str:
    kind = rng.choice(["ident", "dots", "spaces", "base64", "parens"])
    unit = {"ident": "y", "dots": "a.", "spaces": " ", "base64": "QUJD+/==", "parens": "f("}[kind]
    return (unit * (MB // len(unit) + 1))[:MB]


@dataclass
class Expect:
    """What the server owes us: answers by id, and how many id-less errors."""

    ids: dict[Any, str] = field(default_factory=dict)  # id -> method
    null_errors: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


class Generator:
    """Seeded messages over the lsprotocol types of the registered methods."""

    def __init__(self, seed: int, workspace: Path, requests: list[str], notifications: list[str]) -> None:
        self.rng = random.Random(seed)
        self.workspace = workspace
        self.requests = requests
        self.notifications = notifications
        from pygls.protocol import default_converter

        self.converter = default_converter()
        self.files = [workspace / f"m{i}.py" for i in range(3)]
        self.uris = [p.as_uri() for p in self.files] + ["untitled:Untitled-1", (workspace / "notes.txt").as_uri()]
        self.odd_uris = ["file:///nowhere/%00.py", "http://example.com/x.py", "", "::::", "file://host/share/x.py",
                         "untitled:", "file:///" + "d/" * 300 + "x.py", "file:///tmp/\udc80.py", "vscode-notebook:x",
                         (workspace / "never-opened.py").as_uri(), "file:///ws/%E2%82%AC.py"]
        self.versions: dict[str, int] = {}
        self.open: set[str] = set()
        self.next_id = FIRST_ID

    # -- random values of a type ---------------------------------------------------------------------

    def value(self, tp: Any, name: str = "", depth: int = 0) -> Any:
        rng = self.rng
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if name == "uri" or name == "root_uri":
            return self.uri()
        if tp is types.Position:
            return types.Position(line=rng.choice([0, 1, 5, 10, 16, 17, 40]), character=rng.choice([0, 2, 4, 8, 19, 200]))
        if origin is typing.Union:
            options = [a for a in args if a is not type(None)]
            if type(None) in args and (depth > 2 or rng.random() < 0.5):
                return None
            return self.value(rng.choice(options), name, depth + 1) if options else None
        if origin is typing.Literal:
            return rng.choice(args)
        if origin in (list, tuple, collections.abc.Sequence):
            if depth > 3:
                return []
            return [self.value(args[0] if args else Any, name, depth + 1) for _ in range(rng.randint(0, 2))]
        if origin in (dict, collections.abc.Mapping):
            return {}
        if tp is Any or tp is object:
            return self.json_value(depth)
        if isinstance(tp, type):
            if issubclass(tp, enum.Enum):
                return rng.choice(list(tp))
            if tp is bool:
                return rng.random() < 0.5
            if tp is int:
                return rng.randint(0, 100)
            if tp is float:
                return rng.random() * 10
            if tp is str:
                return self.text(name)
            if attrs.has(tp):
                return self.instance(tp, depth + 1)
        return None

    def instance(self, cls: type, depth: int = 0) -> Any:
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in attrs.fields(cls):
            tp = hints[f.name]
            optional = typing.get_origin(tp) is typing.Union and type(None) in typing.get_args(tp)
            if optional and (depth > 1 or self.rng.random() < 0.6):
                continue
            kwargs[f.name] = self.value(tp, f.name, depth)
        try:
            return cls(**kwargs)
        except (ValueError, TypeError):
            return None

    def json_value(self, depth: int = 0) -> Any:
        rng = self.rng
        pick = rng.random()
        if depth > 2 or pick < 0.5:
            return rng.choice([None, 0, 1, -1, "x", True, 2.5, "codehearth.explain"])
        if pick < 0.75:
            return [self.json_value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(["id", "line", "character", "uri", "a"]): self.json_value(depth + 1)
                for _ in range(rng.randint(0, 3))}

    def text(self, name: str) -> str:
        if name == "text":
            return SOURCE
        if name == "language_id":
            return self.rng.choice(["python", "plaintext", "javascript", "rust", "", "klingon"])
        if name == "command":
            return self.rng.choice(["codehearth.explain", "codehearth.explain", "unknown.command"])
        return self.rng.choice(["", "x", "codehearth", "ws", "é", "a b"])

    def uri(self) -> str:
        return self.rng.choice(self.uris) if self.rng.random() < 0.8 else self.rng.choice(self.odd_uris)

    # -- meaningful params for the methods that matter -----------------------------------------------------

    def position(self, uri: str) -> dict[str, int]:
        rng = self.rng
        if rng.random() < 0.8:
            return {"line": rng.randint(0, 17), "character": rng.randint(0, 24)}
        return {"line": rng.choice([0, 17, 18, 400, 2**31 - 1]), "character": rng.choice([0, 10**6, 2**31 - 1])}

    def params_for(self, method: str) -> Any:
        rng = self.rng
        uri = self.uri()
        if method in (types.TEXT_DOCUMENT_INLINE_COMPLETION, types.TEXT_DOCUMENT_COMPLETION) and rng.random() < 0.7:
            params: dict[str, Any] = {"textDocument": {"uri": uri}, "position": self.position(uri)}
            if method == types.TEXT_DOCUMENT_INLINE_COMPLETION:
                params["context"] = {"triggerKind": rng.choice([1, 2])}
            return params
        if method == types.WORKSPACE_EXECUTE_COMMAND and rng.random() < 0.7:
            return {"command": "codehearth.explain", "arguments": [uri, self.position(uri), {"id": f"e{self.next_id}"}]}
        if method == types.TEXT_DOCUMENT_DID_OPEN and rng.random() < 0.8:
            self.open.add(uri)
            self.versions[uri] = 1
            text = SOURCE if rng.random() < 0.9 else rng.choice([big_string(rng), "x\n" + "y" * 200_000 + "\n", ""])
            return {"textDocument": {"uri": uri, "languageId": rng.choice(["python", "plaintext"]), "version": 1,
                                     "text": text}}
        if method == types.TEXT_DOCUMENT_DID_CHANGE and rng.random() < 0.8:
            version = self.versions.get(uri, 0) + 1
            if rng.random() < 0.1:
                version = rng.choice([0, -5, version - 3])  # out of order
            self.versions[uri] = max(version, self.versions.get(uri, 0))
            line = rng.choice([0, 5, 16, 17, 10**6]) if rng.random() < 0.2 else rng.randint(0, 17)
            start = {"line": line, "character": rng.randint(0, 30)}
            change: dict[str, Any] = ({"text": SOURCE} if rng.random() < 0.05 else
                                      {"range": {"start": start, "end": start}, "text": rng.choice(["x", "\n", "( ", ""])})
            return {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}
        if method == types.TEXT_DOCUMENT_DID_CLOSE:
            self.open.discard(uri)
            return {"textDocument": {"uri": uri}}
        if method == types.CANCEL_REQUEST:
            return {"id": rng.choice([self.next_id, self.next_id - 1, 10**9, "r-nope"])}
        if method == "codehearth/cancelExplain":
            return {"id": f"e{self.next_id - rng.randint(0, 3)}"}
        if method == "codehearth/stats":
            return None
        if method == types.WORKSPACE_DID_CHANGE_CONFIGURATION:
            return {"settings": {"codehearth": OPTIONS} if rng.random() < 0.5 else self.json_value()}
        params_type = types.METHOD_TO_TYPES.get(method, (None, None, None))[2]
        if params_type is None:
            return self.json_value()
        made = self.instance(params_type)
        return self.converter.unstructure(made) if made is not None else {}

    # -- corruption -------------------------------------------------------------------------------------------

    def corrupt(self, params: Any) -> tuple[Any, str]:
        rng = self.rng
        kind = rng.choice(["drop", "type", "number", "big", "surrogate", "nest", "params", "uri"])
        if kind == "params" or not isinstance(params, dict) or not params:
            return rng.choice([None, [], "x", 42, [1, {"a": None}], {}]), "params"
        params = json.loads(json.dumps(params))
        path = self.random_path(params)
        if not path:
            return {}, "params"
        parent = params
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        if kind == "drop" and isinstance(parent, dict):
            del parent[last]
        elif kind == "number":
            parent[last] = rng.choice([-1, -(2**31), 2**31, 2**63, 10**30, 1e308, -0.5])
        elif kind == "big":
            parent[last] = big_string(rng)
        elif kind == "surrogate":
            parent[last] = rng.choice(["\ud800", "a\udfffb", "\udc80" * 3])
        elif kind == "nest":
            parent[last] = self.nested(rng.choice([20, 200]))
        elif kind == "uri":
            parent[last] = rng.choice(self.odd_uris)
        else:
            parent[last] = rng.choice([None, "x", -1, 3.5, True, [], {}, "1"])
        return params, kind

    def random_path(self, value: Any) -> list[Any]:
        path: list[Any] = []
        while isinstance(value, dict | list) and value:
            key = self.rng.choice(list(value)) if isinstance(value, dict) else self.rng.randrange(len(value))
            path.append(key)
            value = value[key]
            if self.rng.random() < 0.3:
                break
        return path

    @staticmethod
    def nested(depth: int) -> Any:
        value: Any = 0
        for _ in range(depth):
            value = [value]
        return value

    # -- whole messages -----------------------------------------------------------------------------------------

    def message(self, expect: Expect) -> bytes:
        """One framed message; ``expect`` learns what the server owes for it."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.02:  # not JSON at all, or nested past any parser's patience
            expect.null_errors += 1
            expect.count("unreadable")
            return frame(rng.choice([b"{bad", b"\xff\xfe\x00", b"", b"[" * 3000, b'{"jsonrpc": "2.0", "id": 1,']))
        if roll < 0.04:  # JSON, but not a request object
            expect.null_errors += 1
            expect.count("not-an-object")
            return frame(json.dumps(rng.choice([[], "x", 42, [{"jsonrpc": "2.0"}], None])).encode())
        is_request = rng.random() < 0.5
        if is_request:
            pool = rng.choices([self.requests, UNREGISTERED, self.notifications], [0.9, 0.05, 0.05])[0]
            method = rng.choice(pool)  # a notification's method with an id is a request too (answered -32600)
        else:
            method = rng.choice(self.notifications) if rng.random() < 0.95 else rng.choice(UNREGISTERED)
        params = self.params_for(method)
        corrupted = rng.random() < 0.4
        if corrupted:
            params, kind = self.corrupt(params)
            expect.count(f"corrupt-{kind}")
        else:
            expect.count("valid")
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if not (corrupted and rng.random() < 0.1):
            message["params"] = params
        if is_request:
            self.next_id += 1
            msg_id: Any = self.next_id if rng.random() < 0.7 else f"r-{self.next_id}"
            if rng.random() < 0.03:  # an id no JSON-RPC client may use
                message["id"] = rng.choice([None, 1.5, True, {"a": 1}, [1]])
                expect.null_errors += 1
                expect.count("bad-id")
            else:
                message["id"] = msg_id
                expect.ids[msg_id] = method
            if rng.random() < 0.02:
                message["jsonrpc"] = rng.choice(["1.0", None])
                expect.count("bad-version")
        return frame(json.dumps(message).encode())


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
        # A normal completion, after everything else: the server still does its job.
        good = (workspace / "final.py").as_uri()
        final_id: Any = None
        try:
            server.open(good, SOURCE)
            final_id = server.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, {
                "textDocument": {"uri": good}, "position": {"line": 17, "character": 19},
                "context": {"triggerKind": 1}})
        except OSError:
            pass
        end = time.monotonic() + answer_timeout_s
        while time.monotonic() < end and server.proc.poll() is None:
            missing = [i for i in expect.ids if i not in server.responses]
            if not missing and final_id in server.responses and len(server.null_id_errors) >= expect.null_errors:
                break
            with server._cond:
                server._cond.wait(0.5)
        final = server.responses.get(final_id, [{}])[0]
        alive = server.proc.poll() is None
        duration_s = time.monotonic() - fuzz_started
        stats = server.call("codehearth/stats", timeout=30)["result"] if alive else {}
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
    if result["exit_code"] != 0:
        problems.append(f"exit code {result['exit_code']} after shutdown + exit")
    return problems


def run_benchmark(messages: int = 20_000, seed: int = 14, out_dir: Path | None = None,
                  box_s: float | None = None) -> dict[str, Any]:
    """The large run of ``make bench``: writes reliability.json (kept beside the other results)."""
    from benchmarks.common import machine_info

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
    path.write_text(json.dumps(existing, indent=1, default=str) + "\n")
    print(f"wrote {path}: {result['messages']} messages in {result['duration_s']} s, "
          f"problems: {result['problems'] or 'none'}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--box-s", type=float, default=None, help="stop sending after this many seconds")
    args = parser.parse_args(argv)
    result = run_benchmark(args.messages, args.seed, args.out, args.box_s)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
