"""The seed corpus of the zzuf fuzz (external_fuzz.py): valid LSP JSON-RPC messages the server accepts, drawn at
random, over one small Python file, with the settings the run gives the server."""

from __future__ import annotations

import collections
import os
import random
from pathlib import Path
from typing import Any

SOURCE = '''import math


def circle_area(radius: float) -> float:
    """The area of a circle."""
    return math.pi * radius ** 2


def total(values: list[float]) -> float:
    result = 0.0
    for value in values:
        result += '''
# The server's settings for the run: the small model on one thread, small budgets so answers come quickly.
SETTINGS: dict[str, Any] = {
    "model": "smollm2-135m-instruct", "latencyBudgetMs": 300, "maxTokensSingleLine": 8, "maxTokensMultiLine": 16,
    "keepGeneratingMs": 0, "debounceMs": 0, "prefetchNext": False, "prepareWhilePaused": False,
    "minConfidence": -1.0, "logLevel": "info", "disabledLanguages": ["markdown"],
    "engine": {"kind": "embedded", "nThreads": 1, "nCtx": 2048, "nBatch": 256, "calibrate": False,
               "secondContext": False, "timeoutMs": 10000},
    "context": {"budgetTokens": 256, "indexWorkers": 1, "prefixShare": 0.55, "suffixShare": 0.15,
                "repoShare": 0.3, "maxFileBytes": 100000, "exclude": ["*.log"], "similarFiles": 2},
    "explain": {"maxTokens": 16, "budgetTokens": 512, "readAheadMs": 0},
}


class Corpus:
    """Valid messages the server accepts; requests get a fresh id each time they are drawn."""

    def __init__(self, workspace: Path, rng: random.Random) -> None:
        self.rng = rng
        self.uri = (workspace / "m.py").as_uri()
        self.workspace = workspace
        self.last_ids: collections.deque[Any] = collections.deque(maxlen=8)
        self.version = 1

    def position(self) -> dict[str, int]:
        lines = SOURCE.split("\n")
        line = self.rng.randrange(len(lines))
        return {"line": line, "character": self.rng.randint(0, len(lines[line]))}

    def draw(self, msg_id: Any) -> dict[str, Any]:
        kind = self.rng.choices(
            ["initialize", "initialized", "didOpen", "didChange", "completion", "inline", "codeAction", "explain",
             "settings", "settings-small", "cancel", "cancelExplain", "stats", "shutdown"],
            [2, 2, 6, 10, 12, 12, 8, 8, 14, 8, 8, 3, 3, 1])[0]
        pos = self.position()
        doc = {"uri": self.uri}
        if kind == "initialize":
            return request(msg_id, "initialize", {
                "processId": os.getpid(), "rootUri": self.workspace.as_uri(),
                "capabilities": {"general": {"positionEncodings": ["utf-16"]}, "textDocument": {"inlineCompletion": {}}},
                "workspaceFolders": [{"uri": self.workspace.as_uri(), "name": "ws"}],
                "initializationOptions": SETTINGS})
        if kind == "initialized":
            return {"jsonrpc": "2.0", "method": "initialized", "params": {}}
        if kind == "didOpen":
            return notification("textDocument/didOpen", {"textDocument": {**doc, "languageId": "python", "version": 1,
                                                                          "text": SOURCE}})
        if kind == "didChange":
            self.version += 1
            return notification("textDocument/didChange", {
                "textDocument": {**doc, "version": self.version},
                "contentChanges": [{"range": {"start": pos, "end": pos}, "text": self.rng.choice(["x", "(", "\n", " "])}]})
        if kind == "completion":
            return request(msg_id, "textDocument/completion", {"textDocument": doc, "position": pos,
                                                               "context": {"triggerKind": 1}})
        if kind == "inline":
            return request(msg_id, "textDocument/inlineCompletion", {
                "textDocument": doc, "position": pos, "context": {"triggerKind": self.rng.choice([1, 2])}})
        if kind == "codeAction":
            return request(msg_id, "textDocument/codeAction", {
                "textDocument": doc, "range": {"start": pos, "end": pos},
                "context": {"diagnostics": [], "triggerKind": 1}})
        if kind == "explain":
            return request(msg_id, "workspace/executeCommand", {
                "command": "codehearth.explain", "arguments": [self.uri, {"line": 4, "character": 4}, {"id": f"e{msg_id}"}]})
        if kind == "settings":
            return notification("workspace/didChangeConfiguration", {"settings": {"codehearth": SETTINGS}})
        if kind == "settings-small":
            key, value = self.rng.choice([("latencyBudgetMs", 250), ("engine", {"nCtx": 1024}),
                                          ("context", {"budgetTokens": 200}), ("explain", {"maxTokens": 8}),
                                          ("maxTokensSingleLine", 6), ("engine", {"nBatch": 128})])
            return notification("workspace/didChangeConfiguration", {"settings": {"codehearth": {**SETTINGS, key: value}}})
        if kind == "cancel":
            target = self.rng.choice(list(self.last_ids)) if self.last_ids else msg_id
            return notification("$/cancelRequest", {"id": target})
        if kind == "cancelExplain":
            target = self.rng.choice(list(self.last_ids)) if self.last_ids else msg_id
            return notification("codehearth/cancelExplain", {"id": f"e{target}"})
        if kind == "stats":
            return request(msg_id, "codehearth/stats", None)
        return request(msg_id, "shutdown", None)


def request(msg_id: Any, method: str, params: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def notification(method: str, params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}
