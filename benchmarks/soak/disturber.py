"""What the soak keeps busy on the server's other threads while the driver types: settings changes (model reloads),
the model file replaced on disk, file churn in the workspace, cancel storms and cancelled explanations."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

DISTURB = {"settings_s": 90.0, "model_s": 300.0, "files_per_minute": 30.0, "storm_s": 30.0, "explain_s": 45.0}
STORM_TEXT = ("import json\n\n\ndef load(path):\n    with open(path) as fh:\n        data = json.load(fh)\n"
              "    return data\n")


class Disturber:
    """What runs on the server's other threads, kept busy while the driver types (see the module docstring)."""

    def __init__(self, client: LanguageClient, rng: random.Random, workspace: Path, model_copy: Path,
                 model: Path) -> None:
        self.client, self.rng, self.workspace = client, rng, workspace
        self.model_copy, self.model = model_copy, model
        self.counts = {"settings_changes": 0, "model_replacements": 0, "files_created": 0, "files_deleted": 0,
                       "storm_requests": 0, "explanations_cancelled": 0}
        self.answers: dict[str, int] = {}  # how the disturbing requests were answered: "result" or the error code
        self.uri = (workspace / "storm.py").as_uri()
        self.live: list[Path] = []
        self.reloading_until = 0.0  # samples wait past this (a reload in progress maps the model twice)

    def _request(self, method: str, params: Any) -> str:
        msg_id = f"d{sum(self.counts.values())}-{self.rng.random():.6f}"
        future = self.client.protocol.send_request(method, params, msg_id=msg_id)
        future.add_done_callback(self._answered)
        return msg_id

    def _answered(self, future: Any) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        key = "result" if exc is None else str(getattr(exc, "code", type(exc).__name__))
        self.answers[key] = self.answers.get(key, 0) + 1

    async def run(self, stop_at: float) -> None:
        (self.workspace / "storm.py").write_text(STORM_TEXT)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
            uri=self.uri, language_id="python", version=1, text=STORM_TEXT)))
        now = time.monotonic()
        due = {"settings": now + DISTURB["settings_s"], "model": now + DISTURB["model_s"],
               "file": now, "storm": now + DISTURB["storm_s"], "explain": now + DISTURB["explain_s"]}
        while time.monotonic() < stop_at:
            now = time.monotonic()
            if now >= due["file"]:
                self.churn()
                due["file"] = now + 60.0 / DISTURB["files_per_minute"] / 2  # one create or delete each time
            if now >= due["settings"]:
                # A change that reloads the model (every engine setting is in the reload key) and leaves its memory
                # as it was: a change of nBatch or nCtx would resize the buffers and read as drift.
                timeout_ms = 10_000 + self.counts["settings_changes"] % 2
                self.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
                    settings={"engine": {"timeoutMs": timeout_ms}}))
                self.counts["settings_changes"] += 1
                self.reloading_until = now + 20
                due["settings"] = now + DISTURB["settings_s"]
            if now >= due["model"]:
                part = self.model_copy.with_name(self.model_copy.name + ".part")
                await asyncio.get_running_loop().run_in_executor(None, shutil.copyfile, self.model, part)
                os.replace(part, self.model_copy)
                self.counts["model_replacements"] += 1
                self.reloading_until = time.monotonic() + 20
                due["model"] = now + DISTURB["model_s"]
            if now >= due["storm"]:
                params = types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=self.uri), position=types.Position(6, 15),
                    context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic))
                ids = [self._request("textDocument/inlineCompletion", params) for _ in range(10)]
                for msg_id in ids:
                    self.client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))
                self.counts["storm_requests"] += len(ids)
                due["storm"] = now + DISTURB["storm_s"]
            if now >= due["explain"]:
                msg_id = self._request("workspace/executeCommand", types.ExecuteCommandParams(
                    command="codehearth.explain", arguments=[self.uri, {"line": 3, "character": 4}]))
                await asyncio.sleep(self.rng.uniform(0.05, 0.5))
                self.client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))
                self.counts["explanations_cancelled"] += 1
                due["explain"] = now + DISTURB["explain_s"]
            await asyncio.sleep(0.2)

    def churn(self) -> None:
        if len(self.live) < 20 or self.rng.random() < 0.5:
            n = self.counts["files_created"]
            path = self.workspace / "churn" / f"f{n}.py"
            path.parent.mkdir(exist_ok=True)
            path.write_text(f"def churned_{n}(x):\n    return x + {n}\n")
            self.live.append(path)
            self.counts["files_created"] += 1
        else:
            self.live.pop(self.rng.randrange(len(self.live))).unlink()
            self.counts["files_deleted"] += 1
