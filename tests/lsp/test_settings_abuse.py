"""Settings a user (or a fuzz) may send, however extreme: never an internal error (-32603), every request answered
(issue 23: "0 internal errors from settings"). The real server over stdio, the real default model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from benchmarks.reliability.client import RawServer

pytestmark = pytest.mark.model

SOURCE = "import os\n\n\ndef total(values):\n    result = 0\n    for v in values:\n        result += \n    return result\n"
ABUSE: list[dict[str, Any]] = [
    {"engine": {"nCtx": 16}}, {"engine": {"nCtx": -1}}, {"engine": {"nCtx": 600}}, {"engine": {"nBatch": 0}},
    {"engine": {"nBatch": -5}}, {"engine": {"nThreads": -3}}, {"engine": {"nGpuLayers": -7}},
    {"context": {"budgetTokens": 0}}, {"context": {"budgetTokens": -100}}, {"context": {"budgetTokens": 10**9}},
    {"context": {"prefixShare": -1.0, "suffixShare": 7.5, "repoShare": 0.0}}, {"context": {"similarFiles": -2}},
    {"context": {"maxFileBytes": -1}}, {"explain": {"budgetTokens": -1}}, {"explain": {"budgetTokens": 10**9}},
    {"maxTokensSingleLine": 8192, "maxTokensMultiLine": 8192}, {"latencyBudgetMs": 0}, {"debounceMs": 60000},
    {"memoryBudgetMb": -1}, {"explainFirstChunkMs": -1}, {"engine": {"kind": "embedded", "nCtx": 10**7}},
]


def test_no_setting_makes_an_internal_error(default_model: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.py").write_text(SOURCE)
    uri = (ws / "a.py").as_uri()
    answers: list[tuple[dict[str, Any], str, dict[str, Any]]] = []
    with RawServer(tmp_path / "cache") as server:
        server.initialize(ws, {"model": str(default_model), "latencyBudgetMs": 1500})
        server.open(uri, SOURCE)
        for settings in ABUSE:
            server.notify("workspace/didChangeConfiguration", {"settings": settings})
            for method, params in (
                ("textDocument/inlineCompletion", {"textDocument": {"uri": uri}, "position": {"line": 6, "character": 18},
                                                   "context": {"triggerKind": 1}}),
                ("workspace/executeCommand", {"command": "codehearth.explain",
                                              "arguments": [uri, {"line": 4, "character": 4}]}),
            ):
                answers.append((settings, method, server.call(method, params, timeout=180)))
        internal = [(s, m, a["error"]) for s, m, a in answers if a.get("error", {}).get("code") == -32603]
        assert internal == []
        assert server.null_id_errors == []
        assert server.proc.poll() is None
        assert server.close() == 0
