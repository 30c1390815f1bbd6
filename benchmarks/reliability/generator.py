"""Seeded messages over the lsprotocol types of the methods the server registers, valid or corrupted.

Each message tells an :class:`Expect` what the server owes for it (an answer by id, or an id-less error), so the
fuzz's verdict is exact. Used by benchmarks/reliability/fuzz.py (and through it by tests/lsp/test_fuzz.py).
"""

from __future__ import annotations

import collections.abc
import enum
import json
import random
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import attrs
from lsprotocol import types

from benchmarks.reliability.client import frame

UNREGISTERED = ["textDocument/hover", "workspace/symbol", "textDocument/definition", "$/ping", "codehearth/nope"]
FIRST_ID = 10**6  # the fuzz's own ids; the client's (initialize, stats) count from 1
MB = 1024 * 1024
# Fast settings: a small budget so the model answers quickly, and completions mostly end at a gate or are superseded.
OPTIONS: dict[str, Any] = {
    "latencyBudgetMs": 60, "maxTokensSingleLine": 4, "maxTokensMultiLine": 4, "keepGeneratingMs": 0,
    "explain": {"maxTokens": 4}, "context": {"budgetTokens": 256, "indexWorkers": 1},
}

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
            text = SOURCE if rng.random() < 0.97 else rng.choice([big_string(rng), "x\n" + "y" * 200_000 + "\n", ""])
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


